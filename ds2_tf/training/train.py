"""``ds2 train``: model.fit with SortaGrad, bucketed batches, a distribution strategy and the
callbacks a long run needs (TensorBoard, BackupAndRestore, best-by-dev-WER, NaN guard)."""
from __future__ import annotations

import json
import math
import sys
import time
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from ds2_tf.config import RunConfig, preset
from ds2_tf.data.pipeline import make_dataset
from ds2_tf.model.deepspeech2 import build_model
from ds2_tf.model.run_dir import (
    ALPHABET,
    BEST,
    CONFIG,
    load_weights_file,
    LAST,
    LAST_RAW,
    SUMMARY,
    warm_start_weights,
)
from ds2_tf.private_apis import fit_under_ambient_strategy
from ds2_tf.training.callbacks import (
    AveragedWeightsAtEpochEnd,
    DevMetrics,
    EpochCounter,
    NaNGuard,
    TimeBudget,
)
from ds2_tf.training.devices import choose_strategy, set_precision
from ds2_tf.training.optimizer import make_optimizer
from tfrecords_tools.alphabet import Alphabet
from tfrecords_tools.writer import read_dataset_json

# Bucketed epochs vary in batch count (SortaGrad's epoch differs from shuffled ones); Keras warns.
# Silenced around our own fit only, not at import.
EXPECTED_FIT_WARNINGS = (".*ran out of data.*", ".*`shuffle=True` was passed.*")
TIME_SPENT = "time_spent.json"  # the --max-minutes budget spent so far (TimeBudget)


def estimate_steps(split_info: dict, config: RunConfig) -> int:
    """Batches per epoch, from the split's hours and the padded-frame budget per batch, plus one
    partial last batch per bucket (on a small corpus those are most of the batches; too low an
    estimate would finish the LR schedule early and train the rest at its final rate)."""
    frames = split_info["hours"] * 3600 * config.features.sample_rate_hz / config.features.hop_samples
    full = int(math.ceil(1.15 * frames / config.train.batch_frames))
    return max(1, full + min(config.train.num_buckets, split_info.get("num_utterances", 10 ** 9)))


def resolve_config(out: Path, preset_name: str, train_overrides: dict,
                   feature_overrides: dict | None = None,
                   model_overrides: dict | None = None) -> RunConfig:
    sections = {name: changes for name, changes in
                (("train", train_overrides), ("features", feature_overrides),
                 ("model", model_overrides)) if changes}
    wanted = preset(preset_name).replace(**sections)
    if (out / CONFIG).exists():
        saved = RunConfig.load(out / CONFIG)
        if saved != wanted:
            raise ValueError(f"{out / CONFIG}: this run was started with a different "
                             "configuration; resume with the same flags or use a new --out")
        return saved
    return wanted


def train(data_dir: str, out_dir: str, preset_name: str = "small",
          train_overrides: dict | None = None, strategy_name: str = "auto",
          max_minutes: float | None = None, steps_per_epoch: int | None = None,
          max_dev_utterances: int | None = 200, verbose: int | str = "auto",
          feature_overrides: dict | None = None, model_overrides: dict | None = None) -> dict:
    """Train (or resume) a run; returns the summary also written to RUN/train_summary.json.
    ``model_overrides`` may only change how layers compute (``rnn_loop``, ``model_parallel``…)."""
    policy = keras.mixed_precision.dtype_policy()
    try:
        return _train(data_dir, out_dir, preset_name, train_overrides, strategy_name,
                      max_minutes, steps_per_epoch, max_dev_utterances, verbose,
                      feature_overrides, model_overrides)
    finally:
        keras.mixed_precision.set_dtype_policy(policy)  # --precision must not leak to callers


