"""A run directory: what a training run leaves behind and everything downstream loads from it.

RUN/config.json     the RunConfig (single source of truth for hyper-parameters)
RUN/alphabet.json   the output alphabet (blank last)
RUN/best.weights.h5 best-by-dev-WER weights (or the last ones when there is no dev split)
RUN/last.weights.h5 weights at the end of training
RUN/backup/         BackupAndRestore state while training is unfinished
RUN/logs/           TensorBoard logs
"""
from __future__ import annotations

from pathlib import Path

from ds2_tf.alphabet import Alphabet
from ds2_tf.config import RunConfig

CONFIG = "config.json"
ALPHABET = "alphabet.json"
BEST = "best.weights.h5"
LAST = "last.weights.h5"


def run_files(run_dir: str | Path) -> tuple[RunConfig, Alphabet]:
    run_dir = Path(run_dir)
    for name in (CONFIG, ALPHABET):
        if not (run_dir / name).exists():
            raise FileNotFoundError(f"{run_dir / name}: not found (is {run_dir} a `ds2 train` "
                                    "run directory?)")
    return RunConfig.load(run_dir / CONFIG), Alphabet.load(run_dir / ALPHABET)


def load_run(run_dir: str | Path, weights: str = "best", precision: str = "float32"):
    """(model, config, alphabet) with trained weights, rebuilt from config alone in float32."""
    import keras

    from ds2_tf.model import build_model

    run_dir = Path(run_dir)
    config, alphabet = run_files(run_dir)
    path = run_dir / (BEST if weights == "best" else LAST if weights == "last" else weights)
    if not path.exists():
        fallback = run_dir / LAST
        if weights == "best" and fallback.exists():
            path = fallback
        else:
            raise FileNotFoundError(f"{path}: no trained weights (has training finished?)")
    keras.mixed_precision.set_dtype_policy(precision)
    model = build_model(config, alphabet.num_classes)
    model.load_weights(str(path))
    return model, config, alphabet
