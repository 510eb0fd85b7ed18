"""How much does each utterance's average spectrum (its channel) differ, synthetic against real?

    python bench/channel_offsets.py --data bench/out/accuracy/natural10/data [--utterances 40]

Features are normalized with the corpus's global train statistics, as the model sees them; then
each utterance's mean over its frames is one offset per frequency bin: a fixed microphone or room
colouring shows up there. Reported in eight bands: mean ± standard deviation over utterances, for
about ``--utterances`` utterances per synthetic split and for the real recordings of Debian's pocketsphinx-testdata.
Motivates (does not tune) ``--feature-normalization utterance``, which subtracts these offsets.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import real_recordings  # noqa: E402
from report import save  # noqa: E402
from tfrecords_tools.spectrogram import log_power_spectrogram  # noqa: E402
from tfrecords_tools.writer import read_dataset_json, split_examples  # noqa: E402

BANDS = 8


def offsets(waves, mean, std) -> np.ndarray:
    """[utterances, bins] mean of the globally normalized log power over each utterance."""
    return np.array([((log_power_spectrogram(w.astype(np.float32)) - mean) / std).mean(0)
                     for w in waves])


def band_summary(values: np.ndarray) -> list[tuple[float, float]]:
    bands = np.array_split(np.arange(values.shape[1]), BANDS)
    return [(float(values[:, b].mean()), float(values[:, b].mean(1).std())) for b in bands]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a corpus with feature_stats in dataset.json")
    parser.add_argument("--splits", default="train,test")
    parser.add_argument("--utterances", type=int, default=40, help="per split, evenly spread")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()

    info = read_dataset_json(args.data)
    stats = info["feature_stats"]
    mean, std = np.array(stats["mean"]), np.maximum(np.array(stats["std"]), 1e-3)
    rows = {}
    for split in args.splits.split(","):
        every = max(1, info["splits"][split]["num_utterances"] // args.utterances)
        waves = [np.frombuffer(ex["audio"], "<i2") / 32768
                 for i, ex in enumerate(split_examples(args.data, split)) if i % every == 0]
        rows[f"synthetic {split}"] = offsets(waves, mean, std)
    with tempfile.TemporaryDirectory() as tmp:
        real = [soundfile.read(row["path"])[0] for row in real_recordings(Path(tmp) / "real.csv")]
    if not real:
        print("error: no real recordings (apt-get install pocketsphinx-testdata sox)", file=sys.stderr)
        return 1
    rows["real recordings"] = offsets(real, mean, std)
    width = 8000 / BANDS
    lines = [f"Per-utterance mean of the globally normalized log power (`{args.data}` statistics), "
             "mean ± std over utterances, in units of the global std.", "",
             "| set | utterances | " + " | ".join(f"{i * width / 1000:g}–{(i + 1) * width / 1000:g} kHz"
                                                   for i in range(BANDS)) + " |",
             "|---|---|" + "---|" * BANDS]
    result = {"data": args.data, "bands": BANDS, "rows": {}}
    for name, values in rows.items():
        summary = band_summary(values)
        result["rows"][name] = {"utterances": len(values), "bands": summary}
        lines.append(f"| {name} | {len(values)} | " +
                     " | ".join(f"{m:+.2f} ± {s:.2f}" for m, s in summary) + " |")
    save(args.out, "channel_offsets", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
