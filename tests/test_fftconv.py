"""FFT convolution: same outputs and gradients as Conv2D, and the direct path where it must be."""
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.model.fftconv import FFT_TIME, MIN_INFERENCE_BATCH, fft_conv2d, next_fast_len, prefers_fft
from ds2_tf.model.conv_front_end import ConvFrontEnd


def test_next_fast_len():
    assert [next_fast_len(n) for n in (1, 7, 101, 128, 161)] == [1, 8, 108, 128, 162]


@pytest.mark.parametrize("time_steps", [1, 11, FFT_TIME - 10, FFT_TIME - 9, 3 * FFT_TIME + 5])
@pytest.mark.parametrize("strides", [(1, 2), (2, 2), (1, 1)])
def test_fft_conv2d_equals_conv2d(time_steps, strides):
    rng = np.random.default_rng(time_steps)
    x = tf.constant(rng.standard_normal((2, time_steps + 10, 37, 8)), tf.float32)
    w = tf.constant(rng.standard_normal((11, 9, 8, 5)) * 0.1, tf.float32)
    want = tf.nn.conv2d(x, w, [1, *strides, 1], "VALID")
    got = fft_conv2d(x, w, strides)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5 * float(tf.reduce_max(want)))


def test_fft_conv2d_of_a_batch_equals_each_utterance_alone():
    # time stride 1 joins the batch's utterances into one sequence (shared overlap-save blocks):
    # nothing may leak across utterances, whatever their padding holds, and lengths shorter
    # than the kernel give no output
    rng = np.random.default_rng(3)
    w = tf.constant(rng.standard_normal((11, 9, 8, 5)) * 0.1, tf.float32)
    assert fft_conv2d(tf.ones((3, 5, 37, 8)), w, (1, 2)).shape == (3, 0, 15, 5)
    for length in (11, 40, FFT_TIME + 3):
        x = tf.constant(rng.standard_normal((3, length, 37, 8)), tf.float32)
        want = tf.nn.conv2d(x, w, [1, 1, 2, 1], "VALID")
        got = fft_conv2d(x, w, (1, 2))
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want.numpy(),
                                   atol=2e-5 * max(1.0, float(tf.reduce_max(want))))
        alone = tf.concat([fft_conv2d(x[i:i + 1], w, (1, 2)) for i in range(3)], 0)
        np.testing.assert_allclose(got.numpy(), alone.numpy(), atol=1e-4)


@pytest.mark.parametrize("strides", [(1, 2), (2, 2), (1, 1)])
def test_fft_conv2d_gradients_and_dtype(strides):
    # the hand-written transform adjoints: the input's (inverse FFT) and the kernel's (DFT products)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((2, 140, 21, 8)), tf.float32)
    w = tf.Variable(rng.standard_normal((5, 7, 8, 4)) * 0.1, dtype=tf.float32)
    grads = []
    for conv in (lambda x: tf.nn.conv2d(x, w, [1, *strides, 1], "VALID"),
                 lambda x: fft_conv2d(x, w, strides)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(conv(x)))
        grads.append(tape.gradient(loss, [x, w]))
    for want, got in zip(*grads):
        # float32 round-off relative to the gradient's scale (sums over ~10⁴ products)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4,
                                   atol=1e-5 * float(tf.reduce_max(tf.abs(want))))
    assert fft_conv2d(tf.cast(x, tf.bfloat16), w, (1, 2)).dtype == tf.bfloat16


def test_fft_conv2d_gradients_trace_with_unknown_batch_and_length():
    # as in Keras's train step: batch and length unknown while tracing (gradients lose shapes)
    w = tf.Variable(np.random.default_rng(1).standard_normal((5, 7, 8, 4)) * 0.1,
                    dtype=tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 21, 8], tf.float32)])
    def grads(x):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            losses = [tf.reduce_sum(tf.sin(y)) for y in (
                fft_conv2d(x, w, (1, 2)), tf.nn.conv2d(x, w, [1, 1, 2, 1], "VALID"))]
        return [tape.gradient(loss, [x, w]) for loss in losses]

    for time_steps in (30, 200):
        x = tf.random.stateless_normal((3, time_steps, 21, 8), seed=(time_steps, 0))
        got, want = grads(x)
        for g, e in zip(got, want):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-4,
                                       atol=1e-5 * float(tf.reduce_max(tf.abs(e))))


