"""bench/real_speech.py: the real-speech evaluation sets keep only prompts whose reading is certain,
decode the Asterisk G.722 prompts to 16 kHz audio, and skip a missing source in one line."""
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import real_speech  # noqa: E402


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
    assert real_speech.asterisk_transcripts(text) == {
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
