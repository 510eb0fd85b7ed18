"""Training callbacks: SortaGrad's epoch counter, NaN guard, time budget, weight averaging, dev WER/CER."""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from ds2_tf.decoding.ctc import greedy_decode
from ds2_tf.evaluation.evaluate import dataset_outputs, decode_outputs, traced_inference
from ds2_tf.evaluation.metrics import error_rates
from ds2_tf.private_apis import ema_variable_pairs
from tfrecords_tools.alphabet import Alphabet


class NonFiniteLoss(RuntimeError):
    pass


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
    ``progress`` (the learning-rate schedule's view of the budget) at the fraction spent.

    ``spent_file``: where the time spent so far is kept (about every ``SAVE_EVERY_S``), so a run
    resumed from its backup (the same command again, e.g. after the machine was taken away)
    spends what is left of its budget rather than a new one, and its learning rate carries on
    annealing instead of jumping back up. Read only if ``resuming``."""

    SAVE_EVERY_S = 30.0

    def __init__(self, minutes: float | None, progress: tf.Variable | None = None,
                 spent_file: str | Path | None = None, resuming: bool = False):
        super().__init__()
        self.seconds = None if minutes is None else minutes * 60
        self.progress = progress
        self.spent_file = Path(spent_file) if spent_file else None
        self.spent_before = self._read_spent() if resuming else 0.0
        self.start = time.monotonic()
        self._saved_at = self.start
        self.expired = False

    def _read_spent(self) -> float:
        if self.spent_file is None or not self.spent_file.exists():
            return 0.0
        try:
            return max(0.0, float(json.loads(self.spent_file.read_text())["seconds"]))
        except (OSError, ValueError, KeyError, TypeError):  # damaged: start the budget afresh
            return 0.0

    def spent(self) -> float:
        return self.spent_before + time.monotonic() - self.start

    def _save(self) -> None:
        if self.spent_file is not None:
            tmp = self.spent_file.with_name(self.spent_file.name + ".part")
            tmp.write_text(json.dumps({"seconds": round(self.spent(), 1)}) + "\n")
            tmp.replace(self.spent_file)
            self._saved_at = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if self.seconds is None:
            return
        spent = self.spent()
        if self.progress is not None:
            self.progress.assign(min(1.0, spent / self.seconds))
        if time.monotonic() - self._saved_at > self.SAVE_EVERY_S:
            self._save()
        if spent > self.seconds:
            self.expired = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.seconds is not None:
            self._save()


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
        return ema_variable_pairs(self.model.optimizer)

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
            self._infer = traced_inference(self.model)
        ids, refs, outputs = dataset_outputs(self._infer, self.dataset)
        hyps = decode_outputs(lambda logits, lengths: greedy_decode(logits, lengths, self.alphabet),
                              outputs)
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