def _train(data_dir, out_dir, preset_name, train_overrides, strategy_name, max_minutes,
           steps_per_epoch, max_dev_utterances, verbose, feature_overrides=None,
           model_overrides=None) -> dict:
    out = Path(out_dir)
    config = resolve_config(out, preset_name, train_overrides or {}, feature_overrides,
                            model_overrides)  # flags first
    info = read_dataset_json(data_dir)
    if "train" not in info.get("splits", {}):
        raise ValueError(f"{data_dir}/dataset.json has no 'train' split")
    summary_path = out / SUMMARY
    if summary_path.exists() and (out / LAST).exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("completed"):
            print(f"{out}: training already completed ({summary['epochs_run']} epochs); "
                  "nothing to do", file=sys.stderr)
            return summary
    # Before other TF work (MultiWorker requires it).
    strategy = choose_strategy(strategy_name, config.model.model_parallel)
    set_precision(config.train.precision)
    alphabet = Alphabet.from_json(info["alphabet"])
    init_weights = config.train.init_from and \
        warm_start_weights(config, alphabet, config.train.init_from)  # checked before any output
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / CONFIG)
    alphabet.save(out / ALPHABET)
    keras.utils.set_random_seed(config.train.seed)

    replicas = strategy.num_replicas_in_sync
    steps = steps_per_epoch or estimate_steps(info["splits"]["train"], config)
    total_steps = steps * config.train.epochs
    with strategy.scope():
        model = build_model(config, alphabet.num_classes)
        stats = info.get("feature_stats")
        if stats:
            model.set_feature_statistics(stats["mean"], stats["std"])
        else:
            print("warning: dataset.json has no feature statistics; features are unnormalized",
                  file=sys.stderr)
        if init_weights:
            load_weights_file(model, init_weights)
            print(f"starting from {init_weights} (with its feature statistics)", file=sys.stderr)
        # Fraction of the time budget spent (0 without one): the schedule anneals by the deadline.
        budget_progress = tf.Variable(0.0, trainable=False, name="budget_progress")
        model.compile(optimizer=make_optimizer(config.train, total_steps, budget_progress))
        model.optimizer.build(model.trainable_variables)
        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="sortagrad_epoch")

    train_ds = make_dataset(data_dir, "train", config, alphabet, training=True,
                            replicas=replicas, epoch=epoch)
    if steps_per_epoch:
        train_ds = train_ds.repeat()
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds = train_ds.with_options(options)

    log_dir = out / "logs"
    callbacks: list[keras.callbacks.Callback] = [EpochCounter(epoch), NaNGuard()]
    backup = out / "backup"  # BackupAndRestore's; it exists while a run is unfinished
    budget = TimeBudget(max_minutes, budget_progress, spent_file=out / TIME_SPENT,
                        resuming=backup.is_dir())
    callbacks.append(budget)
    averaging = AveragedWeightsAtEpochEnd() if config.train.ema_momentum > 0 else None
    if averaging:  # before everything that reads the weights at epoch end
        callbacks.append(averaging)
    monitor = "loss"
    if "dev" in info["splits"] and max_dev_utterances != 0:
        dev_ds = make_dataset(data_dir, "dev", config, alphabet, with_meta=True,
                              limit=max_dev_utterances)
        callbacks.append(DevMetrics(dev_ds, alphabet, log_dir))
        monitor = "dev_selection"
    callbacks += [
        keras.callbacks.ModelCheckpoint(str(out / BEST), monitor=monitor, mode="min",
                                        save_best_only=True, save_weights_only=True),
        keras.callbacks.BackupAndRestore(str(backup),
                                         save_freq=max(1, min(200, steps // 2)),
                                         double_checkpoint=True),
        keras.callbacks.TensorBoard(str(log_dir), update_freq=max(1, steps // 10),
                                    write_graph=False),
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
    ]
    if replicas > 1:
        # keras-team/keras#20329: before fit, Keras 3 "symbolically builds" a model made under a
        # strategy by calling strategy.reduce on the whole nested input batch, which
        # tf.distribute does not support (dict inputs fail under MultiWorkerMirroredStrategy).
        # Model and optimizer are fully built above, so that step has nothing to do; without a
        # model-level strategy, fit uses the ambient one: the scope entered below.
        fit_under_ambient_strategy(model)
    start = time.monotonic()
    with strategy.scope(), warnings.catch_warnings():
        for message in EXPECTED_FIT_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        history = model.fit(train_ds, epochs=config.train.epochs, callbacks=callbacks,
                            steps_per_epoch=steps_per_epoch, verbose=verbose)
    elapsed = time.monotonic() - start
    model.save_weights(str(out / LAST))
    if averaging:
        averaging.save_raw_weights(out / LAST_RAW)
    if not (out / BEST).exists():
        model.save_weights(str(out / BEST))
    epochs_run = len(history.history.get("loss", []))
    summary = {"completed": True, "stopped_by_time_budget": budget.expired,
               "epochs_run": epochs_run, "train_seconds": round(elapsed, 1),
               "steps": int(model.optimizer.iterations.numpy()), "replicas": replicas,
               "precision": config.train.precision,
               "final": {k: float(v[-1]) for k, v in history.history.items() if v}}
    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
    return summary
