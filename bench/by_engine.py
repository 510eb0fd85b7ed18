"""Greedy CER/WER of several runs on one corpus's test sets, split by the engine of the test voices.

    python bench/by_engine.py --data bench/out/accuracy/k10noise30/data \
        --runs k10noise30=bench/out/accuracy/k10noise30/run kokoro60=bench/out/accuracy/kokoro60/run \
        [--real bench/out/accuracy/k10noise30/real] [--label kokoro60]

Why: espeak-ng variants are 95 % of the synthetic test utterances, so a test set's overall CER is
theirs. Piper's neural voice and the two slt voices (HTS, diphone) sound closest to people and show
whether a model learned speech or espeak-ng. Runs trained on different corpora are scored on the
*same* utterances here. Reports are written next to each run as ``by-engine-SPLIT.tsv`` (never over
``ds2 evaluate``'s own ``eval-*`` files) and reused when present.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import ROOT, rates_by_engine, split_speakers  # noqa: E402
from report import save  # noqa: E402


def evaluate(run: Path, data: Path, split: str, tag: str) -> Path:
    report = run / f"by-engine-{tag}-{split}.tsv"
    if not report.exists():
        subprocess.run([sys.executable, "-m", "ds2_tf.cli", "evaluate", "--run", str(run),
                        "--data", str(data), "--split", split, "--report", str(report)],
                       check=True, cwd=ROOT)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the corpus whose test sets score every run")
    parser.add_argument("--runs", nargs="+", required=True, metavar="NAME=RUN")
    parser.add_argument("--real", default=None, help="a prepared corpus of real recordings (split real)")
    parser.add_argument("--splits", nargs="+", default=["test", "test_noisy"])
    parser.add_argument("--label", default="by_engine")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    data = Path(args.data)
    runs = dict(item.split("=", 1) for item in args.runs)
    tag = data.parent.name or "data"
    table: dict[str, dict[str, dict]] = {}
    for split in args.splits:
        speakers = split_speakers(data, split)
        for name, run in runs.items():
            rates = rates_by_engine(evaluate(Path(run), data, split, tag), speakers)
            for engine, value in rates.items():
                table.setdefault(f"{split}: {engine}", {})[name] = value
    if args.real:
        for name, run in runs.items():
            report = evaluate(Path(run), Path(args.real), "real", "real")
            table.setdefault("real recordings", {})[name] = json.loads(
                report.with_suffix(".json").read_text())  # ds2 evaluate's corpus rates
    names = list(runs)
    lines = [f"Greedy CER / WER on `{data}`'s test sets, by the engine of the test voices, "
             "same utterances for every run.", "",
             "| test voices | utterances | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for row, values in table.items():
        count = next(iter(values.values()))["num_utterances"]
        cells = [f"{100 * values[n]['cer']:.1f} / {100 * values[n]['wer']:.1f} %" if n in values
                 else "—" for n in names]
        lines.append(f"| {row} | {count} | " + " | ".join(cells) + " |")
    save(args.out, args.label, {"data": str(data), "runs": runs, "table": table}, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
