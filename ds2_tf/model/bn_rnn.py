"""The paper's BN-RNN layer: sequence-wise batch norm on the input projection, then the recurrence."""
from __future__ import annotations

import keras
import tensorflow as tf

from ds2_tf.config import MODEL_PARALLEL, RNN_LOOPS
from ds2_tf.model.cells import CELLS
from ds2_tf.model.cudnn_recurrence import Untracked, keras_recurrence, run_keras_recurrence
from ds2_tf.model.fused_gru import gru_sequence
from ds2_tf.model.gru_inference import gru_states
from ds2_tf.model.masked import MaskedBatchNorm, reverse_time
from ds2_tf.model.stacked_loop import STEPS_PER_ITERATION, run_recurrence
from ds2_tf.model.time_split import time_split_bidirectional


def gpu_visible() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="ds2_tf")
class BatchNormRNN(keras.layers.Layer):
    """The paper's BN-RNN: h_t = f(B(W x_t) + U h_{t-1}).

    The input projection W x for the whole sequence (both directions) is one matmul, normalized by
    sequence-wise BN over valid frames; the recurrent cells then only compute U h_{t-1}.
    Bidirectional outputs are summed, as in the paper.

    ``loop`` picks how the recurrence runs, with the same weights and outputs (see
    ``ModelConfig.rnn_loop``); ``stacked_steps`` is K for ``loop="stacked"``.
    ``model_parallel="time"`` splits a bidirectional recurrence across two devices along time, as
    the paper did (``time_split.py``; ``ModelConfig.model_parallel``).
    """

    def __init__(self, units: int, cell: str = "gru", bidirectional: bool = True,
                 batch_norm: bool = True, momentum: float = 0.99, loop: str = "auto",
                 stacked_steps: int = STEPS_PER_ITERATION, model_parallel: str = "none",
                 **kwargs):
        super().__init__(**kwargs)
        if loop not in RNN_LOOPS:
            raise ValueError(f"loop must be one of {RNN_LOOPS}, not {loop!r}")
        if model_parallel not in MODEL_PARALLEL:
            raise ValueError(f"model_parallel must be one of {MODEL_PARALLEL}, "
                             f"not {model_parallel!r}")
        if model_parallel == "time" and not bidirectional:
            raise ValueError("model_parallel='time' splits a bidirectional layer's two directions "
                             "along time; this layer is unidirectional")
        self.model_parallel = model_parallel
        # "auto" takes cuDNN (through Keras's GRU/LSTM) wherever a GPU is visible.
        self.on_keras_rnn = loop == "cudnn" or (loop == "auto" and gpu_visible())
        if self.on_keras_rnn:
            self.supports_jit = False  # cuDNN ops have no XLA kernel: keep fit's step uncompiled
        self.units = units
        self.cell = cell
        self.loop = loop
        self.stacked_steps = stacked_steps
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
                                          return_sequences=True, return_state=True,
                                          go_backwards=True, name="backward")
                         if bidirectional else None)

    def build(self, input_shape):
        self.projection.build(input_shape)
        gates_dim = CELLS[self.cell].gates * self.units
        width = gates_dim * (2 if self.bidirectional else 1)
        if self.norm is not None:
            self.norm.build((None, None, width))
        self.forward.build((None, None, gates_dim))
        if self.backward is not None:
            self.backward.build((None, None, gates_dim))
        if self.on_keras_rnn:
            # Not tracked or saved: they hold no weights of this layer (cudnn_recurrence.py).
            directions = [("forward", False)] + ([("backward", True)] if self.bidirectional else [])
            self.keras_rnns = Untracked({
                name: keras_recurrence(self.cell, self.units, backwards, self.dtype_policy,
                                       name=f"{self.name}_{name}_keras")
                for name, backwards in directions})

    def call(self, inputs, mask=None, training=False, initial_state=None, return_state=False):
        """``initial_state``/``return_state`` carry the forward recurrence across chunks
        (streaming, unidirectional models only)."""
        projected = self.projection(inputs)
        if self.norm is not None:
            projected = self.norm(projected, mask=mask, training=training)
        bool_mask = None if mask is None else tf.cast(mask, tf.bool)
        if self.model_parallel == "time" and initial_state is None:
            outputs, states = self._time_split(projected, bool_mask, training), []
        elif self.loop == "stacked":
            outputs, states = self._stacked(projected, bool_mask, initial_state)
        elif self.on_keras_rnn:
            outputs, states = self._keras_rnn(projected, bool_mask, initial_state)
        elif (self.loop == "auto" and self.cell == "gru" and initial_state is None
              and not return_state):
            outputs, states = self._fused(projected, bool_mask, training), []
        elif self.bidirectional:
            fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
            outputs = self.forward(fwd_in, mask=bool_mask, training=training)[0]
            backward = self.backward(bwd_in, mask=bool_mask, training=training)[0]
            outputs, states = outputs + tf.reverse(backward, axis=[1]), []
        else:
            fwd = self.forward(projected, mask=bool_mask, initial_state=initial_state,
                               training=training)
            outputs, states = fwd[0], list(fwd[1:])
        if mask is not None:
            outputs = outputs * tf.cast(mask, outputs.dtype)[:, :, None]
        return (outputs, states) if return_state else outputs

    def _fused(self, projected, mask, training):
        """One loop per direction (the two run in parallel): ``gru_sequence`` in training,
        ``gru_states`` in inference."""
        loop = gru_sequence if training else gru_states

        def run(cell, inputs, mask):
            return loop(inputs, mask, cell.recurrent_kernel, cell.recurrent_bias)

        if not self.bidirectional:
            return run(self.forward.cell, projected, mask)
        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        return run(self.forward.cell, fwd_in, mask) + reverse_time(
            run(self.backward.cell, reverse_time(bwd_in), reverse_time(mask)))

    def _keras_rnn(self, projected, mask, initial_state):
        """Keras's GRU/LSTM (cuDNN on a GPU) with the identity input kernel: cudnn_recurrence.py."""
        def run(direction, inputs, initial=None):
            cell = getattr(self, direction).cell
            return run_keras_recurrence(self.keras_rnns.layers[direction], cell.recurrent_kernel,
                                        cell.recurrent_bias, inputs, mask, initial)

        if not self.bidirectional:
            return run("forward", projected, initial_state)
        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        outputs = run("forward", fwd_in)[0] + tf.reverse(run("backward", bwd_in)[0], axis=[1])
        return outputs, []

    def _time_split(self, projected, mask, training):
        def run(direction, inputs, mask, initial):
            layer = getattr(self, direction)
            out = layer(inputs, mask=mask, initial_state=initial, training=training)
            return out[0], list(out[1:])

        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        return time_split_bidirectional(run, fwd_in, bwd_in, mask)

    def _stacked(self, projected, mask, initial_state):
        if not self.bidirectional:
            initial = None if initial_state is None else [s[None] for s in initial_state]
            (outputs,), states = run_recurrence([self.forward.cell], [projected],
                                                None if mask is None else [mask], initial,
                                                self.stacked_steps)
            return outputs, [s[0] for s in states]
        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        (fwd, bwd), _ = run_recurrence([self.forward.cell, self.backward.cell],
                                       [fwd_in, reverse_time(bwd_in)],
                                       None if mask is None else [mask, reverse_time(mask)],
                                       steps_per_iteration=self.stacked_steps)
        return fwd + reverse_time(bwd), []

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell": self.cell,
                "bidirectional": self.bidirectional, "batch_norm": self.batch_norm,
                "momentum": self.momentum, "loop": self.loop,
                "stacked_steps": self.stacked_steps, "model_parallel": self.model_parallel}
