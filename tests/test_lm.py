"""n-gram LM building (modified Kneser-Ney ARPA) and LM beam search decoding."""
import json
import subprocess
import sys

import numpy as np
import pytest

from ds2_tf.decoding.lm_beam import INSTALL_HINT, prune_candidates
from ds2_tf.language_model.ngram import BOS, EOS, UNK, KneserNeyModel
from tests.conftest import REPO, ds2, needs_espeak

TEXT = """the cat sat on the mat
the dog sat on the log
a cat and a dog ran to the mat
the bird sang in the tree
a dog saw the cat on the log
the cat ran up the tree
""".strip().splitlines()


@pytest.fixture(scope="module")
def sentences():
    return [line.split() * 1 for line in TEXT * 3] + [["the", "cat", "sang"]]


@pytest.mark.parametrize("order", [2, 3, 4])
def test_continuations_sum_to_one(sentences, order):
    model = KneserNeyModel(sentences, order)
    vocab = [w for w in model.vocab if w != BOS]
    for context in [(), ("the",), (BOS,), ("on", "the"), ("zebra",), (BOS, "a", "dog")]:
        context = context[-(order - 1):] if order > 1 else ()
        total = sum(model.probability(context + (w,)) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), (context, total)


def test_arpa_scores_match_kenlm(sentences, tmp_path):
    kenlm = pytest.importorskip("kenlm", reason=INSTALL_HINT)
    model = KneserNeyModel(sentences, 3)
    model.write_arpa(tmp_path / "lm.arpa")
    loaded = kenlm.Model(str(tmp_path / "lm.arpa"))
    for words in [["the", "cat", "sat"], ["a", "dog", "ran", "up", "the", "log"],
                  ["zebra", "the", "cat"], ["the"]]:
        assert loaded.score(" ".join(words)) == pytest.approx(model.sentence_log10(words), abs=1e-5)
    assert UNK in model.vocab and EOS in model.vocab


@pytest.mark.parametrize("order,prune", [(3, (0, 0, 1)), (4, (0, 1, 1, 2)), (4, (0, 0, 0, 1))])
def test_a_pruned_model_is_smaller_and_still_sums_to_one(sentences, order, prune, tmp_path):
    full, pruned = KneserNeyModel(sentences, order), KneserNeyModel(sentences, order, prune)
    assert sum(map(len, pruned.prob)) < sum(map(len, full.prob))
    assert len(pruned.prob[0]) == len(full.prob[0])  # unigrams are never dropped
    for n in range(2, order + 1):  # every kept n-gram's context is kept: ARPA needs it
        assert all(gram[:-1] in pruned.prob[n - 2] or gram[:-1] == (BOS,)
                   for gram in pruned.prob[n - 1])
    vocab = [w for w in pruned.vocab if w != BOS]
    for context in [("the",), (BOS,), ("on", "the"), ("the", "cat"), (BOS, "a", "dog"),
                    ("sat", "on", "the")]:
        context = context[-(order - 1):]
        total = sum(pruned.probability(context + (w,)) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-9), (context, total)
    kenlm = pytest.importorskip("kenlm", reason=INSTALL_HINT)
    pruned.write_arpa(tmp_path / "lm.arpa")
    loaded = kenlm.Model(str(tmp_path / "lm.arpa"))
    for words in [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran", "up"]]:
        assert loaded.score(" ".join(words)) == pytest.approx(pruned.sentence_log10(words),
                                                              abs=1e-5)


def test_paper_pruning_keeps_the_cumulative_top_candidates():
    probs = np.array([[0.6, 0.3, 0.05, 0.03, 0.02], [0.2] * 5])
    pruned = prune_candidates(np.log(probs), cutoff_prob=0.9, top_n=4)
    assert np.isfinite(pruned[0, :2]).all() and (pruned[0, 2:] < -1e8).all()  # 0.6 + 0.3 ≥ 0.9
    assert (pruned[1] > -1e8).sum() == 4  # top-N caps a flat frame


def test_lm_build_cli_normalizes_text_and_rejects_bad_flags(tmp_path):
    (tmp_path / "t.txt").write_text("The cat, sat!\nCafé au lait\n\n42\n", encoding="utf-8")
    result = ds2("lm", "build", "--text", str(tmp_path / "t.txt"), "--order", "3", "--out",
                 str(tmp_path / "lm.arpa"))
    assert result.returncode == 0, result.stderr
    assert "2 sentences" in result.stdout
    assert "cafe" in (tmp_path / "lm.arpa").read_text()
    result = ds2("lm", "build", "--text", str(tmp_path / "t.txt"), "--order", "1", "--out",
                 str(tmp_path / "x.arpa"))
    assert result.returncode == 2 and "--order must be at least 2" in result.stderr
    result = ds2("lm", "build", "--text", str(tmp_path / "t.txt"), "--prune", "0", "1", "0",
                 "--out", str(tmp_path / "x.arpa"))
    assert result.returncode == 2 and "never decreasing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_decoder_packages_give_an_install_hint(tmp_path):
    code = ("import sys; sys.modules['pyctcdecode'] = None\n"
            "from ds2_tf.cli import main\n"
            f"sys.exit(main(['evaluate', '--run', {str(tmp_path)!r}, '--data', {str(tmp_path)!r}, "
            "'--decoder', 'lm', '--lm', 'x.arpa']))")
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "alphabet.json").write_text('{"characters": ["a", " "]}')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            timeout=300)
    assert result.returncode == 2
    assert "pip install" in result.stderr and "pyctcdecode" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def lm_setup(trained_run, synth_corpus, tmp_path_factory):
    pytest.importorskip("pyctcdecode", reason=INSTALL_HINT)
    from ds2_tf.decoding.ctc import log_softmax
    from ds2_tf.evaluation.evaluate import split_outputs
    from ds2_tf.language_model.build import build_from_sources
    from ds2_tf.model.run_dir import load_run

    arpa = tmp_path_factory.mktemp("lm") / "train.arpa"
    build_from_sources(str(arpa), 3, data=str(synth_corpus), split="train")
    model, config, alphabet = load_run(trained_run)
    _, refs, outputs = split_outputs(model, config, alphabet, str(synth_corpus), "train")
    return arpa, alphabet, refs, [(log_softmax(lp), n) for lp, n in outputs]


