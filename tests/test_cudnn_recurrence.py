"""rnn_loop="cudnn": Keras's GRU/LSTM fed B(W x) through an identity input kernel computes what the
other loops compute, with the same weights (on a CPU, Keras runs it through its generic loop)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.config import preset
from ds2_tf.model.bn_rnn import BatchNormRNN
from ds2_tf.model.deepspeech2 import build_model, portable


def outputs_and_grads(layer, x, mask, state=None):
    with tf.GradientTape() as tape:
        tape.watch(x)
        out, states = layer(x, mask=mask, training=True, initial_state=state, return_state=True)
        loss = tf.reduce_sum(tf.sin(out)) + sum(tf.reduce_sum(s) for s in states)
    return [out, *states] + tape.gradient(loss, [x] + layer.trainable_variables)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_cudnn_path_equals_keras_loop_outputs_and_gradients(cell, bidirectional):
    """Padded batch (right-padded, as cuDNN needs), BN in training mode: outputs, the input's
    gradient and every weight's gradient within 1e-5; weights move between the two by set_weights
    (one layout)."""
    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((4, 23, 10)).astype(np.float32))
    mask = tf.sequence_mask([23, 17, 9, 1], 23)
    reference = BatchNormRNN(7, cell=cell, bidirectional=bidirectional, loop="keras")
    cudnn = BatchNormRNN(7, cell=cell, bidirectional=bidirectional, loop="cudnn")
    reference(x, mask=mask)
    cudnn(x, mask=mask)
    assert [w.shape for w in cudnn.weights] == [w.shape for w in reference.weights]
    assert len(cudnn.weights) == len(reference.weights)  # Keras's GRU/LSTM add none
    reference.set_weights([w + 0.3 * rng.standard_normal(w.shape).astype(np.float32)
                           for w in reference.get_weights()])
    cudnn.set_weights(reference.get_weights())
    state = None if bidirectional else [
        rng.standard_normal((4, 7)).astype(np.float32) for _ in range(1 if cell == "gru" else 2)]
    want = outputs_and_grads(reference, x, mask, state)
    got = outputs_and_grads(cudnn, x, mask, state)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-5, atol=1e-5)
    assert np.all(got[0].numpy()[3, 1:] == 0)  # padding stays zero


def test_fused_training_gru_equals_cudnn_path_when_traced():
    """The CPU training path (rnn_loop="auto": the fused XLA GRU) and the cuDNN path agree inside
    a tf.function, as fit runs them."""
    rng = np.random.default_rng(5)
    x = tf.constant(rng.standard_normal((3, 16, 8)).astype(np.float32))
    mask = tf.sequence_mask([16, 11, 4], 16)
    auto, cudnn = BatchNormRNN(6, loop="auto"), BatchNormRNN(6, loop="cudnn")
    auto(x, mask=mask)
    cudnn(x, mask=mask)
    cudnn.set_weights(auto.get_weights())
    want = tf.function(lambda: auto(x, mask=mask, training=True))()
    got = tf.function(lambda: cudnn(x, mask=mask, training=True))()
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


def test_cudnn_model_loads_other_loops_checkpoints_and_stays_out_of_xla(tmp_path):
    """A checkpoint written by the default model loads into the cuDNN one (same layout, same
    outputs); its BN-RNNs opt out of XLA, so fit's jit_compile="auto" leaves the step
    uncompiled; exports rebuild it with Keras's loop (cuDNN ops cannot serve on CPUs)."""
    config = preset("tiny")
    default = build_model(config, 29)
    default.save_weights(tmp_path / "w.weights.h5")
    cudnn = build_model(config.replace(model={"rnn_loop": "cudnn"}), 29)
    cudnn.load_weights(tmp_path / "w.weights.h5")
    wave = np.random.default_rng(0).standard_normal((2, 12000)).astype(np.float32) * 0.1
    inputs = {"waveform": wave, "num_samples": np.array([12000, 7000], np.int32)}
    np.testing.assert_allclose(cudnn(inputs)["logits"].numpy(), default(inputs)["logits"].numpy(),
                               atol=1e-5)
    assert not any(rnn.supports_jit for rnn in cudnn.rnns)
    assert all(rnn.supports_jit for rnn in default.rnns)
    exported = portable(cudnn)
    assert exported is not cudnn and exported.run_config.model.rnn_loop == "keras"
    assert portable(default) is default
    assert isinstance(exported, keras.Model)
