"""The layers are faithful (stock-Keras equivalence, STFT parity) and padding-proof."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.config import ConvSpec, RunConfig, preset
from ds2_tf.features.spec_augment import SpecAugment
from ds2_tf.features.spectrogram import Spectrogram
from ds2_tf.model.bn_rnn import BatchNormRNN
from ds2_tf.model.cells import CELLS
from ds2_tf.model.conv_front_end import ConvFrontEnd, space_to_depth_conv2d
from ds2_tf.model.masked import MaskedBatchNorm
from ds2_tf.model.row_conv import RowConv
from ds2_tf.model.stacked_loop import run_recurrence, write_block
from ds2_tf.model.deepspeech2 import build_model


def test_matmul_spectrogram_matches_tf_signal_stft():
    wave = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32) * 0.1
    layer = Spectrogram(320, 160)
    feats, frames = layer(wave, np.array([8000, 8000]))
    stft = tf.signal.stft(wave, 320, 160, fft_length=320,
                          window_fn=lambda n, dtype: tf.signal.hann_window(n, periodic=True, dtype=dtype))
    want = tf.math.log(tf.abs(stft) ** 2 + 1e-10).numpy()
    assert feats.shape == want.shape and list(frames.numpy()) == [want.shape[1]] * 2
    np.testing.assert_allclose(feats.numpy(), want, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_hoisted_rnn_without_bn_equals_stock_bidirectional(cell):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 17, 12)).astype(np.float32)
    lengths = np.array([17, 11, 5])
    mask = tf.sequence_mask(lengths, 17)
    layer_cls = keras.layers.GRU if cell == "gru" else keras.layers.LSTM
    stock = keras.layers.Bidirectional(layer_cls(8, return_sequences=True), merge_mode="sum")
    want = stock(x, mask=mask).numpy()
    ours = BatchNormRNN(8, cell=cell, bidirectional=True, batch_norm=False)
    ours(x, mask=mask)
    fw, bw = stock.forward_layer, stock.backward_layer
    if cell == "gru":
        bias = np.concatenate([fw.cell.bias.numpy()[0], bw.cell.bias.numpy()[0]])
        rec_bias = [fw.cell.bias.numpy()[1], bw.cell.bias.numpy()[1]]
    else:
        bias = np.concatenate([fw.cell.bias.numpy(), bw.cell.bias.numpy()])
        rec_bias = [np.zeros(32, np.float32)] * 2
    ours.projection.kernel.assign(np.concatenate([fw.cell.kernel.numpy(), bw.cell.kernel.numpy()], 1))
    ours.projection.bias.assign(bias)
    for rnn, stock_dir, rb in ((ours.forward, fw, rec_bias[0]), (ours.backward, bw, rec_bias[1])):
        rnn.cell.recurrent_kernel.assign(stock_dir.cell.recurrent_kernel.numpy())
        rnn.cell.recurrent_bias.assign(rb)
    got = ours(x, mask=mask).numpy()
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(got[i, :n], want[i, :n], atol=1e-5)
        assert np.all(got[i, n:] == 0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("steps_per_iteration", [1, 3, 8, 32])
def test_stacked_unrolled_recurrence_equals_one_keras_rnn_per_direction(cell, steps_per_iteration):
    """Both directions in one loop, K steps per iteration, padded to a multiple of K: the same
    outputs and final states as separate keras.layers.RNN loops, whatever K and the lengths."""
    rng = np.random.default_rng(7)
    units, gates = 6, CELLS[cell].gates
    cells = [CELLS[cell](units, name=f"c{d}") for d in range(2)]
    for c in cells:
        c.build((None, gates * units))
        c.recurrent_bias.assign(rng.standard_normal(gates * units).astype(np.float32))
    x = [rng.standard_normal((3, 13, gates * units)).astype(np.float32) for _ in cells]
    masks = [tf.sequence_mask([13, 9, 1], 13), tf.reverse(tf.sequence_mask([13, 9, 1], 13), [1])]
    init = [rng.standard_normal((2, 3, units)).astype(np.float32)
            for _ in range(len(tf.nest.flatten(cells[0].state_size)))]
    outputs, states = run_recurrence(cells, x, masks, init, steps_per_iteration)
    for d, c in enumerate(cells):
        rnn = keras.layers.RNN(c, return_sequences=True, return_state=True)
        want = rnn(x[d], mask=masks[d], initial_state=[s[d] for s in init])
        valid = masks[d].numpy()
        np.testing.assert_allclose(outputs[d].numpy()[valid], want[0].numpy()[valid], atol=1e-5)
        for got_state, want_state in zip(states, want[1:]):
            np.testing.assert_allclose(got_state[d].numpy(), want_state.numpy(), atol=1e-5)


def test_write_block_value_and_gradients():
    rng = np.random.default_rng(3)
    buffer = tf.Variable(rng.standard_normal((5, 2, 3)), dtype=tf.float32)
    block = tf.Variable(rng.standard_normal((1, 2, 3)), dtype=tf.float32)
    weights = tf.constant(rng.standard_normal((5, 2, 3)), tf.float32)
    with tf.GradientTape() as tape:
        got = tf.function(write_block)(buffer, block, tf.constant(2))
        loss = tf.reduce_sum(tf.sin(got) * weights)
    d_buffer, d_block = tape.gradient(loss, [buffer, block])
    want = buffer.numpy().copy()
    want[2:3] = block.numpy()
    np.testing.assert_allclose(got.numpy(), want)
    upstream = (np.cos(want) * weights.numpy())
    want_d_buffer = upstream.copy()
    want_d_buffer[2] = 0
    np.testing.assert_allclose(d_buffer.numpy(), want_d_buffer, rtol=1e-6)
    np.testing.assert_allclose(d_block.numpy(), upstream[2:3], rtol=1e-6)


def test_stacked_recurrence_gradients_equal_keras_loops():
    """The stacked loop stays differentiable (bench/rnn_loop.py times its training step)."""
    rng = np.random.default_rng(11)
    units = 4
    cells = [CELLS["gru"](units, name=f"g{d}") for d in range(2)]
    for c in cells:
        c.build((None, 3 * units))
    x = [tf.Variable(rng.standard_normal((2, 11, 3 * units)), dtype=tf.float32) for _ in cells]
    masks = [tf.sequence_mask([11, 6], 11), tf.reverse(tf.sequence_mask([11, 6], 11), [1])]
    with tf.GradientTape() as tape:
        outputs, _ = run_recurrence(cells, x, masks, steps_per_iteration=4)
        loss = sum(tf.reduce_sum(tf.where(m[..., None], tf.sin(o), 0.0))
                   for o, m in zip(outputs, masks))
    got = tape.gradient(loss, x + [c.recurrent_kernel for c in cells])
    with tf.GradientTape() as tape:
        loss = 0.0
        for c, xd, m in zip(cells, x, masks):
            out = keras.layers.RNN(c, return_sequences=True)(xd, mask=m)
            loss += tf.reduce_sum(tf.where(m[..., None], tf.sin(out), 0.0))
    want = tape.gradient(loss, x + [c.recurrent_kernel for c in cells])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), atol=1e-5)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_batch_norm_rnn_traced_stacked_equals_keras_loops(bidirectional):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 10, 5)).astype(np.float32)
    mask = tf.sequence_mask([10, 4], 10)
    layer = BatchNormRNN(6, cell="gru", bidirectional=bidirectional)
    state = None if bidirectional else [rng.standard_normal((2, 6)).astype(np.float32)]
    want, want_states = layer(x, mask=mask, initial_state=state, return_state=True)
    layer.loop = "stacked"  # read when traced; same weights
    got, got_states = tf.function(lambda: layer(x, mask=mask, initial_state=state,
                                                return_state=True))()
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    for g, w in zip(got_states, want_states, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy(), atol=1e-5)


def test_batch_norm_rnn_without_a_mask_treats_every_frame_as_valid():
    x = np.random.default_rng(9).standard_normal((2, 6, 5)).astype(np.float32)
    layer = BatchNormRNN(4)
    want = layer(x, mask=tf.ones([2, 6], tf.bool), training=True).numpy()
    np.testing.assert_allclose(layer(x, training=True).numpy(), want, atol=1e-6)


def test_batch_norm_statistics_ignore_padding():
    rng = np.random.default_rng(2)
    valid = rng.standard_normal((2, 6, 4)).astype(np.float32) * 3 + 1
    padded = np.concatenate([valid, np.full((2, 5, 4), 1e4, np.float32)], axis=1)
    mask = np.concatenate([np.ones((2, 6)), np.zeros((2, 5))], axis=1)
    bn = MaskedBatchNorm(momentum=0.0)
    out = bn(padded, mask, training=True).numpy()
    mean, var = valid.reshape(-1, 4).mean(0), valid.reshape(-1, 4).var(0)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), var, rtol=1e-4)
    np.testing.assert_allclose(out[:, :6], (valid - mean) / np.sqrt(var + 1e-3), atol=1e-4)


def test_row_conv_looks_only_forward_over_tau_frames():
    tau = 3
    layer = RowConv(tau)
    x = np.zeros((1, 12, 2), np.float32)
    x[0, 8] = 1.0  # impulse at frame 8
    layer(x)
    layer.depthwise.kernel.assign(np.ones((tau + 1, 2, 1), np.float32))
    out = layer(x).numpy()[0, :, 0]
    assert np.flatnonzero(out).tolist() == [5, 6, 7, 8]  # frames t with t <= 8 <= t + tau


@pytest.mark.parametrize("time_stride", [1, 2, 4])
def test_one_output_length_function_for_all_lengths(time_stride):
    config = RunConfig(model=preset("tiny").model.__class__(
        conv=(ConvSpec(4, (5, 21), (time_stride, 4)), ConvSpec(4, (3, 11), (1, 2))),
        rnn_layers=1, rnn_units=8))
    front = ConvFrontEnd([vars(s) for s in config.model.conv])
    spectrogram = Spectrogram()
    for samples in [320, 480, 1601, 3200, 3359, 5000]:
        feats, frames = spectrogram(np.zeros((1, samples), np.float32), np.array([samples]))
        out, lengths = front(feats, frames)
        assert int(lengths[0]) == out.shape[1] == int(config.output_length(samples))


@pytest.mark.parametrize("name, normalization",  # per-utterance means must ignore padding too
                         [("tiny", "global"), ("tiny", "utterance"), ("streaming", "global")])
def test_utterance_alone_equals_inside_a_padded_batch(name, normalization):
    config = preset(name).replace(features={"normalization": normalization})
    if name == "streaming":  # a narrower copy keeps the test fast
        config = config.replace(model={"rnn_layers": 2, "rnn_units": 16})
    model = build_model(config, 29)
    rng = np.random.default_rng(3)
    lengths = np.array([16000, 11999, 7201], np.int32)
    batch = np.zeros((3, 16000), np.float32)
    for i, n in enumerate(lengths):
        batch[i, :n] = rng.standard_normal(n) * 0.1
    together = model({"waveform": batch, "num_samples": lengths})
    for i, n in enumerate(lengths):
        alone = model({"waveform": batch[i:i + 1, :n], "num_samples": lengths[i:i + 1]})
        t = int(alone["output_length"][0])
        assert t == int(together["output_length"][i])
        np.testing.assert_allclose(alone["logits"][0].numpy(), together["logits"][i, :t].numpy(),
                                   atol=1e-5)


def test_spec_augment_masks_only_in_training_and_within_length():
    layer = SpecAugment(freq_masks=2, freq_mask_width=10, time_masks=2, time_mask_fraction=0.2, seed=0)
    feats = np.ones((2, 50, 161), np.float32)
    assert np.all(layer(feats, np.array([50, 20]), training=False) == 1)
    out = layer(feats, np.array([50, 20]), training=True).numpy()
    assert 0 < (out == 0).mean() < 0.5
    assert np.all(out[1, 20:].sum(-1) > 0)  # padding frames never time-masked (only freq masks)


def test_layers_round_trip_through_config():
    front = ConvFrontEnd([{"filters": 4, "kernel": (5, 21), "strides": (2, 4)}])
    clone = ConvFrontEnd.from_config(front.get_config())
    assert clone.conv_specs == front.conv_specs
    rnn = BatchNormRNN(8, cell="lstm", bidirectional=False)
    assert BatchNormRNN.from_config(rnn.get_config()).get_config() == rnn.get_config()
    assert RowConv.from_config(RowConv(4).get_config()).future_frames == 4


def test_in_graph_spectrogram_matches_the_numpy_definition_used_for_statistics():
    from tfrecords_tools.spectrogram import log_power_spectrogram

    wave = np.random.default_rng(5).standard_normal(4000).astype(np.float32) * 0.2
    feats, _ = Spectrogram(320, 160)(wave[None], np.array([4000]))
    np.testing.assert_allclose(feats[0].numpy(), log_power_spectrogram(wave), atol=2e-3, rtol=1e-4)


@pytest.mark.parametrize("time_steps, bins, kernel", [(40, 61, (11, 41)), (41, 60, (11, 41)),
                                                      (33, 20, (4, 6)), (12, 9, (5, 3))])
def test_space_to_depth_conv2d_equals_the_strided_conv2d(time_steps, bins, kernel):
    rng = np.random.default_rng(time_steps)
    x = tf.constant(rng.standard_normal((2, time_steps, bins, 1)), tf.float32)
    w = tf.Variable(rng.standard_normal((*kernel, 1, 4)) * 0.1, dtype=tf.float32)
    results = []
    for conv in (lambda: tf.nn.conv2d(x, w, [1, 2, 2, 1], "VALID"),
                 lambda: space_to_depth_conv2d(x, w)):
        with tf.GradientTape() as tape:
            y = conv()
            loss = tf.reduce_sum(tf.sin(y))
        results.append((y, tape.gradient(loss, w)))
    (want, want_grad), (got, got_grad) = results
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-4,
                               atol=1e-5 * float(tf.reduce_max(tf.abs(want_grad))))


def test_bfloat16_front_end_takes_the_first_layer_by_space_to_depth():
    specs = [{"filters": 8, "kernel": (5, 21), "strides": (2, 2)}]
    features, lengths = tf.random.stateless_normal((2, 50, 41), seed=(3, 4)), tf.constant([50, 31])
    reference = ConvFrontEnd(specs, algorithm="direct")
    reference.build(features.shape)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        front = ConvFrontEnd(specs)
        front.build(features.shape)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    front.set_weights(reference.get_weights())
    graph = tf.function(lambda f, n: front(f, n)[0]).get_concrete_function(features,
                                                                           lengths).graph
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    assert any(op.type == "SpaceToDepth" for op in graph.get_operations()) != on_gpu
    got = tf.cast(front(features, lengths)[0], tf.float32).numpy()
    want = reference(features, lengths)[0].numpy()
    np.testing.assert_allclose(got, want, atol=0.05 * np.abs(want).max())  # bfloat16 round-off
