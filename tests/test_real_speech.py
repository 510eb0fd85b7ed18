"""bench/real_speech.py: the real-speech evaluation sets keep only prompts whose reading is certain,
decode the Asterisk G.722 prompts to 16 kHz audio, and skip a missing source in one line."""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import bench_module

real_speech = bench_module("real_speech")


def test_transcripts_keep_only_unambiguous_prompts():
    text = "\n".join([
        "; Core Asterisk Sounds in English",
        "agent-pass: Please enter your password followed by the pound key.",
        "im-sorry: I'm sorry.",
        "call-fwd-on-busy: Call-Forward on Busy.",
        "demo-instruct: dial 500 to attempt an Inter-Asterisk Exchange",  # digits: reading unsure
        "beep: [this is a simple beep tone]",  # not speech
        "dictate/both_help: press * to toggle pause",  # symbol
        "letters/j: J",  # said "jay"
        "digits/7: seven",
        "cafe: café",  # outside a-z
        "no-colon line",
    ])
    assert real_speech.transcripts(text) == {
        "agent-pass": "please enter your password followed by the pound key",
        "im-sorry": "i'm sorry",
        "call-fwd-on-busy": "call forward on busy",
        "digits/7": "seven",
    }


def test_missing_source_is_named_and_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(real_speech, "SOURCES", {
        "asterisk": (real_speech.asterisk_rows, "apt-get install x", tmp_path / "absent.txt.gz")})
    assert real_speech.build_manifests(tmp_path) == {}
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"note: asterisk: {tmp_path / 'absent.txt.gz'} missing (apt-get install x); "
                   "split skipped"]


@pytest.mark.skipif(not real_speech.ASTERISK_TEXT.exists(),
                    reason="asterisk-core-sounds-en-g722 not installed")
def test_asterisk_prompts_decode_to_wideband_speech(tmp_path, monkeypatch):
    pytest.importorskip("G722", reason="pip install g722")
    rows = real_speech.asterisk_rows(tmp_path)
    assert len(rows) > 300
    row = next(r for r in rows if Path(r["path"]).stem == "agent-pass")
    assert row["transcript"] == "please enter your password followed by the pound key"
    audio, rate = soundfile.read(row["path"])
    assert rate == 16000 and audio.ndim == 1
    assert 2.0 < len(audio) / rate < 8.0
    # G.722 keeps 4–8 kHz (the 8 kHz WAVs of the same prompts cannot): energy is really there
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    assert spectrum[freqs > 4000].sum() / spectrum.sum() > 1e-4


def test_real_all_is_combined_from_the_three_reports(tmp_path, capsys):
    from ds2_tf.evaluation.metrics import error_rates

    pairs = {"real": [("ten of clubs", "tun of plos")],
             "asterisk": [("please hold", "please hold"), ("goodbye", "good by")],
             "alsa": [("front left", "front")]}
    for split, rows in pairs.items():
        lines = ["utt_id\twer\tcer\treference\thypothesis"]
        lines += [f"{split}{i}\t0\t0\t{ref}\t{hyp}" for i, (ref, hyp) in enumerate(rows)]
        (tmp_path / f"eval-{split}-greedy.tsv").write_text("\n".join(lines) + "\n")
        (tmp_path / f"eval-{split}-greedy.json").write_text('{"data": "/corpus"}')
    result = real_speech.combine_reports(tmp_path, "greedy")
    union = [pair for rows in pairs.values() for pair in rows]
    want = error_rates([r for r, _ in union], [h for _, h in union])
    assert result["num_utterances"] == 4 and result["split"] == "real_all"
    assert {k: result[k] for k in want} == want
    assert (tmp_path / "eval-real_all-greedy.tsv").read_text().count("\n") == 5
    halves = {half: json.loads((tmp_path / f"eval-{half}-greedy.json").read_text())
              for half in ("asterisk_dev", "asterisk_test")}  # Asterisk's report, split
    assert sum(h["num_utterances"] for h in halves.values()) == 2
    for half, h in halves.items():
        ids = [line.split("\t")[0] for line in (tmp_path / f"eval-{half}-greedy.tsv")
               .read_text().splitlines()[1:]]
        assert all(real_speech.asterisk_half(i) == half for i in ids)
    assert real_speech.combine_reports(tmp_path, "lm") is None  # no LM reports: one note
    assert capsys.readouterr().err.strip() == (
        f"note: {tmp_path / 'eval-real-lm.tsv'} missing; real_all (lm) not combined")


def test_asterisk_halves_are_disjoint_stable_and_cover_every_prompt():
    rows = [{"path": f"/x/prompt-{i}.wav", "transcript": "t", "speaker": "s"} for i in range(200)]
    halves = real_speech.asterisk_halves(rows)
    dev = {r["path"] for r in halves["asterisk_dev"]}
    test = {r["path"] for r in halves["asterisk_test"]}
    assert not dev & test and len(dev) + len(test) == 200
    assert 60 < len(dev) < 140  # a hash, not a sort: roughly half each
    # a prompt's half depends on its own name only
    assert real_speech.asterisk_halves(rows[50:])["asterisk_dev"] == halves["asterisk_dev"][
        sum(r["path"] in dev for r in rows[:50]):]
