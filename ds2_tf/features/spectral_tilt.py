"""Random spectral tilt: a first-order emphasis filter per utterance, in training only.

Why: the released model decides voicing (p/t/k against b/d/g) largely from how much high-frequency
energy a stop carries. Filtering real recordings with 1 − a·z⁻¹ (a = 0.9) before recognition moved
its p/t/k → b/d/g errors on real speech from 13.5 % to 6.5 %, and the inverse filter to 25.2 %
(bench/results/real_probes_ds2_small_en_v13.md): a cue that every microphone, codec and room
changes. Training on randomly tilted spectra asks the network for cues that survive it (burst
timing, voice onset).

The filter |1 − a·e^(−iω)|² is applied where it is exact and cheap: as an added curve in log
power, on the normalized features (so divided by the per-bin feature std), with its mean over the
band removed so the level is unchanged. a ~ U(−max_coefficient, max_coefficient) per utterance:
a > 0 lifts the highs (pre-emphasis), a < 0 the lows.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ds2_tf")
class SpectralTilt(keras.layers.Layer):
    """Training-only random first-order tilt of [B, T, bins] normalized log-power features."""

    def __init__(self, max_coefficient=0.7, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not 0.0 < max_coefficient < 1.0:
            raise ValueError(f"spectral tilt coefficient must be in (0, 1), got {max_coefficient}")
        self.max_coefficient = max_coefficient
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @staticmethod
    def log_gain(coefficient, bins):
        """[B] coefficients → [B, bins] natural-log power gain of 1 − a·z⁻¹, zero-mean over bins."""
        omega = tf.constant(np.pi, tf.float32) * tf.range(bins, dtype=tf.float32) \
            / tf.cast(bins - 1, tf.float32)
        a = coefficient[:, None]
        gain = tf.math.log(1.0 + a * a - 2.0 * a * tf.cos(omega)[None, :])
        return gain - tf.reduce_mean(gain, axis=1, keepdims=True)

    def call(self, features, lengths, feature_std, training=False):
        if not training:
            return features
        batch, time, bins = tf.shape(features)[0], tf.shape(features)[1], tf.shape(features)[2]
        coefficient = keras.random.uniform([batch], -self.max_coefficient, self.max_coefficient,
                                           seed=self.seed_generator)
        curve = self.log_gain(coefficient, bins) / feature_std[None, :]
        mask = tf.sequence_mask(lengths, time, dtype=features.dtype)[:, :, None]
        return features + curve[:, None, :] * mask

    def get_config(self):
        return {**super().get_config(), "max_coefficient": self.max_coefficient,
                "seed": self.seed}
