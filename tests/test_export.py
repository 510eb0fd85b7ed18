"""Exports: SavedModel for TF Serving (gRPC and REST clients), TFLite float/int8, bad input."""
import http.server
import io
import json
import os
import subprocess
import sys
import threading
from concurrent import futures

import numpy as np
import pytest
import soundfile
import tensorflow as tf

from tests.conftest import TFLITE_LOG_PROB_ATOL, needs_espeak
from tfrecords_tools.writer import split_examples

pytestmark = [needs_espeak, pytest.mark.slow]


def utterances(data_dir, split):
    return [(np.frombuffer(ex["audio"], "<i2").astype(np.float32) / 32768, ex["transcript"])
            for ex in split_examples(data_dir, split)]


def wav_bytes(audio, rate=16000, channels=1):
    buffer = io.BytesIO()
    data = np.stack([audio] * channels, 1) if channels > 1 else audio
    soundfile.write(buffer, data, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    from export.exporter import export_run

    out = tmp_path_factory.mktemp("export")
    written = export_run(trained_run, out, name="ds2", tflite=True, int8=True)
    return out, written


@pytest.fixture(scope="module")
def keras_model(trained_run):
    from ds2_tf.model.run_dir import load_run

    return load_run(trained_run)


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1]["saved_model"])


def keras_outputs(keras_model, audio):
    model, _, alphabet = keras_model
    from ds2_tf.decoding.ctc import greedy_decode

    out = model({"waveform": audio[None], "num_samples": np.array([len(audio)], np.int32)})
    log_probs = tf.nn.log_softmax(out["logits"]).numpy()
    return log_probs, greedy_decode(log_probs, out["output_length"].numpy(), alphabet)[0]


def test_tf_serving_layout_and_metadata(exported):
    out, written = exported
    version = out / "ds2" / "1"
    assert written["saved_model"] == str(version) and (version / "saved_model.pb").exists()
    assert json.loads((version / "assets.extra" / "alphabet.json").read_text())["blank_index"] == 28
    assert json.loads((version / "assets.extra" / "config.json").read_text())["preset"] == "tiny"


def test_saved_model_matches_keras(loaded, keras_model, synth_corpus):
    audio = [a for a, _ in utterances(synth_corpus, "test")[:3]]
    from export.serving_client import waveform_batch

    batch, lengths = waveform_batch(audio)
    out = loaded.signatures["serving_default"](waveform=tf.constant(batch),
                                               num_samples=tf.constant(lengths))
    wav_out = loaded.signatures["transcribe_wav"](wav=tf.constant([wav_bytes(a) for a in audio]))
    for i, a in enumerate(audio):
        want_lp, want_text = keras_outputs(keras_model, a)
        t = int(out["output_length"][i])
        assert t == want_lp.shape[1]
        np.testing.assert_allclose(out["log_probs"][i, :t].numpy(), want_lp[0], atol=1e-5)
        assert out["transcript"][i].numpy().decode() == want_text
        # WAV path: the same audio after int16 rounding, so the same transcript
        assert wav_out["transcript"][i].numpy().decode() == want_text


