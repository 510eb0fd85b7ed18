"""The BN-RNN recurrence through Keras's GRU/LSTM layers: cuDNN on a GPU, Keras's generic loop elsewhere.

Why: cuDNN runs a whole GRU/LSTM sequence as a few fused kernels, several times faster than a
generic ``while_loop`` (tensorflow/tensorflow#42363). But cuDNN computes ``W x_t + U h_{t-1}``
itself, and the paper's BN-RNN needs ``B(W x_t) + U h_{t-1}``: the peers either normalized ``x``
instead (deepspeech.pytorch) or dropped the in-RNN batch norm (TensorFlowASR). Here the layer keeps
``W`` and the sequence-wise BN outside, as on every other path, and hands cuDNN the normalized
projection with an *identity* input kernel and a zero input bias: cuDNN's input GEMM (one large
matmul over all steps) passes ``B(W x)`` through unchanged and its recurrence uses the BN-RNN's own
``U`` and ``b``. Keras's ``GRU(reset_after=True)`` is exactly ``ProjectedGRUCell``'s math (gates z,
r, h in the same order), Keras's ``LSTM`` exactly ``ProjectedLSTMCell``'s (i, f, c, o).

The Keras layers here hold no weights of the model: they are built once, kept out of Keras's
tracking, and run with ``Layer.stateless_call`` on the BN-RNN's own recurrent kernel and bias, so
checkpoints are the same as every other ``rnn_loop``'s and a model trained one way runs the other.
Keras decides at trace time: cuDNN when a GPU is visible, else its generic loop (the same math,
which is what the CPU tests compare against the other loops).

cuDNN's limits, checked by Keras at run time: masks must be right-padded and no sequence may be
fully masked (batches from the data pipeline never are); and cuDNN ops have no XLA kernel, so a
layer on this path sets ``supports_jit = False`` and ``model.compile``'s default leaves the train
step uncompiled (keras-team/keras#18456).
"""
from __future__ import annotations

import keras
import tensorflow as tf


class Untracked:
    """Holds the Keras layers of this path where Keras neither tracks nor saves them (a plain object:
    layer attributes that are layers, lists or dicts are walked by both)."""

    def __init__(self, layers: dict):
        self.layers = layers


def keras_recurrence(cell: str, units: int, go_backwards: bool, dtype, name: str):
    """A built Keras GRU/LSTM over inputs of the gate width, identity input kernel, zero input bias."""
    gates = 3 if cell == "gru" else 4
    common = dict(return_sequences=True, return_state=True, go_backwards=go_backwards,
                  kernel_initializer="identity", bias_initializer="zeros", use_cudnn="auto",
                  dtype=dtype, name=name)
    if cell == "gru":
        layer = keras.layers.GRU(units, reset_after=True, **common)
    else:
        layer = keras.layers.LSTM(units, unit_forget_bias=False, **common)
    layer.build((None, None, gates * units))
    return layer


def run_keras_recurrence(layer, recurrent_kernel, recurrent_bias, inputs, mask=None,
                         initial_state=None):
    """``layer`` (from ``keras_recurrence``) on the projected ``inputs`` [B, T, G] with the BN-RNN's
    recurrent weights. Returns (outputs [B, T, U] in the layer's reading order, final states)."""
    weights = {v.name: v for v in layer.trainable_variables}
    recurrent_kernel, recurrent_bias = (tf.convert_to_tensor(w)
                                        for w in (recurrent_kernel, recurrent_bias))
    if isinstance(layer, keras.layers.GRU):
        # Keras's GRU bias is [input bias; recurrent bias]; the input bias stays zero.
        bias = tf.stack([tf.zeros_like(recurrent_bias), recurrent_bias])
    else:
        bias = recurrent_bias  # LSTM: one bias, added once (W x + U h + b)
    values = {"kernel": weights["kernel"].value, "recurrent_kernel": recurrent_kernel, "bias": bias}
    trainable = [values[v.name] for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]  # its dropout seed; no dropout here
    outputs, _ = layer.stateless_call(trainable, state, inputs, mask=mask,
                                      initial_state=initial_state)
    return outputs[0], list(outputs[1:])
