"""Subtitle cues from word timings, and `ds2 transcribe --format srt|vtt`."""
import subprocess
import sys

from ds2_tf.decoding.alignment import Transcript, Word
from ds2_tf.inference.subtitles import cues, srt, timestamp, vtt
from tests.conftest import ds2, needs_espeak


def words(*spec):
    return [Word(w, a, b, 0.9) for w, a, b in spec]


def test_cues_break_at_length_duration_and_pauses():
    spoken = words(("hello", 0.0, 0.4), ("there", 0.5, 0.9), ("general", 3.0, 3.5),
                   ("kenobi", 3.6, 4.0), ("a", 4.1, 4.2), ("very", 4.3, 4.6),
                   ("long", 4.7, 5.0), ("sentence", 5.1, 9.2))
    assert cues(spoken) == [(0.0, 0.9, "hello there"), (3.0, 5.0, "general kenobi a very long"),
                            (5.1, 9.2, "sentence")]
    assert cues([]) == []


def test_srt_and_vtt_format_times():
    assert timestamp(3723.4567, ",") == "01:02:03,457" and timestamp(0.5, ".") == "00:00:00.500"
    transcript = Transcript("hi you", 2.0, 0.9, words(("hi", 0.1, 0.3), ("you", 0.35, 0.6)))
    assert srt(transcript) == "1\n00:00:00,100 --> 00:00:00,600\nhi you\n"
    assert vtt(transcript) == "WEBVTT\n\n00:00:00.100 --> 00:00:00.600\nhi you\n"


@needs_espeak
def test_transcribe_writes_subtitles_per_input(trained_run, synth_corpus, tmp_path):
    good = tmp_path / "good.wav"
    subprocess.run([sys.executable, "-m", "tfrecords_tools.sample_wav", str(synth_corpus), "train",
                    str(good)], check=True, capture_output=True)
    one = ds2("transcribe", "--format", "srt", "--model", str(trained_run), str(good))
    assert one.returncode == 0 and one.stdout.startswith("1\n00:00:0"), one.stderr
    several = ds2("transcribe", "--format", "vtt", "--model", str(trained_run), str(good), str(good))
    assert several.returncode == 2 and "--out-dir" in several.stderr.strip().splitlines()[-1]
    (tmp_path / "other").mkdir()
    twin = tmp_path / "other" / "good.wav"
    twin.write_bytes(good.read_bytes())
    clash = ds2("transcribe", "--format", "srt", "--out-dir", str(tmp_path / "subs"), "--model",
                str(trained_run), str(good), str(twin))
    assert clash.returncode == 2 and "'good'" in clash.stderr.strip().splitlines()[-1]
    out = ds2("transcribe", "--format", "vtt", "--out-dir", str(tmp_path / "subs"), "--model",
              str(trained_run), str(good))
    assert out.returncode == 0, out.stderr
    written = (tmp_path / "subs" / "good.vtt").read_text()
    assert written.startswith("WEBVTT\n\n00:00:") and out.stdout.strip().endswith("good.vtt")
