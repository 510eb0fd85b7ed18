"""Each private TensorFlow / Keras API in ds2_tf/private_apis.py still exists and still works."""
import keras
import numpy as np
import tensorflow as tf

from ds2_tf.private_apis import (PRIVATE_APIS, ema_variable_pairs, fit_under_ambient_strategy,
                                 xla_dynamic_update_slice)


def test_every_private_api_is_documented():
    assert len(PRIVATE_APIS) == 3
    for api in PRIVATE_APIS:
        assert api.name and len(api.reason) > 40 and api.public_replacement


def test_xla_dynamic_update_slice_writes_a_block():
    buffer = tf.zeros([4, 2])
    out = xla_dynamic_update_slice(buffer, tf.ones([1, 2]), tf.constant([2, 0]))
    np.testing.assert_array_equal(out.numpy(), [[0, 0], [0, 0], [1, 1], [0, 0]])


def test_optimizer_keeps_aligned_moving_averages():
    variable = keras.Variable(np.ones(3, np.float32))
    optimizer = keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5)
    optimizer.build([variable])
    for _ in range(3):  # the first step starts the average at the weights
        optimizer.apply([tf.ones(3)], [variable])
    (raw, average), = ema_variable_pairs(optimizer)
    assert raw is variable
    assert np.all(average.numpy() > variable.numpy())  # an average of falling weights


def test_model_has_the_strategy_attribute_fit_reads():
    model = keras.Sequential([keras.layers.Dense(1)])
    assert hasattr(model, "_distribute_strategy")
    fit_under_ambient_strategy(model)
    assert model._distribute_strategy is None
