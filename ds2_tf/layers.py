"""Deep Speech 2 building blocks as serializable Keras layers.

Masks are passed explicitly as ``mask`` [B, T]: every layer zeroes padded frames on its output, so
a padded batch computes exactly what each utterance computes alone, and padding never enters
batch-norm statistics.
"""
from __future__ import annotations

import contextlib

import keras
import tensorflow as tf
# the XlaDynamicUpdateSlice op's wrapper (used by jax2tf too); TFLite's DYNAMIC_UPDATE_SLICE
from tensorflow.compiler.tf2xla.python import xla as _xla
from keras import ops

from ds2_tf import fftconv
from ds2_tf.config import CONV_ALGORITHMS, RNN_LOOPS
from ds2_tf.fused_gru import gru_sequence


def _reverse_time(t):
    """[B, T, …] reversed along time (what the backward direction reads); None stays None."""
    return None if t is None else tf.reverse(t, [1])


def _dim(t, axis: int):
    """Size of ``t`` along ``axis``: the static int where known (TFLite needs it), else a tensor."""
    return t.shape[axis] if t.shape[axis] is not None else tf.shape(t)[axis]


def time_mask(lengths, max_time, dtype=tf.float32):
    return tf.sequence_mask(lengths, max_time, dtype=dtype)


def clipped_relu(x, clip: float):
    return ops.minimum(ops.relu(x), ops.cast(clip, x.dtype))


