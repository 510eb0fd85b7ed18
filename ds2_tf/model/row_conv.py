"""Row (lookahead) convolution over τ future frames, for unidirectional models."""
from __future__ import annotations

import keras
import tensorflow as tf


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
