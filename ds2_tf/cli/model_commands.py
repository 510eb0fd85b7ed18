"""``ds2 models``, ``ds2 release`` and ``ds2 average``: the released models shipped in the package
and the runs that may become one."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path


def cmd_models(args) -> int:
    from ds2_tf.model.released import CARD, RELEASED_ROOT, released_models

    names = released_models()
    if args.name:
        if args.name not in names:
            print(f"ds2 models: error: {args.name}: not a released model (released models: "
                  f"{', '.join(names) or 'none installed'})", file=sys.stderr)
            return 2
        names = [args.name]
    for name in names:
        card = json.loads((RELEASED_ROOT / name / CARD).read_text(encoding="utf-8"))
        dev = card.get("dev", {})
        lm = card.get("lm")
        print(f"{name}\tversion {card.get('version', '?')}\tdev CER "
              f"{100 * dev.get('cer', float('nan')):.1f}% ({dev.get('num_utterances', '?')} "
              f"utterances)\t" + (f"LM α {lm['alpha']:g} β {lm['beta']:g}" if lm else "no LM")
              + f"\t{RELEASED_ROOT / name}")
    return 0


def dev_rates(run, data, split, limit) -> dict:
    """Corpus-level rates, plus ``per_utterance``: utterance id → (reference, hypothesis)."""
    from ds2_tf.evaluation.evaluate import evaluate, read_report

    with tempfile.TemporaryDirectory() as tmp:
        rates = evaluate(run, data, split=split, report=Path(tmp) / "eval.tsv", limit=limit)
        rates["per_utterance"] = read_report(Path(tmp) / "eval.tsv")
    return rates


def parse_dev_sets(main_data: str, main_split: str, also: list[str]) -> list[tuple[str, str]]:
    """[(data, split)]: the main dev set first, then each ``--also-dev DATA:SPLIT``."""
    sets = [(main_data, main_split)]
    for item in also:
        data, sep, split = item.rpartition(":")
        if not sep or not data or not split:
            raise ValueError(f"--also-dev {item}: expected DATA:SPLIT "
                             "(e.g. real_speech:asterisk_dev)")
        if not (Path(data) / "dataset.json").is_file():
            raise ValueError(f"--also-dev {item}: {data} is not a prepared corpus "
                             "(no dataset.json)")
        sets.append((data, split))
    return sets


def release_decision(sets: list[dict], confidence: float) -> tuple[bool, str]:
    """Ship when the candidate's CER is lower beyond chance (``better`` ≥ ``confidence``) on at
    least one dev set and higher beyond chance (``worse`` ≥ ``confidence``) on none: a change
    aimed at one kind of speech may leave the other unchanged, but may not cost it."""
    worse = [s["label"] for s in sets if s["worse"] >= confidence]
    if worse:
        return False, f"worse on {', '.join(worse)} beyond chance"
    if not any(s["better"] >= confidence for s in sets):
        best = max(sets, key=lambda s: s["better"])
        return False, (f"not better than the shipped model on any dev set beyond chance (at most "
                       f"{100 * best['better']:.0f} % of resamples, on {best['label']})")
    return True, ""


def score_dev_set(args, candidate_dir, shipped_name, version, data, split, num_sets) -> dict:
    """The candidate's rates on one dev set and, when a model of that name is shipped, the shipped
    model's, with the shares of paired bootstrap resamples where the candidate is lower/higher."""
    from ds2_tf.evaluation.metrics import cer_lower_share

    label = split if num_sets == 1 else f"{Path(data).name}:{split}"
    candidate = dev_rates(candidate_dir, data, split, args.limit)
    print(f"{args.run} (as float16): {label} CER {100 * candidate['cer']:.2f}% WER "
          f"{100 * candidate['wer']:.2f}% ({candidate['num_utterances']} utterances)")
    entry = {"label": label, "data": str(Path(data).resolve()), "split": split,
             **{k: candidate[k] for k in ("cer", "wer", "num_utterances")}}
    if shipped_name:
        shipped = dev_rates(shipped_name, data, split, args.limit)
        entry.update(shipped_cer=shipped["cer"],
                     better=cer_lower_share(shipped["per_utterance"], candidate["per_utterance"]),
                     worse=cer_lower_share(candidate["per_utterance"], shipped["per_utterance"]))
        print(f"{shipped_name} (shipped, version {version - 1}): {label} CER "
              f"{100 * shipped['cer']:.2f}%; the candidate is lower in "
              f"{100 * entry['better']:.0f} % of paired bootstrap resamples (needs "
              f"{100 * args.confidence:g} %), higher in {100 * entry['worse']:.0f} %")
    return entry


