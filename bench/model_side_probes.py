"""Is the real-recording gap on the model's side? Greedy CER of one model on dev splits when its
outputs are read differently or its batch norm sees other audio (bench/real_probes.py asks the
same of the input):

- a bias added to the blank's (or the space's) log-probability before the best path: a model
  that hears real speech as too quiet or too fast would gain from one; the greedy decoder has no
  other setting;
- an output ensemble: its log-probabilities averaged with other runs' (e.g. the stages that were
  averaged into it as weights), which catches what weight averaging loses;
- batch-norm statistics re-estimated on other audio (set-level AdaBN): the training mix, real
  speech only, or a dev split's own audio (no transcripts used; a diagnostic upper bound, never
  a result to report, since it has seen the audio it is scored on).

    STATE=... python bench/model_side_probes.py --run ds2_small_en --split dev=DATA:dev \
        --split asterisk_dev=REAL:asterisk_dev --ensemble STAGE_A STAGE_B \
        --bn-from own=REAL:asterisk_dev --bn-from real_train=ITFR:train,GAME:train:500 \
        --label model_side_probes_v18

Choose on dev splits only. Paths under $STATE are written STATE/…
→ bench/results/LABEL.{json,md}
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402

from ds2_tf.data.pipeline import make_dataset  # noqa: E402
from ds2_tf.decoding.ctc import greedy_ids, log_softmax  # noqa: E402
from ds2_tf.evaluation.evaluate import split_outputs  # noqa: E402
from ds2_tf.evaluation.metrics import error_rates  # noqa: E402
from ds2_tf.model.run_dir import load_run  # noqa: E402
from tfrecords_tools.writer import read_dataset_json  # noqa: E402

BLANK_BIASES = (-1.0, -0.5, 0.5, 1.0)
SPACE_BIASES = (-0.5, 0.5, 1.0)


def log_probs(model, config, alphabet, splits: dict) -> dict:
    """name → (references, [log-probabilities per utterance])."""
    out = {}
    for name, (data, split) in splits.items():
        _, refs, outputs = split_outputs(model, config, alphabet, data, split)
        out[name] = (refs, [log_softmax(logits) for logits, _ in outputs])
    return out


def greedy_cer(alphabet, refs, lps, bias: dict[int, float] | None = None) -> float:
    hyps = []
    for lp in lps:
        if bias:
            lp = lp.copy()
            for index, value in bias.items():
                lp[:, index] += value
        hyps.append(alphabet.decode(greedy_ids(lp, len(lp), alphabet.blank_index)))
    return 100 * error_rates(refs, hyps)["cer"]


def batch_norms(model) -> list:
    """Every MaskedBatchNorm of the network: the conv front-end's and each BN-RNN's projection's."""
    return list(model.frontend.norms) + [rnn.norm for rnn in model.rnns if rnn.norm is not None]


def reestimate_batch_norm(model, config, alphabet, sources: list[str]) -> int:
    """Replaces every BN's moving statistics by their mean over the batches of ``sources``
    (DATA:SPLIT[:LIMIT]); returns the number of batches. Each batch is normalized with its own
    statistics on the way, as in training; no weight but the statistics changes."""
    import tensorflow as tf

    norms = batch_norms(model)
    share = tf.Variable(0.0)  # momentum k/(k+1) at batch k: an equal-weight running mean
    saved = [bn.momentum for bn in norms]
    for bn in norms:
        bn.momentum = share
    step = tf.function(lambda x: model(x, training=True), reduce_retracing=True)
    batches = 0
    for source in sources:
        data, split, *limit = source.split(":")
        for x, _ in make_dataset(data, split, config, alphabet,
                                 limit=int(limit[0]) if limit else None):
            share.assign(batches / (batches + 1.0))
            step(x)
            batches += 1
    for bn, momentum in zip(norms, saved):
        bn.momentum = momentum
    return batches


def shown(text: str) -> str:
    """Paths under $STATE (the recipe's training state) written as STATE/…, as the card does."""
    state = os.environ.get("STATE")
    return text.replace(state.rstrip("/"), "STATE") if state else text


