"""Training speed of the ds2 preset on one GPU, per rnn_loop, against stock Keras cuDNN layers.

    python bench/gpu.py [--preset ds2] [--precision mixed_float16] [--rounds 3]
        [--budget-minutes 7.5] [--out bench/results]

For each ``rnn_loop`` (cudnn — what "auto" picks on a GPU —, keras, stacked) our model and the
stock baseline (``bench/stock_baseline.py``: the same network with stock
``Bidirectional(GRU, merge_mode="sum")`` + ``BatchNormalization``, i.e. cuDNN without the paper's
batch norm inside the recurrence) train on the *same* batches, interleaved round by round in one
process; figures are medians. Both run under the same precision policy.

Reports training audio-seconds per second, the ratio to stock, model FLOPs utilization (analytic
training FLOPs ÷ step time ÷ the GPU's measured peak matmul rate in that precision), peak GPU
memory per model, the largest batch of 12-second utterances that trains (doubling until out of
memory or the cap), and — with two or more GPUs — the paper's model parallelism
(``model_parallel="time"``). Stops starting new sections when ``--budget-minutes`` is spent and
says which were skipped. Writes ``gpu_PRESET.json`` / ``.md`` under --out.

Without a GPU it refuses, unless ``--allow-cpu`` (a smoke run of the script itself, e.g. with
``--preset tiny``; its figures say nothing about GPUs).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402
from train_throughput import (NUM_CLASSES, batch_shapes, make_batches,  # noqa: E402
                              peak_matmul_flops, timed_rounds, training_flops)

LOOPS = ("cudnn", "keras", "stacked")
TARGET_AUDIO_S_PER_S = 5000  # issue #36's target for ds2 on one H200-class GPU


def build(kind: str, config, precision: str):
    import keras

    from ds2_tf.model.deepspeech2 import DeepSpeech2
    from stock_baseline import StockDeepSpeech2
    keras.mixed_precision.set_dtype_policy(precision)
    cls = DeepSpeech2 if kind == "ours" else StockDeepSpeech2
    model = cls(config.to_json(), NUM_CLASSES, name=f"{kind}_{config.preset}").build_for_inference()
    optimizer = keras.optimizers.Adam(1e-4, global_clipnorm=400.0)
    if precision == "mixed_float16":
        optimizer = keras.mixed_precision.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer)  # jit_compile "auto": off wherever cuDNN runs
    return model


def gpu_peak_memory_mib(device: str | None) -> float | None:
    import tensorflow as tf
    if device is None:
        return None
    return tf.config.experimental.get_memory_info(device)["peak"] / 2 ** 20


def reset_gpu_memory(device: str | None) -> None:
    import tensorflow as tf
    if device is not None:
        tf.config.experimental.reset_memory_stats(device)


def largest_batch(config, precision: str, seconds: float, start: int, cap: int,
                  deadline: float) -> dict:
    """Doubles the batch of ``seconds``-long utterances from ``start`` until a training step runs
    out of memory, ``cap`` is reached or the time budget ends."""
    import keras
    import tensorflow as tf
    samples = int(seconds * config.features.sample_rate_hz)
    fits, size, stopped = None, start, "cap"
    model = build("ours", config, precision)
    while size <= cap:
        if time.monotonic() > deadline:
            stopped = "time budget"
            break
        x, y, _ = make_batches(config, [(size, samples)], seed=size)[0]
        try:
            model.train_on_batch(x, y)
        except (tf.errors.ResourceExhaustedError, tf.errors.InternalError) as error:
            stopped = f"out of memory at {size} ({type(error).__name__})"
            break
        fits, size = size, size * 2
    del model
    keras.backend.clear_session()
    return {"utterance_seconds": seconds, "largest_batch": fits, "stopped_by": stopped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="ds2")
    parser.add_argument("--precision", default="mixed_float16")
    parser.add_argument("--loops", nargs="+", default=list(LOOPS), choices=LOOPS)
    parser.add_argument("--seconds", nargs="+", type=float, default=[3.0, 6.0, 12.0],
                        help="bucket lengths (s); one batch per bucket per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget-minutes", type=float, default=7.5)
    parser.add_argument("--max-batch-cap", type=int, default=1024)
    parser.add_argument("--allow-cpu", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    start_time = time.monotonic()
    deadline = start_time + 60 * args.budget_minutes

    import keras
    import tensorflow as tf

    from ds2_tf.config import preset

    gpus = tf.config.list_logical_devices("GPU")
    if not gpus and not args.allow_cpu:
        print("bench/gpu.py: no GPU visible to TensorFlow; nothing to measure", file=sys.stderr)
        return 2
    device = "GPU:0" if gpus else None
    name = tf.config.experimental.get_device_details(
        tf.config.list_physical_devices("GPU")[0]).get("device_name", "GPU") if gpus else "CPU"
    config = preset(args.preset)
    shapes = batch_shapes(config, args.seconds)
    batches = make_batches(config, shapes)
    audio = sum(b[2] for b in batches)
    flops = sum(training_flops(config, size, samples) for size, samples in shapes)
    peak_dtype = "float16" if args.precision == "mixed_float16" else (
        "bfloat16" if args.precision == "mixed_bfloat16" else "float32")
    peak = peak_matmul_flops(peak_dtype, n=8192 if gpus else 1024)
    result = {"device": name, "gpus": len(gpus), "preset": args.preset,
              "precision": args.precision, "batches": shapes, "audio_s_per_round": audio,
              "train_flops_per_round": flops, "peak_matmul_tflops": peak / 1e12,
              "rounds": args.rounds, "loops": {}, "skipped": []}
    lines = [f"Training throughput on {name} ({len(gpus)} GPU), preset `{args.preset}`, "
             f"{args.precision}: ours per `rnn_loop` vs stock Keras `Bidirectional(GRU)` (cuDNN) "
             f"on the same batches, interleaved; median of {args.rounds} rounds. "
             f"Batches (size × seconds): "
             + ", ".join(f"{s} × {n / config.features.sample_rate_hz:.0f}" for s, n in shapes), "",
             "| rnn_loop | audio s / s ours | audio s / s stock | ours ÷ stock | MFU ours | "
             "MFU stock | peak GPU MiB ours / stock |", "|---|---|---|---|---|---|---|"]

    variants = [(loop, {"rnn_loop": loop}) for loop in args.loops]
    if len(gpus) >= 2:
        variants.append(("cudnn + model_parallel=time", {"rnn_loop": "cudnn",
                                                         "model_parallel": "time"}))
    else:
        result["skipped"].append("model parallelism: needs 2 GPUs")
    for label, model_fields in variants:
        if time.monotonic() > deadline:
            result["skipped"].append(f"{label}: time budget")
            continue
        variant = config.replace(model=model_fields)
        models, memory = {}, {}
        for kind in ("ours", "stock"):
            reset_gpu_memory(device)
            models[kind] = build(kind, variant, args.precision)
            for x, y, _ in batches:
                models[kind].train_on_batch(x, y)
            memory[kind] = gpu_peak_memory_mib(device)
        seconds = timed_rounds(models, batches, args.rounds)
        med = {k: statistics.median(v) for k, v in seconds.items()}
        ratios = [s / o for o, s in zip(seconds["ours"], seconds["stock"])]
        entry = {"round_seconds": seconds, "audio_s_per_s": {k: audio / v for k, v in med.items()},
                 "ours_over_stock_median": statistics.median(ratios),
                 "mfu": {k: flops / v / peak for k, v in med.items()},
                 "peak_gpu_mib": memory}
        result["loops"][label] = entry
        mem = " / ".join("–" if memory[k] is None else f"{memory[k]:.0f}" for k in ("ours", "stock"))
        lines.append(f"| {label} | {entry['audio_s_per_s']['ours']:.0f} | "
                     f"{entry['audio_s_per_s']['stock']:.0f} | "
                     f"**{entry['ours_over_stock_median']:.2f}×** | {entry['mfu']['ours']:.1%} | "
                     f"{entry['mfu']['stock']:.1%} | {mem} |")
        del models
        keras.backend.clear_session()

    if time.monotonic() < deadline:
        start = max(1, shapes[-1][0])
        result["largest_batch"] = largest_batch(config.replace(model={"rnn_loop": "cudnn"}),
                                                args.precision, args.seconds[-1], start,
                                                args.max_batch_cap, deadline)
        fit = result["largest_batch"]
        lines += ["", f"Largest batch of {fit['utterance_seconds']:.0f}-s utterances that trains "
                  f"(rnn_loop=cudnn, doubling from {start}): {fit['largest_batch']} "
                  f"(stopped by: {fit['stopped_by']})."]
    else:
        result["skipped"].append("largest batch: time budget")
    best = max((e["audio_s_per_s"]["ours"] for e in result["loops"].values()), default=0.0)
    result["target_audio_s_per_s"] = TARGET_AUDIO_S_PER_S
    result["wall_seconds"] = time.monotonic() - start_time
    lines += ["", f"Peak matmul ({peak_dtype}, measured): {peak / 1e12:.1f} TFLOP/s. MFU = analytic "
              "training FLOPs (3 × forward multiply-adds × 2) ÷ time ÷ that peak.",
              f"Target (issue #36, ds2 on one H200-class GPU): ≥ {TARGET_AUDIO_S_PER_S} audio s / s "
              f"and at least stock's throughput; best here {best:.0f}.",
              f"Skipped: {', '.join(result['skipped']) or 'nothing'}. "
              f"Wall time {result['wall_seconds'] / 60:.1f} min."]
    save(args.out, f"gpu_{args.preset}" if gpus else f"gpu_smoke_cpu_{args.preset}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
