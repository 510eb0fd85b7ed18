"""``ds2 train``: model.fit with SortaGrad, bucketed batches, a distribution strategy and the
callbacks a long run needs (TensorBoard, BackupAndRestore, best-by-dev-WER, NaN guard)."""
from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from ds2_tf.alphabet import Alphabet
from ds2_tf.config import RunConfig, preset
from ds2_tf.data import make_dataset
from ds2_tf.decode import greedy_decode
from ds2_tf.metrics import error_rates
from ds2_tf.model import build_model
from ds2_tf.run import ALPHABET, BEST, CONFIG, LAST, LAST_RAW, warm_start_weights
from tfrecords_tools.writer import read_dataset_json

# Bucketed epochs vary in batch count (SortaGrad's epoch differs from shuffled ones); Keras warns.
warnings.filterwarnings("ignore", message=".*ran out of data.*")
warnings.filterwarnings("ignore", message=".*`shuffle=True` was passed.*")


class NonFiniteLoss(RuntimeError):
    pass


# ---- strategy and precision ---------------------------------------------------------------------
def choose_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """TF_CONFIG → MultiWorkerMirrored; >1 GPU → Mirrored; otherwise the default strategy."""
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in gpus] or [d.name for d in cpus]
        return tf.distribute.MirroredStrategy(devices)
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {name!r} (auto, default, mirrored, multiworker)")


BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    try:
        with open(cpuinfo) as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def set_precision(precision: str) -> None:
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    if precision == "mixed_float16" and not on_gpu:
        raise ValueError("--precision mixed_float16 needs a GPU; use mixed_bfloat16 on CPUs "
                         "with AMX/AVX512-BF16, or float32")
    flags = None if on_gpu else cpu_flags()
    if precision == "mixed_bfloat16" and flags is not None and not flags & BFLOAT16_CPU_FLAGS:
        # An AMD EPYC (Zen 3: AVX2, no AVX-512) ran `small` at 10.3 s/step in mixed_bfloat16 and
        # 6.9 s in float32 (bench/results/epyc_zen3_avx2/).
        print("warning: this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16), so "
              "mixed_bfloat16 is emulated and usually slower than float32 here", file=sys.stderr)
    keras.mixed_precision.set_dtype_policy(precision)


# ---- optimizer ----------------------------------------------------------------------------------
class BudgetCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Warm-up, then cosine annealing over the run's *progress*: the larger of the step fraction
    and the fraction of the time budget spent (``progress``, a variable TimeBudget updates).

    Why: a run cut by --max-minutes (the demo: ~300 of 20 000 scheduled steps) would otherwise
    end at its peak rate, noisy and un-annealed; with a budget it anneals by the deadline. Warm-up
    ends after ``warmup_steps`` or 5 % of the progress, whichever comes first.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int, final_fraction: float,
                 progress: tf.Variable | None = None):
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps
        self.final_fraction, self.progress = final_fraction, progress

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        done = step / float(max(1, self.total_steps))
        if self.progress is not None:
            done = tf.maximum(done, tf.cast(self.progress, tf.float32))
        done = tf.clip_by_value(done, 0.0, 1.0)
        warm = tf.minimum(1.0, tf.maximum((step + 1.0) / float(max(1, self.warmup_steps)),
                                          done / 0.05))
        cosine = self.final_fraction + (1 - self.final_fraction) * 0.5 * (1 + tf.cos(math.pi * done))
        return self.peak * warm * cosine

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "final_fraction": self.final_fraction}


