"""Training throughput of our DS2 against the same network built from stock Keras layers.

    python bench/train_throughput.py [--presets small ds2] [--rounds 5]
        [--precisions float32 mixed_bfloat16]

Both models see the *same* batches (random audio and labels at bucketed lengths, batch sizes from
the preset's frame budget) and are timed interleaved, round by round, in one process, so machine
noise hits both alike: the figure is the median per-round ratio. The baseline is what a plain
Keras DS2 looks like: same in-graph spectrogram and conv front-end, then
``Bidirectional(GRU/LSTM, merge_mode="sum")`` + ``BatchNormalization`` per layer, float32, with
the padding mask passed to the RNNs (without it the backward direction reads padding).

Also reports model FLOPs utilization: analytic training FLOPs per step (forward × 3) ÷ step time ÷
the machine's measured peak matmul FLOP/s, and peak RSS of each model alone (child processes).
Writes train_throughput_PRESETS.json / .md under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import peak_rss_mib, save  # noqa: E402

NUM_CLASSES = 29  # English: a–z, space, apostrophe + blank


def batch_shapes(config, seconds: list[float]) -> list[tuple[int, int]]:
    """(batch size, samples) per bucket, from the preset's padded-frame budget."""
    rate = config.features.sample_rate_hz
    shapes = []
    for sec in seconds:
        frames = int(config.features.num_frames(int(sec * rate)))
        size = max(1, min(config.train.batch_frames // frames, config.train.max_batch_size))
        shapes.append((size, int(sec * rate)))
    return shapes


def make_batches(config, shapes, seed: int = 0):
    """Random audio at 70–100 % of the bucket length (so masks matter) and plausible labels."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(seed)
    batches = []
    for size, samples in shapes:
        lengths = rng.integers(int(0.7 * samples), samples + 1, size).astype(np.int32)
        lengths[0] = samples
        wave = (rng.standard_normal((size, samples)) * 0.1).astype(np.float32)
        wave *= np.arange(samples)[None, :] < lengths[:, None]
        out = np.asarray(config.output_length(lengths))
        label_len = np.maximum(1, out // 4).astype(np.int32)  # ~12 characters per second
        labels = rng.integers(0, NUM_CLASSES - 1, (size, int(label_len.max()))).astype(np.int32)
        x = {"waveform": tf.constant(wave), "num_samples": tf.constant(lengths)}
        y = {"labels": tf.constant(labels), "label_length": tf.constant(label_len)}
        batches.append((x, y, float(lengths.sum()) / config.features.sample_rate_hz))
    return batches


def build(kind: str, config):
    import keras

    from ds2_tf.model.deepspeech2 import DeepSpeech2
    from stock_baseline import StockDeepSpeech2
    cls = DeepSpeech2 if kind == "ours" else StockDeepSpeech2
    model = cls(config.to_json(), NUM_CLASSES, name=f"{kind}_{config.preset}").build_for_inference()
    model.compile(optimizer=keras.optimizers.Adam(1e-4, global_clipnorm=400.0))
    return model


def training_flops(config, batch_size: int, samples: int) -> float:
    """Multiply-adds × 2 of the forward pass (convs, RNN projections and recurrences, output),
    × 3 for forward + backward. Elementwise work is ignored: it is not what peak FLOP/s measures."""
    features = config.features
    frames = int(features.num_frames(samples))
    bins = features.num_bins
    flops = 2.0 * frames * features.window_samples * bins * 2  # real+imag DFT
    channels, time, freq = 1, frames, bins
    for spec in config.model.conv:
        (kt, kf), (st, sf) = spec.kernel, spec.strides
        time, freq = -(-time // st), (freq + 2 * (kf // 2) - kf) // sf + 1
        flops += 2.0 * time * freq * kt * kf * channels * spec.filters
        channels = spec.filters
    width = freq * channels
    gates = 3 if config.model.rnn_type == "gru" else 4
    dirs = 2 if config.model.bidirectional else 1
    units = config.model.rnn_units
    for _ in range(config.model.rnn_layers):
        flops += 2.0 * time * dirs * (width * gates * units + units * gates * units)
        width = units
    flops += 2.0 * time * width * NUM_CLASSES
    return 3.0 * flops * batch_size


def peak_matmul_flops(dtype: str, n: int = 2048, repeats: int = 5) -> float:
    import tensorflow as tf
    a = tf.random.normal([n, n], dtype=tf.float32)
    a = tf.cast(a, dtype)

    @tf.function
    def chain(x):
        for _ in range(4):
            x = tf.matmul(x, a) * tf.cast(1e-3, dtype)
        return tf.reduce_sum(tf.cast(x, tf.float32))

    chain(a).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        chain(a).numpy()
        times.append(time.perf_counter() - start)
    return 4 * 2.0 * n ** 3 / min(times)


def timed_rounds(models: dict, batches, rounds: int) -> dict:
    """Per round, each model trains once on every batch, models alternating; returns per-model
    per-round seconds."""
    for model in models.values():  # trace every shape before timing
        for x, y, _ in batches:
            model.train_on_batch(x, y)
    seconds = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            start = time.perf_counter()
            for x, y, _ in batches:
                model.train_on_batch(x, y)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def child_peak_rss(preset: str, kind: str, seconds: list[float], precision: str,
                   extra: list[str]) -> float:
    """Peak RSS (MiB) of a process that trains only one model for two rounds."""
    cmd = [sys.executable, __file__, "--child", kind, "--presets", preset, "--precision", precision,
           "--seconds", *map(str, seconds), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["peak_rss_mib"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["small", "ds2"])
    parser.add_argument("--seconds", nargs="+", type=float, default=[3.0, 6.0, 12.0],
                        help="bucket lengths (s); one batch per bucket per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"],
                        help="our model's dtype policies, each timed against the float32 baseline")
    parser.add_argument("--precision", default="float32", help=argparse.SUPPRESS)
    parser.add_argument("--batch-frames", type=int, default=None,
                        help="override the presets' padded-frame budget per batch (smaller "
                             "batches keep the ds2-shaped row affordable on a CPU)")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS child runs")
    parser.add_argument("--child", choices=["ours", "stock"], help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from ds2_tf.config import preset

    def config_for(name):
        config = preset(name)
        if args.batch_frames:
            config = config.replace(train={"batch_frames": args.batch_frames})
        return config

    if args.child:
        config = config_for(args.presets[0])
        keras.mixed_precision.set_dtype_policy(args.precision if args.child == "ours" else "float32")
        model = build(args.child, config)
        timed_rounds({args.child: model}, make_batches(config, batch_shapes(config, args.seconds)), 1)
        print(json.dumps({"peak_rss_mib": peak_rss_mib()}))
        return 0

    peak = {"float32": peak_matmul_flops("float32"), "bfloat16": peak_matmul_flops("bfloat16")}
    result = {"precisions": args.precisions, "seconds": args.seconds, "rounds": args.rounds,
              "threads": os.cpu_count(), "peak_matmul_gflops": {k: v / 1e9 for k, v in peak.items()},
              "presets": {}}
    lines = [f"Training throughput, ours vs stock Keras Bidirectional (float32), same batches, "
             f"interleaved; median of {args.rounds} rounds on {os.cpu_count()} CPU threads.", "",
             "| preset | params | frames / batch | precision (ours) | audio s / s ours | "
             "audio s / s stock | **speed-up** | step s ours | step s stock | MFU ours | MFU stock | "
             "peak RSS MiB ours / stock |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in args.presets:
        config = config_for(name)
        shapes = batch_shapes(config, args.seconds)
        batches = make_batches(config, shapes)
        audio = sum(b[2] for b in batches)
        flops = sum(training_flops(config, size, samples) for size, samples in shapes)
        models = {}
        for precision in args.precisions:
            keras.mixed_precision.set_dtype_policy(precision)
            models[precision] = build("ours", config)
        keras.mixed_precision.set_dtype_policy("float32")
        models["stock"] = build("stock", config)
        seconds = timed_rounds(models, batches, args.rounds)
        med = {k: statistics.median(v) for k, v in seconds.items()}
        entry = {"params": {"ours": models[args.precisions[0]].count_params(),
                            "stock": models["stock"].count_params()},
                 "batch_frames": config.train.batch_frames,
                 "batches": shapes, "audio_s_per_round": audio, "train_flops_per_round": flops,
                 "round_seconds": seconds,
                 "audio_s_per_s": {k: audio / v for k, v in med.items()},
                 "step_s": {k: v / len(batches) for k, v in med.items()},
                 "mfu_stock": flops / med["stock"] / peak["float32"], "by_precision": {}}
        if not args.no_rss:
            extra = ["--batch-frames", str(args.batch_frames)] if args.batch_frames else []
            entry["peak_rss_mib"] = {k: child_peak_rss(name, "stock" if k == "stock" else "ours",
                                                       args.seconds, k if k != "stock" else "float32",
                                                       extra)
                                     for k in models}
        rss = entry.get("peak_rss_mib", {})
        for precision in args.precisions:
            ratios = [s / o for o, s in zip(seconds[precision], seconds["stock"])]
            peak_ours = peak["bfloat16" if "bfloat16" in precision else "float32"]
            mfu = flops / med[precision] / peak_ours
            entry["by_precision"][precision] = {"speedup_median": statistics.median(ratios),
                                                "speedup_per_round": ratios, "mfu": mfu}
            lines.append(
                f"| {name} | {entry['params']['ours'] / 1e6:.1f} M | {config.train.batch_frames} | "
                f"{precision} | "
                f"{entry['audio_s_per_s'][precision]:.1f} | {entry['audio_s_per_s']['stock']:.1f} | "
                f"**{statistics.median(ratios):.2f}×** | {entry['step_s'][precision]:.2f} | "
                f"{entry['step_s']['stock']:.2f} | {mfu:.1%} | {entry['mfu_stock']:.1%} | "
                f"{rss.get(precision, float('nan')):.0f} / {rss.get('stock', float('nan')):.0f} |")
        result["presets"][name] = entry
        del models
        keras.backend.clear_session()
    lines += ["", f"Peak matmul (2048², measured): float32 {peak['float32'] / 1e9:.0f} GFLOP/s, "
              f"bfloat16 {peak['bfloat16'] / 1e9:.0f} GFLOP/s. MFU = analytic training FLOPs "
              "(3 × forward multiply-adds × 2) ÷ time ÷ that peak."]
    save(args.out, "train_throughput_" + "-".join(args.presets), result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
