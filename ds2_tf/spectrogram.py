"""The spectrogram definition, in numpy: shared by the in-graph layer and corpus statistics.

Framing + two matmuls with Hann-windowed cos/sin matrices, instead of `tf.signal.stft`, because a
320-point FFT is not a power of two and RFFT2D does not run in TFLite; matmuls convert to builtin
ops and match the FFT to ~1e-4. Imports no TensorFlow (it runs in corpus-preparation workers).
"""
from __future__ import annotations

import numpy as np

LOG_FLOOR = 1e-10  # keeps log() finite on digital silence


def dft_matrices(window_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """[window, bins] real and imaginary DFT matrices with the periodic Hann window folded in."""
    n = np.arange(window_samples)
    bins = window_samples // 2 + 1
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / window_samples)
    angle = 2 * np.pi * np.outer(n, np.arange(bins)) / window_samples
    return ((window[:, None] * np.cos(angle)).astype(np.float32),
            (-window[:, None] * np.sin(angle)).astype(np.float32))


def frame(audio: np.ndarray, window_samples: int, hop_samples: int) -> np.ndarray:
    count = max(0, (len(audio) - window_samples) // hop_samples + 1)
    index = np.arange(window_samples)[None, :] + hop_samples * np.arange(count)[:, None]
    return audio[index] if count else np.zeros((0, window_samples), audio.dtype)


def log_power_spectrogram(audio: np.ndarray, window_samples: int = 320,
                          hop_samples: int = 160) -> np.ndarray:
    """float audio [samples] → log power [frames, window//2 + 1] (unnormalized)."""
    frames = frame(np.asarray(audio, np.float32), window_samples, hop_samples)
    real_m, imag_m = dft_matrices(window_samples)
    real, imag = frames @ real_m, frames @ imag_m
    return np.log(real * real + imag * imag + LOG_FLOOR).astype(np.float32)
