"""`ds2 evaluate` and `ds2 transcribe` on a trained tiny run, as a user calls them."""
import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from ds2_tf.decoding.ctc import greedy_decode, greedy_decode_graph
from tfrecords_tools.alphabet import Alphabet
from tests.conftest import ds2, needs_espeak, write_audio


def test_greedy_decoders_agree_and_collapse_repeats():
    a = Alphabet.english()
    b = a.blank_index
    ids = [[8, 8, b, 8, 9, 9, b, b], [1, b, 1, 1, b, b, b, b]]
    logits = np.full((2, 8, a.num_classes), -5.0, np.float32)
    for i, row in enumerate(ids):
        for t, k in enumerate(row):
            logits[i, t, k] = 5.0
    lengths = np.array([8, 3])
    assert greedy_decode(logits, lengths, a) == ["hhi", "aa"]
    assert [s.decode() for s in greedy_decode_graph(logits, lengths, a).numpy()] == ["hhi", "aa"]


@pytest.mark.slow
@needs_espeak
@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_evaluate_prints_corpus_rates_and_writes_a_report(trained_run, synth_corpus, tmp_path, decoder):
    report = tmp_path / "report.tsv"
    result = ds2("evaluate", "--run", str(trained_run), "--data", str(synth_corpus), "--split",
                 "train", "--decoder", decoder, "--report", str(report))
    assert result.returncode == 0, result.stderr
    assert "WER" in result.stdout and "CER" in result.stdout
    rows = list(csv.DictReader(open(report), delimiter="\t"))
    assert len(rows) >= 5 and {"utt_id", "wer", "cer", "reference", "hypothesis"} <= set(rows[0])


@needs_espeak
def test_report_tables_the_run_and_plots_its_curves(trained_run, synth_corpus, tmp_path):
    pytest.importorskip("matplotlib")
    result = ds2("evaluate", "--run", str(trained_run), "--data", str(synth_corpus), "--split",
                 "train", "--limit", "8")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "results.md"
    result = ds2("report", "--run", str(trained_run), "--data", str(synth_corpus),
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = out.read_text()
    assert "| train · greedy | CER" in table and "| training | preset tiny, 60 epochs" in table
    assert "| corpus train |" in table and "speakers" in table
    png = tmp_path / "training_curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    missing = ds2("report", "--run", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "config.json: not found" in missing.stderr


@pytest.mark.slow
@needs_espeak
def test_transcribe_reports_bad_files_and_transcribes_the_rest(trained_run, synth_corpus, tmp_path):
    good = tmp_path / "good.wav"
    subprocess.run([sys.executable, "-m", "tfrecords_tools.sample_wav", str(synth_corpus), "train",
                    str(good)], check=True, capture_output=True)
    (tmp_path / "bad.wav").write_text("not audio")
    write_audio(tmp_path / "quiet.wav", np.zeros(8000, np.float32))
    result = ds2("transcribe", str(trained_run), str(tmp_path / "bad.wav"), str(good),
                 str(tmp_path / "missing.flac"), str(tmp_path / "quiet.wav"))
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(good)) and len(lines[0].split("\t")[1]) > 3
    errors = [l for l in result.stderr.splitlines() if l.startswith("ds2 transcribe: error:")]
    assert len(errors) == 3 and "Traceback" not in result.stderr
    assert any("bad.wav: not a readable audio file" in e for e in errors)
    assert any("missing.flac: file not found" in e for e in errors)
    assert any("quiet.wav: audio is silent" in e for e in errors)
    as_json = ds2("transcribe", "--format", "json", "--model", str(trained_run), str(good),
                  str(tmp_path / "bad.wav"))
    assert as_json.returncode == 0 and "bad.wav: not a readable audio file" in as_json.stderr
    record = json.loads(as_json.stdout)  # exactly one line: the good file
    assert record["path"] == str(good) and record["text"] == lines[0].split("\t")[1]
    assert 0 <= record["confidence"] <= 1 and record["duration_s"] > 0
    assert " ".join(w["word"] for w in record["words"]) == record["text"]
    starts = [w["start_s"] for w in record["words"]]
    assert starts == sorted(starts) and all(
        0 <= w["start_s"] < w["end_s"] <= record["duration_s"] + 1e-6 for w in record["words"])
    refused = ds2("transcribe", "--format", "json", "--nbest", "2", str(trained_run), str(good))
    assert refused.returncode == 2 and "--decoder beam or lm" in refused.stderr.splitlines()[-1]
    beams = ds2("transcribe", "--format", "json", "--decoder", "beam", "--nbest", "3",
                str(trained_run), str(good))
    assert beams.returncode == 0, beams.stderr
    record = json.loads(beams.stdout)
    assert len(record["alternatives"]) == 3 and record["alternatives"][0]["text"] == record["text"]
    scores = [a["score"] for a in record["alternatives"]]
    assert scores == sorted(scores, reverse=True)
