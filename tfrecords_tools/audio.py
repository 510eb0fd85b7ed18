"""Audio decoding for corpus preparation: any soundfile format → 16 kHz mono int16.

Runs in worker processes, so it imports neither TensorFlow nor the model.
"""
from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import numpy as np
import soundfile
import soxr

SAMPLE_RATE_HZ = 16000
SILENCE_PEAK = 10 ** (-70 / 20)  # a peak below -70 dBFS is treated as silence


class AudioError(ValueError):
    """Audio that cannot be used; the message is the reason (the caller adds the file)."""


def read_audio(source: str | Path | bytes) -> tuple[np.ndarray, int]:
    """Decode a file path or encoded bytes to float32 [samples, channels] and its rate."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise AudioError("file not found")
        if path.is_dir():
            raise AudioError("is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioError("file is empty (0 bytes)")
        handle = str(path)
    else:
        if len(source) == 0:
            raise AudioError("no audio bytes")
        handle = io.BytesIO(source)
    try:
        data, rate = soundfile.read(handle, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"not a readable audio file ({_short(err)})") from None
    return data, int(rate)


def to_mono_16k(data: np.ndarray, rate: int, target_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Down-mix (mean of channels) and resample with soxr's high-quality filter."""
    if data.ndim == 2:  # one channel: a view, not a copy (hours of audio are GBs of float32)
        data = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    if rate <= 0:
        raise AudioError(f"invalid sample rate {rate}")
    if rate != target_rate:
        data = soxr.resample(data, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(data, dtype=np.float32)


def check_signal(audio: np.ndarray) -> None:
    """Reject audio with no samples, non-finite values or nothing but silence. No temporary the
    size of the signal: a NaN or ±inf makes the float64 sum non-finite."""
    if audio.size == 0:
        raise AudioError("audio has no samples")
    if not np.isfinite(audio.sum(dtype=np.float64)):
        raise AudioError("audio contains NaN or infinite samples")
    peak = max(float(audio.max()), -float(audio.min()))
    if peak < SILENCE_PEAK:
        level = "-inf" if peak == 0 else f"{20 * np.log10(peak):.0f}"
        raise AudioError(f"audio is silent (peak {level} dBFS)")


def float_to_pcm16(audio: np.ndarray) -> np.ndarray:
    scaled = np.clip(audio, -1.0, 32767 / 32768)  # one float temporary, scaled in place
    scaled *= 32768.0
    np.rint(scaled, out=scaled)
    return scaled.astype("<i2")


def pcm16_to_float(pcm: np.ndarray | bytes) -> np.ndarray:
    if isinstance(pcm, (bytes, bytearray)):
        pcm = np.frombuffer(pcm, dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


def load_pcm16(source: str | Path | bytes, target_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Everything prepare needs: decode, down-mix, resample, validate → int16 at 16 kHz."""
    return float_to_pcm16(load_waveform(source, target_rate))


def load_waveform(source: str | Path | bytes, target_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Decode, down-mix, resample, validate → float32 in [-1, 1) at ``target_rate``: what
    inference needs, with one copy of the signal in memory (a 2-hour file is 460 MB of float32;
    an int16 round trip would hold several)."""
    data, rate = read_audio(source)
    audio = to_mono_16k(data, rate, target_rate)
    del data
    check_signal(audio)
    return np.clip(audio, -1.0, 32767 / 32768, out=audio)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"^Error opening '.*?': ", "", text)  # the caller already names the file
    return text.replace(" : ", ": ")[:160]


class SynthError(RuntimeError):
    """No engine or no text to synthesize with (the message says how to install it)."""


def run_program(cmd: list[str], stdin: bytes | None = None, timeout: float = 60) -> bytes:
    try:
        result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AudioError(f"{cmd[0]} failed ({err})") from None
    if result.returncode != 0:
        raise AudioError(f"{cmd[0]} exited {result.returncode}: "
                         f"{result.stderr.decode(errors='replace').strip()[:120]}")
    return result.stdout
