"""Recurrent cells whose input projection W·x was computed outside: they only compute U·h."""
from __future__ import annotations

import keras
from keras import ops


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
        z, _, candidate, _ = ProjectedGRUCell.gate_activations(inputs, hidden)
        return [z * states[0] + (1.0 - z) * candidate]

    @staticmethod
    def gate_activations(inputs, hidden):
        """The update gate z, reset gate r, candidate n and U_h h + b_h from W x_t + b (z, r, h)
        and ``hidden`` = U h_{t-1} + b: the GRU's formula, written once for this cell and the
        training and inference loops (fused_gru.py, gru_inference.py), which combine
        h_t = n + z (h_{t-1} − n) themselves (they mask steps, and the training loop keeps z, r, n
        and U_h h for its backward pass)."""
        x_z, x_r, x_h = ops.split(inputs, 3, axis=-1)
        h_z, h_r, h_h = ops.split(hidden, 3, axis=-1)
        z = ops.sigmoid(x_z + h_z)
        r = ops.sigmoid(x_r + h_r)
        return z, r, ops.tanh(x_h + r * h_h), h_h

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
