"""The GRU recurrence for inference: one plain ``tf.while_loop`` that keeps only h.

Why: ``keras.layers.RNN`` on TensorFlow runs a general loop (its inputs unstacked into a
TensorList, states and outputs carried through ``tf.nest``, masking per output and per state);
at inference only h is needed, so this loop does one matmul and a handful of elementwise ops per
step and writes h once. No XLA: inference meets a new (batch, length) shape at almost every call,
and compiling each would cost more than it saves. Same function and weights as
``ProjectedGRUCell`` (Keras's ``reset_after`` GRU), so outputs match the Keras loop to float32
round-off; `ds2 transcribe` runs 4–5 % faster with it (bench/rnn_loop.py times the layers).
"""
from __future__ import annotations

import tensorflow as tf


def gru_states(inputs, mask, kernel, bias):
    """h_t for every step of ``inputs`` [B, T, 3U] (the projected x_t, gates z, r, h, in the
    order the direction reads them), ``mask`` [B, T] bool or None (masked steps keep the state,
    as Keras does), ``kernel`` [U, 3U] and ``bias`` [3U] the recurrent weights → [B, T, U]."""
    kernel, bias = tf.cast(kernel, inputs.dtype), tf.cast(bias, inputs.dtype)
    steps = tf.shape(inputs)[1]
    time_major = tf.transpose(inputs, [1, 0, 2])
    keep = None if mask is None else tf.transpose(mask, [1, 0])[:, :, None]  # [T, B, 1]

    def step(t, h, states):
        x_z, x_r, x_h = tf.split(time_major[t], 3, axis=-1)
        h_z, h_r, h_h = tf.split(tf.matmul(h, kernel) + bias, 3, axis=-1)
        z = tf.sigmoid(x_z + h_z)
        r = tf.sigmoid(x_r + h_r)
        n = tf.tanh(x_h + r * h_h)
        new = n + z * (h - n)
        h = new if keep is None else tf.where(keep[t], new, h)
        return t + 1, h, states.write(t, h)

    h0 = tf.zeros([tf.shape(inputs)[0], tf.shape(kernel)[0]], inputs.dtype)
    _, _, states = tf.while_loop(lambda t, *_: t < steps, step,
                                 (0, h0, tf.TensorArray(inputs.dtype, size=steps)),
                                 maximum_iterations=steps)
    # a batch of known size keeps it (a TFLite conversion or an ensure_shape downstream needs it)
    return tf.ensure_shape(tf.transpose(states.stack(), [1, 0, 2]),
                           [inputs.shape[0], None, kernel.shape[0]])
