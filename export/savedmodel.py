"""TF-Serving SavedModel: ``DIR/<name>/<version>/`` with raw-audio signatures, via keras.export.

serving_default: waveform float32 [B, N] in [-1, 1] + num_samples int32 [B]
                 → transcript string [B], log_probs float32 [B, T, V], output_length int32 [B]
transcribe_wav:  wav string [B] (16 kHz mono PCM WAV files' bytes) → the same outputs

Bad input (wrong rate, several channels, non-WAV bytes, empty or non-finite audio, lengths out of
range) fails with InvalidArgument and a message that says what is wrong. The graph holds
everything it needs (features, alphabet, greedy decoding), so it runs with TensorFlow alone;
alphabet.json and config.json travel in ``assets.extra/`` for clients and for TFLite decoding.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from ds2_tf.config import RunConfig
from ds2_tf.decoding.ctc import greedy_decode_graph
from ds2_tf.model.deepspeech2 import portable
from tfrecords_tools.alphabet import Alphabet

WAVEFORM_SPEC = [tf.TensorSpec([None, None], tf.float32, name="waveform"),
                 tf.TensorSpec([None], tf.int32, name="num_samples")]
WAV_SPEC = [tf.TensorSpec([None], tf.string, name="wav")]


def check_waveform(waveform, num_samples, window_samples: int):
    """InvalidArgument unless every row is finite and 0 < window ≤ num_samples ≤ N."""
    width = tf.shape(waveform)[1]
    checks = [
        tf.debugging.assert_equal(tf.shape(num_samples)[0], tf.shape(waveform)[0], message=(
            "num_samples must have one entry per waveform row")),
        tf.debugging.assert_less_equal(num_samples, width, message=(
            "num_samples is larger than the waveform's length")),
        tf.debugging.assert_greater_equal(num_samples, window_samples, message=(
            f"audio is shorter than one analysis window ({window_samples} samples); "
            "empty or too-short waveform")),
        tf.debugging.assert_all_finite(waveform, message="waveform contains NaN or Inf"),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(waveform), tf.identity(num_samples)


def decode_wavs(wavs, sample_rate_hz: int):
    """WAV bytes [B] → (float32 [B, N] zero-padded, num_samples int32 [B]); rejects other rates
    and multi-channel files (resample / down-mix at prepare time, never silently here)."""

    def one(contents):
        audio, rate = tf.audio.decode_wav(contents, desired_channels=-1)
        checks = [
            tf.debugging.assert_equal(rate, sample_rate_hz, message=(
                f"WAV sample rate must be {sample_rate_hz} Hz; resample the audio first")),
            tf.debugging.assert_equal(tf.shape(audio)[1], 1, message=(
                "WAV must be mono; down-mix the audio first")),
        ]
        with tf.control_dependencies(checks):
            return tf.RaggedTensor.from_tensor(tf.transpose(audio))[0]

    ragged = tf.map_fn(one, wavs, fn_output_signature=tf.RaggedTensorSpec([None], tf.float32))
    return ragged.to_tensor(), tf.cast(ragged.row_lengths(), tf.int32)


class ServingModule:
    """The inference functions shared by SavedModel, TFLite and parity checks."""

    def __init__(self, model, config: RunConfig, alphabet: Alphabet):
        self.model = model
        self.config = config
        self.alphabet = alphabet

    def infer(self, waveform, num_samples):
        waveform, num_samples = check_waveform(waveform, num_samples,
                                               self.config.features.window_samples)
        out = self.model({"waveform": waveform, "num_samples": num_samples}, training=False)
        log_probs = tf.nn.log_softmax(tf.cast(out["logits"], tf.float32), axis=-1)
        lengths = tf.cast(out["output_length"], tf.int32)
        return {"transcript": greedy_decode_graph(log_probs, lengths, self.alphabet),
                "log_probs": log_probs, "output_length": lengths}

    def infer_wav(self, wav):
        waveform, num_samples = decode_wavs(wav, self.config.features.sample_rate_hz)
        return self.infer(waveform, num_samples)


def export_saved_model(model, config: RunConfig, alphabet: Alphabet, out_dir: str | Path,
                       name: str = "ds2", version: int = 1, overwrite: bool = False) -> Path:
    """Write ``out_dir/name/version`` (TF Serving's model base path is ``out_dir/name``)."""
    target = Path(out_dir) / name / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: already exists (pick another --version or pass "
                              "--overwrite)")
    model = portable(model)
    module = ServingModule(model, config, alphabet)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", module.infer, input_signature=WAVEFORM_SPEC)
    archive.add_endpoint("transcribe_wav", module.infer_wav, input_signature=WAV_SPEC)
    staging = target.parent / f".tmp-{version}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    archive.write_out(str(staging), verbose=False)
    write_metadata(staging, config, alphabet)
    if target.exists():  # --overwrite: swap only once the new version is complete
        shutil.rmtree(target)
    staging.rename(target)  # TF Serving only picks up complete version folders
    return target


def write_metadata(export_dir: Path, config: RunConfig, alphabet: Alphabet) -> None:
    """alphabet.json + config.json in ``assets.extra/``: the SavedModel place for files that
    travel with a model but that its graph does not read (the alphabet is baked into the graph)."""
    extra = Path(export_dir) / "assets.extra"
    extra.mkdir(exist_ok=True)
    (extra / "alphabet.json").write_text(json.dumps(alphabet.to_json(), ensure_ascii=False,
                                                    indent=1) + "\n", encoding="utf-8")
    (extra / "config.json").write_text(json.dumps(config.to_json(), indent=1) + "\n")
