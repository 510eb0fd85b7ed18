"""The paper's model parallelism (a bidirectional recurrence split along time over two devices)
computes what one device computes, alone and under MirroredStrategy (2 replicas × 2 devices)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.config import ModelConfig
from ds2_tf.model.bn_rnn import BatchNormRNN
from ds2_tf.model.time_split import time_split_bidirectional

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("steps", [9, 10])  # odd lengths get one masked padding step
def test_time_split_equals_the_one_device_recurrence(cell, steps):
    """Both phases on this process's one CPU (placement aside, the same arithmetic): sequences
    shorter than the first half, ending in the second half, and of length 1."""
    rng = np.random.default_rng(4)
    x = tf.constant(rng.standard_normal((4, steps, 6)).astype(np.float32))
    mask = tf.sequence_mask([steps, 7, 3, 1], steps)
    layer = BatchNormRNN(5, cell=cell, loop="keras")
    layer(x, mask=mask)
    for weight in layer.trainable_variables:
        weight.assign(weight + 0.3 * rng.standard_normal(weight.shape).astype(np.float32))
    cpu = tf.config.list_logical_devices("CPU")[0].name

    def run(direction, inputs, mask, initial):
        out = getattr(layer, direction)(inputs, mask=mask, initial_state=initial)
        return out[0], list(out[1:])

    projected = layer.norm(layer.projection(x), mask=mask)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(projected)
        fwd_in, bwd_in = tf.split(projected, 2, axis=-1)
        got = time_split_bidirectional(run, fwd_in, bwd_in, mask, devices=(cpu, cpu))
        want = (run("forward", fwd_in, mask, None)[0]
                + tf.reverse(run("backward", bwd_in, mask, None)[0], [1]))
        got_loss, want_loss = (tf.reduce_sum(tf.sin(t) * tf.cast(mask, t.dtype)[..., None])
                               for t in (got, want))
    valid = mask.numpy()
    np.testing.assert_allclose(got.numpy()[valid], want.numpy()[valid], atol=1e-5)
    sources = [projected] + layer.trainable_variables
    for g, w in zip(tape.gradient(got_loss, sources), tape.gradient(want_loss, sources),
                    strict=True):
        if w is not None:
            np.testing.assert_allclose(g.numpy(), w.numpy(), atol=1e-5)


def test_time_split_needs_a_bidirectional_model():
    with pytest.raises(ValueError, match="bidirectional"):
        ModelConfig(bidirectional=False, model_parallel="time")
    with pytest.raises(ValueError, match="model_parallel"):
        ModelConfig(model_parallel="layers")


@pytest.mark.slow
def test_two_logical_cpus_give_one_devices_loss_and_gradients():
    """tests/scripts/model_parallel.py: the tiny model's loss and every gradient with the time
    split over CPU:0/CPU:1, and under MirroredStrategy over two pairs, against one device."""
    result = subprocess.run([sys.executable, "tests/scripts/model_parallel.py"], cwd=REPO,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                                 "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout)
    assert out["devices_in_split_graph"] == ["CPU:0", "CPU:1"]  # the split really places work
    assert out["replicas"] == 2
    assert out["devices_in_mirrored_graph"] == ["CPU:0", "CPU:1", "CPU:2", "CPU:3"]
    np.testing.assert_allclose(out["split"], out["reference"], rtol=1e-5)
    np.testing.assert_allclose(out["mirrored"], out["reference"], rtol=1e-5)
    assert out["split_grad_rel_diff"] < 1e-4
    assert out["mirrored_grad_rel_diff"] < 1e-4
