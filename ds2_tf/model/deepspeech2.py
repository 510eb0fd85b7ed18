"""The Deep Speech 2 network as a ``keras.Model`` subclass that trains with plain ``model.fit``.

inputs: {"waveform": float32 [B, N] in [-1, 1], "num_samples": int32 [B]}
outputs: {"logits": float32 [B, T, V] (blank last), "output_length": int32 [B]}
"""
from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf

from ds2_tf.config import RunConfig
from ds2_tf.features.spec_augment import SpecAugment
from ds2_tf.features.spectral_tilt import SpectralTilt
from ds2_tf.features.spectrogram import Spectrogram
from ds2_tf.model.bn_rnn import BatchNormRNN
from ds2_tf.model.conv_front_end import ConvFrontEnd
from ds2_tf.model.masked import clipped_relu, time_mask
from ds2_tf.model.row_conv import RowConv
from ds2_tf.training.loss import ctc_loss


@keras.saving.register_keras_serializable(package="ds2_tf")
class DeepSpeech2(keras.Model):
    """features → conv front-end → BN-RNN stack → (row conv) → (FC) → logits over chars + blank."""

    def __init__(self, config: dict, num_classes: int, **kwargs):
        # autocast=False: under mixed_bfloat16 Keras would round the waveform itself to bfloat16
        # (8 bits of mantissa: audible quantization noise) before the float32 spectrogram; the
        # layers after it cast their own inputs
        super().__init__(autocast=False, **kwargs)
        self.config_dict = config
        self.num_classes = num_classes
        run = RunConfig.from_json(config)
        self.run_config = run
        model, train = run.model, run.train
        self.spectrogram = Spectrogram(run.features.window_samples, run.features.hop_samples,
                                       run.features.normalization, name="spectrogram")
        self.spectral_tilt = (SpectralTilt(train.spectral_tilt, seed=train.seed,
                                           name="spectral_tilt")
                              if train.spectral_tilt else None)
        self.spec_augment = (SpecAugment(train.freq_masks, train.freq_mask_width,
                                         train.time_masks, train.time_mask_fraction,
                                         seed=train.seed, name="spec_augment")
                             if train.spec_augment else None)
        self.frontend = ConvFrontEnd([vars(s) for s in model.conv], model.relu_clip,
                                     model.bn_momentum, model.conv_algorithm, name="conv")
        self.rnns = [BatchNormRNN(model.rnn_units, model.rnn_type, model.bidirectional,
                                  momentum=model.bn_momentum, loop=model.rnn_loop,
                                  model_parallel=model.model_parallel,
                                  name=f"rnn{i}")
                     for i in range(model.rnn_layers)]
        self.row_conv = RowConv(model.row_conv_future, name="row_conv") \
            if model.row_conv_future else None
        self.fc = keras.layers.Dense(model.fc_units, name="fc") if model.fc_units else None
        self.classifier = keras.layers.Dense(num_classes, dtype="float32", name="logits")

    # ---- forward ---------------------------------------------------------------------------------
    def call(self, inputs, training=False):
        features, frames = self.spectrogram(inputs["waveform"], inputs["num_samples"])
        if self.spectral_tilt is not None:
            features = self.spectral_tilt(features, frames, self.spectrogram.std,
                                          training=training)
        if self.spec_augment is not None:
            features = self.spec_augment(features, frames, training=training)
        features = tf.cast(features, self.compute_dtype)
        x, lengths = self.frontend(features, frames, training=training)
        mask = time_mask(lengths, tf.shape(x)[1], x.dtype)
        for rnn in self.rnns:
            x = rnn(x, mask=mask, training=training)
        if self.row_conv is not None:
            x = self.row_conv(x, mask=mask)
        if self.fc is not None:
            x = clipped_relu(self.fc(x), self.run_config.model.relu_clip)
        return {"logits": self.classifier(x), "output_length": lengths}

    def build_for_inference(self) -> "DeepSpeech2":
        """Create every weight by running one tiny batch (needed before loading weights)."""
        samples = self.run_config.features.window_samples * 8
        self({"waveform": tf.zeros([1, samples]), "num_samples": tf.constant([samples])})
        return self

    # ---- loss ------------------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss per utterance, divided by the replica count (Keras sums replicas)."""
        per_utt = ctc_loss(y["labels"], y["label_length"], y_pred["logits"],
                           y_pred["output_length"])
        loss = tf.reduce_mean(per_utt)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            loss = loss / replicas
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # tensorflow/tensorflow#72388: under MultiWorkerMirroredStrategy Keras 3 averages
            # step logs with strategy.reduce(MEAN, axis=0), which rejects scalars; shape [1]
            # reduces to the same scalar mean over workers.
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    # ---- statistics, config ----------------------------------------------------------------------
    def set_feature_statistics(self, mean, std) -> None:
        self.spectrogram.set_statistics(np.asarray(mean), np.asarray(std))

    def get_config(self):
        return {"config": self.config_dict, "num_classes": self.num_classes, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@contextlib.contextmanager
def dtype_policy(precision):
    """Create layers under ``precision`` ("float32", "mixed_bfloat16", … or a policy) and put the
    caller's global policy back afterwards: Keras reads it when a layer is created."""
    saved = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(saved)


def build_model(config: RunConfig, num_classes: int, precision=None) -> DeepSpeech2:
    """The network with every weight created; under ``precision`` if given (the caller's global
    dtype policy is left as it was), else under the current global policy."""
    with dtype_policy(precision) if precision is not None else contextlib.nullcontext():
        return DeepSpeech2(config.to_json(), num_classes,
                           name=f"ds2_{config.preset}").build_for_inference()


def rebuild_with_compute_paths(model: DeepSpeech2, **compute) -> DeepSpeech2:
    """The same network and weights, with other compute paths (``conv_algorithm``, ``rnn_loop``):
    e.g. the TFLite export's builtin-ops-only conv and stacked RNN loop. Same precision."""
    config = model.run_config.replace(model=compute)
    clone = build_model(config, model.num_classes, precision=model.dtype_policy)
    clone.set_weights(model.get_weights())
    return clone


def portable(model: DeepSpeech2) -> DeepSpeech2:
    """The model as an export needs it: no cuDNN ops (a SavedModel traced on a GPU must still
    serve on CPUs; cuDNN ops have no CPU kernel) and no device placement (``model_parallel``).
    Same weights; the model itself where nothing needs changing."""
    on_cudnn = any(rnn.on_keras_rnn for rnn in model.rnns)
    if not on_cudnn and model.run_config.model.model_parallel == "none":
        return model
    loop = "keras" if on_cudnn else model.run_config.model.rnn_loop
    return rebuild_with_compute_paths(model, rnn_loop=loop, model_parallel="none")