def cmd_release(args) -> int:
    """Ship RUN's weights as NAME only when they beat the shipped ones on dev (one or more sets);
    the candidate is RUN's float16 copy, the weights that would ship."""
    from ds2_tf.decoding.lm_beam import copy_lm_settings, load_lm_settings
    from ds2_tf.model.released import (CARD, RELEASED_ROOT, install_release, released_models,
                                       stage_release)

    if not 0 <= args.confidence <= 1:
        raise ValueError(f"--confidence {args.confidence:g}: a share between 0 and 1 (e.g. 0.95)")
    dev_sets = parse_dev_sets(args.data, args.split, args.also_dev)
    shipped_name = args.name if args.name in released_models() else None
    version = 1
    if shipped_name:
        previous = json.loads((RELEASED_ROOT / args.name / CARD).read_text(encoding="utf-8"))
        version = int(previous.get("version", 0)) + 1
    # The candidate is scored as it would ship (its float16 copy), so the decision is about the
    # weights users get, and the same weights as the shipped ones score the same, not a few
    # characters apart from float32 rounding. The scored folder is the one that is installed.
    run = Path(args.run)
    staged = stage_release(run, args.name,
                           add_files=lambda folder: copy_lm_settings(run, folder, compress=True))
    try:
        scored = [score_dev_set(args, staged, shipped_name, version, data, split,
                                len(dev_sets)) for data, split in dev_sets]
        if shipped_name:
            ok, why = release_decision(scored, args.confidence)
            if not ok and not args.force:
                print(f"not released: {args.run}: {why}")
                return 0
        out = install_release(staged, args.name, release_card(args, run, version, scored))
    finally:
        shutil.rmtree(staged, ignore_errors=True)  # refused or failed (installed: moved away)
    lm = load_lm_settings(run)
    print(f"released {args.name} version {version}: {out}"
          + (f" (with its LM, α {lm['alpha']:g}, β {lm['beta']:g})" if lm else
             " (no LM: run `ds2 tune-lm` on the run first to ship one)"))
    return 0


def card_entry(entry: dict) -> dict:
    """One dev set's scores as the card records them."""
    out = {k: entry[k] for k in ("data", "split", "cer", "wer", "num_utterances")}
    if "better" in entry:
        out.update(shipped_cer=entry["shipped_cer"], confidence_better=entry["better"],
                   confidence_worse=entry["worse"])
    return out


def release_card(args, run: Path, version: int, scored: list[dict]) -> dict:
    """The released model's card.json: its dev scores, training summary, corpus and LM."""
    from ds2_tf.decoding.lm_beam import load_lm_settings
    from ds2_tf.model.run_dir import SUMMARY

    summary = run / SUMMARY
    dataset = json.loads((Path(args.data) / "dataset.json").read_text(encoding="utf-8"))
    card = {"name": args.name, "version": version, "source_run": str(run.resolve()),
            "dev": card_entry(scored[0]),
            **({"also_dev": [card_entry(e) for e in scored[1:]]} if len(scored) > 1 else {}),
            "training": json.loads(summary.read_text()) if summary.exists() else None,
            "corpus": {split: {k: info.get(k) for k in ("num_utterances", "hours",
                                                        "num_speakers", "speakers_by_gender")}
                       for split, info in dataset.get("splits", {}).items()},
            "notes": args.notes}
    lm = load_lm_settings(run)
    if lm:  # shipped with the weights: `--decoder lm` works by name, with these α, β
        card["lm"] = {k: lm.get(k) for k in ("alpha", "beta", "beam_width", "tuned_on",
                                              "dev_wer", "dev_cer")}
    return card


def cmd_average(args) -> int:
    """A run whose weights are the weighted mean of several runs' (``ds2_tf.model.averaging``)."""
    from ds2_tf.model.averaging import average_runs

    shares = average_runs(args.run, args.weight or None, args.out)
    parts = " + ".join(f"{share['weight']:.2f} × {share['run']}" for share in shares)
    print(f"averaged {parts} → {args.out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("models", help="list the released models shipped in the package")
    p.add_argument("name", nargs="?", default=None, help="only this one")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("release", help="ship a run's weights as a released model, only if they "
                                       "beat the shipped ones on dev")
    p.add_argument("--run", required=True, help="the candidate run directory (its tuned LM, "
                   "RUN/lm.json from `ds2 tune-lm`, ships with it)")
    p.add_argument("--name", default="ds2_small_en")
    p.add_argument("--data", required=True, help="the corpus whose --split both are scored on")
    p.add_argument("--split", default="dev")
    p.add_argument("--also-dev", action="append", default=[], metavar="DATA:SPLIT",
                   help="another dev set, e.g. real speech (repeatable): the candidate must be "
                        "better beyond chance on at least one set and worse beyond chance on none")
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="release only if the candidate's CER is lower in this share of paired "
                        "bootstrap resamples of a dev split's utterances (a gain within the "
                        "split's noise is not a release: each one adds its weights to git)")
    p.add_argument("--force", action="store_true", help="release even if not better on dev")
    p.add_argument("--notes", default="", help="a line for the card (what changed)")
    p.set_defaults(func=cmd_release)

    p = sub.add_parser("average", help="a run whose weights are the weighted mean of several "
                                       "runs' (fine-tuned from one start), e.g. to release")
    p.add_argument("--run", action="append", required=True, metavar="RUN",
                   help="a run directory or released model name (two or more)")
    p.add_argument("--weight", action="append", type=float, default=[], metavar="W",
                   help="one per --run, in order (default: equal); normalized to sum to 1")
    p.add_argument("--out", required=True, help="the new run directory")
    p.set_defaults(func=cmd_average)