def named(values: list[str], what: str) -> dict:
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not rest:
            raise SystemExit(f"{what} {value!r}: expected NAME=...")
        out[name] = rest
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default="ds2_small_en")
    parser.add_argument("--split", action="append", required=True, help="NAME=DATA:SPLIT")
    parser.add_argument("--ensemble", nargs="*", default=[], help="runs to average outputs with")
    parser.add_argument("--bn-from", action="append", default=[],
                        help="NAME=DATA:SPLIT[:LIMIT][,DATA:SPLIT[:LIMIT]...]")
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    splits = {name: tuple(spec.rsplit(":", 1)) for name, spec in
              named(args.split, "--split").items()}
    for name, spec in splits.items():
        try:
            if len(spec) != 2:
                raise ValueError("no ':SPLIT'")
            known = read_dataset_json(spec[0])["splits"]
        except (FileNotFoundError, ValueError) as error:
            raise SystemExit(f"--split {name}={':'.join(spec)}: expected NAME=DATA:SPLIT with "
                             f"DATA a prepared corpus ({error})") from None
        if spec[1] not in known:
            raise SystemExit(f"--split {name}: {spec[0]} has no split {spec[1]!r} "
                             f"(it has {', '.join(known)})")
    bn_sources = {name: spec.split(",") for name, spec in named(args.bn_from, "--bn-from").items()}
    try:
        return probe(args, splits, bn_sources)
    except (FileNotFoundError, ValueError, KeyError) as error:  # a missing run, split or file
        raise SystemExit(f"model_side_probes: {error}") from None


def probe(args, splits: dict, bn_sources: dict) -> int:
    model, config, alphabet = load_run(args.run)
    base = log_probs(model, config, alphabet, splits)
    rows = [("as trained", {n: greedy_cer(alphabet, *base[n]) for n in splits})]
    blank, space = alphabet.blank_index, alphabet.characters.index(" ")
    for value in BLANK_BIASES:
        rows.append((f"blank log-probability {value:+.1f}",
                     {n: greedy_cer(alphabet, *base[n], {blank: value}) for n in splits}))
    for value in SPACE_BIASES:
        rows.append((f"space log-probability {value:+.1f}",
                     {n: greedy_cer(alphabet, *base[n], {space: value}) for n in splits}))
    if args.ensemble:
        others = []
        for run in args.ensemble:
            other, other_config, other_alphabet = load_run(run)
            if other_alphabet.characters != alphabet.characters:
                raise ValueError(f"--ensemble {run}: another alphabet than {args.run}")
            others.append(log_probs(other, other_config, other_alphabet, splits))
        count = len(others) + 1
        for own_share in (1 / count, 0.6):
            rest = (1 - own_share) / len(others)
            cers = {}
            for n in splits:
                mixed = [own_share * lp + rest * sum(o[n][1][i] for o in others)
                         for i, lp in enumerate(base[n][1])]
                cers[n] = greedy_cer(alphabet, base[n][0], mixed)
            rows.append((f"outputs: {own_share:.2f} × this run + {rest:.2f} × each of "
                         f"{len(others)} others", cers))
    for name, sources in bn_sources.items():
        adapted, _, _ = load_run(args.run)
        batches = reestimate_batch_norm(adapted, config, alphabet, sources)
        outputs = log_probs(adapted, config, alphabet, splits)
        rows.append((f"BN statistics from {name} ({batches} batches)",
                     {n: greedy_cer(alphabet, *outputs[n]) for n in splits}))

    lines = [f"Greedy CER of `{args.run}` on dev splits with its outputs read differently or its "
             "batch norm re-estimated (bench/model_side_probes.py; diagnostic).", "",
             "| probe | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    lines += [f"| {probe} | " + " | ".join(f"{c[n]:.2f} %" for n in splits) + " |"
              for probe, c in rows]
    lines += ["", shown("Ensemble runs: " + (", ".join(args.ensemble) or "none") + ". BN sources: "
                        + ("; ".join(f"{k} = {', '.join(v)}" for k, v in bn_sources.items())
                           or "none"))
              + ". A source that is a scored split's own audio is an upper bound, not a result."]
    result = {"run": args.run, "splits": {k: list(v) for k, v in splits.items()},
              "ensemble": args.ensemble, "bn_from": bn_sources,
              "rows": [{"probe": p, "cer": c} for p, c in rows]}
    save(args.out, args.label, json.loads(shown(json.dumps(result))), lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
