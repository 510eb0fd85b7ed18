"""``ds2 lm build``: sentences from a text file or a prepared corpus → an ARPA n-gram LM."""
from __future__ import annotations

from pathlib import Path

from ds2_tf.alphabet import Alphabet
from ds2_tf.ngram import build_lm, read_sentences
from tfrecords_tools.writer import split_examples


def corpus_sentences(data_dir: str, split: str) -> list[list[str]]:
    return [ex["transcript"].split() for ex in split_examples(data_dir, split)]


def build_from_sources(out: str, order: int, text: str | None = None, data: str | None = None,
                       split: str = "train", alphabet: str = "english") -> dict:
    if order < 2:
        raise ValueError("--order must be at least 2 (KenLM loads bigram and larger models)")
    if text is not None:
        if not Path(text).exists():
            raise FileNotFoundError(f"{text}: not found")
        chars = Alphabet.english() if alphabet == "english" else Alphabet.load(alphabet)
        try:
            sentences = read_sentences(text, lambda line: chars.normalize(line, "map"))
        except UnicodeDecodeError as err:
            raise ValueError(f"{text}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    else:
        sentences = corpus_sentences(data, split)
    if not sentences:
        raise ValueError(f"{text or data}: no usable sentences for a language model")
    return build_lm(sentences, order, out)
