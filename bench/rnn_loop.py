"""Which recurrence loop TensorFlow runs faster: Keras's two RNN loops per BiGRU layer, the
stacked loop (both directions in one loop, K steps unrolled per iteration) of the TFLite export,
or "auto": in training the XLA-compiled loops with a hand-written gradient
(ds2_tf/model/fused_gru.py), in inference a plain loop per direction
(ds2_tf/model/gru_inference.py).

    python bench/rnn_loop.py [--layers 3] [--units 256] [--rounds 5]

Times the preset-shaped BN-RNN stack alone (random weights, float32), interleaved round by round:
training (forward + gradient) at a training batch, and inference at batch 1 and 16. The TFLite
side of the comparison is in bench/export_latency.py (its breakdown table). Writes rnn_loop.json
/ .md under --out.
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


def timed_functions(batch: int, steps: int, width: int, layers: int, units: int, train: bool):
    import tensorflow as tf

    from ds2_tf.model.bn_rnn import BatchNormRNN

    rnns = [BatchNormRNN(units, name=f"rnn{i}") for i in range(layers)]
    x = tf.random.normal([batch, steps, width])
    mask = tf.sequence_mask(tf.random.uniform([batch], steps // 2, steps + 1, tf.int32), steps)
    for i, rnn in enumerate(rnns):
        rnn(x[:, :4] if i == 0 else tf.zeros([batch, 4, units]), mask=mask[:, :4])

    def make(loop: str, k: int = 8):
        def forward():
            h = x
            for rnn in rnns:
                h = rnn(h, mask=mask, training=train)
            return h

        @tf.function
        def run():
            for rnn in rnns:  # read when traced: each function keeps its own loop
                rnn.loop = {"fused": "auto", "stacked": "stacked"}.get(loop, "keras")
                rnn.stacked_steps = k
            if not train:
                return forward()
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(forward() ** 2)
            return tape.gradient(loss, [v for r in rnns for v in r.trainable_variables])
        return run

    fns = {"Keras loops (2 per layer)": make("keras"), "stacked, 1 step / iteration":
           make("stacked", 1), "stacked, 8 steps / iteration": make("stacked", 8)}
    fns["fused: XLA loops, hand-written gradient" if train
        else "auto: a plain loop per direction, h only"] = make("fused")
    return fns


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--width", type=int, default=1312, help="input width (small: 32 × 41)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    cases = [("training, forward + gradient", 32, 300, True),
             ("inference", 1, 500, False), ("inference", 16, 500, False)]
    rows, lines = [], [
        f"BN-RNN stack alone ({args.layers} × BiGRU-{args.units}, float32, random weights), "
        f"TensorFlow, median of {args.rounds} interleaved rounds; time relative to Keras's loops.",
        "", "| case | batch × steps | loop | seconds | relative |", "|---|---|---|---|---|"]
    for name, batch, steps, train in cases:
        fns = timed_functions(batch, steps, args.width, args.layers, args.units, train)
        for fn in fns.values():
            fn()  # trace + warm up
        times = {label: [] for label in fns}
        for _ in range(args.rounds):
            for label, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - start)
        base = statistics.median(next(iter(times.values())))
        for label, t in times.items():
            row = {"case": name, "batch": batch, "steps": steps, "loop": label,
                   "seconds": statistics.median(t), "relative": statistics.median(t) / base}
            rows.append(row)
            lines.append(f"| {name} | {batch} × {steps} | {label} | {row['seconds']:.3f} | "
                         f"{row['relative']:.2f} |")
    lines += ["", f"Load average at the start: {load:.1f} on {os.cpu_count()} CPUs (above ~0.5, "
              "another job shared the machine: compare the ratios, not the seconds)."]
    save(Path(args.out), "rnn_loop", {"rows": rows}, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