@keras.saving.register_keras_serializable(package="ds2_tf")
class MaskedBatchNorm(keras.layers.Layer):
    """Sequence-wise batch norm: statistics over batch × *valid* time (× other axes), per channel.

    With several replicas the sums are all-reduced, so statistics are those of the global batch.
    Statistics are computed in float32 even under mixed precision.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.supports_masking = True

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones",
                                     autocast=False)
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros",
                                    autocast=False)
        self.moving_mean = self.add_weight(name="moving_mean", shape=(channels,),
                                           initializer="zeros", trainable=False,
                                           autocast=False, aggregation="mean")
        self.moving_variance = self.add_weight(name="moving_variance", shape=(channels,),
                                               initializer="ones", trainable=False,
                                               autocast=False, aggregation="mean")

    def call(self, inputs, mask=None, training=False):
        x = tf.cast(inputs, tf.float32)
        if training:
            axes = list(range(len(x.shape) - 1))
            if mask is None:
                weights = tf.ones_like(x[..., :1])
            else:
                weights = tf.cast(mask, tf.float32)
                weights = tf.reshape(weights, tf.concat([tf.shape(weights),
                                                         tf.ones([len(x.shape) - 2], tf.int32)], 0))
                weights = tf.broadcast_to(weights, tf.concat([tf.shape(x)[:-1], [1]], 0))
            total = tf.reduce_sum(weights * x, axes)
            total_sq = tf.reduce_sum(weights * x * x, axes)
            count = tf.reduce_sum(weights)
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                total, total_sq, count = ctx.all_reduce("sum", [total, total_sq, count])
            count = tf.maximum(count, 1.0)
            mean = total / count
            variance = tf.maximum(total_sq / count - mean * mean, 0.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        scale = self.gamma * tf.math.rsqrt(variance + self.epsilon)
        out = x * scale + (self.beta - mean * scale)
        return tf.cast(out, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


def space_to_depth_conv2d(x, kernel):
    """'valid' convolution of x [B, T, F, C] with kernel [kt, kf, C, O] at stride (2, 2), as a
    stride-1 convolution of 2×2 space-to-depth blocks ([B, T/2, F/2, 4C]) with the kernel
    rearranged the same way (zero-padded to even sizes). Same values as ``tf.nn.conv2d``.

    Why: the one-channel first layer (11×41, stride 2) runs faster with four input channels and
    stride 1 in bfloat16 on oneDNN (forward + kernel gradient 151 vs 249 ms on `small`'s 26 × 6 s
    batch, 2 CPU cores) and in int8 TFLite (the whole model 1.2× faster on one thread); in float32
    the two are equal, so float32 TensorFlow keeps the Conv2D."""
    kt, kf, channels, filters = (int(d) for d in kernel.shape)
    batch = _dim(x, 0)
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


@keras.saving.register_keras_serializable(package="ds2_tf")
class ConvFrontEnd(keras.layers.Layer):
    """1–3 × [ZeroPadding2D(k//2) → Conv2D('valid') → masked BN → clipped ReLU] over (time, freq).

    Explicit symmetric padding + 'valid' keeps output frame i centred on input frame i·stride for
    every input length ('same' shifts with the parity of the length under stride 2).
    ``algorithm``: "direct" always runs the Conv2D; "fft" computes the wide multi-channel layers
    with the same kernel through the FFT (``ds2_tf.fftconv``), "auto" does so where that is
    faster (CPU, ≥ 8 input channels; in inference only for batches of ``MIN_INFERENCE_BATCH`` or
    more, chosen at run time) and, in bfloat16 on a CPU, runs a few-channel stride-2×2 layer as
    ``space_to_depth_conv2d``. Inside ``direct_convolution`` (TFLite) nothing goes through the
    FFT, and the few-channel stride-2×2 layer runs as ``space_to_depth_conv2d`` (faster in int8).
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

    def output_bins(self, bins: int) -> int:
        for spec in self.conv_specs:
            kf, sf = spec["kernel"][1], spec["strides"][1]
            bins = (bins + 2 * (kf // 2) - kf) // sf + 1
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
        x = features[..., None]
        for spec, pad, conv, norm in zip(self.conv_specs, self.pads, self.convs, self.norms):
            stride = spec["strides"][0]
            x = self._convolve(conv, pad(x), training)
            lengths = (lengths + stride - 1) // stride
            mask = time_mask(lengths, tf.shape(x)[1], x.dtype)
            x = clipped_relu(norm(x, mask, training=training), self.relu_clip)
            x = x * mask[:, :, None, None]
        x = tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], self.output_dim])
        return x, lengths

    def _convolve(self, conv, x, training):
        if self.algorithm == "direct":
            return conv(x)
        in_channels = x.shape[-1]
        few_channels_2x2 = (tuple(conv.strides) == (2, 2)
                            and (in_channels or 0) < fftconv.MIN_IN_CHANNELS)

        def blocks():
            dtype = conv.compute_dtype
            return space_to_depth_conv2d(tf.cast(x, dtype), tf.cast(conv.kernel, dtype))

        if fftconv.forced_direct():  # TFLite: builtin ops only, so no FFT
            # int8 TFLite runs the one-channel first layer over 2×2 blocks 1.2× faster (whole
            # model, 1 thread; 1.13× on 2; float32 1.00×), with identical int8 outputs
            return blocks() if few_channels_2x2 else conv(x)
        if self.algorithm == "fft" or fftconv.prefers_fft(conv.kernel.shape, in_channels):
            def fft():
                return fftconv.fft_conv2d(x, conv.kernel, conv.strides)

            if self.algorithm == "fft" or training:
                return fft()
            # inference: one or two utterances run faster direct (the kernel's spectra and the
            # mixing weights cost as much as the product saves); decided per call
            return tf.cond(tf.shape(x)[0] >= fftconv.MIN_INFERENCE_BATCH, fft,
                           lambda: tf.cast(conv(x), x.dtype))
        if few_channels_2x2 and conv.compute_dtype == "bfloat16" and fftconv.on_cpu():
            return blocks()
        return conv(x)

    def get_config(self):
        return {**super().get_config(), "conv_specs": self.conv_specs,
                "relu_clip": self.relu_clip, "momentum": self.momentum,
                "algorithm": self.algorithm}


@keras.saving.register_keras_serializable(package="ds2_tf")
class ProjectedGRUCell(keras.layers.Layer):
    """GRU recurrence whose input projection W·x_t (gates z, r, h) was computed outside.

    h_t = z ⊙ h_{t-1} + (1 − z) ⊙ tanh(x_h + r ⊙ (U_h h_{t-1} + b_h)) — Keras's ``reset_after``
    GRU, so weights copy over from ``keras.layers.GRU`` one to one.
    """

    gates = 3

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel",
                                                shape=(self.units, self.gates * self.units),
                                                initializer="orthogonal")
        self.recurrent_bias = self.add_weight(name="recurrent_bias",
                                              shape=(self.gates * self.units,),
                                              initializer="zeros")

    def call(self, inputs, states, training=None):
        h = states[0] if isinstance(states, (list, tuple)) else states
        (h,) = self.step(inputs, [h], ops.matmul(h, self.recurrent_kernel) + self.recurrent_bias)
        return h, [h]

    @staticmethod
    def step(inputs, states, hidden):
        """One time step given the recurrent projection ``hidden`` = U h + b; elementwise, so a
        leading direction axis on every argument runs D directions at once (``run_recurrence``)."""
        h = states[0]
        x_z, x_r, x_h = ops.split(inputs, 3, axis=-1)
        h_z, h_r, h_h = ops.split(hidden, 3, axis=-1)
        z = ops.sigmoid(x_z + h_z)
        r = ops.sigmoid(x_r + h_r)
        candidate = ops.tanh(x_h + r * h_h)
        return [z * h + (1.0 - z) * candidate]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="ds2_tf")
