"""SpecAugment: random frequency and time masks on the normalized spectrogram, in training only."""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="ds2_tf")
class SpecAugment(keras.layers.Layer):
    """Training-only frequency and time masks (Park et al., 2019) on [B, T, bins] features.

    Time-mask widths scale with each utterance's own length, so padding never absorbs masks.
    """

    def __init__(self, freq_masks=2, freq_mask_width=27, time_masks=2, time_mask_fraction=0.05,
                 seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.freq_masks = freq_masks
        self.freq_mask_width = freq_mask_width
        self.time_masks = time_masks
        self.time_mask_fraction = time_mask_fraction
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _masks(self, batch, size, max_width, count, limit):
        """[B, size] float keep-mask with ``count`` random spans of width < max_width per row."""
        positions = tf.range(size)[None, :]
        keep = tf.ones([batch, size], tf.float32)
        for _ in range(count):
            width = tf.cast(keras.random.uniform([batch, 1], 0, 1, seed=self.seed_generator)
                            * tf.cast(max_width, tf.float32), tf.int32)
            start = tf.cast(keras.random.uniform([batch, 1], 0, 1, seed=self.seed_generator)
                            * tf.cast(tf.maximum(limit - width, 1), tf.float32), tf.int32)
            inside = (positions >= start) & (positions < start + width)
            keep *= 1.0 - tf.cast(inside, tf.float32)
        return keep

    def call(self, features, lengths, training=False):
        if not training:
            return features
        batch, time, bins = tf.shape(features)[0], tf.shape(features)[1], tf.shape(features)[2]
        freq_keep = self._masks(batch, bins, tf.fill([batch, 1], self.freq_mask_width),
                                self.freq_masks, tf.fill([batch, 1], bins))
        lengths = tf.cast(lengths, tf.int32)[:, None]
        max_width = tf.maximum(tf.cast(tf.cast(lengths, tf.float32) * self.time_mask_fraction,
                                       tf.int32), 1)
        time_keep = self._masks(batch, time, max_width, self.time_masks, lengths)
        return features * freq_keep[:, None, :] * time_keep[:, :, None]

    def get_config(self):
        return {**super().get_config(), "freq_masks": self.freq_masks,
                "freq_mask_width": self.freq_mask_width, "time_masks": self.time_masks,
                "time_mask_fraction": self.time_mask_fraction, "seed": self.seed}
