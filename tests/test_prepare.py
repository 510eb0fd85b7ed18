"""`ds2 prepare`: manifests in, TFRecords + dataset.json out, every bad item reported."""
import json

import numpy as np
import pytest

from tests.conftest import ds2, tone, write_audio
from tfrecords_tools.ingest import prepare_corpus
from tfrecords_tools.writer import split_examples


def records(data_dir, split):
    return list(split_examples(data_dir, split))


def test_round_trip_is_bit_exact(tmp_path):
    pcm = (np.random.default_rng(0).standard_normal(16000) * 3000).astype("<i2")
    write_audio(tmp_path / "a.wav", pcm, subtype="PCM_16")
    (tmp_path / "m.csv").write_text("path,transcript\na.wav,Bit exact!\n")
    prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'm.csv'}"], workers=1)
    (rec,) = records(tmp_path / "out", "train")
    assert np.array_equal(np.frombuffer(rec["audio"], "<i2"), pcm)
    assert rec["transcript"] == "bit exact" and rec["num_samples"] == 16000
    assert rec["sample_rate"] == 16000 and rec["utt_id"] == "a"


def test_librispeech_tree_with_flac_ingests(tmp_path):
    root = tmp_path / "LibriSpeech" / "dev-clean"
    texts = {"84-121123-0000": "GO DO YOU HEAR", "84-121123-0001": "BUT IN LESS THAN FIVE MINUTES",
             "174-50561-0000": "FORGOTTEN TOO THE NAME OF GILLIAN"}
    for i, (utt, text) in enumerate(texts.items()):
        spk, chap, _ = utt.split("-")
        folder = root / spk / chap
        write_audio(folder / f"{utt}.flac", tone(1.5, 16000, 300 + 50 * i, seed=i), format="FLAC")
        with open(folder / f"{spk}-{chap}.trans.txt", "a") as f:
            f.write(f"{utt} {text}\n")
    info = prepare_corpus(tmp_path / "out", [f"dev={root}"], workers=2)
    got = {r["utt_id"]: r for r in records(tmp_path / "out", "dev")}
    assert set(got) == set(texts)
    assert got["84-121123-0001"]["transcript"] == "but in less than five minutes"
    assert got["174-50561-0000"]["speaker"] == "174"
    assert info["splits"]["dev"]["num_speakers"] == 2
    assert len(info["feature_stats"]["mean"]) == 161


def test_tsv_with_header_and_jsonl_manifests(tmp_path):
    write_audio(tmp_path / "clips" / "x1.mp3.wav", tone(1.0, 48000, channels=2), 48000)
    (tmp_path / "cv.tsv").write_text("client_id\tpath\tsentence\nspk9\tx1.mp3.wav\tHi there\n")
    write_audio(tmp_path / "y.ogg", tone(1.0, 22050), 22050, format="OGG")
    (tmp_path / "m.jsonl").write_text(json.dumps({"audio_filepath": "y.ogg", "text": "Hey"}) + "\n")
    info = prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'cv.tsv'}",
                                            f"train={tmp_path / 'm.jsonl'}"], workers=1)
    recs = records(tmp_path / "out", "train")
    assert [r["transcript"] for r in recs] == ["hi there", "hey"]
    assert recs[0]["speaker"] == "spk9" and info["splits"]["train"]["num_utterances"] == 2


# ---- bad input: one case each, all in one corpus, and the good rows still land -----------------
BAD_CASES = {
    "corrupt": ("corrupt.wav", "hello", "not a readable audio file"),
    "zero_length": ("zero.wav", "hello", "no samples"),
    "silent": ("silent.wav", "hello", "silent"),
    "not_audio": ("notes.wav", "hello", "not a readable audio file"),
    "missing": ("missing.wav", "hello", "file not found"),
    "empty_transcript": ("good2.wav", "  ?! ", "empty"),
    "unknown_chars": ("good3.wav", "hello 42", "outside the alphabet"),
    "too_short": ("short.wav", "a very long transcript for a tiny clip", "too short for its transcript"),
    "bad_encoding": (None, None, "not valid UTF-8"),
}


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    write_audio(d / "good.wav", tone(1.0))
    for name in ("good2.wav", "good3.wav"):
        write_audio(d / name, tone(1.0, seed=3))
    (d / "corrupt.wav").write_bytes(open(d / "good.wav", "rb").read()[:30])
    write_audio(d / "zero.wav", np.zeros(0, np.float32))
    write_audio(d / "silent.wav", np.zeros(16000, np.float32))
    (d / "notes.wav").write_text("this is a text file\n")
    write_audio(d / "short.wav", tone(0.1))
    lines = [b"path,transcript", b"good.wav,The good one"]
    lines += [f"{f},{t}".encode() for f, t, _ in BAD_CASES.values() if f]
    lines.append("good.wav,caf\xe9".encode("latin-1"))  # undecodable line
    (d / "m.csv").write_bytes(b"\n".join(lines) + b"\n")
    result = ds2("prepare", f"train={d / 'm.csv'}", "--out", str(d / "out"), "--workers", "2")
    info = json.loads((d / "out" / "dataset.json").read_text())
    return d, result, info


