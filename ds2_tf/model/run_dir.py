"""A run directory: what a training run leaves behind and everything downstream loads from it.

RUN/config.json     the RunConfig (single source of truth for hyper-parameters)
RUN/alphabet.json   the output alphabet (blank last)
RUN/best.weights.h5 best-by-dev-WER weights (or the last ones when there is no dev split)
RUN/last.weights.h5 weights at the end of training
RUN/backup/         BackupAndRestore state while training is unfinished
RUN/logs/           TensorBoard logs

Wherever a run directory is accepted, the name of a released model works too
(:mod:`ds2_tf.model.released`).
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ds2_tf.config import RunConfig
from ds2_tf.model.released import F16_WEIGHTS, load_f16_weights, resolve_run
from tfrecords_tools.alphabet import Alphabet

CONFIG = "config.json"
ALPHABET = "alphabet.json"
BEST = "best.weights.h5"
LAST = "last.weights.h5"
LAST_RAW = "last_raw.weights.h5"  # with --ema: the final weights before averaging
SUMMARY = "train_summary.json"  # written when training completed (or the run was averaged)


def run_files(run_dir: str | Path) -> tuple[RunConfig, Alphabet]:
    run_dir = resolve_run(run_dir)
    for name in (CONFIG, ALPHABET):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name}: not found (is {run_dir} a `ds2 train` "
                                    "run directory?)")
    return RunConfig.load(run_dir / CONFIG), Alphabet.load(run_dir / ALPHABET)


def weights_path(run_dir: str | Path, weights: str = "best") -> Path:
    """RUN/best.weights.h5 (falling back to the last ones), RUN/last.weights.h5, or a file name;
    a released model's float16 weights."""
    run_dir = resolve_run(run_dir)
    if (run_dir / F16_WEIGHTS).exists() and not (run_dir / BEST).exists():
        return run_dir / F16_WEIGHTS
    path = run_dir / (BEST if weights == "best" else LAST if weights == "last" else weights)
    if not path.exists():
        fallback = run_dir / LAST
        if weights == "best" and fallback.exists():
            return fallback
        raise FileNotFoundError(f"{path}: no trained weights (has training finished?)")
    return path


def load_run(run_dir: str | Path, weights: str = "best", precision: str = "float32"):
    """(model, config, alphabet) with trained weights, rebuilt from config alone in ``precision``
    (float32 by default); the caller's global dtype policy is left as it was."""
    from ds2_tf.model.deepspeech2 import build_model

    config, alphabet = run_files(run_dir)
    path = weights_path(run_dir, weights)
    model = build_model(config, alphabet.num_classes, precision=precision)
    load_weights_file(model, path)
    return model, config, alphabet


def load_weights_file(model, path: str | Path) -> None:
    """Keras .weights.h5 or a released model's float16 .npz; a damaged file is one clear error."""
    path = Path(path)
    if path.name.endswith(".npz"):
        load_f16_weights(model, path)
        return
    try:
        model.load_weights(str(path))
    except (OSError, KeyError, ValueError, EOFError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot read the weights ({reason[:120]}); the file is "
                         "truncated, damaged or from another network") from None


# How layers compute (conv_algorithm, rnn_loop, model_parallel) does not change the weights.
COMPUTE_ONLY = {"conv_algorithm": "auto", "rnn_loop": "auto", "model_parallel": "none"}


def same_layers(a: RunConfig, b: RunConfig) -> bool:
    """Whether the two configs build the same layers, so that weights of one fit the other."""
    return (dataclasses.replace(a.model, **COMPUTE_ONLY)
            == dataclasses.replace(b.model, **COMPUTE_ONLY))


def same_network(a: RunConfig, b: RunConfig) -> bool:
    """The same layers on the same features: weights that mean the same thing in both."""
    return same_layers(a, b) and a.features == b.features


def warm_start_weights(config: RunConfig, alphabet: Alphabet, source_run: str | Path) -> Path:
    """The weights file a run fine-tuned from ``source_run`` starts from, once the network,
    features and alphabet are checked to match. Loading it also brings the source's feature
    mean/std, which replace the new corpus's: its first layers learned on features normalized
    that way. The per-utterance mean subtraction (``normalization``) may change: the input keeps
    its shape and scale and loses only a per-utterance offset, which fine-tuning adapts to (a
    note says so)."""
    source_config, source_alphabet = run_files(source_run)
    same_features = dataclasses.replace(source_config.features,
                                        normalization=config.features.normalization)
    if not same_layers(source_config, config) or same_features != config.features:
        if same_features != config.features:
            differs, theirs, mine = ("features", f", {source_config.features}",
                                     f", {config.features}")
        else:  # the presets name the networks
            differs, theirs, mine = "networks", "", ""
        raise ValueError(f"{source_run}: --init-from needs the same network and features; the "
                         f"{differs} differ (that run is preset {source_config.preset!r}"
                         f"{theirs}; this one {config.preset!r}{mine})")
    if source_config.features.normalization != config.features.normalization:
        print(f"note: {source_run} was trained with {source_config.features.normalization!r} "
              f"feature normalization, this run uses {config.features.normalization!r}: its "
              "first layers adapt as it trains", file=sys.stderr)
    if source_alphabet.characters != alphabet.characters:
        raise ValueError(f"{source_run}: --init-from needs the same alphabet as the corpus "
                         f"({len(source_alphabet.characters)} vs {len(alphabet.characters)} "
                         "characters)")
    return weights_path(source_run)
