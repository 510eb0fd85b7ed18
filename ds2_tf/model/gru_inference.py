"""The GRU recurrence for inference: one plain ``tf.while_loop`` that keeps only h.

Why: ``keras.layers.RNN`` on TensorFlow runs a general loop (its inputs unstacked into a
TensorList, states and outputs carried through ``tf.nest``, masking per output and per state);
at inference only h is needed, so this loop does one matmul and a handful of elementwise ops per
step and writes h once. No XLA: inference meets a new (batch, length) shape at almost every call,
and compiling each would cost more than it saves. Same function and weights as
``ProjectedGRUCell`` (Keras's ``reset_after`` GRU), so outputs match the Keras loop to float32
round-off; `ds2 transcribe` runs 4–5 % faster with it (bench/rnn_loop.py times the layers).
Under mixed_bfloat16 only the recurrent matmul runs in bfloat16: h and the gates stay float32.
"""
from __future__ import annotations

import tensorflow as tf

from ds2_tf.model.cells import ProjectedGRUCell


def gru_states(inputs, mask, kernel, bias):
    """h_t for every step of ``inputs`` [B, T, 3U] (the projected x_t, gates z, r, h, in the
    order the direction reads them), ``mask`` [B, T] bool or None (masked steps keep the state,
    as Keras does), ``kernel`` [U, 3U] and ``bias`` [3U] the recurrent weights → [B, T, U]."""
    dtype = inputs.dtype
    # the state and its elementwise steps in float32 whatever the policy, as the training loops
    # (fused_gru.py); under mixed_bfloat16 only the recurrent matmul runs in bfloat16, which is
    # where bfloat16 gains (a probe timed it as fast as an all-bfloat16 loop)
    matmul_dtype = tf.bfloat16 if dtype == tf.bfloat16 else tf.float32
    kernel, bias = tf.cast(kernel, matmul_dtype), tf.cast(bias, tf.float32)
    inputs = tf.cast(inputs, tf.float32)
    steps = tf.shape(inputs)[1]
    time_major = tf.transpose(inputs, [1, 0, 2])
    keep = None if mask is None else tf.transpose(mask, [1, 0])[:, :, None]  # [T, B, 1]

    def step(t, h, states):
        hidden = tf.cast(tf.matmul(tf.cast(h, matmul_dtype), kernel), tf.float32) + bias
        z, _, n, _ = ProjectedGRUCell.gate_activations(time_major[t], hidden)
        new = n + z * (h - n)
        h = new if keep is None else tf.where(keep[t], new, h)
        return t + 1, h, states.write(t, h)

    h0 = tf.zeros([tf.shape(inputs)[0], tf.shape(kernel)[0]], tf.float32)
    _, _, states = tf.while_loop(lambda t, *_: t < steps, step,
                                 (0, h0, tf.TensorArray(tf.float32, size=steps)),
                                 maximum_iterations=steps)
    # a batch of known size keeps it (a TFLite conversion or an ensure_shape downstream needs it)
    return tf.ensure_shape(tf.cast(tf.transpose(states.stack(), [1, 0, 2]), dtype),
                           [inputs.shape[0], None, kernel.shape[0]])