def test_saved_model_runs_in_a_fresh_process_with_tensorflow_only(exported, synth_corpus, tmp_path):
    audio, _ = utterances(synth_corpus, "test")[0]
    (tmp_path / "a.wav").write_bytes(wav_bytes(audio))
    script = (
        "import sys, tensorflow as tf\n"
        f"m = tf.saved_model.load({exported[1]['saved_model']!r})\n"
        f"out = m.signatures['transcribe_wav'](wav=tf.constant([open({str(tmp_path / 'a.wav')!r}, 'rb').read()]))\n"
        "assert not any(n.startswith(('ds2_tf', 'export', 'tfrecords_tools')) for n in sys.modules)\n"
        "print(out['transcript'][0].numpy().decode())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=tmp_path, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(result.stdout.strip()) > 0


def test_saved_model_cli_show_and_run(exported, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    path = exported[1]["saved_model"]
    show = subprocess.run([cli, "show", "--dir", path, "--all"], capture_output=True, text=True,
                          timeout=300)
    assert show.returncode == 0, show.stderr[-2000:]
    assert "transcribe_wav" in show.stdout and "log_probs" in show.stdout
    np.save(tmp_path / "w.npy", (np.sin(np.arange(16000) / 7) * 0.1).astype(np.float32)[None])
    np.save(tmp_path / "n.npy", np.array([16000], np.int32))
    run = subprocess.run([cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def",
                          "serving_default", "--inputs",
                          f"waveform={tmp_path / 'w.npy'};num_samples={tmp_path / 'n.npy'}"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "transcript" in run.stdout and "output_length" in run.stdout


@pytest.mark.parametrize("case, call, message", [
    ("other rate", lambda m: m.signatures["transcribe_wav"](
        wav=tf.constant([wav_bytes(np.full(8000, 0.1, np.float32), rate=8000)])), "16000 Hz"),
    ("stereo", lambda m: m.signatures["transcribe_wav"](
        wav=tf.constant([wav_bytes(np.full(8000, 0.1, np.float32), channels=2)])), "mono"),
    ("not a wav", lambda m: m.signatures["transcribe_wav"](wav=tf.constant([b"hello"])), "RIFF"),
    ("empty", lambda m: m.signatures["serving_default"](
        waveform=tf.zeros([1, 0]), num_samples=tf.constant([0])), "shorter than one analysis window"),
    ("nan", lambda m: m.signatures["serving_default"](
        waveform=tf.fill([1, 4000], np.float32("nan")), num_samples=tf.constant([4000])), "NaN"),
    ("lengths", lambda m: m.signatures["serving_default"](
        waveform=tf.zeros([1, 4000]), num_samples=tf.constant([9000])), "larger than"),
    ("dtype", lambda m: m.signatures["serving_default"](
        waveform=tf.zeros([1, 4000], tf.int32), num_samples=tf.constant([4000])), "float"),
])
def test_bad_input_is_invalid_argument_with_a_clear_message(loaded, case, call, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(loaded)


# ---- serving: an in-test gRPC PredictionService and a REST endpoint on 127.0.0.1 -----------------
def serve_grpc(saved_model, requests: list | None = None):
    """A PredictionService over the SavedModel; ``requests`` collects each request's inputs."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class Service(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            signature = saved_model.signatures[request.model_spec.signature_name or "serving_default"]
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            if requests is not None:
                requests.append({k: v.numpy() for k, v in inputs.items()})
            try:
                outputs = signature(**inputs)
            except tf.errors.InvalidArgumentError as err:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, err.message)
            reply = predict_pb2.PredictResponse()
            for name in request.output_filter or outputs:
                reply.outputs[name].CopyFrom(tf.make_tensor_proto(outputs[name].numpy()))
            return reply

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


def test_grpc_predict_through_a_prediction_service(loaded, keras_model, synth_corpus):
    from export.serving_client import predict_grpc

    audio = [a for a, _ in utterances(synth_corpus, "test")[:2]]
    want = [keras_outputs(keras_model, a)[1] for a in audio]
    server, address = serve_grpc(loaded)
    try:
        assert predict_grpc(address, "ds2", wavs=[wav_bytes(a) for a in audio]) == want
        assert predict_grpc(address, "ds2", waveforms=audio) == want
        with pytest.raises(RuntimeError, match="INVALID_ARGUMENT: WAV sample rate must be 16000 Hz"):
            predict_grpc(address, "ds2", wavs=[wav_bytes(audio[0][::2], rate=8000)])
    finally:
        server.stop(None)


def test_rest_instances_and_inputs_forms(loaded, exported, keras_model, synth_corpus, tmp_path,
                                        capsys):
    """A loopback server that answers TF Serving's REST predict API from the SavedModel; `ds2
    client --rest` through it, in both forms, with and without the export's assets."""
    import base64

    from export.serving_client import main as client_main
    from tests.conftest import write_audio

    from export.serving_client import predict_rest, rest_body

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            signature = loaded.signatures[body["signature_name"]]
            decode = lambda v: base64.b64decode(v["b64"]) if isinstance(v, dict) else v
            if "instances" in body:
                columns = {k: [decode(row[k]) for row in body["instances"]] for k in body["instances"][0]}
            else:
                columns = {k: [decode(v) for v in vs] for k, vs in body["inputs"].items()}
            spec = signature.structured_input_signature[1]
            outputs = signature(**{k: tf.constant(v, spec[k].dtype) for k, v in columns.items()})
            columns = {"transcript": [t.decode() for t in outputs["transcript"].numpy()],
                       "log_probs": outputs["log_probs"].numpy().tolist(),
                       "output_length": outputs["output_length"].numpy().tolist()}
            reply = ({"predictions": [dict(zip(columns, row)) for row in zip(*columns.values())]}
                     if "instances" in body else {"outputs": columns})
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    audio = [a for a, _ in utterances(synth_corpus, "test")[:2]]
    want = [keras_outputs(keras_model, a)[1] for a in audio]
    try:
        for form in ("instances", "inputs"):
            assert predict_rest(url, "ds2", rest_body(wavs=[wav_bytes(a) for a in audio], form=form)) == want
            assert predict_rest(url, "ds2", rest_body(waveforms=audio, form=form)) == want
            replies = predict_rest(url, "ds2", rest_body(waveforms=audio, form=form),
                                   outputs=("transcript", "output_length"))
            assert replies["transcript"] == want and len(replies["output_length"]) == 2
            wavs = [str(write_audio(tmp_path / f"{i}.wav", a)) for i, a in enumerate(audio)]
            for export in ([], ["--export", exported[1]["saved_model"], "--format", "json"]):
                capsys.readouterr()
                assert client_main(["--rest", url, "--form", form, *export, *wavs]) == 0
                lines = capsys.readouterr().out.splitlines()
                texts = ([json.loads(line)["text"] for line in lines] if export else
                         [line.split("\t", 1)[1] for line in lines])
                # Transcripts, unlike the raw signature output, have their spaces normalized
                # (an untrained model may start with a space).
                assert texts == [" ".join(text.split()) for text in want]
    finally:
        server.shutdown()


def test_client_is_transcribe_with_the_model_on_a_server(loaded, exported, synth_corpus,
                                                         tmp_path, capsys):
    """`ds2 client` against a gRPC PredictionService prints what `ds2 transcribe --model EXPORT`
    prints for the same files (the server's own transcripts; with --export: JSON word times and
    confidences, beam alternatives). A minute-long recording goes to the server in pieces of at most
    30 s; a stereo file is down-mixed here; a corrupt file gets one line and the rest finish."""
    from pathlib import Path

    from export.serving_client import main as client_main
    from tests.conftest import ds2, write_audio

    speech = [a for split in ("train", "dev") for a, _ in utterances(synth_corpus, split)]
    pause = np.zeros(int(1.5 * 16000), np.float32)
    long = np.concatenate([x for u in speech for x in (u, pause)])
    assert len(long) > 45 * 16000
    test = [a for a, _ in utterances(synth_corpus, "test")[:2]]
    wavs = [str(write_audio(tmp_path / "short.wav", test[0])),
            str(write_audio(tmp_path / "long.wav", long)),
            str(write_audio(tmp_path / "stereo.wav", np.stack([test[1]] * 2, 1)))]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00not a wav file")
    saved = Path(exported[1]["saved_model"])
    requests: list = []
    server, address = serve_grpc(loaded, requests)
    flag_sets = (["--format", "text"], ["--format", "json"],
                 ["--format", "json", "--decoder", "beam", "--nbest", "2"])
    try:
        for flags in flag_sets:
            result = ds2("transcribe", "--model", str(saved), *flags, *wavs, str(bad))
            assert result.returncode == 0, result.stderr
            export = ["--export", str(saved.parent)] if flags[1] == "json" else []
            capsys.readouterr()
            assert client_main(["--grpc", address, *export, *flags, *wavs, str(bad)]) == 0
            out, err = capsys.readouterr()
            errors = lambda text: [line for line in text.splitlines() if "error:" in line]
            assert errors(err) == [line.replace("ds2 transcribe", "ds2 client")
                                   for line in errors(result.stderr)]
            assert len(errors(err)) == 1 and str(bad) in err
            if flags[1] == "text":
                assert out == result.stdout
                continue
            got = [json.loads(line) for line in out.splitlines()]
            want = [json.loads(line) for line in result.stdout.splitlines()]
            assert len(got) == len(want) == 3
            for g, w in zip(got, want):
                assert {k: g[k] for k in ("path", "text", "duration_s")} == \
                    {k: w[k] for k in ("path", "text", "duration_s")}
                assert abs(g["confidence"] - w["confidence"]) < 1e-3
                for gw, ww in zip(g["words"], w["words"], strict=True):
                    assert (gw["word"], gw["start_s"], gw["end_s"]) == \
                        (ww["word"], ww["start_s"], ww["end_s"])
                assert [a["text"] for a in g.get("alternatives", [])] == \
                    [a["text"] for a in w.get("alternatives", [])]
            assert ("alternatives" in got[0]) == ("--nbest" in flags)
        with pytest.raises(SystemExit):  # json without the export's assets: a usage error
            client_main(["--grpc", address, "--format", "json", *wavs])
        assert "--format json needs --export" in capsys.readouterr().err
    finally:
        server.stop(None)
    # WAV pieces, never the whole minute: each request row is at most 30 s of 16-bit audio
    rows = [len(wav) for request in requests for wav in request["wav"]]
    assert max(rows) <= 44 + 2 * 30 * 16000 and sum(rows) > 2 * len(long)


# ---- TFLite ----------------------------------------------------------------------------------------
def test_tflite_has_only_builtin_ops(exported):
    from export.tflite import op_names

    for path in exported[1]["tflite"]:
        ops = op_names(open(path, "rb").read())
        assert "WHILE" in ops and "CONV_2D" in ops
        # RNN outputs go into a fixed-shape buffer: a static loop body (layers.write_block)
        assert "DYNAMIC_UPDATE_SLICE" in ops, ops
        assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops


@pytest.mark.parametrize("runtime", ["litert", "tf"])
def test_tflite_float_matches_keras(exported, keras_model, synth_corpus, runtime):
    from export.tflite import TFLiteRecognizer

    recognizer = TFLiteRecognizer(exported[1]["tflite"][0], num_threads=2, runtime=runtime)
    for audio, _ in utterances(synth_corpus, "test")[:3]:  # different lengths: dynamic N
        want_lp, want_text = keras_outputs(keras_model, audio)
        np.testing.assert_allclose(recognizer.log_probs(audio), want_lp[0],
                                   atol=TFLITE_LOG_PROB_ATOL)
        assert recognizer.transcribe(audio) == want_text


def test_tflite_int8_cer_within_one_point_of_float(exported, synth_corpus):
    from ds2_tf.evaluation.metrics import error_rates
    from export.tflite import TFLiteRecognizer

    data = utterances(synth_corpus, "test") + utterances(synth_corpus, "train")
    refs = [t for _, t in data]
    float_path, int8_path = exported[1]["tflite"]
    assert os.path.getsize(int8_path) < 0.6 * os.path.getsize(float_path)
    rates = {}
    for path in (float_path, int8_path):
        recognizer = TFLiteRecognizer(path)
        rates[path] = error_rates(refs, [recognizer.transcribe(a) for a, _ in data])["cer"]
    assert abs(rates[int8_path] - rates[float_path]) <= 0.01, rates


def test_mixed_precision_run_exports_float32(synth_corpus, tmp_path):
    from ds2_tf.training.train import train
    from export.exporter import export_run

    train(str(synth_corpus), str(tmp_path / "bf16"), preset_name="tiny",
          train_overrides={"epochs": 1, "precision": "mixed_bfloat16"}, max_dev_utterances=0, verbose=0)
    written = export_run(tmp_path / "bf16", tmp_path / "out", tflite=True)
    sig = tf.saved_model.load(written["saved_model"]).signatures["serving_default"]
    assert sig.structured_outputs["log_probs"].dtype == tf.float32
    interpreter = tf.lite.Interpreter(model_path=written["tflite"][0])
    assert all(d["dtype"] in (np.float32, np.int32, np.int64, np.bool_)
               for d in interpreter.get_tensor_details() if d["dtype"] is not None)


def test_loading_a_run_leaves_the_callers_dtype_policy_alone(trained_run):
    import keras

    from ds2_tf.model.deepspeech2 import rebuild_with_compute_paths
    from ds2_tf.model.run_dir import load_run

    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model, _, _ = load_run(trained_run, precision="float32")
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        assert model.dtype_policy.name == "float32"
        tflite_model = rebuild_with_compute_paths(model, conv_algorithm="tflite",
                                                  rnn_loop="stacked")
        assert tflite_model.dtype_policy.name == "float32"
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
        assert tflite_model.rnns[0].loop == "stacked"
        for a, b in zip(model.get_weights(), tflite_model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    finally:
        keras.config.set_dtype_policy(saved)


def test_transcribe_reads_saved_model_and_tflite_exports_like_the_run(exported, trained_run,
                                                                       synth_corpus, tmp_path):
    """`ds2 transcribe --model` on a TF Serving base path, a version directory and a .tflite
    file: the run's text and word times; an export without its assets is one clear line."""
    import shutil
    from pathlib import Path

    from tests.conftest import ds2, write_audio

    audio, _ = utterances(synth_corpus, "train")[0]
    wav = write_audio(tmp_path / "a.wav", audio)
    reference = json.loads(ds2("transcribe", "--format", "json", "--model", str(trained_run),
                               str(wav)).stdout)
    _, written = exported
    saved = Path(written["saved_model"])
    for model in (saved.parent, saved, Path(written["tflite"][0])):
        result = ds2("transcribe", "--format", "json", "--model", str(model), str(wav))
        assert result.returncode == 0, result.stderr
        record = json.loads(result.stdout)
        assert record["text"] == reference["text"], model
        for got, want in zip(record["words"], reference["words"], strict=True):
            assert got["word"] == want["word"] and abs(got["start_s"] - want["start_s"]) < 0.021
    bare = tmp_path / "bare"
    shutil.copytree(saved, bare)
    shutil.rmtree(bare / "assets.extra")
    result = ds2("transcribe", "--model", str(bare), str(wav))
    assert result.returncode == 2 and "assets" in result.stderr.strip().splitlines()[-1]


def test_transcribe_from_an_export_decodes_with_the_lm_in_its_assets(exported, trained_run,
                                                                     synth_corpus, tmp_path):
    """`ds2 export` copies RUN/lm.json and its LM into the export's assets; `ds2 transcribe
    --model EXPORT --decoder lm` then needs no --lm and uses the tuned α, β, as the run does."""
    import shutil
    from pathlib import Path

    from ds2_tf.decoding.lm_beam import LMDecoderConfig, copy_lm_settings, save_lm_settings
    from ds2_tf.language_model.build import build_from_sources
    from tests.conftest import ds2, write_audio

    arpa = tmp_path / "train.arpa"
    build_from_sources(str(arpa), 3, data=str(synth_corpus), split="train")
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    save_lm_settings(run, arpa, LMDecoderConfig(alpha=0.8, beta=2.0, beam_width=16))
    _, written = exported
    saved = tmp_path / "export" / "1"
    shutil.copytree(written["saved_model"], saved)
    tflite = tmp_path / "tflite"
    shutil.copytree(Path(written["tflite"][0]).parent, tflite)
    for folder in (saved / "assets.extra", tflite):
        copy_lm_settings(run, folder)
    wav = write_audio(tmp_path / "a.wav", utterances(synth_corpus, "train")[0][0])
    want = ds2("transcribe", "--model", str(trained_run), "--decoder", "lm", "--lm", str(arpa),
               "--alpha", "0.8", "--beta", "2", "--beam-width", "16", str(wav))
    assert want.returncode == 0, want.stderr
    for model in (saved.parent, tflite / Path(written["tflite"][0]).name):
        got = ds2("transcribe", "--model", str(model), "--decoder", "lm", str(wav))
        assert got.returncode == 0, got.stderr
        assert got.stdout.split("\t")[1] == want.stdout.split("\t")[1], model
