"""Streaming: chunked inference equals whole-utterance inference, in Keras, SavedModel and TFLite."""
import numpy as np
import pytest
import tensorflow as tf

from tfrecords_tools.alphabet import Alphabet
from ds2_tf.config import ConvSpec, preset
from ds2_tf.decoding.ctc import greedy_ids
from ds2_tf.model.deepspeech2 import build_model
from ds2_tf.inference.streaming import StreamingModel, StreamingTranscriber
from export.streaming import export_streaming
from tests.conftest import ds2, needs_espeak

ALPHABET = Alphabet.english()


def random_model(conv, tau, units=16):
    config = preset("tiny").replace(model={"conv": conv, "bidirectional": False, "rnn_layers": 2,
                                           "row_conv_future": tau, "rnn_units": units})
    model = build_model(config, ALPHABET.num_classes)
    rng = np.random.default_rng(1)
    for weight in model.weights:  # non-trivial batch-norm statistics
        if "moving_mean" in weight.path:
            weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.1)
    return model, config


def whole(model, audio):
    out = model({"waveform": audio[None], "num_samples": np.array([len(audio)], np.int32)})
    return tf.nn.log_softmax(out["logits"]).numpy()[0]


def run_stream(step, streaming, audio, piece=777):
    transcriber = StreamingTranscriber(step, streaming.chunk_samples, streaming.initial_state(),
                                       ALPHABET, streaming.flush_steps)
    for start in range(0, len(audio), piece):
        transcriber.accept(audio[start: start + piece])
    transcriber.finish()
    return transcriber.all_log_probs(), transcriber.text()


def text_of(log_probs):
    return ALPHABET.decode(greedy_ids(log_probs, len(log_probs), ALPHABET.blank_index))


@pytest.mark.parametrize("conv, tau, chunk_frames", [
    ((ConvSpec(8, (11, 41), (2, 2)), ConvSpec(8, (11, 21), (1, 2))), 4, [2, 4, 10, 32]),
    ((ConvSpec(6, (5, 21), (2, 4)),), 3, [2, 6]),
    ((ConvSpec(6, (5, 21), (1, 4)), ConvSpec(4, (3, 11), (2, 2)), ConvSpec(4, (7, 5), (2, 1))), 0, [4, 8]),
])
def test_chunked_equals_whole_utterance_for_several_chunk_sizes(conv, tau, chunk_frames):
    model, config = random_model(conv, tau)
    rng = np.random.default_rng(0)
    for samples in (16000, 12345, 3000):
        audio = (rng.standard_normal(samples) * 0.1).astype(np.float32)
        want = whole(model, audio)
        for frames in chunk_frames:
            streaming = StreamingModel(model, config, frames)
            step = tf.function(streaming.step)
            got, text = run_stream(lambda x: step({k: tf.constant(v) for k, v in x.items()}),
                                   streaming, audio)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-5)
            assert text == text_of(want)


def test_bidirectional_models_cannot_stream():
    with pytest.raises(ValueError, match="unidirectional"):
        StreamingModel(build_model(preset("tiny"), 29), preset("tiny"))


