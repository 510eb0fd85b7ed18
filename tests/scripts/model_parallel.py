"""Loss and gradients of one batch: one device vs the paper's time split over two logical CPUs,
alone and composed with MirroredStrategy (2 replicas × 2 devices).

Run as a script: logical devices must be configured before TensorFlow initializes.
"""
import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 4)

from ds2_tf.config import preset  # noqa: E402
from ds2_tf.model.deepspeech2 import build_model  # noqa: E402
from ds2_tf.training.devices import choose_strategy  # noqa: E402

single = preset("tiny")
split = single.replace(model={"model_parallel": "time"})
rng = np.random.default_rng(0)
lengths = np.array([16000, 12000, 9000, 15000], np.int32)  # odd and even frame counts
wave = np.zeros((4, 16000), np.float32)
for i, n in enumerate(lengths):
    wave[i, :n] = rng.standard_normal(n) * 0.1
labels = rng.integers(0, 28, (4, 12)).astype(np.int32)
x = {"waveform": wave, "num_samples": lengths}
y = {"labels": labels, "label_length": np.array([12, 9, 7, 10], np.int32)}


def loss_and_grads(model, bx, by):
    with tf.GradientTape() as tape:
        loss = model.compute_loss(bx, by, model(bx, training=True))
    return loss, tape.gradient(loss, model.trainable_variables)


reference = build_model(single, 29)
ref_loss, ref_grads = loss_and_grads(reference, x, y)

split_model = build_model(split, 29)
split_model.set_weights(reference.get_weights())
step = tf.function(lambda: loss_and_grads(split_model, x, y))
split_loss, split_grads = step()
graph = step.get_concrete_function().graph
devices = sorted({op.device.split("device:")[-1] for op in graph.get_operations() if op.device})

strategy = choose_strategy("mirrored", "time")
with strategy.scope():
    mirrored = build_model(split, 29)
mirrored.set_weights(reference.get_weights())
dist = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((x, y)))


@tf.function
def mirrored_step(batch):
    per_replica = strategy.run(lambda bx, by: loss_and_grads(mirrored, bx, by), args=batch)
    loss = strategy.reduce("SUM", per_replica[0], axis=None)
    grads = [strategy.reduce("SUM", g, axis=None) for g in per_replica[1]]
    return loss, grads


batch = next(iter(dist))
mirrored_loss, mirrored_grads = mirrored_step(batch)
mirrored_graph = mirrored_step.get_concrete_function(batch).graph
mirrored_devices = sorted({op.device.split("device:")[-1]
                           for op in mirrored_graph.get_operations() if op.device})


def max_diff(grads):
    return max(float(np.max(np.abs(g.numpy() - r.numpy())) / (np.max(np.abs(r.numpy())) + 1e-12))
               for g, r in zip(grads, ref_grads, strict=True))


json.dump({"reference": float(ref_loss), "split": float(split_loss),
           "mirrored": float(mirrored_loss), "replicas": strategy.num_replicas_in_sync,
           "split_grad_rel_diff": max_diff(split_grads),
           "mirrored_grad_rel_diff": max_diff(mirrored_grads),
           "devices_in_split_graph": devices,
           "devices_in_mirrored_graph": mirrored_devices}, sys.stdout)