def test_bad_corpus_keeps_the_good_row_and_exits_zero(bad_corpus):
    _, result, info = bad_corpus
    assert result.returncode == 0, result.stderr
    assert info["splits"]["train"]["num_utterances"] == 1
    assert len(info["splits"]["train"]["skipped"]) == len(BAD_CASES)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_each_bad_item_is_reported_with_file_and_reason(bad_corpus, case):
    _, result, info = bad_corpus
    filename, _, reason = BAD_CASES[case]
    skipped = info["splits"]["train"]["skipped"]
    hits = [s for s in skipped if reason in s["reason"] and (filename is None or filename in s["item"])]
    assert len(hits) == 1, skipped
    line = [l for l in result.stderr.splitlines() if reason in l and l.startswith("skipped")]
    assert line, result.stderr


def test_unknown_chars_can_be_mapped_instead(tmp_path):
    write_audio(tmp_path / "a.wav", tone(1.0))
    (tmp_path / "m.csv").write_text("a.wav,Déjà vu 42\n", encoding="utf-8")
    prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'm.csv'}"], unknown_chars="map", workers=1)
    assert records(tmp_path / "out", "train")[0]["transcript"] == "deja vu"


def test_nothing_usable_exits_nonzero_with_one_line(tmp_path):
    (tmp_path / "m.csv").write_text("nothere.wav,hello\n")
    result = ds2("prepare", f"train={tmp_path / 'm.csv'}", "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "no usable utterances" in result.stderr and "Traceback" not in result.stderr


def test_bad_flags_and_missing_manifest_are_one_line_errors(tmp_path):
    result = ds2("prepare", "train", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "expected SPLIT=PATH" in result.stderr
    result = ds2("prepare", f"train={tmp_path / 'none.csv'}", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "none.csv: not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_rerun_refuses_to_overwrite_a_split(tmp_path):
    write_audio(tmp_path / "a.wav", tone(1.0))
    (tmp_path / "m.csv").write_text("a.wav,hello\n")
    prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'm.csv'}"], workers=1)
    with pytest.raises(FileExistsError, match="--overwrite"):
        prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'm.csv'}"], workers=1)
    prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'm.csv'}"], workers=1, overwrite=True)
    assert len(records(tmp_path / "out", "train")) == 1


def test_gzip_corpus_serves_every_reader(tmp_path):
    """`--gzip` shards are read by name wherever a split is read: LM building and WAV export."""
    import subprocess
    import sys

    import soundfile

    pcm = (tone(1.0) * 32767).astype("<i2")
    write_audio(tmp_path / "a.wav", pcm, subtype="PCM_16")
    write_audio(tmp_path / "b.wav", tone(0.5, freq=300), subtype="PCM_16")
    (tmp_path / "m.csv").write_text("a.wav,The cat sat\nb.wav,on the mat\n")
    out = tmp_path / "out"
    prepare_corpus(out, [f"train={tmp_path / 'm.csv'}"], workers=1, compress=True)
    assert sorted(p.suffix for p in out.glob("train-*")) == [".gz"]
    assert [r["transcript"] for r in records(out, "train")] == ["the cat sat", "on the mat"]

    result = ds2("lm", "build", "--data", str(out), "--order", "2", "--out", str(tmp_path / "lm.arpa"))
    assert result.returncode == 0 and "2 sentences" in result.stdout, result.stderr
    assert "mat" in (tmp_path / "lm.arpa").read_text()

    def sample_wav(*args):
        return subprocess.run([sys.executable, "-m", "tfrecords_tools.sample_wav", str(out), *args],
                              capture_output=True, text=True, timeout=300)
    result = sample_wav("train", str(tmp_path / "x.wav"))
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(tmp_path / "x.wav", dtype="int16")
    assert rate == 16000 and (audio == pcm).all()
    result = sample_wav("dev", str(tmp_path / "y.wav"))
    assert result.returncode == 2 and "no split 'dev'" in result.stderr
    assert "Traceback" not in result.stderr


def test_duration_limits(tmp_path):
    write_audio(tmp_path / "a.wav", tone(1.0))
    write_audio(tmp_path / "b.wav", tone(3.0))
    (tmp_path / "m.csv").write_text("a.wav,hello\nb.wav,hello\n")
    info = prepare_corpus(tmp_path / "out", [f"train={tmp_path / 'm.csv'}"], workers=1,
                          max_duration_s=2.0)
    assert info["splits"]["train"]["num_utterances"] == 1
    assert "longer than --max-duration" in info["splits"]["train"]["skipped"][0]["reason"]


def test_workers_stop_cleanly_when_the_caller_stops_early_on_an_endless_stream():
    """``target_hours`` stops reading mid-stream; the pool must shut down at once, not hang
    (multiprocessing.Pool.terminate did once, in CI) and not leave workers behind."""
    import itertools
    import multiprocessing

    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import preset
    from tfrecords_tools.manifests import Item
    from tfrecords_tools.prepare import PrepareOptions, Skipped, run_jobs

    options = PrepareOptions(Alphabet.english(), preset("small"))
    endless = (Item(f"u{i}", "", "", where=f"job #{i}", error="bad line") for i in itertools.count())
    results = run_jobs(endless, options, workers=2)
    first = [next(results) for _ in range(5)]
    results.close()
    assert [r.where for r in first] == [f"job #{i}" for i in range(5)]  # in job order
    assert all(isinstance(r, Skipped) for r in first)
    assert not multiprocessing.active_children()
