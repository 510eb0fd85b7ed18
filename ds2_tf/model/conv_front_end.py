"""The conv front-end: 1–3 Conv2D layers over (time, frequency) with masked batch norm."""
from __future__ import annotations

import keras
import tensorflow as tf

from ds2_tf.config import CONV_ALGORITHMS, ConvSpec
from ds2_tf.model import fftconv
from ds2_tf.model.masked import MaskedBatchNorm, clipped_relu, static_dim, time_mask
from tfrecords_tools.spectrogram import ceil_div


def space_to_depth_conv2d(x, kernel):
    """'valid' convolution of x [B, T, F, C] with kernel [kt, kf, C, O] at stride (2, 2), as a
    stride-1 convolution of 2×2 space-to-depth blocks ([B, T/2, F/2, 4C]) with the kernel
    rearranged the same way (zero-padded to even sizes). Same values as ``tf.nn.conv2d``.

    Why: the one-channel first layer (11×41, stride 2) runs faster with four input channels and
    stride 1 in bfloat16 on oneDNN and in int8 TFLite; in float32 the two are equal, so float32
    TensorFlow keeps the Conv2D (bench/conv_algorithms.py, bench/export_latency.py)."""
    kt, kf, channels, filters = (int(d) for d in kernel.shape)
    batch = static_dim(x, 0)
    out_t = (tf.shape(x)[1] - kt) // 2 + 1
    out_f = (int(x.shape[2]) - kf) // 2 + 1
    bins = int(x.shape[2]) + int(x.shape[2]) % 2
    x = tf.pad(x, [[0, 0], [0, tf.shape(x)[1] % 2], [0, bins - int(x.shape[2])], [0, 0]])
    x = tf.reshape(x, [batch, -1, bins, channels])  # the dynamic padding lost the static shape
    kernel = tf.pad(kernel, [[0, kt % 2], [0, kf % 2], [0, 0], [0, 0]])
    kernel = tf.reshape(kernel, [(kt + 1) // 2, 2, (kf + 1) // 2, 2, channels, filters])
    # space_to_depth orders the new channels (row in block, column in block, channel)
    kernel = tf.reshape(tf.transpose(kernel, [0, 2, 1, 3, 4, 5]),
                        [(kt + 1) // 2, (kf + 1) // 2, 4 * channels, filters])
    y = tf.nn.conv2d(tf.nn.space_to_depth(x, 2), kernel, 1, "VALID")
    y = tf.slice(y, [0, 0, 0, 0], [-1, out_t, out_f, -1])  # a Pad gradient, not StridedSliceGrad
    return tf.reshape(y, [batch, out_t, out_f, filters])  # static again after the slice


CHUNK_FRAMES = 1600  # input frames per step of inference with fixed weights (_call_in_chunks)


@keras.saving.register_keras_serializable(package="ds2_tf")
class ConvFrontEnd(keras.layers.Layer):
    """1–3 × [ZeroPadding2D(k//2) → Conv2D('valid') → masked BN → clipped ReLU] over (time, freq).

    Explicit symmetric padding + 'valid' keeps output frame i centred on input frame i·stride for
    every input length ('same' shifts with the parity of the length under stride 2).
    ``algorithm``: "direct" always runs the Conv2D; "fft" computes the wide multi-channel layers
    with the same kernel through the FFT (``ds2_tf.fftconv``), "auto" does so where that is
    faster (CPU, ≥ 8 input channels; in inference only for batches of ``MIN_INFERENCE_BATCH`` or
    more, chosen at run time, unless ``reuse_fft_weights`` was called) and, in bfloat16 on a
    CPU, runs a few-channel stride-2×2 layer as
    ``space_to_depth_conv2d``. "tflite" (what the TFLite export builds) uses builtin ops only:
    nothing goes through the FFT, and the few-channel stride-2×2 layer runs as
    ``space_to_depth_conv2d`` (faster in int8). Every algorithm uses the same weights.
    """

    def __init__(self, conv_specs, relu_clip: float = 20.0, momentum: float = 0.99,
                 algorithm: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"conv algorithm must be one of {CONV_ALGORITHMS}, "
                             f"not {algorithm!r}")
        self.algorithm = algorithm
        self.conv_specs = [dict(filters=int(s["filters"]), kernel=tuple(s["kernel"]),
                                strides=tuple(s["strides"])) for s in conv_specs]
        self.relu_clip = relu_clip
        self.momentum = momentum
        self.pads, self.convs, self.norms = [], [], []
        for i, spec in enumerate(self.conv_specs):
            (kt, kf), (st, sf) = spec["kernel"], spec["strides"]
            self.pads.append(keras.layers.ZeroPadding2D(((kt // 2, kt // 2), (kf // 2, kf // 2)),
                                                        name=f"pad{i}"))
            self.convs.append(keras.layers.Conv2D(spec["filters"], (kt, kf), strides=(st, sf),
                                                  padding="valid", use_bias=False,
                                                  name=f"conv{i}"))
            self.norms.append(MaskedBatchNorm(momentum, name=f"conv_bn{i}"))
        self._fixed_mixing = None  # reuse_fft_weights()

    def reuse_fft_weights(self) -> None:
        """Inference with fixed weights (a Recognizer, ``ds2 evaluate``): each FFT layer's mixing
        weights (its kernel's spectra laid out for the matmul; ``fftconv.mixing_weights``) are
        computed once, when first traced, instead of on every call, where they cost about as
        much as the rest of a small batch's convolution. They are constants of the traced
        function (~90 MB for ``small``), so exports never take this path. A kernel changed
        afterwards is noticed (one comparison per call) and its weights recomputed per call."""
        self._fixed_mixing = {}

    def output_bins(self, bins: int) -> int:
        for spec in self.conv_specs:
            bins = ConvSpec(**spec).output_bins(bins)
        return bins

    def build(self, input_shape):
        bins = int(input_shape[-1])
        shape = (None, None, bins, 1)
        for pad, conv, norm in zip(self.pads, self.convs, self.norms):
            pad.build(shape)
            shape = pad.compute_output_shape(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
        self.output_dim = self.output_bins(bins) * self.conv_specs[-1]["filters"]

    def call(self, features, lengths, training=False):
        if self._fixed_mixing is not None and not training and fftconv.on_cpu():
            return self._call_in_chunks(features, lengths)  # a CPU's cache; a GPU wants it whole
        return self._run_layers(features, lengths, training)

    def _call_in_chunks(self, features, lengths):
        """Inference, a few utterances at a time (each is independent there: batch norm uses its
        moving statistics). Why: a large batch's activations stream through memory at every
        stage; ``CHUNK_FRAMES`` at a time they stay in cache (bench/transcribe_throughput.py)."""
        batch, frames = tf.shape(features)[0], tf.shape(features)[1]
        per_chunk = tf.clip_by_value(CHUNK_FRAMES // tf.maximum(frames, 1), 1,
                                     tf.maximum(batch, 1))
        chunks = (batch + per_chunk - 1) // per_chunk
        padded = chunks * per_chunk - batch
        x = tf.pad(features, [[0, padded], [0, 0], [0, 0]])
        x = tf.reshape(x, [chunks, per_chunk, frames, features.shape[-1]])
        n = tf.reshape(tf.pad(lengths, [[0, padded]]), [chunks, per_chunk])
        y, out_lengths = tf.map_fn(
            lambda args: self._run_layers(*args, training=False), (x, n), parallel_iterations=1,
            fn_output_signature=(tf.TensorSpec([None, None, self.output_dim], features.dtype),
                                 tf.TensorSpec([None], lengths.dtype)))
        y = tf.reshape(y, [chunks * per_chunk, tf.shape(y)[2], self.output_dim])
        out_lengths = tf.reshape(out_lengths, [chunks * per_chunk])
        # the map_fn lost the batch's static size: give it back, or a batch of a known size
        # (e.g. 1) meets a mask of unknown size in the RNN loop ("enters the loop with shape")
        y = tf.ensure_shape(tf.slice(y, [0, 0, 0], [batch, -1, -1]),
                            [features.shape[0], None, self.output_dim])
        return y, tf.ensure_shape(out_lengths[:batch], lengths.shape)

    def _run_layers(self, features, lengths, training):
        x = features[..., None]
        for index, (spec, pad, conv, norm) in enumerate(zip(self.conv_specs, self.pads,
                                                            self.convs, self.norms)):
            stride = spec["strides"][0]
            x = self._convolve(index, conv, pad(x), training)
            lengths = ceil_div(lengths, stride)
            mask = time_mask(lengths, tf.shape(x)[1], x.dtype)
            x = clipped_relu(norm(x, mask, training=training), self.relu_clip)
            x = x * mask[:, :, None, None]
        x = tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], self.output_dim])
        return x, lengths

    def _convolve(self, index, conv, x, training):
        if self.algorithm == "direct":
            return conv(x)
        in_channels = x.shape[-1]
        few_channels_2x2 = (tuple(conv.strides) == (2, 2)
                            and (in_channels or 0) < fftconv.MIN_IN_CHANNELS)

        def blocks():
            dtype = conv.compute_dtype
            return space_to_depth_conv2d(tf.cast(x, dtype), tf.cast(conv.kernel, dtype))

        if self.algorithm == "tflite":  # builtin ops only, so no FFT
            # int8 TFLite runs the one-channel first layer faster over 2×2 blocks (float32
            # equally fast), with identical int8 outputs
            return blocks() if few_channels_2x2 else conv(x)
        if self.algorithm == "fft" or fftconv.prefers_fft(conv.kernel.shape, in_channels):
            def fft():
                return fftconv.fft_conv2d(x, conv.kernel, conv.strides)

            if self.algorithm == "fft" or training:
                return fft()
            if self._fixed_mixing is not None:  # fixed weights: the FFT wins from one utterance
                kernel, weights = self._mixing_weights(index, conv, x.shape)
                return tf.cond(tf.reduce_all(tf.equal(conv.kernel, kernel)),
                               lambda: fftconv.fft_conv2d(x, conv.kernel, conv.strides, weights),
                               fft)
            # inference: a few utterances run faster direct (the kernel's spectra and the
            # mixing weights cost as much as the product saves); decided per call
            return tf.cond(tf.shape(x)[0] >= fftconv.MIN_INFERENCE_BATCH, fft,
                           lambda: tf.cast(conv(x), x.dtype))
        if few_channels_2x2 and conv.compute_dtype == "bfloat16" and fftconv.on_cpu():
            return blocks()
        return conv(x)

    def _mixing_weights(self, index, conv, x_shape):
        """(kernel snapshot, its mixing weights), computed eagerly once per layer and input
        width, whatever function is being traced (``tf.init_scope``)."""
        key = (index, int(x_shape[2]))
        if key not in self._fixed_mixing:
            with tf.init_scope():
                kernel = tf.identity(tf.convert_to_tensor(conv.kernel))
                self._fixed_mixing[key] = (kernel, fftconv.mixing_weights(kernel, x_shape,
                                                                          conv.strides))
        return self._fixed_mixing[key]

    def get_config(self):
        return {**super().get_config(), "conv_specs": self.conv_specs,
                "relu_clip": self.relu_clip, "momentum": self.momentum,
                "algorithm": self.algorithm}