@pytest.mark.slow
@needs_espeak
def test_lm_decoding_beats_greedy_where_the_model_errs(lm_setup):
    from ds2_tf.decoding.ctc import greedy_ids
    from ds2_tf.decoding.lm_beam import LMDecoder, LMDecoderConfig
    from ds2_tf.evaluation.metrics import error_rates

    arpa, alphabet, refs, log_probs = lm_setup
    greedy = [alphabet.decode(greedy_ids(lp, n, alphabet.blank_index)) for lp, n in log_probs]
    decoder = LMDecoder(alphabet, arpa, LMDecoderConfig(alpha=1.0, beta=1.0, beam_width=64))
    with_lm = [decoder.decode(lp, n) for lp, n in log_probs]
    greedy_wer, lm_wer = error_rates(refs, greedy)["wer"], error_rates(refs, with_lm)["wer"]
    assert greedy_wer > 0, "the model makes no errors here; the comparison would be empty"
    assert lm_wer < greedy_wer, (lm_wer, greedy_wer)


@pytest.mark.slow
@needs_espeak
def test_alpha_beta_zero_equals_plain_beam_search(lm_setup):
    from ds2_tf.decoding.lm_beam import LMDecoder, LMDecoderConfig

    arpa, alphabet, _, log_probs = lm_setup
    with_lm = LMDecoder(alphabet, arpa, LMDecoderConfig(alpha=0.0, beta=0.0, beam_width=32))
    plain = LMDecoder(alphabet, None, LMDecoderConfig(alpha=0.0, beta=0.0, beam_width=32))
    assert [with_lm.decode(lp, n) for lp, n in log_probs] == [plain.decode(lp, n) for lp, n in log_probs]


@pytest.mark.slow
@needs_espeak
def test_tune_lm_stores_settings_that_evaluate_then_uses(lm_setup, trained_run, synth_corpus, tmp_path):
    import json
    import shutil

    arpa = lm_setup[0]
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    result = ds2("tune-lm", "--run", str(run), "--data", str(synth_corpus), "--split", "dev",
                 "--lm", str(arpa), "--beam-width", "16")
    assert result.returncode == 0, result.stderr
    settings = json.loads((run / "lm.json").read_text())
    assert {"alpha", "beta", "lm", "grid", "dev_wer"} <= set(settings) and len(settings["grid"]) == 35
    result = ds2("evaluate", "--run", str(run), "--data", str(synth_corpus), "--split", "train",
                 "--decoder", "lm")
    assert result.returncode == 0 and "lm decoding" in result.stdout, result.stderr


