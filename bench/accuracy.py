"""Accuracy on voices never heard in training, and on real recordings, with pocketsphinx as reference.

    python bench/accuracy.py [--hours 10] [--minutes 60] [--preset small] [--work bench/out/accuracy]
    python bench/accuracy.py --label many-voices --synth-args "--augment --generated-voices 600"
        [--train-args "--epochs 2 --no-spec-augment"]

Runs the user-facing commands end to end:
  1. ``ds2 synth --augment --noisy-test``: train/dev/test with disjoint voices and sentences, plus
     test_noisy (the test utterances with room reverb and 10 dB noise);
  2. the real recordings shipped in Debian's ``pocketsphinx-testdata`` (LibriVox read speech,
     spoken card names, "go forward ten meters") → ``ds2 prepare``;
  3. ``ds2 train`` for ``--minutes``; ``ds2 lm build`` on the training sentences (and, with
     ``--english-lm``, a second LM that adds ``ds2 lm text``'s public-domain English, every
     sentence overlapping a dev/test or real transcript left out); ``ds2 tune-lm`` on
     ``--tune-limit`` dev utterances; ``ds2 evaluate`` greedy and with each LM on test,
     test_noisy and the real recordings;
  4. ``pocketsphinx_continuous`` (its US English acoustic model and LM) on the same real audio;
  5. bench/results/accuracy.json + accuracy.md (corpus size, speakers, training time, hardware).
Every step is skipped when its output already exists, so an interrupted benchmark resumes.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_speech import POCKETSPHINX as TESTDATA  # noqa: E402
from real_speech import pocketsphinx_rates, pocketsphinx_rows, write_manifest  # noqa: E402
from report import save  # noqa: E402

from ds2_tf.model.run_dir import SUMMARY  # noqa: E402



def ds2(*args: str) -> None:
    cmd = [sys.executable, "-m", "ds2_tf.cli", *args]
    print("+ ds2 " + " ".join(args), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def real_recordings(out_csv: Path) -> list[dict]:
    """Manifest of pocketsphinx-testdata's transcribed recordings (16 kHz mono): the ``real``
    split of bench/real_speech.py, which also builds the larger real sets."""
    rows = pocketsphinx_rows(out_csv.parent)  # sox writes goforward.wav there
    write_manifest(out_csv, rows)
    return rows


def split_speakers(data_dir: Path, split: str) -> dict[str, str]:
    """utt_id → speaker ("engine:voice") of one split, read from its shards."""
    from tfrecords_tools.writer import split_examples

    return {example["utt_id"]: example["speaker"] for example in split_examples(data_dir, split)}


def rates_by_engine(report_tsv: Path, speakers: dict[str, str]) -> dict[str, dict]:
    """Corpus CER/WER per TTS engine of the test voices. Why: espeak-ng variants are 95 % of the
    test utterances, so the overall figure is theirs; Piper's neural voice and the two slt
    voices (HTS, diphone) sound closest to people and tell whether the model learned speech or
    espeak-ng."""
    from ds2_tf.evaluation.metrics import error_rates

    groups: dict[str, tuple[list, list]] = {}
    with open(report_tsv, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            engine = speakers.get(row["utt_id"], "?:").split(":", 1)[0]
            refs, hyps = groups.setdefault(engine, ([], []))
            refs.append(row["reference"])
            hyps.append(row["hypothesis"])
    return {engine: {**error_rates(refs, hyps), "num_utterances": len(refs)}
            for engine, (refs, hyps) in sorted(groups.items())}


def attach_passthrough_values(argv: list[str], flags=("--synth-args", "--train-args")) -> list[str]:
    """``--train-args --no-spec-augment`` → ``--train-args=--no-spec-augment``: argparse takes a
    lone value that starts with ``--`` (and has no space) for an option and stops with an error."""
    out, argv = [], list(argv)
    while argv:
        arg = argv.pop(0)
        out.append(f"{arg}={argv.pop(0)}" if arg in flags and argv else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default="",
                        help="ablation name: results go to accuracy_LABEL.* and work/LABEL")
    parser.add_argument("--synth-args", default="--augment",
                        help="ds2 synth flags for the training corpus, e.g. \"--augment "
                             "--generated-voices 600 --pitch-shift-prob 0.3\" or \"--engines "
                             "flite,festival,piper\" (test voices stay disjoint either way)")
    parser.add_argument("--train-args", default="",
                        help="extra ds2 train flags, e.g. \"--epochs 2 --no-spec-augment\"")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="train on this prepared corpus (e.g. from `ds2 merge`, whose dev/test "
                             "splits are then the test sets) instead of synthesizing one")
    parser.add_argument("--english-lm", action="store_true",
                        help="also decode with an LM on the training sentences + `ds2 lm text`")
    parser.add_argument("--tune-limit", type=int, default=300,
                        help="dev utterances for the LM weight search (results before 2026-12-01 "
                             "used 120)")
    parser.add_argument("--work", default=str(ROOT / "bench" / "out" / "accuracy"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(attach_passthrough_values(sys.argv[1:] if argv is None else argv))
    work = Path(args.work) / args.label if args.label else Path(args.work)
    data, run, real = Path(args.data or work / "data"), work / "run", work / "real"
    timings = {}

    start = time.monotonic()
    if not args.data:
        synthesized_before = (data / "dataset.json").exists()
        ds2("synth", "--out", str(data), "--hours", str(args.hours),
            *shlex.split(args.synth_args), "--noisy-test", "--seed", str(args.seed))
        if not synthesized_before:
            timings["synth_s"] = time.monotonic() - start

    rows = []
    if TESTDATA.is_dir() and not (real / "dataset.json").exists():
        rows = real_recordings(work / "real.csv")
        ds2("prepare", f"real={work / 'real.csv'}", "--out", str(real), "--alphabet", "english",
            "--unknown-chars", "map", "--preset", args.preset)
    elif TESTDATA.is_dir():
        rows = list(csv.DictReader(open(work / "real.csv")))
    else:
        print(f"note: {TESTDATA} missing (apt-get install pocketsphinx-testdata); "
              "no real-recording rows", file=sys.stderr)

    start = time.monotonic()
    trained_before = (run / SUMMARY).exists()
    ds2("train", "--data", str(data), "--out", str(run), "--preset", args.preset,
        "--max-minutes", str(args.minutes), "--precision", args.precision,
        *shlex.split(args.train_args))
    if not trained_before:
        timings["train_wall_s"] = time.monotonic() - start
    lm = work / "lm" / "train.arpa"
    if not lm.exists():
        ds2("lm", "build", "--text", str(data / "lm_text_train.txt"), "--order", "4",
            "--out", str(lm))
    lms = {"lm": (lm, run / "lm.json")}  # decoder name → (LM, tuned settings)
    if args.english_lm:
        english, lm_english = work / "lm" / "english.txt", work / "lm" / "train+english.arpa"
        if not english.exists():
            ds2("lm", "text", "--out", str(english))
        if not lm_english.exists():
            real_manifest = ["--exclude-manifest", str(work / "real.csv")] if rows else []
            ds2("lm", "build", "--text", str(data / "lm_text_train.txt"), "--text", str(english),
                "--exclude-data", str(data), *real_manifest, "--order", "4",
                "--out", str(lm_english))
        lms["lm+english"] = (lm_english, run / "lm_english.json")
    for arpa, settings in lms.values():
        if not settings.exists():
            ds2("tune-lm", "--run", str(run), "--data", str(data), "--split", "dev",
                "--lm", str(arpa), "--limit", str(args.tune_limit), "--beam-width", "64",
                "--alphas", "0.3,0.6,1.0,1.5", "--betas", "0.5,1.5,3", "--save", str(settings))

    sets = [("test", data, "unseen synthetic voices, clean"),
            ("test_noisy", data, "unseen synthetic voices, reverb + 10 dB noise")]
    if rows:
        sets.append(("real", real, "real recordings (pocketsphinx-testdata)"))
    results = []
    for split, folder, label in sets:
        speakers = split_speakers(folder, split) if split != "real" else None
        for decoder in ("greedy", *lms):
            report = run / f"eval-{split}-{decoder.replace('+', '_')}.json"
            if not report.exists():
                lm_flags = []
                if decoder != "greedy":
                    tuned = json.loads(lms[decoder][1].read_text())
                    lm_flags = ["--lm", tuned["lm"], "--alpha", str(tuned["alpha"]),
                                "--beta", str(tuned["beta"]), "--beam-width",
                                str(tuned["beam_width"])]
                ds2("evaluate", "--run", str(run), "--data", str(folder), "--split", split,
                    "--decoder", "greedy" if decoder == "greedy" else "lm", *lm_flags,
                    "--report", str(report.with_suffix(".tsv")))
            results.append({"set": label, "system": f"ds2-tf {args.preset}, {decoder}",
                            **json.loads(report.read_text())})
            if speakers is not None:
                for engine, rates in rates_by_engine(report.with_suffix(".tsv"), speakers).items():
                    results.append({"set": f"{label}: {engine} voices only",
                                    "system": f"ds2-tf {args.preset}, {decoder}", **rates})
    if rows and shutil.which("pocketsphinx_continuous"):
        ps = pocketsphinx_rates(rows)
        results.append({"set": "real recordings (pocketsphinx-testdata)",
                        "system": "pocketsphinx 0.8 (en-us acoustic model + LM)", **ps})

    info = json.loads((data / "dataset.json").read_text())
    summary = json.loads((run / SUMMARY).read_text())
    train = info["splits"]["train"]
    corpus = f"`ds2 synth {args.synth_args}`"
    if args.data:
        merged = [m["data"] for m in train.get("merged_from", [])]
        corpus = f"`{args.data}`" + (f" (`ds2 merge` of {', '.join(merged)})" if merged else "")
    result = {"label": args.label, "data": args.data, "synth_args": args.synth_args,
              "train_args": args.train_args, "tune_limit": args.tune_limit,
              "lm_tuning": {name: {k: v for k, v in json.loads(settings.read_text()).items()
                                   if k != "grid"} for name, (_, settings) in lms.items()},
              "preset": args.preset, "hours_target": args.hours, "precision": args.precision,
              "train_hours": train["hours"], "train_speakers": train["num_speakers"],
              "train_speakers_by_gender": train.get("speakers_by_gender"),
              "test_speakers": info["splits"]["test"]["num_speakers"],
              "training": summary, "timings": timings, "results": results,
              "hardware": f"{platform.processor() or platform.machine()}, "
                          f"{os.cpu_count()} CPU threads"}
    lines = [f"Preset `{args.preset}` trained {summary['train_seconds'] / 60:.0f} min "
             f"({summary['epochs_run']} epochs, {summary['steps']} steps, {args.precision}) on "
             f"{train['hours']:.1f} h of synthetic speech from {train['num_speakers']} training "
             f"speakers{f' ({gender})' if (gender := train.get('speakers_by_gender')) else ''}, "
             f"{corpus}"
             f"{f', `ds2 train {args.train_args}`' if args.train_args else ''}; "
             f"{os.cpu_count()} CPU threads. Test voices and sentences are never seen in "
             f"training.", "",
             "| test set | system | utterances | CER | WER |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['set']} | {r['system']} | {r['num_utterances']} | "
                     f"{100 * r['cer']:.1f} % | {100 * r['wer']:.1f} % |")
    stem = f"accuracy_{args.label}" if args.label else "accuracy"
    previous = Path(args.out) / f"{stem}.json"
    if previous.exists():  # a resumed run keeps the timings of the steps it skipped
        result["timings"] = {**json.loads(previous.read_text()).get("timings", {}), **timings}
    save(args.out, stem, result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
