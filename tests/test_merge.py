"""`ds2 merge`: the union of train splits by reference, held-out splits from the first corpus,
exact pooled feature statistics, and one-line refusals for anything that would leak or mismatch."""
import json

import numpy as np
import pytest

from tests.conftest import ds2, tone, write_audio
from tfrecords_tools.ingest import prepare_corpus
from tfrecords_tools.merge import merge_corpora
from tfrecords_tools.writer import split_examples


def records(data_dir, split):
    return list(split_examples(data_dir, split))


def corpus(root, name, splits, alphabet="english"):
    """``splits``: {split: [(seconds, freq, transcript, speaker)]} → a prepared corpus folder."""
    sources = []
    for split, rows in splits.items():
        lines = ["path,transcript,speaker"]
        for i, (seconds, freq, text, speaker) in enumerate(rows):
            wav = write_audio(root / f"{name}-wav" / f"{split}{i}.wav",
                              tone(seconds, freq=freq, seed=freq))
            lines.append(f"{wav},{text},{speaker}")
        manifest = root / f"{name}-{split}.csv"
        manifest.write_text("\n".join(lines) + "\n")
        sources.append(f"{split}={manifest}")
    out = root / name
    prepare_corpus(out, sources, alphabet=alphabet, workers=1)
    return out


TRAIN_A = [(1.0, 300, "one two", "a1"), (1.5, 500, "three four", "a2")]
TRAIN_B = [(2.0, 900, "five six", "b1"), (1.2, 2000, "seven", "b1")]
TEST_A = [(1.0, 700, "held out words", "t1")]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    return root, corpus(root, "a", {"train": TRAIN_A, "test": TEST_A}), \
        corpus(root, "b", {"train": TRAIN_B, "test": [(1.0, 800, "other test", "t9")]})


def test_train_is_the_union_and_held_out_splits_come_from_the_first(corpora):
    root, a, b = corpora
    merged = root / "merged"
    info = merge_corpora(merged, [a, b])
    train = info["splits"]["train"]
    assert sorted(r["transcript"] for r in records(merged, "train")) == \
        sorted(t for _, _, t, _ in TRAIN_A + TRAIN_B)
    assert train["num_utterances"] == 4 and train["num_speakers"] == 3
    assert train["hours"] == pytest.approx(5.7 / 3600, abs=1e-4)
    assert [r["transcript"] for r in records(merged, "test")] == ["held out words"]
    assert [m["num_utterances"] for m in train["merged_from"]] == [2, 2]
    assert not any(p.suffix == ".tfrecord" for p in merged.iterdir())  # referenced, not copied
    result = ds2("inspect", str(merged))
    assert result.returncode == 0, result.stderr


def test_pooled_feature_statistics_equal_those_of_one_corpus_with_all_the_audio(corpora):
    root, a, b = corpora
    info = merge_corpora(root / "pooled", [a, b])
    together = json.loads((corpus(root, "ab", {"train": TRAIN_A + TRAIN_B}) /
                           "dataset.json").read_text())["feature_stats"]
    got = info["feature_stats"]
    assert got["frames"] == together["frames"]
    np.testing.assert_allclose(got["mean"], together["mean"], atol=1e-4)
    np.testing.assert_allclose(got["std"], together["std"], atol=1e-4)


@pytest.mark.parametrize("leak, message", [
    ({"train": [(1.0, 400, "held out words", "x1")]}, "1 train utterance(s) whose sentence is in"),
    ({"train": [(1.0, 400, "fresh words", "t1")]}, "1 speaker(s) of"),
])
def test_a_train_sentence_or_speaker_from_the_held_out_splits_is_refused(corpora, leak, message):
    root, a, _ = corpora
    bad = corpus(root, f"leak{len(message)}", leak)
    out = root / f"out{len(message)}"
    result = ds2("merge", "--out", str(out), str(a), str(bad))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"ds2 merge: error: {bad}: {message}")
    assert not (out / "dataset.json").exists()
    assert ds2("merge", "--out", str(out), str(a), str(bad), "--allow-overlap").returncode == 0


def test_mismatches_and_bad_arguments_are_one_line_errors(corpora):
    root, a, b = corpora
    other = corpus(root, "abc", {"train": [(1.0, 400, "cab", "c1")]}, alphabet="chars:abc ")
    cases = [
        ((str(a), str(other)), f"{other}: alphabet differs from {a}'s"),
        ((str(a), str(a)), "the same corpus is listed twice"),
        ((str(a),), "at least two corpora"),
        ((str(a), str(root / "nowhere")), f"{root / 'nowhere' / 'dataset.json'}: not found"),
    ]
    for corpora_args, expected in cases:
        result = ds2("merge", "--out", str(root / "bad"), *corpora_args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert expected in result.stderr
    merge_corpora(root / "twice", [a, b])
    result = ds2("merge", "--out", str(root / "twice"), str(a), str(b))
    assert result.returncode == 2 and "already exists (pass --overwrite)" in result.stderr
