"""In-graph features: raw waveform → normalized log power spectrogram.

Computing features inside the model is what lets SavedModel and TFLite exports accept raw audio
and guarantees training and serving use the same front-end.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ds2_tf.config import check_normalization
from tfrecords_tools.spectrogram import LOG_FLOOR, hann_window, num_bins, num_frames


@keras.saving.register_keras_serializable(package="ds2_tf")
class Spectrogram(keras.layers.Layer):
    """waveform [B, N] float32 in [-1, 1] + num_samples [B] → (features [B, T, bins], frames [B]).

    Global per-bin mean/std are non-trainable weights, set from the training split's statistics.
    ``normalization="utterance"`` also subtracts each utterance's per-bin mean over its own
    frames (padding excluded): a fixed channel — microphone, room colouring — is a constant offset
    in log power, so this removes it; streaming cannot use it (it needs the whole utterance).
    Frames beyond each utterance's length are zeroed, matching the conv front-end's zero padding.
    """

    def __init__(self, window_samples: int = 320, hop_samples: int = 160,
                 normalization: str = "global", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.normalization = check_normalization(normalization)
        self.window_samples = window_samples
        self.hop_samples = hop_samples
        self.num_bins = num_bins(window_samples)

    def build(self, input_shape=None):
        self.mean = self.add_weight(name="mean", shape=(self.num_bins,), initializer="zeros",
                                    trainable=False)
        self.std = self.add_weight(name="std", shape=(self.num_bins,), initializer="ones",
                                   trainable=False)

    def set_statistics(self, mean, std) -> None:
        if not self.built:
            self.build()
        mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if mean.shape != (self.num_bins,) or std.shape != (self.num_bins,):
            raise ValueError(f"feature statistics need {self.num_bins} bins, got {mean.shape}")
        self.mean.assign(mean)
        self.std.assign(np.maximum(std, 1e-3))

    def num_frames(self, num_samples):
        return num_frames(num_samples, self.window_samples, self.hop_samples, ops.maximum)

    def frame(self, waveform):
        """[B, N] → [B, T, window]; reshape/concat when window = 2·hop (TFLite builtin ops)."""
        if self.window_samples == 2 * self.hop_samples:
            hop = self.hop_samples
            chunks_count = tf.shape(waveform)[1] // hop
            chunks = tf.reshape(waveform[:, : chunks_count * hop], [tf.shape(waveform)[0], -1, hop])
            return tf.concat([chunks[:, :-1], chunks[:, 1:]], axis=-1)
        return tf.signal.frame(waveform, self.window_samples, self.hop_samples, axis=-1)

    def dft_matrix(self, waveform):
        """Hann-windowed [cos | −sin] DFT matrix [window, 2·bins], gathered in the graph.

        The values are exactly numpy's (a 320-entry cosine table indexed by n·k mod N), so TF and
        TFLite see the same matrix. It is gathered with indices that depend (trivially) on the
        input, so converters cannot fold it into one large constant: TFLite's dynamic-range
        quantizer quantizes large constant matmul weights, and an int8 DFT raised the CER of an
        int8 model from 2.6 % to 60 % (measured); tables under 1024 entries stay float.
        """
        size = self.window_samples
        n = tf.range(size) + tf.minimum(tf.shape(waveform)[1], 0)  # == tf.range(size), unfoldable
        index = (n[:, None] * tf.range(self.num_bins)[None, :]) % size
        angle = 2 * np.pi * np.arange(size) / size
        cos_table = tf.constant(np.cos(angle).astype(np.float32))
        sin_table = tf.constant(np.sin(angle).astype(np.float32))
        window = tf.gather(tf.constant(hann_window(size)), n)[:, None]
        return tf.concat([window * tf.gather(cos_table, index),
                          -window * tf.gather(sin_table, index)], axis=1)

    def normalized_log_power(self, waveform):
        """[B, N] → [B, T, bins] normalized log power of every complete frame (no masking);
        the streaming model calls this on each chunk with its carried-over hop."""
        waveform = tf.cast(waveform, tf.float32)
        spectrum = tf.matmul(self.frame(waveform), self.dft_matrix(waveform))
        real, imag = tf.split(spectrum, 2, axis=-1)
        log_power = tf.math.log(real * real + imag * imag + LOG_FLOOR)
        return (log_power - self.mean) / self.std

    def call(self, waveform, num_samples):
        features = self.normalized_log_power(waveform)
        lengths = tf.cast(self.num_frames(tf.cast(num_samples, tf.int32)), tf.int32)
        mask = tf.sequence_mask(lengths, tf.shape(features)[1], dtype=features.dtype)[:, :, None]
        features = features * mask
        if self.normalization == "utterance":
            count = tf.maximum(tf.cast(lengths, features.dtype), 1.0)[:, None, None]
            utterance_mean = tf.reduce_sum(features, axis=1, keepdims=True) / count
            features = (features - utterance_mean) * mask
        return features, lengths

    def get_config(self):
        return {**super().get_config(), "window_samples": self.window_samples,
                "hop_samples": self.hop_samples, "normalization": self.normalization}
