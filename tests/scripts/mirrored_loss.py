"""Loss of one batch under the default strategy and MirroredStrategy over 2 logical CPUs.

Run as a script: logical devices must be configured before TensorFlow initializes.
"""
import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from ds2_tf.config import preset  # noqa: E402
from ds2_tf.model.deepspeech2 import build_model  # noqa: E402

config = preset("tiny")
rng = np.random.default_rng(0)
lengths = np.array([16000, 12000, 9000, 14000], np.int32)
wave = np.zeros((4, 16000), np.float32)
for i, n in enumerate(lengths):
    wave[i, :n] = rng.standard_normal(n) * 0.1
labels = rng.integers(0, 28, (4, 12)).astype(np.int32)
x = {"waveform": wave, "num_samples": lengths}
y = {"labels": labels, "label_length": np.array([12, 9, 7, 10], np.int32)}

reference = build_model(config, 29)
default_loss = float(reference.compute_loss(x, y, reference(x, training=True)))

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = build_model(config, 29)
mirrored.set_weights(reference.get_weights())
dist = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors((x, y)))


@tf.function
def step(batch):
    def replica(bx, by):
        return mirrored.compute_loss(bx, by, mirrored(bx, training=True))
    per_replica = strategy.run(replica, args=batch)
    return strategy.reduce("SUM", per_replica, axis=None)


mirrored_loss = float(step(next(iter(dist))))
json.dump({"default": default_loss, "mirrored": mirrored_loss,
           "replicas": strategy.num_replicas_in_sync}, sys.stdout)
