"""Runs compared on the same utterances, from their `ds2 evaluate --report` files, with a paired
bootstrap against a control: which differences a split can tell from noise.

    python bench/compare_runs.py --label NAME --control A=DIR_A B=DIR_B ... \
        [--splits asterisk_dev dev asterisk_test] [--decoder greedy] [--notes "..."]

Each DIR holds ``eval-SPLIT-DECODER.tsv`` (e.g. written with ``ds2 evaluate --report``). For each
split: every run's corpus-level CER and WER, and the share of 2000 paired resamples of the
utterances in which its CER is below the control's (``ds2_tf.evaluation.metrics
.cer_lower_share``, the test ``ds2 release`` uses). A run or split without a report is left out
with a one-line note. → bench/results/NAME.{json,md}
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import save  # noqa: E402

from ds2_tf.evaluation.evaluate import read_report  # noqa: E402
from ds2_tf.evaluation.metrics import cer_lower_share, error_rates  # noqa: E402


def compare(runs: dict[str, Path], control: str, splits: list[str], decoder: str) -> dict:
    """{split: {run: {cer, wer, num_utterances, lower_than_control}}}"""
    result = {}
    for split in splits:
        reports = {}
        for name, folder in runs.items():
            path = folder / f"eval-{split}-{decoder}.tsv"
            if path.is_file():
                reports[name] = read_report(path)
            else:
                print(f"note: {name}: {path} missing; left out", file=sys.stderr)
        if not reports:
            continue
        result[split] = {}
        base = reports.get(control)
        for name, report in reports.items():
            ids = sorted(report)
            rates = error_rates([report[i][0] for i in ids], [report[i][1] for i in ids])
            entry = {"cer": rates["cer"], "wer": rates["wer"], "num_utterances": len(ids)}
            if base is not None and name != control:
                try:
                    entry["lower_than_control"] = cer_lower_share(base, report)
                except ValueError:  # no utterance with a reference in both: nothing to test
                    pass
            result[split][name] = entry
    return result


def table(result: dict, control: str) -> list[str]:
    lines = ["| split | run | utterances | CER | WER | CER below the control's in |",
             "|---|---|---|---|---|---|"]
    for split, entries in result.items():
        for name, e in entries.items():
            share = (f"{100 * e['lower_than_control']:.0f} % of resamples"
                     if "lower_than_control" in e else ("(control)" if name == control else "—"))
            lines.append(f"| {split} | {name} | {e['num_utterances']} | {100 * e['cer']:.2f} % | "
                         f"{100 * e['wer']:.1f} % | {share} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="NAME=DIR")
    parser.add_argument("--control", required=True, help="the NAME the others are tested against")
    parser.add_argument("--label", required=True, help="bench/results/LABEL.{json,md}")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--decoder", default="greedy")
    parser.add_argument("--notes", default="",
                        help="a paragraph above the table (what each run is)")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            parser.error(f"{item!r}: expected NAME=DIR")
        if not Path(folder).is_dir():
            parser.error(f"{name}: {folder} is not a directory")
        runs[name] = Path(folder)
    if args.control not in runs:
        parser.error(f"--control {args.control}: not one of {', '.join(runs)}")
    result = compare(runs, args.control, args.splits, args.decoder)
    if not result:
        print(f"error: no eval-SPLIT-{args.decoder}.tsv report for any of {args.splits}",
              file=sys.stderr)
        return 1
    lines = ([args.notes, ""] if args.notes else []) + [
        f"{args.decoder} decoding; paired bootstrap (2000 resamples of each split's utterances) "
        f"against `{args.control}`.", ""] + table(result, args.control)
    save(args.results, args.label, {"control": args.control, "decoder": args.decoder,
                                    "runs": {k: str(v) for k, v in runs.items()},
                                    "splits": result, "notes": args.notes}, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
