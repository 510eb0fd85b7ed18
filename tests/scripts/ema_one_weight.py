"""One weight, loss (w - 1)², SGD at 0.1 with EMA momentum 0.5: raw steps give w_t = 1 - 0.8^t
exactly, so test_train can compute the average every epoch-end callback and the finished model
should see. Records the raw weight after each step, the weight at each epoch end, the final one and
the one saved by ``save_raw_weights``.

Imported by test_train (default strategy); run as a script for MirroredStrategy over 2 logical
CPUs, which must be configured before TensorFlow initializes:
``python tests/scripts/ema_one_weight.py RAW.weights.h5``.
"""
import json
import sys

import keras
import numpy as np
import tensorflow as tf

from ds2_tf.training.callbacks import AveragedWeightsAtEpochEnd


def one_weight_run(raw_path, stop_early: bool, strategy=None) -> dict:
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = keras.Sequential([keras.Input((1,)),
                                  keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
        model.compile(optimizer=keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5),
                      loss="mse")
    kernel = model.layers[0].kernel
    run = {"replicas": strategy.num_replicas_in_sync, "raw": [], "at_epoch_end": []}

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            run["raw"].append(float(kernel.numpy()[0, 0]))

        def on_epoch_end(self, epoch, logs=None):
            run["at_epoch_end"].append(float(kernel.numpy()[0, 0]))
            if stop_early and epoch == 1:  # what TimeBudget does when --max-minutes runs out
                self.model.stop_training = True

    averaging = AveragedWeightsAtEpochEnd()
    averaging.set_model(model)
    averaging.save_raw_weights(raw_path)  # no epoch yet: must write nothing
    run["raw_file_before_fit"] = bool(tf.io.gfile.exists(str(raw_path)))
    ones = np.ones((4 * strategy.num_replicas_in_sync, 1), np.float32)  # 4 steps per epoch
    model.fit(ones, ones, batch_size=strategy.num_replicas_in_sync, epochs=3, shuffle=False,
              verbose=0, callbacks=[averaging, Record()])
    run["final"] = float(kernel.numpy()[0, 0])
    averaging.save_raw_weights(raw_path)
    model.load_weights(str(raw_path))
    run["raw_file"] = float(kernel.numpy()[0, 0])
    return run


if __name__ == "__main__":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    print(json.dumps(one_weight_run(sys.argv[1], stop_early=True,
                                    strategy=tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))))
