"""Masks and masked batch norm, shared by every layer of the network.

Masks are passed explicitly as ``mask`` [B, T]: every layer zeroes padded frames on its output, so
a padded batch computes exactly what each utterance computes alone, and padding never enters
batch-norm statistics.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops


def reverse_time(t):
    """[B, T, …] reversed along time (what the backward direction reads); None stays None."""
    return None if t is None else tf.reverse(t, [1])


def static_dim(t, axis: int):
    """Size of ``t`` along ``axis``: the static int where known (TFLite needs it), else a tensor."""
    return t.shape[axis] if t.shape[axis] is not None else tf.shape(t)[axis]


def time_mask(lengths, max_time, dtype=tf.float32):
    return tf.sequence_mask(lengths, max_time, dtype=dtype)


def clipped_relu(x, clip: float):
    return ops.minimum(ops.relu(x), ops.cast(clip, x.dtype))


@keras.saving.register_keras_serializable(package="ds2_tf")
class MaskedBatchNorm(keras.layers.Layer):
    """Sequence-wise batch norm: statistics over batch × *valid* time (× other axes), per channel.

    With several replicas the sums are all-reduced, so statistics are those of the global batch.
    Statistics are computed in float32 even under mixed precision.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = momentum
        self.epsilon = epsilon
        self.supports_masking = True

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer="ones",
                                     autocast=False)
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros",
                                    autocast=False)
        self.moving_mean = self.add_weight(name="moving_mean", shape=(channels,),
                                           initializer="zeros", trainable=False,
                                           autocast=False, aggregation="mean")
        self.moving_variance = self.add_weight(name="moving_variance", shape=(channels,),
                                               initializer="ones", trainable=False,
                                               autocast=False, aggregation="mean")

    def call(self, inputs, mask=None, training=False):
        x = tf.cast(inputs, tf.float32)
        if training:
            axes = list(range(len(x.shape) - 1))
            if mask is None:
                weights = tf.ones_like(x[..., :1])
            else:
                weights = tf.cast(mask, tf.float32)
                weights = tf.reshape(weights, tf.concat([tf.shape(weights),
                                                         tf.ones([len(x.shape) - 2], tf.int32)], 0))
                weights = tf.broadcast_to(weights, tf.concat([tf.shape(x)[:-1], [1]], 0))
            total = tf.reduce_sum(weights * x, axes)
            total_sq = tf.reduce_sum(weights * x * x, axes)
            count = tf.reduce_sum(weights)
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                total, total_sq, count = ctx.all_reduce("sum", [total, total_sq, count])
            count = tf.maximum(count, 1.0)
            mean = total / count
            variance = tf.maximum(total_sq / count - mean * mean, 0.0)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * (1 - self.momentum))
        else:
            mean, variance = self.moving_mean, self.moving_variance
        scale = self.gamma * tf.math.rsqrt(variance + self.epsilon)
        out = x * scale + (self.beta - mean * scale)
        return tf.cast(out, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}
