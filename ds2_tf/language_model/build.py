"""``ds2 lm build``: sentences from text files or a prepared corpus → an ARPA n-gram LM, with
held-out (dev/test) sentences kept out."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from ds2_tf.language_model.ngram import build_lm, read_sentences
from ds2_tf.language_model.text import held_out_filter
from tfrecords_tools.alphabet import Alphabet
from tfrecords_tools.manifests import read_source
from tfrecords_tools.writer import read_dataset_json, split_examples


def corpus_sentences(data_dir: str, split: str) -> list[list[str]]:
    return [ex["transcript"].split() for ex in split_examples(data_dir, split)]


def held_out_transcripts(data_dirs: Iterable[str], manifests: Iterable[str],
                         normalize: Callable[[str], str]) -> list[str]:
    """Every transcript of the corpora's non-train splits, plus the manifests' transcripts
    (any manifest ``ds2 prepare`` reads; lines it would reject are passed over here too)."""
    texts = []
    for data_dir in data_dirs:
        for split in read_dataset_json(data_dir).get("splits", {}):
            if split != "train":
                texts += [ex["transcript"] for ex in split_examples(data_dir, split)]
    for manifest in manifests:
        for item in read_source(manifest):
            if item.error:
                continue
            try:
                texts.append(normalize(item.transcript))
            except ValueError:  # empty after normalization: nothing to keep out
                continue
    return texts


def build_from_sources(out: str, order: int, text: str | list[str] | None = None,
                       data: str | None = None, split: str = "train", alphabet: str = "english",
                       exclude_data: Iterable[str] = (), exclude_manifests: Iterable[str] = (),
                       prune: Iterable[int] = ()) -> dict:
    if order < 2:
        raise ValueError("--order must be at least 2 (KenLM loads bigram and larger models)")
    prune = tuple(prune)
    if prune and (prune[0] != 0 or any(b < a for a, b in zip(prune, prune[1:]))
                  or len(prune) > order):
        raise ValueError(f"--prune {' '.join(map(str, prune))}: one count per order from "
                         "unigrams on (at most --order values), starting at 0 (unigrams are "
                         "kept) and never decreasing, e.g. 0 0 1")
    chars = Alphabet.english() if alphabet == "english" else Alphabet.load(alphabet)
    normalize = lambda line: chars.normalize(line, "map")  # noqa: E731
    texts = [text] if isinstance(text, str) else list(text or [])
    sentences = []
    for path in texts:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: not found")
        try:
            sentences += read_sentences(path, normalize)
        except UnicodeDecodeError as err:
            raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if data is not None:
        sentences += corpus_sentences(data, split)
    source = ", ".join(texts + ([data] if data else []))
    if not sentences:
        raise ValueError(f"{source}: no usable sentences for a language model")
    held_out = held_out_transcripts(exclude_data, exclude_manifests, normalize)
    excluded = 0
    if held_out:
        overlaps = held_out_filter(held_out)
        kept = [s for s in sentences if not overlaps(s)]
        excluded, sentences = len(sentences) - len(kept), kept
        if not sentences:
            raise ValueError(f"{source}: every sentence overlaps a held-out transcript")
    return {**build_lm(sentences, order, out, prune), "excluded": excluded,
            "held_out_transcripts": len(held_out)}
