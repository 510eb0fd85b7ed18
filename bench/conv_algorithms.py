"""Each front-end conv layer computed directly (Conv2D) vs through the FFT (ds2_tf.model.fftconv).

    python bench/conv_algorithms.py [--presets small ds2] [--seconds 8] [--batch 16] [--rounds 5]

Times forward + backward (the kernel's gradient, and the input's after the first layer: what
training computes) of every conv layer of each preset at its real input shape, both ways
interleaved round by round in one process; the figure is the median per-round ratio. Also checks
that both give the same output. Writes conv_algorithms.json / .md under --out;
``ConvFrontEnd(algorithm="auto")`` picks the FFT for the layers where ``prefers_fft`` says so,
which these figures justify.
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


def layer_shapes(config, seconds: float, batch: int):
    """(input [B, T+pad, F+pad, C], kernel [kt, kf, C, O], strides) of each conv layer."""
    features = config.features
    time_, freq, channels = int(features.num_frames(int(seconds * features.sample_rate_hz))), \
        features.num_bins, 1
    for spec in config.model.conv:
        (kt, kf), (st, sf) = spec.kernel, spec.strides
        padded = (batch, time_ + 2 * (kt // 2), freq + 2 * (kf // 2), channels)
        yield padded, (kt, kf, channels, spec.filters), (st, sf)
        time_, freq = -(-time_ // st), (freq + 2 * (kf // 2) - kf) // sf + 1
        channels = spec.filters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["small", "ds2"])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from ds2_tf.config import preset
    from ds2_tf.model.fftconv import fft_conv2d, prefers_fft

    def direct(x, w, strides):
        return tf.nn.conv2d(x, w, [1, *strides, 1], "VALID")

    def timed_step(fn, w, strides, input_gradient):
        @tf.function
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = fn(x, w, strides)
                loss = tf.reduce_sum(y * y)
            return tape.gradient(loss, [x, w] if input_gradient else [w])
        return step

    rng = np.random.default_rng(0)
    rows, lines = [], ["| preset | layer | input B×T×F×C | kernel kt×kf×C→O | stride | "
                       "direct ms | FFT ms | **FFT speed-up** | max rel. diff | auto picks |",
                       "|---" * 10 + "|"]
    for name in args.presets:
        config = preset(name)
        for index, (shape, kernel, strides) in enumerate(layer_shapes(config, args.seconds,
                                                                      args.batch)):
            x = tf.constant(rng.standard_normal(shape).astype(np.float32))
            w = tf.Variable(rng.standard_normal(kernel).astype(np.float32) * 0.05)
            ref, fft = direct(x, w, strides), fft_conv2d(x, w, strides)
            diff = float(tf.reduce_max(tf.abs(ref - fft)) / tf.reduce_max(tf.abs(ref)))
            # as in training: the first layer reads the spectrogram, which needs no gradient
            steps = {"direct": timed_step(direct, w, strides, index > 0),
                     "fft": timed_step(fft_conv2d, w, strides, index > 0)}
            times = {k: [] for k in steps}
            for step in steps.values():
                step(x)  # trace + warm up
            for _ in range(args.rounds):
                for key, step in steps.items():
                    start = time.perf_counter()
                    [g.numpy() for g in step(x)]
                    times[key].append(time.perf_counter() - start)
            ratio = statistics.median(d / f for d, f in zip(times["direct"], times["fft"]))
            picks = "FFT" if prefers_fft(kernel, kernel[2]) else "direct"
            row = {"preset": name, "layer": index, "input": shape, "kernel": kernel,
                   "strides": strides, "direct_ms": 1000 * statistics.median(times["direct"]),
                   "fft_ms": 1000 * statistics.median(times["fft"]), "fft_speedup": ratio,
                   "max_rel_diff": diff, "auto_picks": picks}
            rows.append(row)
            lines.append(f"| {name} | conv{index} | {'×'.join(map(str, shape))} | "
                         f"{kernel[0]}×{kernel[1]}×{kernel[2]}→{kernel[3]} | {strides[0]}×"
                         f"{strides[1]} | {row['direct_ms']:.0f} | {row['fft_ms']:.0f} | "
                         f"**{ratio:.2f}×** | {diff:.1e} | {picks} |")
            print(lines[-1], flush=True)
    header = (f"Conv layers forward + backward (kernel gradient, and the input's after the first "
              f"layer, as in training), {args.seconds:g} s "
              f"utterances × {args.batch}, direct `tf.nn.conv2d` vs `ds2_tf.model.fftconv` interleaved; "
              f"median of {args.rounds} rounds on {os.cpu_count()} CPU threads.")
    save(args.out, "conv_algorithms", {"rows": rows, "seconds": args.seconds,
                                       "batch": args.batch, "rounds": args.rounds},
         [header, "", *lines])


if __name__ == "__main__":
    main()