class ProjectedLSTMCell(keras.layers.Layer):
    """LSTM recurrence with the input projection (gates i, f, c, o as Keras) computed outside."""

    gates = 4

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        self.recurrent_kernel = self.add_weight(name="recurrent_kernel",
                                                shape=(self.units, 4 * self.units),
                                                initializer="orthogonal")

        def forget_bias_one(shape, dtype=None):
            u = self.units
            return ops.concatenate([ops.zeros((u,)), ops.ones((u,)), ops.zeros((2 * u,))])

        self.recurrent_bias = self.add_weight(name="recurrent_bias", shape=(4 * self.units,),
                                              initializer=forget_bias_one)

    def call(self, inputs, states, training=None):
        hidden = ops.matmul(states[0], self.recurrent_kernel) + self.recurrent_bias
        h, c = self.step(inputs, states, hidden)
        return h, [h, c]

    @staticmethod
    def step(inputs, states, hidden):
        """One time step given U h + b (see ``ProjectedGRUCell.step``)."""
        h, c = states
        gates = inputs + hidden
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        return [ops.sigmoid(o) * ops.tanh(c), c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


CELLS = {"gru": ProjectedGRUCell, "lstm": ProjectedLSTMCell}


# TFLite int8 `small`, 1 thread, RTF with K = 8 / 16 (static loop body, side by side, one run):
# 5 s 0.0087 / 0.0088, 10 s 0.0093 / 0.0088, 20 s 0.0100 / 0.0092, 30 s 0.0109 / 0.0097. Each
# iteration copies every loop variable (the whole projected input among them), so fewer
# iterations cost less on long utterances. (TensorArray body, vs Keras's loops: K=4 0.62×,
# K=8 0.55×, K=32 0.53×.)
STEPS_PER_ITERATION = 16


_STACKED = []  # steps per iteration of each open stacked_recurrence() (innermost last)


@contextlib.contextmanager
def stacked_recurrence(steps_per_iteration: int = STEPS_PER_ITERATION):
    """Trace every ``BatchNormRNN`` with ``run_recurrence`` instead of ``keras.layers.RNN``
    (same outputs; see ``run_recurrence`` for when each is faster)."""
    _STACKED.append(steps_per_iteration)
    try:
        yield
    finally:
        _STACKED.pop()


@tf.custom_gradient
def write_block(buffer, block, index):
    """``buffer`` with ``block`` written at ``index`` along axis 0 (other offsets 0), as one
    DYNAMIC_UPDATE_SLICE in TFLite. Why not a TensorArray: TFLite lowers its writes to slices
    and a concatenation whose shapes depend on the index, so a loop body holding one has
    dynamic tensors, and TFLite's WHILE then runs its dynamic path: every loop variable resized
    and deep-copied three times per iteration (tensorflow/lite/kernels/while.cc) instead of
    copied once. The TF op has no registered gradient; it is written out here."""
    offsets = tf.concat([tf.reshape(index, [1]), tf.zeros([buffer.shape.rank - 1], tf.int32)], 0)
    result = _xla.dynamic_update_slice(buffer, block, offsets)

    def grad(upstream):
        return (_xla.dynamic_update_slice(upstream, tf.zeros_like(block), offsets),
                tf.slice(upstream, offsets, tf.shape(block)), None)

    return result, grad


def run_recurrence(cells, inputs, mask=None, initial_states=None,
                   steps_per_iteration: int | None = None):
    """Run one recurrence per cell (one per direction) in a single loop, K time steps per iteration.

    ``inputs`` holds one [B, T, G] projected sequence per cell, already in the order that cell
    reads it (the backward one time-reversed); ``mask`` [B, T] bool per cell likewise, or None.
    Returns ([B, T, U] outputs per cell, final states [D, B, U] per state tensor).

    Why: TFLite lowers a loop's TensorArray writes to slice + concatenate of the whole [T, …]
    output list, so two ``keras.layers.RNN`` loops copy their outputs T times each and the
    real-time factor grows with utterance length. Here the directions are stacked on a leading
    axis (one loop and one set of elementwise ops per step for both) and K steps are unrolled
    inside each iteration: T / K iterations, T / K writes. The sequence is padded to a multiple
    of K with masked steps, which keep the state and whose outputs are dropped. Outputs go into a
    fixed-shape buffer (``write_block``), so every tensor in the TFLite loop body has a static
    shape and TFLite's WHILE takes its static path. TensorFlow runs
    the Keras loops faster (the two directions in parallel, fewer activations kept for the
    gradient; bench/rnn_loop.py), and so does TFLite on short streaming chunks, so this path is
    only traced inside ``stacked_recurrence()``, which the whole-utterance TFLite export uses.
    """
    step = type(cells[0]).step
    dtype = inputs[0].dtype
    k = steps_per_iteration or (_STACKED[-1] if _STACKED else STEPS_PER_ITERATION)
    weights = [(tf.cast(c.recurrent_kernel, dtype), tf.cast(c.recurrent_bias, dtype))
               for c in cells]

    def recurrent(h):  # one matmul per direction, not one BATCH_MATMUL over stacked kernels:
        # as fast, and int8 quantizes each direction's kernel on its own, as before
        return tf.stack([tf.matmul(h[d], w) + b for d, (w, b) in enumerate(weights)])

    # static where known (fixed-size chunks)
    batch, steps = _dim(inputs[0], 0), _dim(inputs[0], 1)
    masks = mask if mask is not None else [tf.ones([batch, steps], tf.bool)] * len(cells)
    pad = (k - steps % k) % k
    iterations = (steps + pad) // k
    x = tf.pad(tf.transpose(tf.stack(inputs), [2, 0, 1, 3]), [[0, pad], [0, 0], [0, 0], [0, 0]])
    keep = tf.pad(tf.transpose(tf.stack(masks), [2, 0, 1]), [[0, pad], [0, 0], [0, 0]])
    x = tf.reshape(x, [iterations, k, len(cells), batch, x.shape[-1]])  # [n, K, D, B, G]
    keep = tf.reshape(keep, [iterations, k, len(cells), batch, 1])
    if initial_states is None:
        num_states = len(tf.nest.flatten(cells[0].state_size))
        initial_states = [tf.zeros([len(cells), batch, cells[0].units], dtype)] * num_states
    initial_states = [tf.cast(s, dtype) for s in initial_states]
    units = cells[0].units

    def body(i, states, out):
        x_i, keep_i, outs = tf.gather(x, i), tf.gather(keep, i), []
        for j in range(k):
            new = step(x_i[j], states, recurrent(states[0]))
            states = [tf.where(keep_i[j], n, s) for n, s in zip(new, states)]
            outs.append(states[0])
        return i + 1, states, write_block(out, tf.expand_dims(tf.stack(outs), 0), i)

    out = tf.zeros([iterations, k, len(cells), batch, units], dtype)
    _, states, out = tf.while_loop(lambda i, *_: i < iterations, body,
                                   (0, list(initial_states), out),
                                   maximum_iterations=iterations)
    outputs = tf.reshape(out, [iterations * k, len(cells), batch, units])
    outputs = tf.transpose(outputs[:steps], [1, 2, 0, 3])  # [D, B, T, U]
    return tf.unstack(outputs, num=len(cells)), states


@keras.saving.register_keras_serializable(package="ds2_tf")
class BatchNormRNN(keras.layers.Layer):
    """The paper's BN-RNN: h_t = f(B(W x_t) + U h_{t-1}).

    The input projection W x for the whole sequence (both directions) is one matmul, normalized by
    sequence-wise BN over valid frames; the recurrent cells then only compute U h_{t-1}.
    Bidirectional outputs are summed, as in the paper.
    """

    def __init__(self, units: int, cell: str = "gru", bidirectional: bool = True,
                 batch_norm: bool = True, momentum: float = 0.99, loop: str = "auto", **kwargs):
        super().__init__(**kwargs)
        if loop not in RNN_LOOPS:
            raise ValueError(f"loop must be one of {RNN_LOOPS}, not {loop!r}")
        self.units = units
        self.cell = cell
        self.loop = loop
        self.bidirectional = bidirectional
        self.batch_norm = batch_norm
        self.momentum = momentum
        self.supports_masking = True
        cell_cls = CELLS[cell]
        directions = 2 if bidirectional else 1
        self.projection = keras.layers.Dense(cell_cls.gates * units * directions,
                                             use_bias=not batch_norm, name="projection")
        self.norm = MaskedBatchNorm(momentum, name="projection_bn") if batch_norm else None
        self.forward = keras.layers.RNN(cell_cls(units, name="forward_cell"),
                                        return_sequences=True, return_state=True, name="forward")
        self.backward = (keras.layers.RNN(cell_cls(units, name="backward_cell"),
                                          return_sequences=True, go_backwards=True,
                                          name="backward") if bidirectional else None)

    def build(self, input_shape):
        self.projection.build(input_shape)
        gates_dim = CELLS[self.cell].gates * self.units
        width = gates_dim * (2 if self.bidirectional else 1)
        if self.norm is not None:
            self.norm.build((None, None, width))
        self.forward.build((None, None, gates_dim))
        if self.backward is not None:
            self.backward.build((None, None, gates_dim))

    def call(self, inputs, mask=None, training=False, initial_state=None, return_state=False):
        """``initial_state``/``return_state`` carry the forward recurrence across chunks
        (streaming, unidirectional models only)."""
        projected = self.projection(inputs)
        if self.norm is not None:
            projected = self.norm(projected, mask=mask, training=training)
        bool_mask = None if mask is None else tf.cast(mask, tf.bool)
        if _STACKED:
            outputs, states = self._stacked(projected, bool_mask, initial_state)
        elif training and self.loop == "auto" and self.cell == "gru" and initial_state is None:
            outputs, states = self._fused(projected, bool_mask), []
        elif self.bidirectional:
            fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
            outputs = self.forward(fwd_in, mask=bool_mask, training=training)[0]
            backward = self.backward(bwd_in, mask=bool_mask, training=training)
            outputs, states = outputs + tf.reverse(backward, axis=[1]), []
        else:
            fwd = self.forward(projected, mask=bool_mask, initial_state=initial_state,
                               training=training)
            outputs, states = fwd[0], list(fwd[1:])
        if mask is not None:
            outputs = outputs * tf.cast(mask, outputs.dtype)[:, :, None]
        return (outputs, states) if return_state else outputs

    def _fused(self, projected, mask):
        """Training: ``gru_sequence`` per direction (the two loops run in parallel)."""
        def run(cell, inputs, mask):
            return gru_sequence(inputs, mask, cell.recurrent_kernel, cell.recurrent_bias)

        if not self.bidirectional:
            return run(self.forward.cell, projected, mask)
        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        return run(self.forward.cell, fwd_in, mask) + _reverse_time(
            run(self.backward.cell, _reverse_time(bwd_in), _reverse_time(mask)))

    def _stacked(self, projected, mask, initial_state):
        if not self.bidirectional:
            initial = None if initial_state is None else [s[None] for s in initial_state]
            (outputs,), states = run_recurrence([self.forward.cell], [projected],
                                                None if mask is None else [mask], initial)
            return outputs, [s[0] for s in states]
        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        (fwd, bwd), _ = run_recurrence([self.forward.cell, self.backward.cell],
                                       [fwd_in, _reverse_time(bwd_in)],
                                       None if mask is None else [mask, _reverse_time(mask)])
        return fwd + _reverse_time(bwd), []

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell": self.cell,
                "bidirectional": self.bidirectional, "batch_norm": self.batch_norm,
                "momentum": self.momentum, "loop": self.loop}


@keras.saving.register_keras_serializable(package="ds2_tf")
class RowConv(keras.layers.Layer):
    """Lookahead (row) convolution: r_t = Σ_{j=0..τ} w_j ⊙ h_{t+j}, per-feature weights.

    Looks only *forward*, over τ future frames (right padding), as the paper's streaming model.
    """

    def __init__(self, future_frames: int, **kwargs):
        super().__init__(**kwargs)
        self.future_frames = future_frames
        self.supports_masking = True
        self.depthwise = keras.layers.DepthwiseConv1D(future_frames + 1, padding="valid",
                                                      use_bias=False, name="depthwise")

    def build(self, input_shape):
        self.depthwise.build((None, None, int(input_shape[-1])))

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * tf.cast(mask, inputs.dtype)[:, :, None]
        padded = tf.pad(inputs, [[0, 0], [0, self.future_frames], [0, 0]])
        outputs = self.depthwise(padded)
        if mask is not None:
            outputs = outputs * tf.cast(mask, outputs.dtype)[:, :, None]
        return outputs

    def get_config(self):
        return {**super().get_config(), "future_frames": self.future_frames}