@pytest.mark.slow
def test_exported_streaming_savedmodel_and_tflite_match(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    from export.tflite import op_names

    config = preset("streaming").replace(model={"rnn_layers": 2, "rnn_units": 32})
    model = build_model(config, ALPHABET.num_classes)
    saved, lite = export_streaming(model, config, ALPHABET, tmp_path, chunk_frames=32)
    ops = op_names(lite.read_bytes())
    assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
    streaming = StreamingModel(model, config, 32)
    runner = Interpreter(model_path=str(lite)).get_signature_runner("step")
    signature = tf.saved_model.load(str(saved)).signatures["step"]
    audio = (np.random.default_rng(3).standard_normal(21111) * 0.1).astype(np.float32)
    want = whole(model, audio)
    for step in (lambda x: runner(**x),
                 lambda x: signature(**{k: tf.constant(v) for k, v in x.items()})):
        got, text = run_stream(step, streaming, audio, piece=4000)
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert text == text_of(want)


@pytest.fixture(scope="module")
def streaming_run(synth_corpus, tmp_path_factory):
    from ds2_tf.training.train import train

    out = tmp_path_factory.mktemp("stream") / "run"
    train(str(synth_corpus), str(out), preset_name="tiny-streaming",
          train_overrides={"epochs": 15}, max_dev_utterances=0, verbose=0)
    return out


@pytest.mark.slow
@needs_espeak
def test_transcribe_stream_prints_partials_then_the_whole_utterance_result(streaming_run,
                                                                          synth_corpus, tmp_path):
    import subprocess
    import sys

    wav = tmp_path / "a.wav"
    subprocess.run([sys.executable, "-m", "tfrecords_tools.sample_wav", str(synth_corpus), "train",
                    str(wav)], check=True, capture_output=True)
    streamed = ds2("transcribe", "--stream", str(streaming_run), str(wav))
    plain = ds2("transcribe", str(streaming_run), str(wav))
    assert streamed.returncode == 0 and plain.returncode == 0, streamed.stderr
    lines = streamed.stdout.strip().splitlines()
    assert lines[-1] == plain.stdout.strip()
    assert all(line.startswith(f"{wav}\t… ") for line in lines[:-1])


@pytest.mark.slow
@needs_espeak
def test_streaming_a_bidirectional_run_is_a_one_line_error(trained_run, tmp_path):
    result = ds2("transcribe", "--stream", str(trained_run), str(tmp_path / "x.wav"))
    assert result.returncode == 2 and "unidirectional" in result.stderr
    result = ds2("export", "--run", str(trained_run), "--out", str(tmp_path / "e"), "--streaming")
    assert result.returncode == 2 and "unidirectional" in result.stderr
    assert "Traceback" not in result.stderr


def scripted_step(script: str, frames_per_chunk: int = 4):
    """A step function whose best path spells ``script`` one frame per character ('_' = blank)."""
    ids = [ALPHABET.blank_index if c == "_" else ALPHABET.characters.index(c) for c in script]

    def step(inputs):
        start = int(inputs["n"][0])
        out = np.full((1, frames_per_chunk, ALPHABET.num_classes), -10.0, np.float32)
        valid = np.zeros((1, frames_per_chunk), bool)
        for k, idx in enumerate(ids[start: start + frames_per_chunk]):
            out[0, k, idx], valid[0, k] = 0.0, True
        return {"log_probs": out, "valid": valid, "n": np.array([start + frames_per_chunk])}
    return step


def test_partials_are_the_text_since_the_last_pause_and_the_final_text_is_whole():
    """An hour-long stream must not print its whole transcript at every piece: after a pause of
    endpoint_s (blanks and spaces only), the partial starts again; text() keeps everything."""
    script = "hhel_lo " + "_" * 40 + "wworr_ld" + "_" * 8
    transcriber = StreamingTranscriber(scripted_step(script), chunk_samples=10,
                                       initial_state={"n": np.array([0])}, alphabet=ALPHABET,
                                       flush_steps=0, frame_s=0.02, endpoint_s=0.8)
    partials = [transcriber.accept(np.zeros(10, np.float32)) for _ in range(len(script) // 4)]
    assert partials[1] == "hello"
    assert "hello" not in partials[-1] and partials[-1] == "world"
    assert max(len(p) for p in partials) == len("hello")
    assert transcriber.finish() == "hello world"
    assert transcriber.text() == text_of(transcriber.all_log_probs())


def test_a_short_pause_does_not_end_the_segment():
    script = "ab" + "_" * 20 + "cd" + "__"  # 0.4 s of blanks < 0.8 s
    transcriber = StreamingTranscriber(scripted_step(script, 2), chunk_samples=10,
                                       initial_state={"n": np.array([0])}, alphabet=ALPHABET,
                                       flush_steps=0)
    partials = [transcriber.accept(np.zeros(10, np.float32)) for _ in range(len(script) // 2)]
    assert partials[-1] == "abcd"


def test_speech_without_pauses_still_gives_short_partials():
    word = "ab_a_c "  # "abac " per 7 frames, never a pause
    script = word * 60
    transcriber = StreamingTranscriber(scripted_step(script, 7), chunk_samples=10,
                                       initial_state={"n": np.array([0])}, alphabet=ALPHABET,
                                       flush_steps=0, max_partial_chars=20)
    partials = [transcriber.accept(np.zeros(10, np.float32)) for _ in range(60)]
    assert max(len(p) for p in partials) <= 20
    assert transcriber.finish() == "abac " * 60
