"""Per-utterance spectral mean normalization: removes a fixed channel, ignores padding, exports."""

import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.config import RunConfig, preset
from ds2_tf.features.spectrogram import Spectrogram
from tests.conftest import TFLITE_LOG_PROB_ATOL, needs_espeak


def speech_like(seconds=1.0, seed=0):
    """Noise shaped by a moving resonance: a non-flat spectrum that changes over time."""
    rng = np.random.default_rng(seed)
    n = int(16000 * seconds)
    t = np.arange(n) / 16000
    carrier = np.sin(2 * np.pi * (300 + 200 * np.sin(2 * np.pi * 3 * t)) * t)
    return (0.2 * carrier + 0.05 * rng.standard_normal(n)).astype(np.float32)


def test_utterance_mean_is_zero_per_bin_and_padding_stays_zero():
    wave = np.zeros((2, 16000), np.float32)
    wave[0], wave[1, :9000] = speech_like(), speech_like(seed=1)[:9000]
    feats, frames = Spectrogram(320, 160, "utterance")(wave, np.array([16000, 9000]))
    feats, frames = feats.numpy(), frames.numpy()
    for i, t in enumerate(frames):
        np.testing.assert_allclose(feats[i, :t].mean(0), 0, atol=1e-4)
        assert np.all(feats[i, t:] == 0)
    assert feats[0].std() > 1  # not everything removed: the spectrum still moves over time


def test_a_fixed_channel_cancels_with_utterance_but_not_global_normalization():
    wave = speech_like(2.0)
    # gain × a short FIR "microphone": a near-constant offset per bin in log power
    coloured = 0.3 * np.convolve(wave, [1.0, -0.6, 0.2])[: len(wave)].astype(np.float32)
    lengths = np.array([len(wave)])
    gaps = {}
    for mode in ("global", "utterance"):
        layer = Spectrogram(320, 160, mode)
        a = layer(wave[None], lengths)[0].numpy()
        b = layer(coloured[None], lengths)[0].numpy()
        gaps[mode] = np.abs(a - b).mean()
    assert gaps["utterance"] < 0.1 * gaps["global"], gaps


def test_config_validates_and_old_configs_load_as_global():
    config = preset("small").replace(features={"normalization": "utterance"})
    assert RunConfig.from_json(config.to_json()) == config
    old = preset("small").to_json()
    del old["features"]["normalization"]  # config.json written before the option existed
    assert RunConfig.from_json(old).features.normalization == "global"
    with pytest.raises(ValueError, match="unidirectional"):
        preset("streaming").replace(features={"normalization": "utterance"})
    with pytest.raises(ValueError, match="normalization"):
        preset("small").replace(features={"normalization": "cepstral"})


@needs_espeak
@pytest.mark.slow
def test_utterance_normalized_run_exports_to_saved_model_and_tflite(synth_corpus, tmp_path):
    from ds2_tf.model.run_dir import load_run
    from ds2_tf.training.train import train
    from export.exporter import export_run
    from export.tflite import TFLiteRecognizer
    from tfrecords_tools.writer import split_examples

    train(str(synth_corpus), str(tmp_path / "run"), preset_name="tiny",
          train_overrides={"epochs": 1}, feature_overrides={"normalization": "utterance"},
          max_dev_utterances=0, verbose=0)
    model, config, _ = load_run(tmp_path / "run")
    assert config.features.normalization == "utterance"
    written = export_run(tmp_path / "run", tmp_path / "out", tflite=True)
    serving = tf.saved_model.load(written["saved_model"]).signatures["serving_default"]
    recognizer = TFLiteRecognizer(written["tflite"][0])
    for example in list(split_examples(synth_corpus, "test"))[:2]:
        audio = np.frombuffer(example["audio"], "<i2").astype(np.float32) / 32768
        num = np.array([len(audio)], np.int32)
        want = tf.nn.log_softmax(model({"waveform": audio[None], "num_samples": num})["logits"])
        got = serving(waveform=tf.constant(audio[None]), num_samples=tf.constant(num))
        np.testing.assert_allclose(got["log_probs"].numpy(), want.numpy(), atol=1e-4)
        np.testing.assert_allclose(recognizer.log_probs(audio), want.numpy()[0],
                                   atol=TFLITE_LOG_PROB_ATOL)
