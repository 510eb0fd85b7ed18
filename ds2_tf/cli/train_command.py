"""``ds2 train``: flags map to config fields through one table (``TRAIN_FLAGS``)."""
from __future__ import annotations

import argparse

from ds2_tf.config import FEATURE_NORMALIZATIONS, MODEL_PARALLEL, RNN_LOOPS


# flag (argparse dest) → (config section, field): a flag left unset keeps the preset's value.
TRAIN_FLAGS = (
    ("epochs", "train", "epochs"),
    ("precision", "train", "precision"),
    ("batch_frames", "train", "batch_frames"),
    ("learning_rate", "train", "learning_rate"),
    ("optimizer", "train", "optimizer"),
    ("spec_augment", "train", "spec_augment"),
    ("spectral_tilt", "train", "spectral_tilt"),
    ("sortagrad", "train", "sortagrad"),
    ("init_from", "train", "init_from"),
    ("ema", "train", "ema_momentum"),
    ("seed", "train", "seed"),
    ("feature_normalization", "features", "normalization"),
    ("rnn_loop", "model", "rnn_loop"),
    ("model_parallel", "model", "model_parallel"),
)


def config_overrides(args, table=TRAIN_FLAGS) -> dict[str, dict]:
    """{section: {field: value}} for the flags given on the command line."""
    sections: dict[str, dict] = {}
    for dest, section, field in table:
        value = getattr(args, dest)
        if value is not None:
            sections.setdefault(section, {})[field] = value
    return sections


def cmd_train(args) -> int:
    from ds2_tf.training.train import train

    sections = config_overrides(args)
    train(args.data, args.out, preset_name=args.preset, train_overrides=sections.get("train", {}),
          strategy_name=args.strategy, max_minutes=args.max_minutes,
          steps_per_epoch=args.steps_per_epoch, max_dev_utterances=args.max_dev,
          feature_overrides=sections.get("features", {}),
          model_overrides=sections.get("model", {}))
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model with model.fit")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, config)")
    p.add_argument("--preset", default="small", help="tiny | tiny-streaming | small | ds2 | streaming")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-frames", type=int, default=None,
                   help="padded spectrogram frames per batch")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=None)
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                   default=None)
    p.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=None,
                   help="SpecAugment time/frequency masks (default: the preset's setting)")
    p.add_argument("--spectral-tilt", type=float, default=None, metavar="A",
                   help="tilt each training utterance's spectrum by a random first-order filter "
                        "1 − a·z⁻¹, a in [−A, A] (e.g. 0.7; default: the preset's, off): "
                        "robustness to microphones and codecs")
    p.add_argument("--sortagrad", action=argparse.BooleanOptionalAction, default=None,
                   help="first epoch shortest-first (default: the preset's setting); a curriculum "
                        "for training from scratch, which a warm start (--init-from) can skip")
    p.add_argument("--feature-normalization", choices=FEATURE_NORMALIZATIONS, default=None,
                   help="'utterance' also subtracts each utterance's mean log spectrum "
                        "(removes a fixed microphone colouring; not for streaming presets)")
    p.add_argument("--strategy", choices=("auto", "default", "mirrored", "multiworker"),
                   default="auto")
    p.add_argument("--rnn-loop", choices=RNN_LOOPS, default=None,
                   help="how the BN-RNN recurrence runs (same weights): 'auto' = cuDNN where a "
                        "GPU is visible")
    p.add_argument("--model-parallel", choices=MODEL_PARALLEL, default=None,
                   help="'time': split each bidirectional recurrence along time across two "
                        "devices, as the paper (each data-parallel replica takes a pair)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly after this much training time")
    p.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from this run's best weights (fine-tuning; same preset and "
                        "alphabet)")
    p.add_argument("--ema", type=float, default=None, metavar="MOMENTUM",
                   help="average the weights over training (e.g. 0.999 ≈ the last 1000 steps); "
                        "dev metrics, checkpoints and exports use the average (default: off)")
    p.add_argument("--seed", type=int, default=None,
                   help="seeds weight initialisation, the shuffle order and augmentation "
                        "draws (default: the preset's, 1234); runs that differ only in seed "
                        "can be averaged (ds2 average)")
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--max-dev", type=int, default=200,
                   help="dev utterances decoded for WER/CER after each epoch")
    p.set_defaults(func=cmd_train)

