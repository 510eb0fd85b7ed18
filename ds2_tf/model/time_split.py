"""The paper's model parallelism: a bidirectional recurrence split along time across two devices.

What the papers did: data parallelism alone stops paying once each GPU's minibatch gets small, so
Deep Speech (Hannun et al. 2014, section 4, "Model parallelism") also split the model — not by layers or by directions but
along *time*: each of two GPUs holds half of the time steps of every layer. A bidirectional
recurrence then runs in two phases. Phase 1: GPU 0 computes the forward recurrence over the first
half while GPU 1 computes the backward recurrence over the second half. At the midpoint they
exchange one state each (h_fwd at T/2, h_bwd at T/2) and swap roles. Phase 2: GPU 0 computes the
backward recurrence over the first half, GPU 1 the forward recurrence over the second. Both GPUs
work in both phases and only O(batch × units) crosses between them per layer and phase, where
splitting by direction would ship every output frame. Deep Speech 2 lists model parallelism next
to synchronous data parallelism; this is the scheme its predecessor describes.

Here the split covers each BN-RNN's recurrence — the part that is sequential in time and most of
the cost; the projection, its batch norm (whose statistics need the whole sequence) and the
other layers run where the replica runs. Outputs and gradients equal the one-device recurrence
(tests/test_model_parallel.py). With ``tf.distribute``, each replica owns a pair of devices:
``MirroredStrategy`` mirrors over the first device of each pair (``training/devices.py``) and
this module places phase work on the replica's pair.
"""
from __future__ import annotations

import tensorflow as tf


def device_kind() -> str:
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def replica_devices() -> tuple[str, str]:
    """The two devices the current replica's recurrences are split across: devices 2r and 2r + 1
    of this machine's GPUs (or CPUs when there is no GPU) for replica r."""
    devices = [d.name for d in tf.config.list_logical_devices(device_kind())]
    replica = 0
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        replica = int(tf.get_static_value(ctx.replica_id_in_sync_group))
    if len(devices) < 2 * replica + 2:
        raise ValueError(f"model_parallel='time' needs 2 {device_kind()} devices per replica; "
                         f"replica {replica} of this machine's {len(devices)} has no pair")
    return devices[2 * replica], devices[2 * replica + 1]


def time_split_bidirectional(run, fwd_in, bwd_in, mask, devices=None):
    """The bidirectional recurrence ``forward + backward`` of ``fwd_in``/``bwd_in`` [B, T, G], run as
    two phases on two devices (module docstring).

    ``run(direction, inputs, mask, initial_state)`` runs one direction ("forward" reads its inputs
    in time order, "backward" reverses them itself and returns outputs in its reading order) from
    ``initial_state`` (None: zeros) and returns (outputs, final states). Masked steps keep the
    state, so a sequence shorter than the first half hands its final state across unchanged.
    """
    first, second = devices or replica_devices()
    steps = tf.shape(fwd_in)[1]
    pad = steps % 2  # both halves get at least one step; the padded step is masked
    if mask is None:
        mask = tf.ones(tf.shape(fwd_in)[:2], tf.bool)
    fwd_in, bwd_in = (tf.pad(t, [[0, 0], [0, pad], [0, 0]]) for t in (fwd_in, bwd_in))
    mask = tf.pad(mask, [[0, 0], [0, pad]])
    half = (steps + pad) // 2
    with tf.device(first):   # phase 1: forward over the first half ...
        fwd_1, fwd_state = run("forward", fwd_in[:, :half], mask[:, :half], None)
    with tf.device(second):  # ... while the backward recurrence runs over the second half
        bwd_2, bwd_state = run("backward", bwd_in[:, half:], mask[:, half:], None)
    with tf.device(first):   # phase 2: roles swapped, each starting from the other's state
        bwd_1, _ = run("backward", bwd_in[:, :half], mask[:, :half], bwd_state)
        first_half = fwd_1 + tf.reverse(bwd_1, [1])
    with tf.device(second):
        fwd_2, _ = run("forward", fwd_in[:, half:], mask[:, half:], fwd_state)
        second_half = fwd_2 + tf.reverse(bwd_2, [1])
    return tf.concat([first_half, second_half], axis=1)[:, :steps]
