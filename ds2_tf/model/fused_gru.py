"""The GRU recurrence for training: XLA-compiled loops and a hand-written backward pass.

Why: ``keras.layers.RNN`` on TensorFlow runs one graph op at a time inside a ``while_loop``, and
its gradient is TensorFlow's generic loop differentiation (every intermediate pushed on a stack,
then a second loop of many small ops). Here the forward loop keeps exactly what the backward one
needs (h and the three gates), the backward loop does one matmul and a handful of elementwise ops
per step, the recurrent kernel's gradient is one large matmul over all steps after the loop, and
both loops compile with XLA into one kernel each. Same function, same weights (Keras's
``reset_after`` GRU, as ``ProjectedGRUCell``), less time per training step (how much depends
on the CPU: bench/rnn_loop.py). Inference runs ``gru_inference.gru_states``: the forward
loop without XLA and without the gates.

XLA compiles once per (batch size, padded length) shape: see ``STEP_MULTIPLE``.
"""
from __future__ import annotations

import tensorflow as tf

from ds2_tf.model.cells import ProjectedGRUCell

STEP_MULTIPLE = 16  # lengths are padded up to a multiple of this (≤ 15 extra steps per batch)


def gru_sequence(inputs, mask, kernel, bias):
    """h_t for every step of ``inputs`` [B, T, 3U] (the projected x_t, gates z, r, h; in the order
    the direction reads them), with ``mask`` [B, T] bool (masked steps keep the state, as Keras
    does), ``kernel`` [U, 3U] and ``bias`` [3U] the recurrent weights. Returns [B, T, U]."""
    steps = tf.shape(inputs)[1]
    if mask is None:
        mask = tf.ones(tf.shape(inputs)[:2], tf.bool)
    # Batches are padded to their longest utterance, so lengths vary from batch to batch; padded
    # to a multiple of STEP_MULTIPLE (masked steps: the state is kept, the outputs dropped), far
    # fewer shapes reach XLA's compiler.
    pad = (STEP_MULTIPLE - steps % STEP_MULTIPLE) % STEP_MULTIPLE
    inputs = tf.pad(inputs, [[0, 0], [0, pad], [0, 0]])
    keep = tf.transpose(tf.pad(mask, [[0, 0], [0, pad]]), [1, 0])[:, :, None]  # [T, B, 1]

    @tf.custom_gradient
    def run(inputs, kernel, bias):
        weight_dtype, dtype = kernel.dtype, inputs.dtype
        # float32 whatever the policy: as fast as bfloat16 for these small matmuls, and XLA's
        # bfloat16 elementwise ops made mixed_bfloat16 training slower than float32.
        # stop_gradient: an eager tape must not try to differentiate the compiled loops
        # themselves (their TensorArrays cannot cross the XLA boundary); ``grad`` does that.
        inputs, kernel, bias = (tf.stop_gradient(tf.cast(t, tf.float32))
                                for t in (inputs, kernel, bias))
        states, gates = _forward(tf.transpose(inputs, [1, 0, 2]), keep, kernel, bias)

        def grad(d_outputs):
            d_outputs = tf.stop_gradient(tf.cast(tf.transpose(d_outputs, [1, 0, 2]), tf.float32))
            d_inputs, d_kernel, d_bias = _backward(d_outputs, keep, kernel, states, gates)
            return (tf.cast(tf.transpose(d_inputs, [1, 0, 2]), dtype),
                    tf.cast(d_kernel, weight_dtype), tf.cast(d_bias, weight_dtype))

        return tf.cast(tf.transpose(states, [1, 0, 2]), dtype), grad

    return run(inputs, tf.convert_to_tensor(kernel), tf.convert_to_tensor(bias))[:, :steps]


@tf.function(jit_compile=True, reduce_retracing=True)
def _forward(inputs, keep, kernel, bias):
    """Time-major ``inputs`` [T, B, 3U] → states [T, B, U] and gates z, r, n, U_h·h [T, B, 4U]."""
    steps = tf.shape(inputs)[0]
    states = tf.TensorArray(inputs.dtype, size=steps)
    gates = tf.TensorArray(inputs.dtype, size=steps)

    def step(t, h, states, gates):
        z, r, n, h_h = ProjectedGRUCell.gate_activations(inputs[t], tf.matmul(h, kernel) + bias)
        h = tf.where(keep[t], n + z * (h - n), h)
        return t + 1, h, states.write(t, h), gates.write(t, tf.concat([z, r, n, h_h], -1))

    h0 = tf.zeros([tf.shape(inputs)[1], tf.shape(kernel)[0]], inputs.dtype)
    _, _, states, gates = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, states, gates),
                                        maximum_iterations=steps)
    return states.stack(), gates.stack()


@tf.function(jit_compile=True, reduce_retracing=True)
def _backward(d_states, keep, kernel, states, gates):
    """Backpropagation through time: gradients for the inputs, the kernel and the bias."""
    units = tf.shape(kernel)[0]  # shapes stay dynamic in the trace; XLA compiles each one
    steps = tf.shape(states)[0]
    previous = tf.concat([tf.zeros_like(states[:1]), states[:-1]], 0)  # h_{t-1}
    kernel_t = tf.transpose(kernel)
    d_pre = tf.TensorArray(d_states.dtype, size=steps)  # d(x_z, x_r, x_h) and d(U h + b)

    def step(t, carry, d_pre):
        d_h = d_states[t] + carry
        z, r, n, h_h = tf.split(gates[t], 4, axis=-1)
        d_new = tf.where(keep[t], d_h, tf.zeros_like(d_h))  # masked steps only pass d_h back
        d_z = d_new * (previous[t] - n) * z * (1 - z)
        d_n = d_new * (1 - z) * (1 - n * n)
        d_r = d_n * h_h * r * (1 - r)
        d_hidden = tf.concat([d_z, d_r, d_n * r], -1)
        carry = tf.where(keep[t], d_new * z, d_h) + tf.matmul(d_hidden, kernel_t)
        return t - 1, carry, d_pre.write(t, tf.concat([d_z, d_r, d_n, d_hidden], -1))

    _, _, d_pre = tf.while_loop(lambda t, *_: t >= 0, step,
                                (steps - 1, tf.zeros_like(states[0]), d_pre),
                                maximum_iterations=steps)
    d_pre = d_pre.stack()
    d_inputs, d_hidden = d_pre[..., :3 * units], d_pre[..., 3 * units:]
    d_kernel = tf.einsum("tbu,tbg->ug", previous, d_hidden)
    d_bias = tf.reduce_sum(d_hidden, [0, 1])
    return d_inputs, d_kernel, d_bias
