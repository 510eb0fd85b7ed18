"""The one-weight EMA run of test_train under MirroredStrategy over 2 logical CPUs: the raw weight
after each step, the weight epoch-end callbacks see, the final one and the one saved as raw.

Run as a script: logical devices must be configured before TensorFlow initializes.
"""
import json
import sys

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from ds2_tf.train import AveragedWeightsAtEpochEnd  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = keras.Sequential([keras.Input((1,)),
                              keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
kernel = model.layers[0].kernel
raw, at_epoch_end = [], []


class Record(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raw.append(float(kernel.numpy()[0, 0]))

    def on_epoch_end(self, epoch, logs=None):
        at_epoch_end.append(float(kernel.numpy()[0, 0]))
        if epoch == 1:
            self.model.stop_training = True


ones = np.ones((8, 1), np.float32)  # global batch 2 = one example per replica: 4 steps per epoch
averaging = AveragedWeightsAtEpochEnd()
model.fit(ones, ones, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[averaging, Record()])
final = float(kernel.numpy()[0, 0])
averaging.save_raw_weights(sys.argv[1])
model.load_weights(sys.argv[1])
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "raw": raw,
                  "at_epoch_end": at_epoch_end, "final": final,
                  "raw_file": float(kernel.numpy()[0, 0])}))