def test_front_end_algorithms_agree_and_tflite_uses_no_fft():
    specs = [{"filters": 8, "kernel": (5, 21), "strides": (2, 2)},
             {"filters": 8, "kernel": (5, 11), "strides": (1, 2)}]
    features = tf.random.stateless_normal((2, 50, 41), seed=(1, 2))
    lengths = tf.constant([50, 31])
    fft, direct = ConvFrontEnd(specs, algorithm="fft"), ConvFrontEnd(specs, algorithm="direct")
    tflite = ConvFrontEnd(specs, algorithm="tflite")
    for layer in (fft, direct, tflite):
        layer.build(features.shape)
    direct.set_weights(fft.get_weights())
    tflite.set_weights(fft.get_weights())
    want = direct(features, lengths)[0]
    np.testing.assert_allclose(fft(features, lengths)[0].numpy(), want.numpy(), atol=1e-4)
    np.testing.assert_allclose(tflite(features, lengths)[0].numpy(), want.numpy(), atol=1e-4)

    # The second layer (8 input channels) goes through the FFT unless told otherwise.
    assert prefers_fft((5, 11, 8, 8), 8) != bool(tf.config.list_logical_devices("GPU"))
    assert not prefers_fft((5, 21, 1, 8), 1)
    graph = tf.function(lambda f, n: fft(f, n)[0]).get_concrete_function(features, lengths).graph
    assert any(op.type == "RFFT2D" for op in graph.get_operations())
    graph = tf.function(lambda f, n: tflite(f, n)[0]).get_concrete_function(features,
                                                                            lengths).graph
    assert not any(op.type.startswith(("RFFT", "IRFFT")) for op in graph.get_operations())
    with pytest.raises(ValueError, match="conv algorithm"):
        ConvFrontEnd(specs, algorithm="winograd")


def test_auto_front_end_in_inference_takes_the_fft_only_for_larger_batches():
    specs = [{"filters": 8, "kernel": (5, 21), "strides": (2, 2)},
             {"filters": 8, "kernel": (5, 11), "strides": (1, 2)}]
    auto, direct = ConvFrontEnd(specs), ConvFrontEnd(specs, algorithm="direct")
    auto.build((None, None, 41))
    direct.build((None, None, 41))
    direct.set_weights(auto.get_weights())
    run = tf.function(lambda f, n: auto(f, n)[0])
    for batch in (1, MIN_INFERENCE_BATCH):
        features = tf.random.stateless_normal((batch, 50, 41), seed=(batch, 2))
        lengths = tf.fill([batch], 50)
        np.testing.assert_allclose(run(features, lengths).numpy(),
                                   direct(features, lengths)[0].numpy(), atol=1e-4)
    graph = run.get_concrete_function(tf.TensorSpec([None, None, 41]),
                                      tf.TensorSpec([None], tf.int32)).graph
    branch_ops = {node.op for f in graph.as_graph_def().library.function for node in f.node_def}
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    assert ("IRFFT2D" in branch_ops and "Conv2D" in branch_ops) != on_gpu


def test_exports_of_a_model_with_an_fft_layer_match_keras(tmp_path):
    """The SavedModel keeps the FFT path (TF ops); TFLite is traced direct; both equal Keras."""
    from ai_edge_litert.interpreter import Interpreter

    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import ConvSpec, preset
    from ds2_tf.model.deepspeech2 import build_model
    from export.savedmodel import export_saved_model
    from export.tflite import convert, op_names

    config = preset("tiny").replace(model={"conv": (ConvSpec(8, (5, 21), (2, 2)),
                                                    ConvSpec(8, (5, 11), (1, 2)))})
    alphabet = Alphabet.english()
    model = build_model(config, alphabet.num_classes)
    audio = np.random.default_rng(0).standard_normal((1, 12000)).astype(np.float32) * 0.1
    want = tf.nn.log_softmax(model({"waveform": audio, "num_samples": np.array([12000])})[
        "logits"]).numpy()[0]
    path = export_saved_model(model, config, alphabet, tmp_path)
    graph_ops = {node.op for f in tf.saved_model.load(str(path)).signatures[
        "serving_default"].graph.as_graph_def().library.function for node in f.node_def}
    assert "IRFFT2D" in graph_ops or bool(tf.config.list_logical_devices("GPU"))
    served = tf.saved_model.load(str(path)).signatures["serving_default"](
        waveform=tf.constant(audio), num_samples=tf.constant([12000]))["log_probs"].numpy()[0]
    np.testing.assert_allclose(served, want, atol=1e-4)
    blob = convert(model)
    assert "SPACE_TO_DEPTH" in op_names(blob)  # the one-channel stride-2×2 layer, faster in int8
    interpreter = Interpreter(model_content=blob, num_threads=1)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, [1, 12000])
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, audio)
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    np.testing.assert_allclose(lite, want, atol=1e-3)


