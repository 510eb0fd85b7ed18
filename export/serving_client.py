"""Client for a TF Serving deployment of the exported SavedModel: gRPC Predict and REST JSON.

    ds2 client --grpc localhost:8500 --model ds2 a.wav b.wav
    ds2 client --rest http://localhost:8501 --model ds2 --form inputs a.wav
    ds2 client --grpc localhost:8500 --format json --export exports/ds2 a.wav
    ds2 client --grpc localhost:8500 --export exports/ds2 --decoder lm --format vtt a.wav

It is ``ds2 transcribe`` with the model on a server: files are read, down-mixed and resampled
here (a bad file gets one line, the rest finish), long recordings are cut at pauses, and the
pieces go in length-sorted requests of at most two minutes of audio, as 16-bit WAV to the
``transcribe_wav`` signature (``--waveform``: float samples to ``serving_default``). Without
``--export``, the server's greedy transcripts are printed. With the exported model's folder
(``--export``: the alphabet and frame stride, which TF Serving does not hand out, and the tuned
LM), the served log-probabilities are decoded here: every ``--format`` and ``--decoder`` of
``ds2 transcribe``, with the same output.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np


# ---- request bodies ------------------------------------------------------------------------------
def waveform_batch(waveforms: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(w) for w in waveforms], np.int32)
    batch = np.zeros((len(waveforms), int(lengths.max())), np.float32)
    for i, w in enumerate(waveforms):
        batch[i, : len(w)] = w
    return batch, lengths


def rest_body(wavs: list[bytes] | None = None, waveforms: list[np.ndarray] | None = None,
              form: str = "instances") -> dict:
    """TF Serving REST predict body, row ("instances") or columnar ("inputs") form."""
    if (wavs is None) == (waveforms is None):
        raise ValueError("give either wavs or waveforms")
    if wavs is not None:
        signature = "transcribe_wav"
        encoded = [{"b64": base64.b64encode(w).decode("ascii")} for w in wavs]
        columns = {"wav": encoded}
    else:
        signature = "serving_default"
        batch, lengths = waveform_batch(waveforms)
        columns = {"waveform": batch.tolist(), "num_samples": lengths.tolist()}
    if form == "inputs":
        return {"signature_name": signature, "inputs": columns}
    if form == "instances":
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        return {"signature_name": signature, "instances": rows}
    raise ValueError(f"form must be 'instances' or 'inputs', not {form!r}")


OUTPUTS = ("transcript", "log_probs", "output_length")  # what the signatures return


def outputs_from_rest(reply: dict, wanted=("transcript",)) -> dict[str, list]:
    """Both reply forms, {"predictions": [{"transcript": …, …}, …]} (rows) and
    {"outputs": {"transcript": […], …}} (columns), as {output: [one value per input]}."""
    if "predictions" in reply:
        rows = reply["predictions"]
        if rows and not isinstance(rows[0], dict):  # a single output comes back bare
            return {wanted[0]: list(rows)}
        return {name: [row[name] for row in rows] for name in wanted}
    if "outputs" in reply:
        outputs = reply["outputs"]
        if not isinstance(outputs, dict):
            return {wanted[0]: list(outputs)}
        return {name: list(outputs[name]) for name in wanted}
    raise ValueError(f"unexpected reply: {str(reply)[:200]}")


def transcripts_from_rest(reply: dict) -> list[str]:
    return outputs_from_rest(reply)["transcript"]


def short_error(details: str) -> str:
    """The reason from a TensorFlow error: the assertion message, or its first meaningful line."""
    match = re.search(r"assertion failed: \[([^\]]*)\]", details)
    if match:
        return match.group(1)
    for line in details.splitlines():
        line = line.strip()
        if line and not line.startswith(("Graph execution error", "Detected at node",
                                         "<stack traces", "[[")):
            return line
    return details.strip()


# ---- transports ----------------------------------------------------------------------------------
# gRPC caps a message at 4 MB by default; two minutes of float samples (--waveform) are 7.7 MB.
GRPC_OPTIONS = [("grpc.max_send_message_length", 256 << 20),
                ("grpc.max_receive_message_length", 256 << 20)]


def predict_rest(base_url: str, model: str, body: dict, version: int | None = None,
                 timeout: float = 60, outputs=None) -> list[str] | dict[str, list]:
    """The transcripts, or with ``outputs`` (names from OUTPUTS) {name: per-input values}."""
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    request = urllib.request.Request(base_url.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
            return outputs_from_rest(reply, outputs) if outputs else transcripts_from_rest(reply)
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise RuntimeError(f"{base_url}: HTTP {err.code}: {short_error(str(detail))}") from None


def grpc_request(model: str, wavs: list[bytes] | None = None,
                 waveforms: list[np.ndarray] | None = None, version: int | None = None,
                 outputs=("transcript",)):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if version:
        request.model_spec.version.value = version
    if wavs is not None:
        request.model_spec.signature_name = "transcribe_wav"
        request.inputs["wav"].CopyFrom(tf.make_tensor_proto(wavs, dtype=tf.string))
    else:
        request.model_spec.signature_name = "serving_default"
        batch, lengths = waveform_batch(waveforms)
        request.inputs["waveform"].CopyFrom(tf.make_tensor_proto(batch))
        request.inputs["num_samples"].CopyFrom(tf.make_tensor_proto(lengths))
    request.output_filter.extend(outputs)
    return request


def predict_grpc(address: str, model: str, wavs: list[bytes] | None = None,
                 waveforms: list[np.ndarray] | None = None, version: int | None = None,
                 timeout: float = 60, outputs=None) -> list[str] | dict[str, list]:
    """The transcripts, or with ``outputs`` (names from OUTPUTS) {name: per-input values}."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = grpc_request(model, wavs, waveforms, version, outputs or ("transcript",))
    with grpc.insecure_channel(address, options=GRPC_OPTIONS) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            reply = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as err:
            raise RuntimeError(f"{address}: {err.code().name}: {short_error(err.details())}") from None
    values = {name: tf.make_ndarray(reply.outputs[name]) for name in outputs or ("transcript",)}
    values["transcript"] = [t.decode("utf-8") for t in values.get("transcript", [])]
    return {name: list(values[name]) for name in outputs} if outputs else values["transcript"]


