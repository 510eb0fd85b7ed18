"""Time per epoch: our length buckets vs padding every batch to the corpus maximum.

    python bench/bucketing.py --data demo/data [--split train] [--preset small] [--limit 200]

Both pipelines hold the same padded-frame budget per batch (``train.batch_frames``): buckets give
short utterances large batches; pad-to-max (TensorFlowASR-style fixed shapes) can only fit
``batch_frames // max_frames`` utterances per batch. Same model, same utterances; the batches are
materialized first and every shape is traced before timing, so the figure is training compute
alone. Interleaved rounds; the ratio of medians is the figure. Writes bucketing.json / .md.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--limit", type=int, default=200, help="utterances in the timed epoch")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    import keras
    import numpy as np
    import tensorflow as tf

    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import preset
    from ds2_tf.data.pipeline import make_dataset
    from ds2_tf.model.deepspeech2 import build_model

    config = preset(args.preset)
    alphabet = Alphabet.load(Path(args.data) / "alphabet.json")
    bucketed = list(make_dataset(args.data, args.split, config, alphabet, limit=args.limit))
    waves = [w[:n] for x, _ in bucketed
             for w, n in zip(x["waveform"].numpy(), x["num_samples"].numpy())]
    labels = [l[:n] for _, y in bucketed
              for l, n in zip(y["labels"].numpy(), y["label_length"].numpy())]
    max_samples = max(len(w) for w in waves)
    size = max(1, min(config.train.batch_frames // int(config.features.num_frames(max_samples)),
                      config.train.max_batch_size))
    order = np.random.default_rng(0).permutation(len(waves))
    padded = []
    for start in range(0, len(order), size):
        idx = order[start:start + size]
        wave = np.zeros((len(idx), max_samples), np.float32)
        lab = np.zeros((len(idx), max(len(labels[i]) for i in idx)), np.int32)
        for row, i in enumerate(idx):
            wave[row, :len(waves[i])] = waves[i]
            lab[row, :len(labels[i])] = labels[i]
        padded.append(({"waveform": tf.constant(wave),
                        "num_samples": tf.constant([len(waves[i]) for i in idx], tf.int32)},
                       {"labels": tf.constant(lab),
                        "label_length": tf.constant([len(labels[i]) for i in idx], tf.int32)}))

    def padded_fraction(batches):
        total = sum(int(np.prod(x["waveform"].shape)) for x, _ in batches)
        return 1 - sum(int(x["num_samples"].numpy().sum()) for x, _ in batches) / total

    model = build_model(config, alphabet.num_classes)
    model.compile(optimizer=keras.optimizers.Adam(1e-4, global_clipnorm=400.0))
    pipelines = {"buckets": bucketed, "pad_to_max": padded}
    for batches in pipelines.values():  # trace every shape
        for x, y in batches:
            model.train_on_batch(x, y)
    seconds = {name: [] for name in pipelines}
    for _ in range(args.rounds):
        for name, batches in pipelines.items():
            start = time.perf_counter()
            for x, y in batches:
                model.train_on_batch(x, y)
            seconds[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    audio_s = sum(len(w) for w in waves) / config.features.sample_rate_hz
    result = {"data": args.data, "split": args.split, "preset": args.preset,
              "utterances": len(waves), "audio_s": audio_s, "max_s": max_samples / 16000,
              "batches": {k: len(v) for k, v in pipelines.items()},
              "padded_fraction": {k: padded_fraction(v) for k, v in pipelines.items()},
              "epoch_seconds": seconds, "ratio": med["pad_to_max"] / med["buckets"]}
    lines = [f"Epoch time on {len(waves)} utterances ({audio_s / 60:.1f} min of audio, longest "
             f"{max_samples / 16000:.1f} s) of `{args.data}`, preset `{args.preset}`, same "
             f"padded-frame budget per batch; median of {args.rounds} interleaved rounds.", "",
             "| pipeline | batches | padding | epoch s | relative |", "|---|---|---|---|---|"]
    for name in pipelines:
        lines.append(f"| {name.replace('_', ' ')} | {len(pipelines[name])} | "
                     f"{100 * result['padded_fraction'][name]:.0f} % | {med[name]:.1f} | "
                     f"{med[name] / med['buckets']:.2f}× |")
    save(args.out, "bucketing", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
