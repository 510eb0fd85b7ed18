"""Random spectral tilt: the curve is the filter's, training only, padding untouched, validated."""

import numpy as np
import pytest
import tensorflow as tf

from ds2_tf.config import preset
from ds2_tf.features.spectral_tilt import SpectralTilt
from ds2_tf.features.spectrogram import Spectrogram


@pytest.mark.parametrize("a", [0.7, -0.5])
def test_the_curve_is_the_log_power_change_of_filtering_the_waveform(a):
    """Adding the curve to the features == computing them from audio filtered by 1 − a·z⁻¹."""
    rng = np.random.default_rng(0)
    wave = rng.standard_normal(32000).astype(np.float32) * 0.1
    filtered = np.convolve(wave, [1.0, -a])[: len(wave)].astype(np.float32)
    layer = Spectrogram(320, 160)
    lengths = np.array([len(wave)])
    change = (layer(filtered[None], lengths)[0][0] - layer(wave[None], lengths)[0][0]).numpy()
    change = change.mean(0)  # over frames
    curve = SpectralTilt.log_gain(tf.constant([a]), layer.num_bins)[0].numpy()
    change -= change.mean()
    assert np.abs(change - curve).max() < 0.03, np.abs(change - curve).max()
    assert curve.max() - curve.min() > 2.0  # a real tilt (nats), not a flat line


def test_training_only_and_padding_stays_zero():
    features = tf.random.normal([3, 50, 161])
    lengths = tf.constant([50, 30, 10])
    features *= tf.sequence_mask(lengths, 50, dtype=tf.float32)[:, :, None]
    std = tf.ones([161])
    layer = SpectralTilt(0.7, seed=0)
    assert layer(features, lengths, std, training=False) is features
    tilted = layer(features, lengths, std, training=True).numpy()
    for i, t in enumerate(lengths.numpy()):
        assert np.all(tilted[i, t:] == 0)
        shift = tilted[i, :t] - features.numpy()[i, :t]
        np.testing.assert_allclose(shift, np.broadcast_to(shift[0], shift.shape), atol=1e-5)
        assert abs(shift[0].mean()) < 1e-4  # the level is unchanged, only the slope
    assert not np.allclose(tilted[0, 0] - features.numpy()[0, 0],
                           tilted[1, 0] - features.numpy()[1, 0])  # one draw per utterance


def test_config_validates_and_a_tilted_model_trains_a_step():
    from ds2_tf.model.deepspeech2 import DeepSpeech2

    with pytest.raises(ValueError, match="spectral_tilt"):
        preset("tiny").replace(train={"spectral_tilt": 1.5})
    with pytest.raises(ValueError, match="utterance"):
        preset("tiny").replace(train={"spectral_tilt": 0.5},
                               features={"normalization": "utterance"})
    config = preset("tiny").replace(train={"spectral_tilt": 0.7})
    model = DeepSpeech2(config.to_json(), num_classes=29).build_for_inference()
    assert model.spectral_tilt is not None
    inputs = {"waveform": tf.random.normal([2, 8000]) * 0.1,
              "num_samples": tf.constant([8000, 6000])}
    plain = model(inputs)["logits"].numpy()
    np.testing.assert_array_equal(plain, model(inputs)["logits"].numpy())  # inference: no tilt
    assert not np.allclose(plain, model(inputs, training=True)["logits"].numpy())
    assert DeepSpeech2(preset("tiny").to_json(), num_classes=29).spectral_tilt is None
