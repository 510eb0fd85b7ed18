"""Typed configs and named presets: the one source of truth for hyper-parameters.

A :class:`RunConfig` (features + model + training) is written as ``config.json`` next to every
checkpoint and export, and everything that needs a hyper-parameter reads it from there.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from tfrecords_tools.spectrogram import FrameGeometry, num_bins, num_frames

FEATURE_NORMALIZATIONS = ("global", "utterance")  # see FeatureConfig.normalization


@dataclass(frozen=True)
class FeatureConfig:
    """Log power spectrogram computed inside the graph (see :mod:`ds2_tf.features`)."""

    sample_rate_hz: int = 16000
    window_ms: float = 20.0
    hop_ms: float = 10.0
    # "global": (log power − train mean) / train std per bin. "utterance": then also subtract each
    # utterance's own per-bin mean over its frames (spectral mean normalization), which removes a
    # fixed microphone/channel colouring — a convolution in time is an offset in log power.
    # Needs the whole utterance, so streaming (unidirectional) models must use "global".
    normalization: str = "global"  # one of FEATURE_NORMALIZATIONS

    def __post_init__(self):
        check_normalization(self.normalization)

    @property
    def window_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.window_ms / 1000))

    @property
    def hop_samples(self) -> int:
        return int(round(self.sample_rate_hz * self.hop_ms / 1000))

    @property
    def num_bins(self) -> int:
        return num_bins(self.window_samples)

    def num_frames(self, num_samples):
        """Spectrogram frames for ``num_samples`` (python int, numpy array or tensor)."""
        return num_frames(num_samples, self.window_samples, self.hop_samples)


def check_normalization(normalization: str) -> str:
    if normalization not in FEATURE_NORMALIZATIONS:
        raise ValueError(f"features.normalization must be one of {FEATURE_NORMALIZATIONS}, "
                         f"got {normalization!r}")
    return normalization


@dataclass(frozen=True)
class ConvSpec:
    """One Conv2D of the front-end; kernel and stride are (time, frequency)."""

    filters: int
    kernel: tuple[int, int]
    strides: tuple[int, int]

    def output_bins(self, bins: int) -> int:
        """Frequency bins out of this layer (k//2 zero padding on both sides, 'valid')."""
        kf, sf = self.kernel[1], self.strides[1]
        return (bins + 2 * (kf // 2) - kf) // sf + 1


PAPER_CONV = (
    ConvSpec(32, (11, 41), (2, 2)),
    ConvSpec(32, (11, 21), (1, 2)),
    ConvSpec(96, (11, 21), (1, 2)),
)


CONV_ALGORITHMS = ("auto", "direct", "fft", "tflite")  # how conv layers compute; see ConvFrontEnd
RNN_LOOPS = ("auto", "keras", "stacked", "cudnn")  # how BN-RNNs run their recurrence; see BatchNormRNN
MODEL_PARALLEL = ("none", "time")  # how one replica's BN-RNNs spread over devices; see time_split.py


@dataclass(frozen=True)
class ModelConfig:
    """The Deep Speech 2 network: conv front-end → BN-RNN stack → (row conv) → FC → blank-last softmax."""

    conv: tuple[ConvSpec, ...] = PAPER_CONV
    rnn_type: str = "gru"  # "gru" | "lstm"
    rnn_layers: int = 7
    rnn_units: int = 800
    bidirectional: bool = True
    row_conv_future: int = 0  # τ future frames of lookahead; 0 = no row convolution
    fc_units: int = 0  # optional hidden FC before the output layer (0 = none)
    relu_clip: float = 20.0
    bn_momentum: float = 0.99
    # How the conv layers compute (same weights and outputs): "auto" = through the FFT where that
    # is faster (CPU, multi-channel layers; ds2_tf/model/fftconv.py), "direct" = Conv2D, "fft",
    # "tflite" = builtin TFLite ops only (the TFLite export builds its model with it).
    conv_algorithm: str = "auto"  # one of CONV_ALGORITHMS
    # How BN-RNN layers run their recurrence (same weights and outputs): "auto" = "cudnn" where a
    # GPU is visible; elsewhere, for GRU, in training the XLA-compiled loops with a hand-written
    # gradient (ds2_tf/model/fused_gru.py), in inference a plain loop that keeps only h
    # (ds2_tf/model/gru_inference.py), else Keras's RNN loop; "keras" = always Keras's loop;
    # "stacked" = both directions in one loop, K steps per iteration (ds2_tf/model/stacked_loop.py;
    # the TFLite export builds with it); "cudnn" = Keras's GRU/LSTM layers fed the batch-normalized
    # projection through an identity input kernel (ds2_tf/model/cudnn_recurrence.py): cuDNN on a
    # GPU, Keras's generic loop elsewhere.
    rnn_loop: str = "auto"  # one of RNN_LOOPS
    # Model parallelism (same weights and outputs): "time" = each bidirectional recurrence split
    # along time across two devices, the paper's scheme (ds2_tf/model/time_split.py); with data
    # parallelism each replica takes a pair of devices.
    model_parallel: str = "none"  # one of MODEL_PARALLEL

    def __post_init__(self):
        if self.conv_algorithm not in CONV_ALGORITHMS:
            raise ValueError(f"conv_algorithm must be one of {CONV_ALGORITHMS}")
        if self.rnn_loop not in RNN_LOOPS:
            raise ValueError(f"rnn_loop must be one of {RNN_LOOPS}")
        if self.model_parallel not in MODEL_PARALLEL:
            raise ValueError(f"model_parallel must be one of {MODEL_PARALLEL}")
        if self.model_parallel == "time" and not self.bidirectional:
            raise ValueError("model_parallel='time' splits bidirectional layers; this model is "
                             "unidirectional")
        if not 1 <= len(self.conv) <= 3:
            raise ValueError("the conv front-end has 1 to 3 layers")
        if self.rnn_type not in ("gru", "lstm"):
            raise ValueError("rnn_type must be 'gru' or 'lstm'")
        if not 1 <= self.rnn_layers <= 7:
            raise ValueError("rnn_layers must be between 1 and 7")
        if any(spec.kernel[0] % 2 == 0 for spec in self.conv):
            raise ValueError("conv time kernels must be odd (symmetric padding keeps frames aligned)")

    @property
    def time_stride(self) -> int:
        stride = 1
        for spec in self.conv:
            stride *= spec.strides[0]
        return stride


@dataclass(frozen=True)
class TrainConfig:
    """Optimization, batching and augmentation."""

    optimizer: str = "adam"  # "adam" | "sgd" (Nesterov momentum, as the paper)
    learning_rate: float = 5e-4
    warmup_steps: int = 200
    decay_steps: int = 20000  # cosine annealing after warm-up
    final_lr_fraction: float = 0.05
    momentum: float = 0.99
    clipnorm: float = 400.0  # global-norm clipping of the summed-loss gradient
    epochs: int = 20
    batch_frames: int = 12000  # padded spectrogram frames per batch (batch size varies per bucket)
    max_batch_size: int = 64
    num_buckets: int = 8
    sortagrad: bool = True
    spec_augment: bool = True
    freq_masks: int = 2
    freq_mask_width: int = 27
    time_masks: int = 2
    time_mask_fraction: float = 0.05
    # random first-order spectral tilt 1 − a·z⁻¹ per utterance, a ~ U(−x, x); 0 = off
    # (ds2_tf/features/spectral_tilt.py says why)
    spectral_tilt: float = 0.0
    noise_prob: float = 0.0  # probability of additive white noise per utterance
    noise_snr_db: tuple[float, float] = (10.0, 30.0)
    precision: str = "float32"  # "float32" | "mixed_bfloat16" | "mixed_float16"
    seed: int = 1234
    init_from: str = ""  # a run directory whose best weights training starts from (fine-tuning)
    # Polyak averaging: 0 = off; e.g. 0.999 ≈ the last 1000 steps. Dev metrics, the best checkpoint
    # and the final weights are the averaged ones; training itself continues on the raw weights.
    ema_momentum: float = 0.0

    def __post_init__(self):
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ValueError(f"train.ema_momentum must be in [0, 1) (0 = off), got {self.ema_momentum}")
        if not 0.0 <= self.spectral_tilt < 1.0:
            raise ValueError(f"train.spectral_tilt must be in [0, 1) (0 = off), "
                             f"got {self.spectral_tilt}")


@dataclass(frozen=True)
class RunConfig:
    preset: str = "small"
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self):
        if self.features.normalization == "utterance" and not self.model.bidirectional:
            raise ValueError("features.normalization='utterance' needs the whole utterance; "
                             "unidirectional (streaming) models must use 'global'")
        if self.features.normalization == "utterance" and self.train.spectral_tilt:
            raise ValueError("train.spectral_tilt with features.normalization='utterance': the "
                             "per-utterance mean removes a tilt, so there is nothing to learn")

    # ---- lengths: the single function every part (CTC, masks, data filter, exports) uses --------
    @property
    def geometry(self) -> FrameGeometry:
        return FrameGeometry(self.features.window_samples, self.features.hop_samples,
                             self.model.time_stride, self.preset)

    def output_length(self, num_samples):
        """Model output frames for ``num_samples`` of audio (int, numpy array or tensor)."""
        return self.geometry.output_length(num_samples)

    # ---- (de)serialization --------------------------------------------------------------------
    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        model = dict(data.get("model", {}))
        if "conv" in model:
            model["conv"] = tuple(ConvSpec(c["filters"], tuple(c["kernel"]), tuple(c["strides"]))
                                  for c in model["conv"])
        train = dict(data.get("train", {}))
        if "noise_snr_db" in train:
            train["noise_snr_db"] = tuple(train["noise_snr_db"])
        return cls(preset=data.get("preset", "custom"),
                   features=FeatureConfig(**data.get("features", {})),
                   model=ModelConfig(**model), train=TrainConfig(**train))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))

    def replace(self, **sections) -> "RunConfig":
        """Copy with some sections' fields changed: ``replace(train={"epochs": 3})``."""
        updates = {}
        for name, changes in sections.items():
            current = getattr(self, name)
            updates[name] = dataclasses.replace(current, **changes) if isinstance(changes, dict) \
                else changes
        return dataclasses.replace(self, **updates)


