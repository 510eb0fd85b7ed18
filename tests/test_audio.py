import numpy as np
import pytest

from tests.conftest import tone, write_audio
from tfrecords_tools.audio import AudioError, load_pcm16


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_preserves_a_sines_frequency(tmp_path, rate):
    path = write_audio(tmp_path / "sine.wav", tone(1.0, rate, freq=1000.0), rate)
    audio = load_pcm16(path).astype(np.float64)
    assert abs(len(audio) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    peak_hz = np.argmax(spectrum) * 16000 / len(audio)
    assert abs(peak_hz - 1000.0) < 2.0


def test_stereo_is_down_mixed(tmp_path):
    stereo = np.stack([tone(0.5, seed=1), -tone(0.5, seed=1) * 0 + tone(0.5, seed=1)], axis=1)
    audio = load_pcm16(write_audio(tmp_path / "st.flac", stereo))
    mono = load_pcm16(write_audio(tmp_path / "mono.flac", tone(0.5, seed=1)))
    assert np.abs(audio.astype(int) - mono.astype(int)).max() <= 1


@pytest.mark.parametrize("make, reason", [
    (lambda p: p, "file not found"),
    (lambda p: (p.write_bytes(b""), p)[1], "file is empty"),
    (lambda p: (p.write_bytes(b"RIFF\x00\x00 not really a wav"), p)[1], "not a readable audio file"),
    (lambda p: write_audio(p, np.zeros(16000, np.float32)), "silent"),
    (lambda p: write_audio(p, np.zeros(0, np.float32)), "no samples"),
])
def test_bad_audio_gives_a_reason(tmp_path, make, reason):
    path = make(tmp_path / "x.wav")
    with pytest.raises(AudioError, match=reason):
        load_pcm16(path)
