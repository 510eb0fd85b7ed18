"""The fused GRU training loop computes what Keras's RNN loop computes: outputs and gradients."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.config import ModelConfig
from ds2_tf.model.fused_gru import gru_sequence
from ds2_tf.model.bn_rnn import BatchNormRNN
from ds2_tf.model.cells import ProjectedGRUCell


def outputs_and_grads(layer, x, mask, weights, loop):
    layer.loop = loop
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = layer(x, mask=mask, training=True)
        loss = tf.reduce_sum(out * weights)
    return [out] + tape.gradient(loss, [x] + layer.trainable_variables)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_training_layer_matches_keras_loops_with_padding(bidirectional):
    """Padded batch (the backward direction then reads padding first), BN in training mode:
    outputs, input gradient and every weight gradient equal the Keras-loop path's."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((4, 23, 10)).astype(np.float32))
    mask = tf.sequence_mask([23, 17, 9, 1], 23)
    weights = tf.constant(rng.standard_normal((4, 23, 7)).astype(np.float32))
    layer = BatchNormRNN(7, bidirectional=bidirectional)
    layer(x, mask=mask)
    for cell in [layer.forward.cell] + ([layer.backward.cell] if bidirectional else []):
        cell.recurrent_bias.assign(rng.standard_normal(21).astype(np.float32) * 0.5)
    keras_path = outputs_and_grads(layer, x, mask, weights, "keras")
    fused = outputs_and_grads(layer, x, mask, weights, "auto")
    assert len(keras_path) == len(fused) == 2 + len(layer.trainable_variables)
    for want, got in zip(keras_path, fused):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=2e-5, atol=2e-6)
    assert np.all(fused[0].numpy()[3, 1:] == 0)  # padding stays zero


def test_gru_sequence_equals_keras_rnn_and_keeps_state_through_masked_steps():
    rng = np.random.default_rng(5)
    units = 5
    x = tf.constant(rng.standard_normal((3, 12, 3 * units)).astype(np.float32))
    mask = tf.constant(rng.random((3, 12)) > 0.3)  # holes anywhere, not only at the end
    rnn = keras.layers.RNN(ProjectedGRUCell(units), return_sequences=True)
    rnn(x[:, :1])
    rnn.cell.recurrent_bias.assign(rng.standard_normal(3 * units).astype(np.float32))
    kernel, bias = rnn.cell.recurrent_kernel, rnn.cell.recurrent_bias
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        want = rnn(x, mask=mask)
        got = gru_sequence(x, mask, kernel, bias)
        loss_want, loss_got = tf.reduce_sum(want ** 2), tf.reduce_sum(got ** 2)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(tape.gradient(loss_want, [x, kernel, bias]),
                    tape.gradient(loss_got, [x, kernel, bias])):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5)


def test_bfloat16_inputs_give_bfloat16_outputs_and_float32_weight_gradients():
    rng = np.random.default_rng(2)
    x = tf.constant(rng.standard_normal((2, 9, 12)).astype(np.float32))
    kernel = tf.Variable(rng.standard_normal((4, 12)).astype(np.float32) * 0.3)
    bias = tf.Variable(np.zeros(12, np.float32))
    with tf.GradientTape() as tape:
        out = gru_sequence(tf.cast(x, tf.bfloat16), None, kernel, bias)
        loss = tf.reduce_sum(tf.cast(out, tf.float32))
    d_kernel, d_bias = tape.gradient(loss, [kernel, bias])
    assert out.dtype == tf.bfloat16 and d_kernel.dtype == tf.float32
    with tf.GradientTape() as tape:
        want = tf.reduce_sum(gru_sequence(x, None, kernel, bias))
    np.testing.assert_allclose(d_kernel.numpy(), tape.gradient(want, kernel).numpy(),
                               rtol=0.05, atol=0.05)


def test_rnn_loop_is_validated():
    with pytest.raises(ValueError, match="rnn_loop"):
        ModelConfig(rnn_loop="cuda")
    with pytest.raises(ValueError, match="loop must be one of"):
        BatchNormRNN(4, loop="fused!")


@pytest.mark.parametrize("bidirectional", [True, False])
def test_inference_loop_matches_keras_loops_with_holes_in_the_mask(bidirectional):
    """Inference ("auto": gru_states, one plain loop per direction) equals Keras's loops, with
    masked steps anywhere (the state is kept through them) and padding left at zero."""
    rng = np.random.default_rng(7)
    x = tf.constant(rng.standard_normal((3, 19, 10)).astype(np.float32))
    mask = tf.constant(rng.random((3, 19)) > 0.3) & tf.sequence_mask([19, 12, 5], 19)
    layer = BatchNormRNN(6, bidirectional=bidirectional)
    layer(x, mask=mask)
    for cell in [layer.forward.cell] + ([layer.backward.cell] if bidirectional else []):
        cell.recurrent_bias.assign(rng.standard_normal(18).astype(np.float32) * 0.5)
    outputs = {}
    for loop in ("keras", "auto"):
        layer.loop = loop
        outputs[loop] = tf.function(lambda x, m: layer(x, mask=m, training=False))(x, mask)
    np.testing.assert_allclose(outputs["auto"].numpy(), outputs["keras"].numpy(),
                               rtol=1e-5, atol=1e-6)
    assert np.all(outputs["auto"].numpy()[~mask.numpy()] == 0)
    assert np.abs(outputs["auto"].numpy()).max() > 0.1  # not a trivially equal pair of zeros