@pytest.mark.slow
@needs_espeak
def test_tune_lm_on_two_dev_sets_picks_the_lowest_mean_wer(lm_setup, trained_run, synth_corpus,
                                                           tmp_path):
    arpa = lm_setup[0]
    settings = tmp_path / "lm.json"
    result = ds2("tune-lm", "--run", str(trained_run), "--data", str(synth_corpus), "--split",
                 "dev", "--data", str(synth_corpus), "--split", "train", "--lm", str(arpa),
                 "--beam-width", "8", "--alphas", "0,2", "--betas", "0,3", "--save",
                 str(settings))
    assert result.returncode == 0, result.stderr
    assert "best on dev + train (mean)" in result.stdout
    tuned = json.loads(settings.read_text())
    assert [s["split"] for s in tuned["tuned_on"]] == ["dev", "train"]
    for row in tuned["grid"]:
        each = [row["sets"][f"{synth_corpus}:{split}"]["wer"] for split in ("dev", "train")]
        assert row["wer"] == pytest.approx(sum(each) / 2)
    best = min(tuned["grid"], key=lambda row: (row["wer"], row["cer"], row["alpha"]))
    assert (tuned["alpha"], tuned["beta"], tuned["dev_wer"]) == (
        best["alpha"], best["beta"], best["wer"])


def test_tune_lm_with_splits_that_do_not_pair_with_the_data_is_one_line(tmp_path):
    result = ds2("tune-lm", "--run", str(tmp_path), "--data", "a", "--data", "b", "--data", "c",
                 "--split", "dev", "--split", "test", "--lm", "x.arpa")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "3 --data and 2 --split" in result.stderr.strip().splitlines()[-1]


@pytest.mark.slow
@needs_espeak
def test_lm_json_has_word_times_from_the_beam_and_n_alternatives(lm_setup, trained_run,
                                                                  synth_corpus):
    from ds2_tf.inference.recognizer import Recognizer
    from tfrecords_tools.writer import split_examples

    arpa = lm_setup[0]
    example = next(iter(split_examples(synth_corpus, "train")))
    audio = np.frombuffer(example["audio"], "<i2").astype(np.float32) / 32768
    recognizer = Recognizer.load(trained_run, "lm", lm=str(arpa), alpha=0.5, beta=1.0)
    (record,) = recognizer.transcripts([audio], nbest=3)
    assert record.text == recognizer.transcribe(audio)
    assert [w.word for w in record.words] == record.text.split()
    starts = [w.start_s for w in record.words]
    assert starts == sorted(starts) and all(0 <= w.confidence <= 1 for w in record.words)
    assert all(0 <= w.start_s < w.end_s <= len(audio) / 16000 + 1e-6 for w in record.words)
    assert 1 <= len(record.alternatives) <= 3 and record.alternatives[0]["text"] == record.text


@pytest.mark.slow
@needs_espeak
def test_a_release_ships_its_tuned_lm_and_decodes_with_it_by_itself(lm_setup, trained_run,
                                                                    synth_corpus, tmp_path):
    """`ds2 release` copies RUN/lm.json and its LM (gzipped, the same bytes every time) into
    the released folder, which then decodes with that LM and its α, β wherever it lies."""
    import shutil

    from ds2_tf.decoding.lm_beam import LMDecoderConfig, copy_lm_settings, save_lm_settings
    from ds2_tf.inference.recognizer import Recognizer
    from ds2_tf.model.released import write_release
    from tfrecords_tools.writer import split_examples

    arpa = lm_setup[0]
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    save_lm_settings(run, arpa, LMDecoderConfig(alpha=0.7, beta=1.5, beam_width=16))
    releases = [write_release(run, "tiny_en", {"version": 1}, root=tmp_path / f"root{i}",
                              add_files=lambda folder: copy_lm_settings(run, folder,
                                                                        compress=True))
                for i in range(2)]
    shipped = [(out / "train.arpa.gz").read_bytes() for out in releases]
    assert shipped[0] == shipped[1]  # reproducible: an unchanged LM adds nothing to git
    moved = tmp_path / "elsewhere" / "tiny_en"
    shutil.move(str(releases[0]), str(moved))
    settings = json.loads((moved / "lm.json").read_text())
    assert settings["lm"] == "train.arpa.gz" and settings["alpha"] == 0.7

    examples = list(split_examples(synth_corpus, "train"))[:3]
    audio = [np.frombuffer(ex["audio"], "<i2").astype(np.float32) / 32768 for ex in examples]
    from_release = Recognizer.load(moved, "lm")  # no --lm, no α, β: the shipped ones
    from_run = Recognizer.load(run, "lm", lm=str(arpa), alpha=0.7, beta=1.5, beam_width=16)
    texts = from_release.transcribe(audio)
    assert any(texts) and texts == from_run.transcribe(audio)
    config = from_release.decode_fn.lm_config
    assert (config.alpha, config.beta, config.beam_width) == (0.7, 1.5, 16)
    (moved / "train.arpa.gz").unlink()
    with pytest.raises(FileNotFoundError, match="train.arpa.gz"):
        Recognizer.load(moved, "lm")
