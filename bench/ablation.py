"""Voice-diversity and augmentation ablation: one model, one training budget, one set of test data.

    python bench/ablation.py [--rows plain6 many ...] [--hours 3] [--epochs 2]
    python bench/ablation.py --table-only

Each row runs ``bench/accuracy.py`` (synth → train → LM → evaluate) with its own training corpus.
Every row uses the same seed, so dev, test, test_noisy and the real recordings are *identical*
utterances across rows: ``ds2 synth`` splits voices before ``--train-engines`` filters the
training pool, generated voices only ever train, and augmentation only touches train. The
training budget is the same number of epochs over the same number of hours (so the same number
of steps, give or take a batch). Rows that already have results are not run again; the table
(bench/results/ablation.md) lists every row, and "not run" where a row has no result yet.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402

HERE = Path(__file__).resolve().parent
MANY = "--generated-voices 400"  # + every installed engine voice (espeak-ng variants, Kokoro, …)
ONLY = "--augment --speed 1:1 --pitch 40:60 --reverb-prob 0 --noise-prob 0"  # one effect at a time
NO_SPEC = "--no-spec-augment"

# label → (what the row adds, ds2 synth flags, ds2 train flags)
ROWS: dict[str, tuple[str, str, str]] = {
    "plain6": ("six plain voices (flite kal/kal16/awb/rms, festival kal/ked), no augmentation",
               "--train-engines flite,festival", NO_SPEC),
    "many": ("many speakers: all engine voices + 400 generated espeak-ng voices", MANY, NO_SPEC),
    "speed": ("many + speed perturbation 0.9–1.1", f"{MANY} {ONLY} --speed 0.9:1.1", NO_SPEC),
    "pitch": ("many + pitch/formant shift (−200…+500 cents, 50 %)",
              f"{MANY} {ONLY} --pitch-shift-prob 0.5", NO_SPEC),
    "reverb": ("many + room reverb (RT60 0.2–0.7 s, 50 %)", f"{MANY} {ONLY} --reverb-prob 0.5",
               NO_SPEC),
    "noise": ("many + additive noise (SNR 5–30 dB, 50 %)",
              f"{MANY} {ONLY} --noise-prob 0.5 --snr 5:30", NO_SPEC),
    "telephone": ("many + telephone band (30 %)", f"{MANY} {ONLY} --telephone-prob 0.3", NO_SPEC),
    "specaugment": ("many + SpecAugment masks", MANY, "--spec-augment"),
    "all": ("all together",
            f"{MANY} --augment --speed 0.9:1.1 --pitch 30:70 --reverb-prob 0.3 --noise-prob 0.3 "
            "--snr 5:30 --pitch-shift-prob 0.3 --telephone-prob 0.1", "--spec-augment"),
}
SETS = (("unseen synthetic voices, clean", "clean"),
        ("unseen synthetic voices, reverb + 10 dB noise", "noisy"),
        ("real recordings (pocketsphinx-testdata)", "real"))


def rates(result: dict) -> dict[tuple[str, str], dict]:
    """(set short name, decoder) → the evaluation entry, from one accuracy_LABEL.json."""
    out = {}
    for entry in result["results"]:
        short = dict(SETS).get(entry["set"])
        if short and entry["system"].startswith("ds2-tf"):
            out[(short, entry["system"].rsplit(", ", 1)[1])] = entry
    return out


def table(results_dir: Path, labels: list[str]) -> tuple[dict, list[str]]:
    lines = ["| row | training speakers (f/m) | train h | steps | train min | "
             "clean CER greedy / LM | clean WER greedy / LM | noisy CER greedy / LM | "
             "noisy WER greedy / LM | real CER greedy / LM | real WER greedy / LM |", "|---" * 11 + "|"]
    found, setup = {}, None
    for label in labels:
        path = results_dir / f"accuracy_{label}.json"
        what = ROWS[label][0]
        if not path.exists():
            lines.append(f"| {label}: {what} | not run | | | | | | | | | |")
            continue
        result = json.loads(path.read_text())
        found[label] = result
        setup = setup or result
        r = rates(result)
        pct = lambda s, d, k="cer": f"{100 * r[(s, d)][k]:.1f}" if (s, d) in r else "–"  # noqa
        gender = result.get("train_speakers_by_gender") or {}
        t = result["training"]
        cells = [f"{label}: {what}",
                 f"{result['train_speakers']} ({gender.get('f', 0)}/{gender.get('m', 0)})",
                 f"{result['train_hours']:.2f}", str(t["steps"]), f"{t['train_seconds'] / 60:.0f}"]
        for short in ("clean", "noisy", "real"):
            cells += [f"{pct(short, 'greedy')} / {pct(short, 'lm')} %",
                      f"{pct(short, 'greedy', 'wer')} / {pct(short, 'lm', 'wer')} %"]
        lines.append("| " + " | ".join(cells) + " |")
    if setup:
        n = {short: entry["num_utterances"] for (short, decoder), entry in rates(setup).items()
             if decoder == "greedy"}
        ps = next((e for e in setup["results"] if e["system"].startswith("pocketsphinx")), None)
        lines += ["", f"Preset `{setup['preset']}`, {setup['precision']}, the same epochs for every "
                  f"row; {setup['hardware']}. Test utterances (identical in every row): "
                  f"{n.get('clean', 0)} clean and {n.get('noisy', 0)} noisy from voices never "
                  f"used in training, {n.get('real', 0)} real recordings."
                  + (f" pocketsphinx on the real recordings: {100 * ps['cer']:.1f} % CER, "
                     f"{100 * ps['wer']:.1f} % WER." if ps else "")]
    return found, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=list(ROWS), default=list(ROWS))
    parser.add_argument("--hours", type=float, default=3.0, help="corpus hours per row")
    parser.add_argument("--epochs", type=int, default=2, help="the training budget of every row")
    parser.add_argument("--minutes", type=float, default=120.0,
                        help="safety cap on training time per row (the budget is --epochs)")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--work", default=str(HERE / "out" / "ablation"))
    parser.add_argument("--out", default=str(HERE / "results"))
    args = parser.parse_args()
    if not args.table_only:
        for label in args.rows:
            if (Path(args.out) / f"accuracy_{label}.json").exists():
                continue
            _, synth_args, train_args = ROWS[label]
            subprocess.run([sys.executable, str(HERE / "accuracy.py"), "--label", label,
                            "--hours", str(args.hours), "--minutes", str(args.minutes),
                            "--preset", args.preset, "--precision", args.precision,
                            "--synth-args", synth_args,
                            "--train-args", f"--epochs {args.epochs} {train_args}",
                            "--work", args.work, "--out", args.out], check=True)
            found, lines = table(Path(args.out), list(ROWS))
            save(args.out, "ablation", {"rows": found}, lines)
    found, lines = table(Path(args.out), list(ROWS))
    save(args.out, "ablation", {"rows": found}, lines)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
