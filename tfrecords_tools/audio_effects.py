"""Augmentation of rendered speech: speed, pitch shift, reverb, noise, telephone band."""
from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np
import soxr

from tfrecords_tools.audio import SAMPLE_RATE_HZ, AudioError, run_program


def trim_silence(audio: np.ndarray, keep_s: float = 0.15, threshold: float = 1e-3) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    pad = int(keep_s * SAMPLE_RATE_HZ)
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor``× faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    if abs(factor - 1.0) < 1e-3:
        return audio
    return soxr.resample(audio, SAMPLE_RATE_HZ * factor, SAMPLE_RATE_HZ).astype(np.float32)


def room_impulse_response(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A simulated room: direct path + exponentially decaying diffuse tail (-60 dB at rt60)."""
    length = int(rt60_s * SAMPLE_RATE_HZ)
    t = np.arange(length) / SAMPLE_RATE_HZ
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60_s)
    delay = int(0.003 * SAMPLE_RATE_HZ)
    tail[:delay] = 0
    ir = 0.3 * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    ir[0] = 1.0
    return ir.astype(np.float32)


def reverberate(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    n = len(audio) + len(ir) - 1
    size = 1 << (n - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(ir, size), size)[: len(audio)]
    return (wet * (np.max(np.abs(audio)) / (np.max(np.abs(wet)) + 1e-9))).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Additive noise (white or pink, at random) at ``snr_db`` relative to the speech power."""
    noise = rng.standard_normal(len(audio))
    if rng.random() < 0.5:  # pink: 1/f power
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, len(audio))
    speech_power = np.mean(audio ** 2) + 1e-12
    noise *= np.sqrt(speech_power / (10 ** (snr_db / 10)) / (np.mean(noise ** 2) + 1e-12))
    return (audio + noise).astype(np.float32)


def pitch_shift(audio: np.ndarray, cents: float) -> np.ndarray:
    """Shift pitch and formants by ``cents`` keeping the duration (sox's WSOLA-based `pitch`)."""
    if not shutil.which("sox"):
        raise AudioError("pitch shifting needs sox (apt-get install sox)")
    raw = run_program(["sox", "-t", "raw", "-r", str(SAMPLE_RATE_HZ), "-e", "floating-point", "-b", "32",
                "-c", "1", "-", "-t", "raw", "-", "pitch", str(int(cents))],
               stdin=np.ascontiguousarray(audio, np.float32).tobytes())
    return np.frombuffer(raw, np.float32).copy()


def band_pass(audio: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    """Zero every frequency outside [low, high] Hz (one FFT over the whole signal; float64)."""
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, len(audio))


def telephone(audio: np.ndarray) -> np.ndarray:
    """A phone line: 8 kHz sampling, 300–3400 Hz band, 8-bit μ-law, back to 16 kHz."""
    narrow = band_pass(soxr.resample(audio, SAMPLE_RATE_HZ, 8000), 8000, 300, 3400)
    peak = np.max(np.abs(narrow)) + 1e-9
    mu = 255.0
    encoded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    encoded = np.round(encoded * 127) / 127
    decoded = np.sign(encoded) * np.expm1(np.abs(encoded) * np.log1p(mu)) / mu * peak
    return soxr.resample(decoded, 8000, SAMPLE_RATE_HZ)[: len(audio)].astype(np.float32)


@dataclass(frozen=True)
class Augmentation:
    speed: tuple[float, float] = (1.0, 1.0)
    pitch: tuple[int, int] = (40, 60)  # espeak-ng pitch (0-99)
    rate_wpm: tuple[int, int] = (140, 190)  # espeak-ng speaking rate
    reverb_prob: float = 0.0
    rt60_s: tuple[float, float] = (0.2, 0.7)
    noise_prob: float = 0.0
    snr_db: tuple[float, float] = (10.0, 30.0)
    # Pitch and formants shifted together, tempo kept (sox `pitch`): a shorter or longer vocal
    # tract; upward shifts of male voices fill the female range the engines lack.
    pitch_shift_prob: float = 0.0
    pitch_shift_cents: tuple[float, float] = (-200.0, 500.0)
    telephone_prob: float = 0.0  # 300–3400 Hz band, 8 kHz, μ-law: a phone line
