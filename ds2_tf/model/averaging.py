"""Weight averaging of runs of one network (``ds2 average``): a new run directory whose weights
are a weighted mean of theirs.

Why: a stage fine-tuned towards one kind of speech (e.g. a data mix chosen on real speech) often
trades a little of what its starting point did well for what it gained. Runs that share a starting
point lie in one basin of the loss, so the straight line between their weights stays low-loss and a
point on it can keep most of both (Wortsman et al., 2022, "Robust fine-tuning of zero-shot models"
and "Model soups"; checkpoint averaging as in fairseq's and ESPnet's ``average_checkpoints``).
Averaging runs that did not share a start gives nonsense; nothing here can tell, so the card and
the release gate on dev decide.

Every variable is averaged, batch-norm moving statistics included (for runs of one lineage they
are close; the feature statistics are equal). Integer variables are taken from the first run.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ds2_tf.model.run_dir import (ALPHABET, BEST, CONFIG, SUMMARY, load_run, run_files,
                                  same_network)
from ds2_tf.model.released import resolve_run


def average_runs(runs: list[str | Path], weights: list[float] | None,
                 out: str | Path) -> list[dict]:
    """Writes ``out`` (config, alphabet, best weights and a ``train_summary.json`` whose
    ``averaged_from`` lists each run with its share) and returns that list."""
    if len(runs) < 2:
        raise ValueError("averaging needs at least two runs")
    weights = [1.0] * len(runs) if weights is None else [float(w) for w in weights]
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    if min(weights) <= 0:
        raise ValueError("weights must be positive")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: exists and is not empty")
    config, alphabet = run_files(runs[0])
    for run in runs[1:]:
        other_config, other_alphabet = run_files(run)
        if not same_network(config, other_config):
            raise ValueError(f"{run}: another network or other features than {runs[0]} (presets "
                             f"{other_config.preset!r} and {config.preset!r}): weights cannot be "
                             "averaged")
        if other_alphabet.characters != alphabet.characters:
            raise ValueError(f"{run}: another alphabet than {runs[0]}")
    share = np.asarray(weights) / sum(weights)
    model = total = None
    for run, w in zip(runs, share):
        loaded, _, _ = load_run(run)
        values = loaded.get_weights()
        if model is None:
            model, total = loaded, [np.zeros_like(v, np.float64) if _floating(v) else v
                                    for v in values]
        for i, value in enumerate(values):
            if _floating(value):
                total[i] += w * value.astype(np.float64)
    model.set_weights([t.astype(v.dtype) if _floating(v) else t
                       for t, v in zip(total, model.get_weights())])
    out.mkdir(parents=True, exist_ok=True)
    first = resolve_run(runs[0])
    for name in (CONFIG, ALPHABET):
        shutil.copyfile(first / name, out / name)
    model.save_weights(str(out / BEST))
    sources = [{"run": str(resolve_run(r).resolve()), "weight": float(w)}
               for r, w in zip(runs, share)]
    (out / SUMMARY).write_text(json.dumps({"completed": True, "averaged_from": sources},
                                          indent=1) + "\n")
    return sources


def _floating(value: np.ndarray) -> bool:
    return np.issubdtype(np.asarray(value).dtype, np.floating)
