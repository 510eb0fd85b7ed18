"""The spectrogram definition in numpy, for corpus statistics (the in-graph layer
:class:`ds2_tf.features.Spectrogram` computes the same, checked by tests/test_layers.py).

Framing + two matmuls with Hann-windowed cos/sin matrices, instead of `tf.signal.stft`, because a
320-point FFT is not a power of two and RFFT2D does not run in TFLite; matmuls convert to builtin
ops and match the FFT to ~1e-4. Imports no TensorFlow (it runs in corpus-preparation workers).
"""
from __future__ import annotations

import numpy as np

LOG_FLOOR = 1e-10  # keeps log() finite on digital silence


def hann_window(window_samples: int) -> np.ndarray:
    """Periodic Hann window (as tf.signal.hann_window(periodic=True))."""
    n = np.arange(window_samples)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / window_samples)).astype(np.float32)


def dft_matrices(window_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """[window, bins] real and imaginary DFT matrices with the periodic Hann window folded in.

    Same values as the graph's: float32 cos/sin of 2π·(n·k mod N)/N times the float32 window.
    """
    n = np.arange(window_samples)
    index = np.outer(n, np.arange(window_samples // 2 + 1)) % window_samples
    angle = 2 * np.pi * np.arange(window_samples) / window_samples
    window = hann_window(window_samples)[:, None]
    return (window * np.cos(angle).astype(np.float32)[index],
            -window * np.sin(angle).astype(np.float32)[index])


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
