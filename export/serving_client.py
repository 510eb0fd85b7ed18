"""Client for a TF Serving deployment of the exported SavedModel: gRPC Predict and REST JSON.

    ds2 client --grpc localhost:8500 --model ds2 a.wav b.wav
    ds2 client --rest http://localhost:8501 --model ds2 --form inputs a.wav
    ds2 client --grpc localhost:8500 --format json --export exports/ds2 a.wav

WAV files are sent as bytes to the ``transcribe_wav`` signature (16 kHz mono PCM, as the model
requires); ``--waveform`` sends decoded float samples to ``serving_default`` instead.
``--format json`` prints what ``ds2 transcribe --format json`` prints (word times and
confidences, from the served log-probabilities); it needs the exported model's folder (``--export``)
for the alphabet and frame stride, which TF Serving does not hand out.
"""
from __future__ import annotations

import argparse
import base64
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
    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            reply = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as err:
            raise RuntimeError(f"{address}: {err.code().name}: {short_error(err.details())}") from None
    values = {name: tf.make_ndarray(reply.outputs[name]) for name in outputs or ("transcript",)}
    values["transcript"] = [t.decode("utf-8") for t in values.get("transcript", [])]
    return {name: list(values[name]) for name in outputs} if outputs else values["transcript"]


# ---- JSON transcripts ------------------------------------------------------------------------------
def json_transcripts(paths, durations, replies: dict[str, list], export_dir) -> list[dict]:
    """``ds2 transcribe --format json``'s objects from served log-probabilities (greedy: the
    served ``transcript`` is the greedy one)."""
    from ds2_tf.decoding.alignment import FrameClock, greedy_transcript, join_pieces
    from ds2_tf.inference.exported import export_assets, saved_model_dir

    directory = saved_model_dir(Path(export_dir))
    if directory is None:
        raise ValueError(f"{export_dir}: no exported SavedModel here (--export takes the folder "
                         "`ds2 export` wrote: the model's base path or a version directory)")
    config, alphabet = export_assets(directory)
    clock = FrameClock.of(config)
    objects = []
    for i, path in enumerate(paths):
        log_probs = np.asarray(replies["log_probs"][i], np.float32)
        length = int(np.asarray(replies["output_length"][i]))
        piece = greedy_transcript(log_probs, length, alphabet, clock, durations[i])
        # One piece, assembled as ds2 transcribe assembles a recording's pieces.
        transcript = join_pieces([(0.0, durations[i], piece)], durations[i])
        objects.append(transcript.to_json(path=str(path)))
    return objects


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ds2 client", description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--grpc", metavar="HOST:PORT", help="TF Serving gRPC address (port 8500)")
    target.add_argument("--rest", metavar="URL", help="TF Serving REST base URL (port 8501)")
    parser.add_argument("--model", default="ds2")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--form", choices=("instances", "inputs"), default="instances")
    parser.add_argument("--waveform", action="store_true",
                        help="send decoded samples to serving_default instead of WAV bytes")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json: one object per file, as `ds2 transcribe --format json`")
    parser.add_argument("--export", metavar="DIR",
                        help="the exported model's folder (alphabet and frame stride for json)")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    if args.format == "json" and not args.export:
        parser.error("--format json needs --export DIR (the folder `ds2 export` wrote: it holds "
                     "the alphabet and frame stride that word times need)")
    outputs = OUTPUTS if args.format == "json" else None
    try:
        if args.waveform:
            from tfrecords_tools.audio import load_waveform

            payload = {"waveforms": [load_waveform(f) for f in args.files]}
        else:
            payload = {"wavs": [open(f, "rb").read() for f in args.files]}
        if args.grpc:
            replies = predict_grpc(args.grpc, args.model, version=args.version, outputs=outputs,
                                   **payload)
        else:
            replies = predict_rest(args.rest, args.model, rest_body(form=args.form, **payload),
                                   args.version, outputs=outputs)
        if args.format == "json":
            import soundfile

            durations = [soundfile.info(f).duration for f in args.files]
            objects = json_transcripts(args.files, durations, replies, args.export)
    except (OSError, RuntimeError, ValueError) as err:  # soundfile's errors are RuntimeErrors
        print(f"ds2 client: error: {err}", file=sys.stderr)
        return 2
    if args.format == "json":
        for obj in objects:
            print(json.dumps(obj, ensure_ascii=False))
        return 0
    for path, text in zip(args.files, replies):
        print(f"{path}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