def make_schedule(train, total_steps: int, progress: tf.Variable | None = None) -> BudgetCosine:
    """Warm-up, then cosine to the end of the planned run (epochs × steps) or of decay_steps,
    whichever comes first: a 2-epoch run would otherwise end at its peak rate."""
    warmup = min(train.warmup_steps, max(1, total_steps // 5))
    decay = min(train.decay_steps, total_steps) if train.decay_steps else total_steps
    return BudgetCosine(train.learning_rate, warmup, decay, train.final_lr_fraction, progress)


def make_optimizer(train, total_steps: int,
                   progress: tf.Variable | None = None) -> keras.optimizers.Optimizer:
    """Adam or SGD with a BudgetCosine schedule (``progress``: fraction of the time budget used)."""
    schedule = make_schedule(train, total_steps, progress)
    common = {"global_clipnorm": train.clipnorm, "use_ema": train.ema_momentum > 0,
              "ema_momentum": train.ema_momentum}  # read only with use_ema
    if train.optimizer == "adam":
        return keras.optimizers.Adam(schedule, **common)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=train.momentum, nesterov=True, **common)
    raise ValueError(f"unknown optimizer {train.optimizer!r} (adam or sgd)")


def estimate_steps(split_info: dict, config: RunConfig) -> int:
    """Batches per epoch, from the split's hours and the padded-frame budget per batch, plus one
    partial last batch per bucket (on a small corpus those are most of the batches; too low an
    estimate would finish the LR schedule early and train the rest at its final rate)."""
    frames = split_info["hours"] * 3600 * config.features.sample_rate_hz / config.features.hop_samples
    full = int(math.ceil(1.15 * frames / config.train.batch_frames))
    return max(1, full + min(config.train.num_buckets, split_info.get("num_utterances", 10 ** 9)))


# ---- callbacks ----------------------------------------------------------------------------------
class EpochCounter(keras.callbacks.Callback):
    """Tells the input pipeline which epoch it is (SortaGrad: epoch 0 shortest-first)."""

    def __init__(self, epoch: tf.Variable):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


class NaNGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss, naming the step, before any checkpoint can save it."""

    def __init__(self):
        super().__init__()
        self.current_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            step = int(self.model.optimizer.iterations.numpy())
            raise NonFiniteLoss(f"training stopped: loss became {loss} at epoch "
                                f"{self.current_epoch + 1}, batch {batch + 1} (global step {step}); "
                                "lower --learning-rate or check the data; the last backup is kept")


class TimeBudget(keras.callbacks.Callback):
    """Ends training cleanly (callbacks and checkpoints still run) after ``minutes``, and keeps
    ``progress`` (the learning-rate schedule's view of the budget) at the fraction spent."""

    def __init__(self, minutes: float | None, progress: tf.Variable | None = None):
        super().__init__()
        self.seconds = None if minutes is None else minutes * 60
        self.progress = progress
        self.start = time.monotonic()
        self.expired = False

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is None:
            return
        spent = time.monotonic() - self.start
        if self.progress is not None:
            self.progress.assign(min(1.0, spent / self.seconds))
        if spent > self.seconds:
            self.expired = True
            self.model.stop_training = True


class AveragedWeightsAtEpochEnd(keras.callbacks.Callback):
    """Puts the optimizer's moving-average (EMA) weights in the model at each epoch end, for the
    dev metrics and checkpoints after it in the callback list, and the raw weights back when the
    next epoch starts, so the optimization itself is unchanged. The average also stays in the
    optimizer, so ``fit``'s closing ``finalize_variable_values`` leaves it in the model however
    the run ends.

    Why not Keras' SwapEMAWeights(swap_on_epoch=True): it *swaps* the two sets of values, so a
    run that stops before its last planned epoch (--max-minutes, the usual case here) ends
    with the raw weights, which ``finalize_variable_values`` copies back from the optimizer."""

    def __init__(self):
        super().__init__()
        self._raw = None

    def _pairs(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
        return list(zip(optimizer._trainable_variables, optimizer._model_variables_moving_average))

    def on_epoch_end(self, epoch, logs=None):
        self._raw = self._weights()
        self._assign([average for _, average in self._pairs()])

    def on_epoch_begin(self, epoch, logs=None):
        if self._raw is not None:
            self._assign(self._raw)
            self._raw = None

    def _weights(self):
        return [variable.numpy() for variable, _ in self._pairs()]

    def _assign(self, values):
        for (variable, _), value in zip(self._pairs(), values):
            variable.assign(value)

    def save_raw_weights(self, path) -> None:
        """After fit: the last epoch's raw (un-averaged) weights to ``path``, the model keeping
        the averaged ones. Why: evaluating both shows what the averaging bought on this run.
        Nothing to save when no epoch ran (a resumed run that had already finished its epochs)."""
        if self._raw is None:
            return
        averaged = self._weights()
        self._assign(self._raw)
        self.model.save_weights(str(path))
        self._assign(averaged)


SATURATED_WER = 0.9


def selection_score(wer: float, cer: float) -> float:
    """What the best checkpoint minimizes: dev WER, except while WER is saturated (≥ 90 %: early
    training gets almost no word right, and WER then barely moves or even rises as the model
    starts emitting words), when dev CER ranks the checkpoints. Any unsaturated WER beats
    any saturated one (1 + CER ≥ 1 > 0.9)."""
    return wer if wer < SATURATED_WER else 1.0 + cer


class DevMetrics(keras.callbacks.Callback):
    """After each epoch: greedy-decode the dev set → dev_wer/dev_cer in the logs, sample
    transcripts and a spectrogram to TensorBoard. Runs before ModelCheckpoint and TensorBoard."""

    def __init__(self, dataset: tf.data.Dataset, alphabet: Alphabet, log_dir: Path):
        super().__init__()
        self.dataset = dataset
        self.alphabet = alphabet
        self.writer = tf.summary.create_file_writer(str(log_dir / "dev"))
        self._infer = None

    def transcribe(self):
        if self._infer is None:
            self._infer = tf.function(lambda x: self.model(x, training=False),
                                      reduce_retracing=True)
        refs, hyps, ids = [], [], []
        for x, _, meta in self.dataset:
            out = self._infer(x)
            hyps += greedy_decode(out["logits"].numpy(), out["output_length"].numpy(),
                                  self.alphabet)
            refs += [t.decode("utf-8") for t in meta["transcript"].numpy()]
            ids += [u.decode("utf-8") for u in meta["utt_id"].numpy()]
        return refs, hyps, ids

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        refs, hyps, ids = self.transcribe()
        rates = error_rates(refs, hyps)
        logs["dev_wer"], logs["dev_cer"] = rates["wer"], rates["cer"]
        logs["dev_selection"] = selection_score(rates["wer"], rates["cer"])
        lr = self.model.optimizer.learning_rate
        logs["learning_rate"] = float(lr.numpy() if hasattr(lr, "numpy") else lr)
        with self.writer.as_default(step=epoch):
            tf.summary.scalar("wer", rates["wer"])
            tf.summary.scalar("cer", rates["cer"])
            lines = [f"`{i}`  \nref: {r}  \nhyp: {h}" for i, r, h in list(zip(ids, refs, hyps))[:4]]
            tf.summary.text("transcripts", "\n\n".join(lines))
            for x, _, _ in self.dataset.take(1):
                features, frames = self.model.spectrogram(x["waveform"][:1], x["num_samples"][:1])
                image = features[0, : int(frames[0])]
                image = (image - tf.reduce_min(image)) / (tf.reduce_max(image) - tf.reduce_min(image) + 1e-6)
                tf.summary.image("spectrogram", tf.reverse(tf.transpose(image), [0])[None, :, :, None])
        self.writer.flush()
        print(f"\nepoch {epoch + 1}: dev WER {100 * rates['wer']:.1f}%  CER "
              f"{100 * rates['cer']:.1f}%  | {hyps[0]!r} ← {refs[0]!r}" if refs else "", file=sys.stderr)


# ---- the command --------------------------------------------------------------------------------
def resolve_config(out: Path, preset_name: str, train_overrides: dict,
                   feature_overrides: dict | None = None) -> RunConfig:
    sections = {name: changes for name, changes in
                (("train", train_overrides), ("features", feature_overrides)) if changes}
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
          feature_overrides: dict | None = None) -> dict:
    """Train (or resume) a run; returns the summary also written to RUN/train_summary.json."""
    policy = keras.mixed_precision.dtype_policy()
    try:
        return _train(data_dir, out_dir, preset_name, train_overrides, strategy_name,
                      max_minutes, steps_per_epoch, max_dev_utterances, verbose,
                      feature_overrides)
    finally:
        keras.mixed_precision.set_dtype_policy(policy)  # --precision must not leak to callers


def _train(data_dir, out_dir, preset_name, train_overrides, strategy_name, max_minutes,
           steps_per_epoch, max_dev_utterances, verbose, feature_overrides=None) -> dict:
    out = Path(out_dir)
    config = resolve_config(out, preset_name, train_overrides or {}, feature_overrides)  # flags first
    info = read_dataset_json(data_dir)
    if "train" not in info.get("splits", {}):
        raise ValueError(f"{data_dir}/dataset.json has no 'train' split")
    summary_path = out / "train_summary.json"
    if summary_path.exists() and (out / LAST).exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("completed"):
            print(f"{out}: training already completed ({summary['epochs_run']} epochs); "
                  "nothing to do", file=sys.stderr)
            return summary
    strategy = choose_strategy(strategy_name)  # before other TF work (MultiWorker requires it)
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
            model.load_weights(str(init_weights))
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
    budget = TimeBudget(max_minutes, budget_progress)
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
        keras.callbacks.BackupAndRestore(str(out / "backup"),
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
        model._distribute_strategy = None
    start = time.monotonic()
    with strategy.scope():
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
