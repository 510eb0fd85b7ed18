"""Export sizes and inference speed: real-time factor (seconds of compute per second of audio) of
the SavedModel (batch 1 and 16) and TFLite float / int8 (1 and 2 threads), streaming latency, and
the peak memory (RSS) of a fresh process that loads each artifact and runs one inference: the
SavedModel with TensorFlow, the .tflite files with ai-edge-litert alone (as on a device).

    python bench/export_latency.py [--preset small] [--run RUN] [--seconds 10] [--repeats 5]

Without --run the preset is built with random weights: speed does not depend on the weights.
Writes export_latency.json and export_latency.md under --out. Medians of --repeats runs.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report import peak_rss_mib, save  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (tracing, allocation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def peak_rss_child(kind: str, path: str, batch: int, seconds: float) -> None:
    """Load one artifact, run one inference, print the process's peak RSS in MiB (JSON)."""
    import numpy as np
    audio = (np.random.default_rng(0).standard_normal((batch, int(seconds * 16000))) * 0.1)
    audio = audio.astype(np.float32)
    if kind == "savedmodel":
        import tensorflow as tf
        signature = tf.saved_model.load(path).signatures["serving_default"]
        signature(waveform=tf.constant(audio), num_samples=tf.fill([batch], audio.shape[1]))
    else:
        from ai_edge_litert.interpreter import Interpreter
        interpreter = Interpreter(model_path=path, num_threads=1)
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, list(audio.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, audio)
        interpreter.invoke()
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss(kind: str, path: Path, batch: int, seconds: float) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(batch),
                          "--seconds", str(seconds)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def breakdown(config, seconds: float, repeats: int) -> tuple[list[dict], list[str]]:
    """Where TFLite int8 time goes: the preset against variants with fewer RNN layers, one
    direction, one conv layer (random weights, one thread, interleaved rounds)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from ds2_tf.model.deepspeech2 import build_model
    from export.tflite import convert

    model = config.model
    variants = {f"`{config.preset}` as is": {},
                "RNNs as Keras's two loops per layer (before the stacked loop)": "keras loops",
                f"1 RNN layer instead of {model.rnn_layers}": {"rnn_layers": 1},
                "unidirectional RNNs": {"bidirectional": False},
                f"RNN units {model.rnn_units // 2}": {"rnn_units": model.rnn_units // 2},
                "first conv layer only": {"conv": model.conv[:1]}}
    audio = (np.random.default_rng(0).standard_normal((1, int(seconds * 16000))) * 0.1)
    interpreters = {}
    for name, change in variants.items():
        if change == "keras loops":
            blob = convert(build_model(config, 29), int8=True, stacked=False)
        elif change == {"rnn_layers": 1} and model.rnn_layers == 1 or \
                change.get("conv") == model.conv:
            continue
        else:
            blob = convert(build_model(config.replace(model=change), 29), int8=True)
        interpreter = Interpreter(model_content=blob, num_threads=1)
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, list(audio.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, audio.astype(np.float32))
        interpreter.invoke()
        interpreters[name] = interpreter
    times = {name: [] for name in interpreters}
    for _ in range(repeats):  # interleaved, so machine noise hits all variants alike
        for name, interpreter in interpreters.items():
            start = time.perf_counter()
            interpreter.invoke()
            times[name].append((time.perf_counter() - start) / seconds)
    base = statistics.median(next(iter(times.values())))
    rows = [{"variant": name, "rtf": statistics.median(t), "relative": statistics.median(t) / base}
            for name, t in times.items()]
    lines = ["", f"Where TFLite int8 time goes (1 thread, {seconds:g} s, random weights, median of "
             f"{repeats} interleaved rounds):", "", "| variant | RTF | relative |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['rtf']:.4f} | {r['relative']:.2f} |" for r in rows]
    return rows, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--run", default=None)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the TFLite int8 time breakdown by model part")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "BATCH"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        peak_rss_child(args.child[0], args.child[1], int(args.child[2]), args.seconds)
        return 0

    import numpy as np
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import preset
    from ds2_tf.model.deepspeech2 import build_model
    from ds2_tf.model.run_dir import load_run
    from export.savedmodel import export_saved_model
    from ds2_tf.inference.streaming import StreamingModel
    from export.streaming import export_streaming
    from export.tflite import export_tflite

    if args.run:
        model, config, alphabet = load_run(args.run)
        label = f"trained run {args.run} ({config.preset})"
    else:
        config, alphabet = preset(args.preset), Alphabet.english()
        model = build_model(config, alphabet.num_classes)
        label = f"`{args.preset}` preset, random weights"
    rng = np.random.default_rng(0)
    samples = int(args.seconds * 16000)
    audio = (rng.standard_normal((16, samples)) * 0.1).astype(np.float32)
    rows, sizes = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        saved = export_saved_model(model, config, alphabet, tmp, "m", 1)
        sizes["SavedModel"] = dir_size(saved)
        signature = tf.saved_model.load(str(saved)).signatures["serving_default"]
        for batch in (1, 16):
            wave = tf.constant(audio[:batch])
            lengths = tf.fill([batch], samples)
            t = median_time(lambda: signature(waveform=wave, num_samples=lengths), args.repeats)
            rows.append({"artifact": "SavedModel", "batch": batch, "threads": "all (2)",
                         "rtf": t / (batch * args.seconds),
                         "peak_rss_mib": peak_rss("savedmodel", saved, batch, args.seconds)})
        lite_paths = export_tflite(model, config, alphabet, Path(tmp) / "lite", "m", int8=True)
        for path in lite_paths:
            kind = "TFLite int8" if "int8" in path.name else "TFLite float32"
            sizes[kind] = path.stat().st_size
            rss = peak_rss("tflite", path, 1, args.seconds)
            for threads in (1, 2):
                interpreter = Interpreter(model_path=str(path), num_threads=threads)
                index = interpreter.get_input_details()[0]["index"]
                interpreter.resize_tensor_input(index, [1, samples])
                interpreter.allocate_tensors()
                interpreter.set_tensor(index, audio[:1])
                t = median_time(interpreter.invoke, args.repeats)
                rows.append({"artifact": kind, "batch": 1, "threads": threads,
                             "rtf": t / args.seconds, "peak_rss_mib": rss})
        streaming_row = None
        if not config.model.bidirectional:
            _, lite = export_streaming(model, config, alphabet, Path(tmp) / "stream", "m")
            sizes["TFLite streaming"] = lite.stat().st_size
            runner = Interpreter(model_path=str(lite), num_threads=1).get_signature_runner("step")
            stream = StreamingModel(model, config, 32)
            inputs = {"chunk": audio[:1, : stream.chunk_samples],
                      "num_valid": np.array([stream.chunk_samples], np.int32),
                      "ended": np.array([0], np.int32), **stream.initial_state()}
            t = median_time(lambda: runner(**inputs), args.repeats * 4)
            chunk_s = stream.chunk_samples / 16000
            streaming_row = {"chunk_ms": 1000 * chunk_s, "step_ms": 1000 * t, "rtf": t / chunk_s}
    result = {"model": label, "params": int(model.count_params()), "audio_seconds": args.seconds,
              "sizes_bytes": sizes, "rtf": rows, "streaming": streaming_row,
              "machine": {"cpus": os.cpu_count(), "tensorflow": tf.__version__},
              "date": time.strftime("%Y-%m-%d")}
    lines = [f"Model: {label}, {result['params'] / 1e6:.1f} M parameters; {args.seconds:g} s "
             f"utterances; median of {args.repeats}. Peak RSS: a fresh process loading the "
             "artifact and running one inference (SavedModel with TensorFlow; TFLite with "
             "ai-edge-litert only, one thread).", "",
             "| artifact | batch | threads | real-time factor | size | peak RSS |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        size = sizes.get(row["artifact"])
        lines.append(f"| {row['artifact']} | {row['batch']} | {row['threads']} | "
                     f"{row['rtf']:.4f} | {f'{size / 1e6:.1f} MB' if size else ''} | "
                     f"{row['peak_rss_mib']:.0f} MiB |")
    if streaming_row:
        lines += ["", f"Streaming TFLite (1 thread): {streaming_row['step_ms']:.1f} ms per "
                      f"{streaming_row['chunk_ms']:.0f} ms chunk (RTF {streaming_row['rtf']:.3f}), "
                      f"{sizes['TFLite streaming'] / 1e6:.1f} MB."]
    if not args.run and not args.no_breakdown:
        result["tflite_int8_breakdown"], more = breakdown(config, args.seconds, args.repeats)
        lines += more
    lines.append(f"({os.cpu_count()} CPUs, TensorFlow {tf.__version__}, {result['date']})")
    save(args.out, f"export_latency_{config.preset}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