# ---- the deployment as the recognizer's model ---------------------------------------------------
def pcm16_wav(samples: np.ndarray, rate: int = 16000) -> bytes:
    """16-bit WAV bytes; ×32768 is what the served ``decode_wav`` and our reader divide by, so
    16-bit audio makes the round trip unchanged."""
    import soundfile

    pcm = np.clip(np.round(np.asarray(samples, np.float64) * 32768), -32768, 32767)
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm.astype(np.int16), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def served_infer(send, waveform: bool = False, outputs=("log_probs", "output_length")):
    """``infer`` for :class:`ds2_tf.inference.recognizer.Recognizer` over a deployment:
    ``send(payload, outputs)`` is ``predict_grpc`` or ``predict_rest`` bound to the server.
    Returns ``{"logits": log-probs [B, T, V], "output_length": [B]}`` (with ``transcript``
    among ``outputs``, also the served greedy texts)."""
    def infer(batch) -> dict:
        rows = [np.asarray(w[: int(n)], np.float32)
                for w, n in zip(batch["waveform"], batch["num_samples"])]
        payload = {"waveforms": rows} if waveform else {"wavs": [pcm16_wav(r) for r in rows]}
        replies = send(payload, tuple(outputs))
        out = {}
        if "transcript" in outputs:
            out["transcript"] = [str(t) for t in replies["transcript"]]
        if "log_probs" in outputs:
            out["logits"] = np.asarray(replies["log_probs"], np.float32)
            out["output_length"] = np.asarray(replies["output_length"], np.int32).reshape(-1)
        return out
    return infer


