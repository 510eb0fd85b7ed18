"""One recurrence loop for both directions, K steps per iteration: the TFLite path of BatchNormRNN."""
from __future__ import annotations

import tensorflow as tf

from ds2_tf.model.masked import static_dim
from ds2_tf.private_apis import xla_dynamic_update_slice

# K: each TFLite WHILE iteration copies every loop variable (the whole projected input among
# them), so fewer iterations cost less on long utterances: K = 16 beat K = 8 on long ones and
# tied on short ones when measured (int8 TFLite, bench/export_latency.py).
STEPS_PER_ITERATION = 16


@tf.custom_gradient
def write_block(buffer, block, index):
    """``buffer`` with ``block`` written at ``index`` along axis 0 (other offsets 0), as one
    DYNAMIC_UPDATE_SLICE in TFLite. Why not a TensorArray: TFLite lowers its writes to slices
    and a concatenation whose shapes depend on the index, so a loop body holding one has
    dynamic tensors, and TFLite's WHILE then runs its dynamic path: every loop variable resized
    and deep-copied three times per iteration (tensorflow/lite/kernels/while.cc) instead of
    copied once. The TF op has no registered gradient; it is written out here."""
    offsets = tf.concat([tf.reshape(index, [1]), tf.zeros([buffer.shape.rank - 1], tf.int32)], 0)
    result = xla_dynamic_update_slice(buffer, block, offsets)

    def grad(upstream):
        return (xla_dynamic_update_slice(upstream, tf.zeros_like(block), offsets),
                tf.slice(upstream, offsets, tf.shape(block)), None)

    return result, grad


def run_recurrence(cells, inputs, mask=None, initial_states=None,
                   steps_per_iteration: int = STEPS_PER_ITERATION):
    """Run one recurrence per cell (one per direction) in a single loop, K time steps per iteration.

    ``inputs`` holds one [B, T, G] projected sequence per cell, already in the order that cell
    reads it (the backward one time-reversed); ``mask`` [B, T] bool per cell likewise, or None.
    Returns ([B, T, U] outputs per cell, final states [D, B, U] per state tensor).

    Why: TFLite lowers a loop's TensorArray writes to slice + concatenate of the whole [T, …]
    output list, so two ``keras.layers.RNN`` loops copy their outputs T times each and the
    real-time factor grows with utterance length. Here the directions are stacked on a leading
    axis (one loop and one set of elementwise ops per step for both) and K steps are unrolled
    inside each iteration: T / K iterations, T / K writes. The sequence is padded to a multiple
    of K with masked steps, which keep the state and whose outputs are dropped. Outputs go into a
    fixed-shape buffer (``write_block``), so every tensor in the TFLite loop body has a static
    shape and TFLite's WHILE takes its static path. TensorFlow runs
    the Keras loops faster (the two directions in parallel, fewer activations kept for the
    gradient; bench/rnn_loop.py), and so does TFLite on short streaming chunks, so this path is
    only used by ``BatchNormRNN(loop="stacked")``, which the whole-utterance TFLite export builds.
    """
    step = type(cells[0]).step
    dtype = inputs[0].dtype
    k = steps_per_iteration
    weights = [(tf.cast(c.recurrent_kernel, dtype), tf.cast(c.recurrent_bias, dtype))
               for c in cells]

    def recurrent(h):  # one matmul per direction, not one BATCH_MATMUL over stacked kernels:
        # as fast, and int8 quantizes each direction's kernel on its own, as before
        return tf.stack([tf.matmul(h[d], w) + b for d, (w, b) in enumerate(weights)])

    # static where known (fixed-size chunks)
    batch, steps = static_dim(inputs[0], 0), static_dim(inputs[0], 1)
    masks = mask if mask is not None else [tf.ones([batch, steps], tf.bool)] * len(cells)
    pad = (k - steps % k) % k
    iterations = (steps + pad) // k
    x = tf.pad(tf.transpose(tf.stack(inputs), [2, 0, 1, 3]), [[0, pad], [0, 0], [0, 0], [0, 0]])
    keep = tf.pad(tf.transpose(tf.stack(masks), [2, 0, 1]), [[0, pad], [0, 0], [0, 0]])
    x = tf.reshape(x, [iterations, k, len(cells), batch, x.shape[-1]])  # [n, K, D, B, G]
    keep = tf.reshape(keep, [iterations, k, len(cells), batch, 1])
    if initial_states is None:
        num_states = len(tf.nest.flatten(cells[0].state_size))
        initial_states = [tf.zeros([len(cells), batch, cells[0].units], dtype)] * num_states
    initial_states = [tf.cast(s, dtype) for s in initial_states]
    units = cells[0].units

    def body(i, states, out):
        x_i, keep_i, outs = tf.gather(x, i), tf.gather(keep, i), []
        for j in range(k):
            new = step(x_i[j], states, recurrent(states[0]))
            states = [tf.where(keep_i[j], n, s) for n, s in zip(new, states)]
            outs.append(states[0])
        return i + 1, states, write_block(out, tf.expand_dims(tf.stack(outs), 0), i)

    out = tf.zeros([iterations, k, len(cells), batch, units], dtype)
    _, states, out = tf.while_loop(lambda i, *_: i < iterations, body,
                                   (0, list(initial_states), out),
                                   maximum_iterations=iterations)
    outputs = tf.reshape(out, [iterations * k, len(cells), batch, units])
    outputs = tf.transpose(outputs[:steps], [1, 2, 0, 3])  # [D, B, T, U]
    return tf.unstack(outputs, num=len(cells)), states
