"""Optimizer and learning-rate schedule (warm-up, then cosine annealing that ends by the time budget)."""
from __future__ import annotations

import math

import keras
import tensorflow as tf


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
