"""CTC loss on sparse labels, blank last, in float32."""
from __future__ import annotations

import tensorflow as tf


def sparse_labels(labels, label_length) -> tf.SparseTensor:
    """Padded [B, L] labels → SparseTensor of the valid entries.

    Built from ``tf.where(tf.sequence_mask(...))``: ``tf.sparse.from_dense`` would silently drop
    label id 0 (a real character here), and sparse labels are ~20× faster than dense in ctc_loss.
    """
    labels = tf.cast(labels, tf.int32)
    indices = tf.where(tf.sequence_mask(label_length, tf.shape(labels)[1]))
    values = tf.gather_nd(labels, indices)
    return tf.SparseTensor(indices, values, tf.cast(tf.shape(labels), tf.int64))


def ctc_loss(labels, label_length, logits, logit_length):
    """Per-utterance negative log-likelihood [B]; the blank is the last class of ``logits``."""
    logits = tf.cast(logits, tf.float32)
    return tf.nn.ctc_loss(labels=sparse_labels(labels, label_length), logits=logits,
                          label_length=None, logit_length=tf.cast(logit_length, tf.int32),
                          logits_time_major=False, blank_index=-1)
