"""The spectrogram definition in numpy, for corpus statistics (the in-graph layer
:class:`ds2_tf.features.spectrogram.Spectrogram` computes the same, checked by tests/test_layers.py),
and the frame arithmetic every part shares: frames per waveform, bins per frame, and output frames
after the model's time stride (:class:`FrameGeometry`).

Framing + two matmuls with Hann-windowed cos/sin matrices, instead of `tf.signal.stft`, because a
320-point FFT is not a power of two and RFFT2D does not run in TFLite; matmuls convert to builtin
ops and match the FFT to ~1e-4. Imports no TensorFlow (it runs in corpus-preparation workers).
"""
from __future__ import annotations

from dataclasses import dataclass

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
    index = np.outer(n, np.arange(num_bins(window_samples))) % window_samples
    angle = 2 * np.pi * np.arange(window_samples) / window_samples
    window = hann_window(window_samples)[:, None]
    return (window * np.cos(angle).astype(np.float32)[index],
            -window * np.sin(angle).astype(np.float32)[index])


def num_frames(num_samples, window_samples: int, hop_samples: int, maximum=None):
    """Spectrogram frames for ``num_samples`` (python int, numpy array or tensor): whole windows.

    ``maximum``: the framework's elementwise max (e.g. ``keras.ops.maximum``) to clamp at 0 with;
    without it the clamp is written with abs(), which works for every type."""
    frames = (num_samples - window_samples) // hop_samples + 1
    if maximum is not None:
        return maximum(frames, 0)
    return (frames + abs(frames)) // 2  # max(frames, 0) for ints, arrays and tensors alike


def num_bins(window_samples: int) -> int:
    """Frequency bins of a real DFT over ``window_samples``."""
    return window_samples // 2 + 1


def ceil_div(value, divisor: int):
    """ceil(value / divisor) for ints, arrays and tensors (the length after a stride)."""
    return (value + divisor - 1) // divisor


@dataclass(frozen=True)
class FrameGeometry:
    """What corpus preparation needs to know of a model: its framing and its time stride.

    ``ds2_tf.config.RunConfig.geometry`` gives a preset's; ``output_length`` is the one function
    that turns samples into model output frames (CTC, masks, the data filter and exports use it).
    Each conv layer pads k//2 on both time sides and uses 'valid', so its output is
    ceil(in / stride); ceil(ceil(n / a) / b) = ceil(n / (a·b)), so the stack's is one ceil."""

    window_samples: int = 320
    hop_samples: int = 160
    time_stride: int = 2
    preset: str = "small"  # recorded in dataset.json's label filter

    @property
    def num_bins(self) -> int:
        return num_bins(self.window_samples)

    def num_frames(self, num_samples):
        return num_frames(num_samples, self.window_samples, self.hop_samples)

    def output_frames(self, frames):
        return ceil_div(frames, self.time_stride)

    def output_length(self, num_samples):
        """Model output frames for ``num_samples`` of audio (int, numpy array or tensor)."""
        return self.output_frames(self.num_frames(num_samples))


def min_frames_for_label(label_ids) -> int:
    """CTC needs one output frame per label plus one blank between each repeated pair."""
    repeats = sum(1 for a, b in zip(label_ids, label_ids[1:]) if a == b)
    return len(label_ids) + repeats


def frame(audio: np.ndarray, window_samples: int, hop_samples: int) -> np.ndarray:
    count = int(num_frames(len(audio), window_samples, hop_samples))
    index = np.arange(window_samples)[None, :] + hop_samples * np.arange(count)[:, None]
    return audio[index] if count else np.zeros((0, window_samples), audio.dtype)


def log_power_spectrogram(audio: np.ndarray, window_samples: int = 320,
                          hop_samples: int = 160) -> np.ndarray:
    """float audio [samples] → log power [frames, window//2 + 1] (unnormalized)."""
    frames = frame(np.asarray(audio, np.float32), window_samples, hop_samples)
    real_m, imag_m = dft_matrices(window_samples)
    real, imag = frames @ real_m, frames @ imag_m
    return np.log(real * real + imag * imag + LOG_FLOOR).astype(np.float32)