@pytest.mark.parametrize("strides", [(1, 2), (1, 1)])
def test_precomputed_mixing_weights_give_the_same_convolution(strides):
    from ds2_tf.model.fftconv import mixing_weights

    rng = np.random.default_rng(3)
    x = tf.constant(rng.standard_normal((2, 3 * FFT_TIME, 37, 8)), tf.float32)
    w = tf.constant(rng.standard_normal((11, 9, 8, 5)) * 0.1, tf.float32)
    want = tf.nn.conv2d(x, w, [1, *strides, 1], "VALID")
    got = fft_conv2d(x, w, strides, mixing_weights(w, x.shape, strides))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=2e-5 * float(tf.reduce_max(want)))
    np.testing.assert_allclose(got.numpy(), fft_conv2d(x, w, strides).numpy(),
                               atol=1e-5 * float(tf.reduce_max(want)))


def fixed_and_direct_front_ends():
    """An auto front-end with reused FFT weights and a direct one with the same weights."""
    specs = [{"filters": 8, "kernel": (5, 21), "strides": (2, 2)},
             {"filters": 8, "kernel": (5, 11), "strides": (1, 2)}]
    fixed, direct = ConvFrontEnd(specs), ConvFrontEnd(specs, algorithm="direct")
    for layer in (fixed, direct):
        layer.build((None, None, 41))
    direct.set_weights(fixed.get_weights())
    fixed.reuse_fft_weights()
    return fixed, direct


def test_reused_fft_weights_follow_a_changed_kernel():
    # computed once when traced, checked against the kernel on every call
    fixed, direct = fixed_and_direct_front_ends()
    run = tf.function(lambda f, n: fixed(f, n)[0], reduce_retracing=True)
    features = tf.random.stateless_normal((1, 60, 41), seed=(4, 2))
    lengths = tf.fill([1], 60)
    for step in range(2):
        np.testing.assert_allclose(run(features, lengths).numpy(),
                                   direct(features, lengths)[0].numpy(), atol=1e-4)
        kernel = fixed.convs[1].kernel
        kernel.assign(kernel * 1.5 + 0.01)  # as training would
        direct.set_weights(fixed.get_weights())
    assert len(fixed._fixed_mixing) == 1  # one layer through the FFT, one input width


@pytest.mark.parametrize("chunk_frames", [130, 100_000])
def test_front_end_with_reused_weights_runs_utterances_in_chunks(chunk_frames, monkeypatch):
    # 5 utterances of different lengths, 2 per chunk (one padded chunk) or all in one
    from ds2_tf.model import conv_front_end

    monkeypatch.setattr(conv_front_end, "CHUNK_FRAMES", chunk_frames)
    fixed, direct = fixed_and_direct_front_ends()
    features = tf.random.stateless_normal((5, 60, 41), seed=(5, 2))
    lengths = tf.constant([60, 13, 44, 60, 1])
    got, got_lengths = tf.function(lambda f, n: fixed(f, n))(features, lengths)
    want, want_lengths = direct(features, lengths)
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)
    np.testing.assert_array_equal(got_lengths.numpy(), want_lengths.numpy())


def test_inference_with_reused_weights_retraces_for_one_utterance_of_another_length():
    # a second single utterance of another length retraces with shape (1, None): the chunked
    # front-end's outputs must keep the static batch size, or the RNN loop's state (1, 256)
    # meets a mask of unknown batch ("enters the loop with shape (1, 256), but has shape
    # (None, 256)"); a Recognizer called twice did exactly this
    from ds2_tf.config import preset
    from ds2_tf.evaluation.evaluate import traced_inference
    from ds2_tf.model.deepspeech2 import build_model

    infer = traced_inference(build_model(preset("small"), 29), fixed_weights=True)
    for batch, samples in ((1, 16000), (1, 24000), (2, 20000)):
        x = {"waveform": np.zeros((batch, samples), np.float32),
             "num_samples": np.full(batch, samples, np.int32)}
        assert infer(x)["logits"].shape[:2] == (batch, samples // 320)


def test_inference_with_reused_weights_logs_no_graph_errors(tmp_path):
    # a tf.map_fn inside a tf.cond makes grappler print "topological sort failed" on every trace
    # (harmless, but users read it as an error; the CLI shows errors: TF_CPP_MIN_LOG_LEVEL=2)
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import numpy as np\n"
        "from ds2_tf.config import preset\n"
        "from ds2_tf.evaluation.evaluate import traced_inference\n"
        "from ds2_tf.model.deepspeech2 import build_model\n"
        "model = build_model(preset('small'), 29)\n"
        "infer = traced_inference(model, fixed_weights=True)\n"
        "x = {'waveform': np.zeros((3, 16000), np.float32), 'num_samples': np.full(3, 16000)}\n"
        "print(infer(x)['logits'].shape)\n")
    repo = str(Path(__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120, cwd=repo,
                            env={**os.environ, "PYTHONPATH": repo, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "topological" not in result.stderr
