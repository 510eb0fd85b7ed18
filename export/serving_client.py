"""Client for a TF Serving deployment of the exported SavedModel: gRPC Predict and REST JSON.

    python -m export.serving_client --grpc localhost:8500 --model ds2 a.wav b.wav
    python -m export.serving_client --rest http://localhost:8501 --model ds2 --form inputs a.wav

WAV files are sent as bytes to the ``transcribe_wav`` signature (16 kHz mono PCM, as the model
requires); ``--waveform`` sends decoded float samples to ``serving_default`` instead.
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import urllib.error
import urllib.request

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


def transcripts_from_rest(reply: dict) -> list[str]:
    """Both reply forms: {"predictions": [{"transcript": …}, …]} and {"outputs": {"transcript": […]}}."""
    if "predictions" in reply:
        return [row["transcript"] if isinstance(row, dict) else row for row in reply["predictions"]]
    if "outputs" in reply:
        outputs = reply["outputs"]
        return list(outputs["transcript"] if isinstance(outputs, dict) else outputs)
    raise ValueError(f"unexpected reply: {str(reply)[:200]}")


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
                 timeout: float = 60) -> list[str]:
    path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    request = urllib.request.Request(base_url.rstrip("/") + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return transcripts_from_rest(json.loads(response.read()))
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")
        try:
            detail = json.loads(detail).get("error", detail)
        except ValueError:
            pass
        raise RuntimeError(f"{base_url}: HTTP {err.code}: {short_error(str(detail))}") from None


def grpc_request(model: str, wavs: list[bytes] | None = None,
                 waveforms: list[np.ndarray] | None = None, version: int | None = None):
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
    request.output_filter.append("transcript")
    return request


def predict_grpc(address: str, model: str, wavs: list[bytes] | None = None,
                 waveforms: list[np.ndarray] | None = None, version: int | None = None,
                 timeout: float = 60) -> list[str]:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = grpc_request(model, wavs, waveforms, version)
    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            reply = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as err:
            raise RuntimeError(f"{address}: {err.code().name}: {short_error(err.details())}") from None
    return [t.decode("utf-8") for t in tf.make_ndarray(reply.outputs["transcript"])]


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
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    try:
        if args.waveform:
            from tfrecords_tools.audio import load_pcm16, pcm16_to_float

            payload = {"waveforms": [pcm16_to_float(load_pcm16(f)) for f in args.files]}
        else:
            payload = {"wavs": [open(f, "rb").read() for f in args.files]}
        if args.grpc:
            texts = predict_grpc(args.grpc, args.model, version=args.version, **payload)
        else:
            texts = predict_rest(args.rest, args.model, rest_body(form=args.form, **payload),
                                 args.version)
    except (OSError, RuntimeError, ValueError) as err:
        print(f"ds2 client: error: {err}", file=sys.stderr)
        return 2
    for path, text in zip(args.files, texts):
        print(f"{path}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
