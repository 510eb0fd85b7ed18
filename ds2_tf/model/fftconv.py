"""2D convolution as a product of spectra, for the front-end's wide multi-channel layers.

Why: a DS2 conv layer after the first has a large kernel (11×21 time×freq) and 32 input and
output channels: computed directly that is 236 k multiply-adds per output pixel, the largest
part of a `small` training step on a CPU. Through the FFT the channel mixing is one complex
32×32 product per frequency bin, ~1/15 of the arithmetic (speed per machine:
bench/conv_algorithms.py and bench/results/). The weights are the Conv2D's
kernel and the outputs equal the direct convolution to float32 round-off (≈ 2e-6
relative), so checkpoints and exports do not depend on which way a layer was computed.

Overlap-save along time keeps the transforms small and static: the padded input is cut into
overlapping blocks of ``FFT_TIME`` frames (``FFT_TIME − kt + 1`` new outputs each), so the
kernel's spectrum is [C, O, FFT_TIME, F/2+1] whatever the utterance length; at time stride 1 a
batch's utterances are joined end to end first, so they share blocks (``_packed``). A
one-channel layer (the first) stays direct: there the FFT costs more than it saves (in training
that layer needs no input gradient, so only the forward transform's cost is left to amortize).
On a GPU cuDNN's direct convolutions are used; TFLite has no inverse 2D FFT among its builtin
ops, so its conversion builds the front-end with ``algorithm="tflite"`` (no FFT).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

FFT_TIME = 96  # frames per block transform (5-smooth); 54–86 new frames per block measured alike
MIN_IN_CHANNELS = 8  # below this the FFT loses (measured on the 1-channel first layer)
# Inference batches smaller than this run direct when the mixing weights are recomputed per call
# (exports): `small`, 10 s, direct ÷ FFT time 0.65 (batch 1), 0.82 (2), 1.07 (4), 1.31 (16), one
# run; the SavedModel picks per call (ConvFrontEnd). With the weights computed once
# (ConvFrontEnd.reuse_fft_weights: a Recognizer, ``ds2 evaluate``) the FFT is faster from batch 1.
MIN_INFERENCE_BATCH = 4

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


def on_cpu() -> bool:
    """No GPU visible: the FFT layers and the bfloat16 space-to-depth layer are CPU choices (a
    GPU runs cuDNN's direct convolutions)."""
    return not tf.config.list_logical_devices("GPU")


def prefers_fft(kernel_shape, in_channels: int | None) -> bool:
    """Whether a conv with this [kt, kf, C, O] kernel runs faster through the FFT here: on a CPU,
    with several input channels and a kernel much shorter than the block transform."""
    kt, kf = int(kernel_shape[0]), int(kernel_shape[1])
    if in_channels is None or in_channels < MIN_IN_CHANNELS or kt > FFT_TIME // 2 or kt * kf < 25:
        return False
    return on_cpu()


def fft_conv2d(x, kernel, strides, weights=None):
    """'valid' cross-correlation of x [B, T, F, C] with kernel [kt, kf, C, O], like
    ``tf.nn.conv2d(x, kernel, strides, "VALID")``; F and C must be static.

    ``weights``: ``mixing_weights(kernel, x.shape, strides)`` computed beforehand, for inference
    with a fixed kernel (they are the kernel's spectra laid out for the channel-mixing matmul,
    and recomputing them costs as much as the rest of a small batch's convolution); no gradient
    reaches the kernel through them."""
    plan = _Plan(x.shape, kernel.shape, strides)
    if plan.st == 1 and x.shape[0] != 1:
        return _packed(x, kernel, strides, weights, plan.kt)
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    kernel = tf.cast(kernel, tf.float32)
    out_t = tf.maximum(tf.shape(x)[1] - plan.kt + 1, 0)
    blocks = tf.maximum((out_t + plan.block - 1) // plan.block, 1)
    x = tf.pad(x, [[0, 0], [0, blocks * plan.block + plan.kt - 1 - tf.shape(x)[1]], [0, 0],
                   [0, 0]])
    y = plan.synthesize(plan.spectra(x), kernel=kernel, weights=weights)
    # tf.slice, not y[...]: a slice's gradient is one Pad, a strided slice's a much slower
    # StridedSliceGrad
    if plan.st > 1:
        y = y[:, :out_t:plan.st]
    else:  # reshaped so that the static shape survives the dynamic slice
        batch = y.shape[0] if y.shape[0] is not None else tf.shape(y)[0]
        y = tf.reshape(tf.slice(y, [0, 0, 0, 0], [-1, out_t, -1, -1]),
                       [batch, out_t, plan.out_f, int(y.shape[-1])])
    return tf.cast(y, dtype)


def _packed(x, kernel, strides, weights, kt: int):
    """``fft_conv2d`` at time stride 1 of a batch [B, L, F, C] as one sequence of B·L frames.

    Why: overlap-save cuts each utterance into blocks of ``FFT_TIME − kt + 1`` outputs, so each
    one's last block is partly wasted (a 2 s utterance: 100 outputs in two blocks of 86). End to
    end, the utterances share blocks and only the last one is partial. Output t of utterance b
    is output b·L + t of the joined sequence for t < L − kt + 1 (it reads inputs b·L + t …
    b·L + t + kt − 1, all of utterance b); the kt − 1 outputs that straddle two utterances are
    dropped. Same values as computing each utterance alone."""
    batch = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    length, bins, channels = tf.shape(x)[1], x.shape[2], x.shape[3]
    joined = fft_conv2d(tf.reshape(x, [1, batch * length, bins, channels]), kernel, strides,
                        weights)  # [1, max(B·L − kt + 1, 0), F_out, O]
    out_f, filters = joined.shape[2], joined.shape[3]
    joined = tf.pad(joined, [[0, 0], [0, batch * length - tf.shape(joined)[1]], [0, 0], [0, 0]])
    y = tf.reshape(joined, [batch, length, out_f, filters])
    out_t = tf.maximum(length - kt + 1, 0)
    return tf.reshape(tf.slice(y, [0, 0, 0, 0], [-1, out_t, -1, -1]),
                      [batch, out_t, out_f, filters])


class _Plan:
    """Static sizes of one FFT convolution and its three stages: input spectra, kernel spectra,
    and synthesis (channel mixing + inverse transform) of the stride-1-in-time output.

    The frequency stride is taken in the spectral domain: keeping every s-th output bin is the
    same as summing the product spectrum's s aliases (y[s·m] = IDFT_{N/s}(Σ_j Y[k + j·N/s]) / s),
    so the inverse transforms, and the backward pass's forward ones, are s times smaller."""

    def __init__(self, x_shape, kernel_shape, strides):
        self.kt, self.kf = int(kernel_shape[0]), int(kernel_shape[1])
        self.st, self.sf = (int(s) for s in strides)
        self.bins = int(x_shape[2])
        self.n_t, self.n_f = FFT_TIME, next_fast_len(self.bins, multiple_of=self.sf)
        self.out_f = (self.bins - self.kf) // self.sf + 1
        self.block = self.n_t - self.kt + 1

    def spectra(self, x):
        """x [B, blocks·block + kt − 1, F, C] → [B, blocks, C, n_f, n_t/2 + 1]: frequency on the
        full complex axis (so it can alias), time on the half one."""
        frames = tf.signal.frame(x, self.n_t, self.block, axis=1)  # [B, n, n_t, F, C]
        return rfft2d(tf.transpose(frames, [0, 1, 4, 3, 2]), [self.n_f, self.n_t])

    def kernel_spectra(self, kernel):
        """kernel [kt, kf, C, O] → the conjugate spectra [C, O, n_f, n_t/2 + 1] (correlation)."""
        spectra = rfft2d(tf.transpose(kernel, [2, 3, 1, 0]), [self.n_f, self.n_t])
        return tf.math.conj(spectra)

    def folded_kernel_spectra(self, kernel):
        """kernel → its conjugate spectra [C, O, s, n_f/s, n_t/2 + 1], the frequency axis split
        into the stride's aliases and scaled by 1/s (see the class docstring)."""
        spectra = self.kernel_spectra(kernel)
        return tf.reshape(spectra, [*spectra.shape[:2], self.sf, self.n_f // self.sf,
                                    spectra.shape[3]]) / self.sf

    def synthesize(self, spectra, kernel=None, weights=None):
        """input spectra and the kernel (or its ``mixing_weights``)
        → y [B, blocks·block, F_out, O] (no wrap-around in the valid outputs)."""
        # channel mixing and aliasing in one contraction (over channels c and aliases j): the
        # full-size product spectrum is never materialized, in the forward or the backward pass
        shape, half = tf.shape(spectra), self.n_f // self.sf
        spectra = tf.reshape(spectra, [shape[0], shape[1], spectra.shape[2], self.sf, half,
                                       spectra.shape[4]])
        if weights is None:
            mixed = channel_mix(spectra, self.folded_kernel_spectra(kernel))
        else:
            mixed = mix_rows(spectra, weights)
        y = irfft2d(mixed, [self.n_f // self.sf, self.n_t])
        y = tf.slice(y, [0] * 5, [-1, -1, -1, self.out_f, self.block])
        y = tf.transpose(y, [0, 1, 4, 3, 2])
        shape = tf.shape(y)  # [B, n, block, F_out, O]
        return tf.reshape(y, [shape[0], shape[1] * self.block, self.out_f, y.shape[4]])


def channel_mix(spectra, kernel_spectra):
    """Σ_c,j spectra[b, n, c, j, f, t] · kernel_spectra[c, o, j, f, t] → [b, n, o, f, t] (complex).

    Why not ``tf.einsum``: a complex64 batched matmul runs on Eigen's generic kernels, a small
    fraction of the float32 peak. Viewed as real numbers (a free bitcast), each bin's
    product is one float32 matmul with the 2×2 real block [[Re k, Im k], [−Im k, Re k]] per
    channel pair, which oneDNN runs several times faster than Eigen's complex kernels; the gradients are two more such matmuls, written out because TensorFlow has no
    gradient for a bitcast."""
    batch, blocks = tf.shape(spectra)[0], tf.shape(spectra)[1]
    in_shape, out_channels = spectra.shape[2:-2], kernel_spectra.shape[1]
    bins = spectra.shape[-2:]

    def rows(z, channels):
        return _rows(z, bins, batch * blocks, channels)

    def unrows(y, channels):
        return _unrows(y, bins, batch, blocks, channels)

    @tf.custom_gradient
    def mix(spectra, kernel_spectra):
        x = rows(spectra, in_shape)  # [P, M, C·J·2]
        weights = block_weights(kernel_spectra)

        def grad(d_mixed):
            d_y = rows(d_mixed, [out_channels])  # [P, M, O·2]
            d_x = tf.matmul(d_y, weights, transpose_b=True)
            d_w = tf.reshape(tf.matmul(x, d_y, transpose_a=True),
                             [*bins, *in_shape, 2, out_channels, 2])
            d_real = d_w[..., 0, :, 0] + d_w[..., 1, :, 1]  # [f, t, C, J, O]
            d_imag = d_w[..., 0, :, 1] - d_w[..., 1, :, 0]
            d_kernel = tf.transpose(tf.complex(d_real, d_imag), [2, 4, 3, 0, 1])
            return unrows(d_x, in_shape), d_kernel

        return unrows(tf.matmul(x, weights), [out_channels]), grad

    return mix(spectra, kernel_spectra)


def block_weights(kernel_spectra):
    """Folded kernel spectra [C, O, J, f, t] (complex) → the real matmul weights
    [f·t, C·J·2, O·2] of ``channel_mix``: per bin and channel pair the 2×2 block
    [[Re k, Im k], [−Im k, Re k]] (rows: input re|im, columns: output re|im).

    The complex spectra are transposed first and the blocks built on the trailing axes: half the
    time of transposing the four-times-larger real blocks (a high-rank transpose with a two-float
    innermost axis is slow on Eigen)."""
    channels, out_channels = kernel_spectra.shape[0], kernel_spectra.shape[1]
    k = tf.transpose(kernel_spectra, [3, 4, 0, 2, 1])  # [f, t, C, J, O]
    real, imag = tf.math.real(k), tf.math.imag(k)
    block = tf.stack([tf.stack([real, imag], -1), tf.stack([-imag, real], -1)], -3)
    rows = int(np.prod(k.shape[:2]))
    return tf.reshape(block, [rows, 2 * channels * kernel_spectra.shape[2], 2 * out_channels])


def mixing_weights(kernel, x_shape, strides):
    """``block_weights`` of a kernel [kt, kf, C, O] for inputs of shape [B, T, F, C] (F static),
    to give ``fft_conv2d`` when the kernel stays fixed over many calls (inference)."""
    plan = _Plan(x_shape, kernel.shape, strides)
    return block_weights(plan.folded_kernel_spectra(tf.cast(kernel, tf.float32)))


def mix_rows(spectra, weights):
    """``channel_mix`` with precomputed ``block_weights`` (inference: no kernel gradient)."""
    batch, blocks = tf.shape(spectra)[0], tf.shape(spectra)[1]
    bins, in_shape = spectra.shape[-2:], spectra.shape[2:-2]
    out_channels = int(weights.shape[-1]) // 2
    y = tf.matmul(_rows(spectra, bins, batch * blocks, in_shape), weights)
    return _unrows(y, bins, batch, blocks, [out_channels])


def _rows(z, bins, rows, channels):
    """complex [b, n, K…, f, t] → real [f·t, b·n, K…·2] (re, im adjacent): transposed as complex
    (one 8-byte element) before the free bitcast, faster than transposing the float pairs."""
    rank = len(channels) + 4  # static even where a gradient's shape is not
    z = tf.transpose(z, [rank - 2, rank - 1, *range(rank - 2)])
    return tf.reshape(tf.bitcast(z, tf.float32),
                      [bins[0] * bins[1], rows, 2 * int(np.prod(channels))])


def _unrows(y, bins, batch, blocks, channels):
    """real [f·t, b·n, K…·2] → complex [b, n, K…, f, t] (``_rows`` undone)."""
    y = tf.bitcast(tf.reshape(y, [*bins, batch, blocks, *channels, 2]), tf.complex64)
    rank = len(channels) + 4
    return tf.transpose(y, [*range(2, rank), 0, 1])


# The two transforms with their gradients written out. Why: TensorFlow's registered gradients
# build a bin-weight mask and multiply it in with several complex elementwise ops around the
# inverse transform; the adjoints below are one transform and one broadcast multiply by a
# constant per-bin weight (or, for a kernel's few taps, two small DFT products instead of a
# full-size inverse transform cropped): about a third of the time TensorFlow's way, same values
# to float32 round-off (tests/test_fftconv.py checks the gradients).
def _half_bin_weights(n: int, interior: float, ends: float):
    """Per-bin weights of a length-n real transform's n/2 + 1 half spectrum."""
    weights = [interior] * (n // 2 + 1)
    weights[0] = ends
    if n % 2 == 0:
        weights[-1] = ends
    return tf.constant(weights, tf.complex64)


def rfft2d(x, fft_length):
    """``tf.signal.rfft2d`` (float32 → complex64, zero-padded to ``fft_length``)."""
    n_f, n_t = fft_length
    rows, cols = int(x.shape[-2]), int(x.shape[-1])

    @tf.custom_gradient
    def transform(x):
        def grad(d_spectra):
            if rows * cols * 16 <= n_f * n_t:  # a kernel: few outputs, two small DFT products
                # adjoint: x̄[r, c] = Re Σ_f Σ_t X̄[f, t] · exp(2πi (f r / N_f + t c / N_t))
                phase_f = np.exp(2j * np.pi * np.outer(np.arange(n_f), np.arange(rows)) / n_f)
                phase_t = np.exp(2j * np.pi * np.outer(np.arange(n_t // 2 + 1),
                                                       np.arange(cols)) / n_t)
                rows_first = tf.einsum("...ft,fr->...rt", d_spectra,
                                       tf.constant(phase_f, tf.complex64))
                return tf.math.real(tf.einsum("...rt,tc->...rc", rows_first,
                                              tf.constant(phase_t, tf.complex64)))
            # adjoint: x̄ = N_f·N_t · irfft2d(X̄ ⊙ w), w = 1 on the DC/Nyquist bins, ½ between
            weights = _half_bin_weights(n_t, 0.5 * n_f * n_t, float(n_f * n_t))
            return tf.signal.irfft2d(d_spectra * weights, [n_f, n_t])[..., :rows, :cols]

        return tf.signal.rfft2d(x, [n_f, n_t]), grad

    return transform(x)


def irfft2d(spectra, fft_length):
    """``tf.signal.irfft2d`` whose input already has the [N_f, N_t/2 + 1] spectrum shape."""
    n_f, n_t = fft_length

    @tf.custom_gradient
    def transform(spectra):
        def grad(d_y):
            # adjoint: Ȳ = rfft2d(ȳ) ⊙ m / (N_f·N_t), m = 1 on the DC/Nyquist bins, 2 between
            scale = 1.0 / (n_f * n_t)
            return tf.signal.rfft2d(d_y, [n_f, n_t]) * _half_bin_weights(n_t, 2 * scale, scale)

        return tf.signal.irfft2d(spectra, [n_f, n_t]), grad

    return transform(spectra)