class ServedTranscripts:
    """The deployment's own greedy transcripts (``--format text`` without ``--export``): the
    pieces of each file are transcribed on the server and their texts joined."""

    model = alphabet = decode_fn = None

    def __init__(self, infer):
        from ds2_tf.config import RunConfig

        self.config = RunConfig()  # 16 kHz and the 20 ms window: what the signatures check
        self._infer = infer

    def transcribe(self, waveforms, sample_rate_hz: int = 16000) -> list[str]:
        from ds2_tf.decoding.alignment import join_texts
        from ds2_tf.inference.recognizer import run_in_pieces

        def texts(padded, lengths):
            return self._infer({"waveform": padded, "num_samples": lengths})["transcript"]

        return [join_texts(text for _, text in parts)
                for parts in run_in_pieces(list(waveforms), sample_rate_hz, texts)]


def served_recognizer(send, args):
    """A Recognizer whose model is the deployment (``--export``: decoded here, any decoder), or
    the server's own transcripts."""
    if not args.export:
        return ServedTranscripts(served_infer(send, args.waveform, outputs=("transcript",)))
    from ds2_tf.cli.arguments import lm_options
    from ds2_tf.decoding.ctc import make_decoder
    from ds2_tf.inference.exported import assets_folder, export_assets, saved_model_dir
    from ds2_tf.inference.recognizer import Recognizer

    directory = saved_model_dir(Path(args.export))
    if directory is None:
        raise ValueError(f"{args.export}: no exported SavedModel here (--export takes the folder "
                         "`ds2 export` wrote: the model's base path or a version directory)")
    config, alphabet = export_assets(directory)
    decode_fn = make_decoder(alphabet, args.decoder, args.beam_width,
                             run_dir=assets_folder(directory), **lm_options(args))
    return Recognizer(None, config, alphabet, decode_fn, infer=served_infer(send, args.waveform))


def main(argv: list[str] | None = None) -> int:
    from ds2_tf.cli.arguments import add_decoder_flags

    parser = argparse.ArgumentParser(prog="ds2 client", description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--grpc", metavar="HOST:PORT", help="TF Serving gRPC address (port 8500)")
    target.add_argument("--rest", metavar="URL", help="TF Serving REST base URL (port 8501)")
    parser.add_argument("--model", default="ds2")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--form", choices=("instances", "inputs"), default="instances")
    parser.add_argument("--waveform", action="store_true",
                        help="send float samples to serving_default instead of WAV bytes")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per request")
    parser.add_argument("--export", metavar="DIR",
                        help="the exported model's folder: alphabet, frame stride and LM, for "
                             "--format json|srt|vtt and --decoder beam|lm")
    add_decoder_flags(parser)
    parser.add_argument("--format", choices=("text", "json", "srt", "vtt"), default="text",
                        help="as `ds2 transcribe --format` (all but text need --export)")
    parser.add_argument("--nbest", type=int, default=0, metavar="N",
                        help="with --format json and --decoder beam|lm: N alternatives")
    parser.add_argument("--out-dir", default=None,
                        help="with --format srt|vtt: write DIR/NAME.srt per input")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    if not args.export and (args.format != "text" or args.decoder != "greedy"):
        wanted = f"--format {args.format}" if args.format != "text" else f"--decoder {args.decoder}"
        parser.error(f"{wanted} needs --export DIR (the folder `ds2 export` wrote: it holds the "
                     "alphabet and frame stride that word times need, and the LM)")
    if args.grpc:
        def send(payload, outputs):
            return predict_grpc(args.grpc, args.model, version=args.version, outputs=outputs,
                                timeout=args.timeout, **payload)
    else:
        def send(payload, outputs):
            return predict_rest(args.rest, args.model, rest_body(form=args.form, **payload),
                                args.version, timeout=args.timeout, outputs=outputs)
    from ds2_tf.inference.transcribe import transcribe_files

    try:
        recognizer = served_recognizer(send, args)
        failures = transcribe_files(args.export, args.files, decoder=args.decoder,
                                    output=args.format, out_dir=args.out_dir, nbest=args.nbest,
                                    recognizer=recognizer, prog="ds2 client")
    except (OSError, RuntimeError, ValueError) as err:
        print(f"ds2 client: error: {err}", file=sys.stderr)
        return 2
    return 1 if failures == len(args.files) else 0


if __name__ == "__main__":
    sys.exit(main())