PRESETS: dict[str, RunConfig] = {
    # For unit tests: runs in seconds on 2 cores.
    "tiny": RunConfig(
        preset="tiny",
        model=ModelConfig(conv=(ConvSpec(8, (5, 21), (2, 4)),), rnn_layers=1, rnn_units=32,
                          bn_momentum=0.9),
        train=TrainConfig(learning_rate=3e-3, warmup_steps=10, decay_steps=1000, epochs=10,
                          batch_frames=4000, spec_augment=False, clipnorm=50.0),
    ),
    # Unidirectional tiny model with a row convolution: streaming tests.
    "tiny-streaming": RunConfig(
        preset="tiny-streaming",
        model=ModelConfig(conv=(ConvSpec(8, (5, 21), (2, 4)),), rnn_layers=1, rnn_units=48,
                          bidirectional=False, row_conv_future=3, bn_momentum=0.9),
        train=TrainConfig(learning_rate=3e-3, warmup_steps=10, decay_steps=1000, epochs=10,
                          batch_frames=4000, spec_augment=False, clipnorm=50.0),
    ),
    # CPU preset: 2 conv (time stride 2) + 3 × BiGRU-256, 4.3 M parameters.
    "small": RunConfig(
        preset="small",
        model=ModelConfig(conv=(ConvSpec(32, (11, 41), (2, 2)), ConvSpec(32, (11, 21), (1, 2))),
                          rnn_layers=3, rnn_units=256),
        train=TrainConfig(learning_rate=6e-4, epochs=30, batch_frames=16000),
    ),
    # The paper's configuration: 3 conv 32/32/96, 7 bidirectional GRU layers.
    "ds2": RunConfig(preset="ds2", model=ModelConfig(),
                     train=TrainConfig(learning_rate=3e-4, batch_frames=48000,
                                       max_batch_size=128)),
    # Streaming: unidirectional RNNs + a row convolution over τ future frames.
    "streaming": RunConfig(
        preset="streaming",
        model=ModelConfig(conv=(ConvSpec(32, (11, 41), (2, 2)), ConvSpec(32, (11, 21), (1, 2))),
                          rnn_layers=5, rnn_units=512, bidirectional=False, row_conv_future=10),
    ),
}


def preset(name: str) -> RunConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}") from None
