"""2D convolution as a product of spectra, for the front-end's wide multi-channel layers.

Why: a DS2 conv layer after the first has a large kernel (11×21 time×freq) and 32 input and
output channels: computed directly that is 236 k multiply-adds per output pixel, and in `small`
on a CPU the second conv is ≈ 70 % of a training step. Through the FFT the channel mixing is one
complex 32×32 product per frequency bin, ~1/15 of the arithmetic: forward + backward runs 3.2×
faster on 2 CPU cores, 2.4× for the paper's 32→96 layer (bench/conv_algorithms.py). The weights
are the Conv2D's kernel and the outputs equal the direct convolution to float32 round-off (≈ 2e-6
relative), so checkpoints and exports do not depend on which way a layer was computed.

Overlap-save along time keeps the transforms small and static: the padded input is cut into
overlapping blocks of ``FFT_TIME`` frames (``FFT_TIME − kt + 1`` new outputs each), so the
kernel's spectrum is [C, O, FFT_TIME, F/2+1] whatever the utterance length. A one-channel layer
(the first) stays direct: there the FFT costs more than it saves (1.8× slower measured). On a GPU
cuDNN's direct convolutions are used; TFLite has no inverse 2D FFT among its builtin ops, so its
conversion traces the direct path (``direct_convolution``).
"""
from __future__ import annotations

import contextlib

import tensorflow as tf

FFT_TIME = 96  # frames per block transform (5-smooth); 54–86 new frames per block measured alike
MIN_IN_CHANNELS = 8  # below this the FFT loses (the 1-channel first layer: 1.8× slower)

_DIRECT = []


@contextlib.contextmanager
def direct_convolution():
    """Trace every conv layer as a plain Conv2D (for TFLite: no builtin IRFFT2D)."""
    _DIRECT.append(True)
    try:
        yield
    finally:
        _DIRECT.pop()


def next_fast_len(n: int, multiple_of: int = 1) -> int:
    """Smallest 5-smooth integer ≥ n (FFT lengths with small prime factors only) that is a
    multiple of ``multiple_of``."""
    best = n
    while True:
        if best % multiple_of:
            best += 1
            continue
        m = best
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return best
        best += 1


def forced_direct() -> bool:
    return bool(_DIRECT)


def prefers_fft(kernel_shape, in_channels: int | None) -> bool:
    """Whether a conv with this [kt, kf, C, O] kernel runs faster through the FFT here: on a CPU,
    with several input channels and a kernel much shorter than the block transform."""
    kt, kf = int(kernel_shape[0]), int(kernel_shape[1])
    if in_channels is None or in_channels < MIN_IN_CHANNELS or kt > FFT_TIME // 2 or kt * kf < 25:
        return False
    return not tf.config.list_logical_devices("GPU")


def fft_conv2d(x, kernel, strides):
    """'valid' cross-correlation of x [B, T, F, C] with kernel [kt, kf, C, O], like
    ``tf.nn.conv2d(x, kernel, strides, "VALID")``; F and C must be static.

    The frequency stride is taken in the spectral domain: keeping every s-th output bin is the
    same as summing the product spectrum's s aliases (y[s·m] = IDFT_{N/s}(Σ_j Y[k + j·N/s]) / s),
    so the inverse transforms, and the backward pass's forward ones, are s times smaller."""
    kt, kf = int(kernel.shape[0]), int(kernel.shape[1])
    st, sf = strides
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    kernel = tf.cast(kernel, tf.float32)
    bins = int(x.shape[2])
    n_t, n_f = FFT_TIME, next_fast_len(bins, multiple_of=sf)
    out_f = (bins - kf) // sf + 1
    block = n_t - kt + 1
    out_t = tf.maximum(tf.shape(x)[1] - kt + 1, 0)
    blocks = tf.maximum((out_t + block - 1) // block, 1)
    x = tf.pad(x, [[0, 0], [0, blocks * block + kt - 1 - tf.shape(x)[1]], [0, 0], [0, 0]])
    frames = tf.signal.frame(x, n_t, block, axis=1)  # [B, n, n_t, F, C]
    # frequency on the full complex axis (so it can alias), time on the half one
    spectra = tf.signal.rfft2d(tf.transpose(frames, [0, 1, 4, 3, 2]), [n_f, n_t])
    kernel_spectra = tf.signal.rfft2d(tf.transpose(kernel, [2, 3, 1, 0]), [n_f, n_t])
    # correlation = product with the conjugate spectrum; no wrap-around in the valid outputs
    mixed = tf.einsum("bncft,coft->bnoft", spectra, tf.math.conj(kernel_spectra))
    if sf > 1:
        shape = tf.shape(mixed)
        mixed = tf.reshape(mixed, [shape[0], shape[1], mixed.shape[2], sf, n_f // sf,
                                   mixed.shape[4]])
        mixed = tf.reduce_sum(mixed, axis=3) / sf
    y = tf.signal.irfft2d(mixed, [n_f // sf, n_t])[:, :, :, :out_f, :block]
    y = tf.transpose(y, [0, 1, 4, 3, 2])  # [B, n, block, F_out, O]
    y = tf.reshape(y, [tf.shape(y)[0], blocks * block, out_f, y.shape[4]])
    return tf.cast(y[:, :out_t:st], dtype)
