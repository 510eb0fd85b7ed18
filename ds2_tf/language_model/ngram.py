"""Word n-gram language models in ARPA format: interpolated modified Kneser–Ney.

KenLM's ``lmplz``/``build_binary`` are used when installed (they scale to billions of words);
otherwise this pure-Python builder writes the same kind of model (Chen & Goodman's interpolated
modified Kneser–Ney with three discounts per order, as lmplz) for corpora of up to a few million
words, which is what the synthetic corpora and tests need.
"""
from __future__ import annotations

import math
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def count_ngrams(sentences: Iterable[list[str]], order: int) -> list[Counter]:
    """Raw counts of 1..order-grams over ``<s> w1 … wn </s>`` (``<s>`` itself not a unigram event)."""
    counts = [Counter() for _ in range(order)]
    for words in sentences:
        tokens = [BOS] + words + [EOS]
        for n in range(1, order + 1):
            for i in range(len(tokens) - n + 1):
                gram = tuple(tokens[i: i + n])
                if gram == (BOS,):
                    continue
                counts[n - 1][gram] += 1
    return counts


def adjusted_counts(raw: list[Counter]) -> list[Counter]:
    """Kneser–Ney: below the top order, count distinct left contexts (continuation counts),
    except for n-grams starting with <s>, which nothing can precede."""
    order = len(raw)
    adjusted = [Counter() for _ in range(order)]
    adjusted[-1] = Counter(raw[-1])
    for n in range(order - 1, 0, -1):  # fill order n (index n-1) from order n+1
        for gram in raw[n]:
            adjusted[n - 1][gram[1:]] += 1
        for gram, count in raw[n - 1].items():
            if gram[0] == BOS:
                adjusted[n - 1][gram] = count
    return adjusted


def discounts(counts: Counter) -> tuple[float, float, float]:
    """D1, D2, D3+ from counts-of-counts (Chen & Goodman); sane fallbacks for tiny corpora."""
    t = Counter(c for c in counts.values() if c <= 4)
    t1, t2, t3, t4 = (t.get(k, 0) for k in (1, 2, 3, 4))
    fallback = (0.5, 1.0, 1.5)
    if not (t1 and t2 and t3 and t4):
        return fallback
    y = t1 / (t1 + 2 * t2)
    values = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    if not all(0 < d < k + 1 for k, d in enumerate(values)):
        return fallback
    return values


class KneserNeyModel:
    """Interpolated modified Kneser–Ney probabilities for every n-gram seen in training."""

    def __init__(self, sentences: Iterable[list[str]], order: int = 3,
                 prune: tuple[int, ...] = ()):
        """``prune``: per order from unigrams on, drop n-grams seen at most that many times (as
        lmplz ``--prune``; the last value holds for the higher orders; unigrams are never
        dropped). Estimates come from all counts; backoffs are then renormalized."""
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        raw = count_ngrams(sentences, order)
        if not raw[0]:
            raise ValueError("no words to train a language model on")
        self.adjusted = adjusted_counts(raw)
        self.discount = [discounts(c) for c in self.adjusted]
        self.vocab = sorted({g[0] for g in raw[0]} | {UNK})
        self._known = frozenset(self.vocab) | {BOS}  # membership per lookup: a list scan is O(V)
        self.prob: list[dict] = [dict() for _ in range(order)]
        self.backoff: list[dict] = [dict() for _ in range(order)]
        self._estimate()
        if any(prune):
            self._prune(raw, prune)

    def _estimate(self) -> None:
        for n in range(1, self.order + 1):
            counts = self.adjusted[n - 1]
            d1, d2, d3 = self.discount[n - 1]
            by_context = defaultdict(list)
            for gram, count in counts.items():
                by_context[gram[:-1]].append((gram, count))
            for context, grams in by_context.items():
                total = sum(c for _, c in grams)
                kinds = Counter(min(c, 3) for _, c in grams)
                gamma = (d1 * kinds[1] + d2 * kinds[2] + d3 * kinds[3]) / total
                for gram, count in grams:
                    discounted = (count - (d1, d2, d3)[min(count, 3) - 1]) / total
                    lower = self._lower(gram)
                    self.prob[n - 1][gram] = discounted + gamma * lower
                if n == 1:
                    self.unigram_gamma = gamma
                else:
                    self.backoff[n - 2][context] = gamma
        # Unigrams interpolate with the uniform distribution; <unk> keeps only that share.
        self.prob[0][(UNK,)] = self.unigram_gamma / len(self.vocab)

    def _prune(self, raw: list[Counter], prune: tuple[int, ...]) -> None:
        """Drop rare n-grams (order ≥ 2), keeping every context of a kept higher-order n-gram,
        and give each context the backoff weight that makes its distribution sum to one again:
        (1 − Σ kept p(w | h)) / (1 − Σ kept p(w | h′)), h′ the context without its first word."""
        limits = [prune[min(n, len(prune) - 1)] for n in range(self.order)]
        keep: set = set()
        for n in range(self.order, 1, -1):  # top-down: a kept n-gram keeps its context
            contexts = {gram[:-1] for gram in keep}
            keep = {gram for gram in self.prob[n - 1]
                    if raw[n - 1].get(gram, 0) > limits[n - 1] or gram in contexts}
            self.prob[n - 1] = {gram: self.prob[n - 1][gram] for gram in keep}
        for n in range(2, self.order + 1):  # bottom-up: lower orders are final before use
            kept_mass: dict = defaultdict(float)
            lower_mass: dict = defaultdict(float)
            for gram, p in self.prob[n - 1].items():
                kept_mass[gram[:-1]] += p
                lower_mass[gram[:-1]] += self.probability(gram[1:])
            backoff = self.backoff[n - 2]
            for context in list(backoff):
                if n - 1 > 1 and context not in self.prob[n - 2]:
                    del backoff[context]  # a dropped n-gram is no context either
                    continue
                numerator = 1.0 - kept_mass.get(context, 0.0)
                denominator = 1.0 - lower_mass.get(context, 0.0)
                backoff[context] = max(numerator, 1e-12) / max(denominator, 1e-12)

    def _lower(self, gram: tuple) -> float:
        if len(gram) == 1:
            return 1.0 / len(self.vocab)
        return self.probability(gram[1:])

    def probability(self, gram: tuple) -> float:
        """p(w | context) for any n-gram, backing off through unseen contexts."""
        gram = tuple(w if w in self._known else UNK for w in gram)
        n = len(gram)
        if gram in self.prob[n - 1]:
            return self.prob[n - 1][gram]
        if n == 1:
            return self.prob[0][(UNK,)]
        gamma = self.backoff[n - 2].get(gram[:-1], 1.0)
        return gamma * self.probability(gram[1:])

    def sentence_log10(self, words: list[str]) -> float:
        tokens = [BOS] + words + [EOS]
        total = 0.0
        for i in range(1, len(tokens)):
            gram = tuple(tokens[max(0, i - self.order + 1): i + 1])
            total += math.log10(self.probability(gram))
        return total

    def write_arpa(self, path: str | Path) -> None:
        grams = [dict(p) for p in self.prob]
        grams[0][(BOS,)] = None  # ARPA convention: <s> has no probability, only a backoff
        with open(path, "w", encoding="utf-8") as out:
            out.write("\\data\\\n")
            for n in range(1, self.order + 1):
                out.write(f"ngram {n}={len(grams[n - 1])}\n")
            for n in range(1, self.order + 1):
                out.write(f"\n\\{n}-grams:\n")
                for gram in sorted(grams[n - 1]):
                    p = grams[n - 1][gram]
                    logp = -99.0 if p is None else math.log10(p)
                    line = f"{logp:.7f}\t{' '.join(gram)}"
                    if n < self.order and gram in self.backoff[n - 1]:
                        line += f"\t{math.log10(self.backoff[n - 1][gram]):.7f}"
                    elif n < self.order and gram[-1] != EOS:
                        line += "\t0"
                    out.write(line + "\n")
            out.write("\n\\end\\\n")


def read_sentences(path: str | Path, normalize=None) -> list[list[str]]:
    """One sentence per line; ``normalize`` maps raw text to the alphabet (or raises ValueError)."""
    sentences = []
    with open(path, encoding="utf-8", errors="strict") as handle:
        for line in handle:
            text = line.strip()
            if not text:
                continue
            if normalize is not None:
                try:
                    text = normalize(text)
                except ValueError:
                    continue
            sentences.append(text.split())
    return sentences


def build_lm(sentences: list[list[str]], order: int, out: str | Path,
             prune: tuple[int, ...] = ()) -> dict:
    """Write ``out`` (.arpa) — with KenLM's lmplz and a binary when its tools are installed.
    ``prune``: see :class:`KneserNeyModel` (the same as lmplz's ``--prune``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arpa = out if out.suffix == ".arpa" else out.with_suffix(".arpa")
    lmplz, build_binary = shutil.which("lmplz"), shutil.which("build_binary")
    if lmplz:
        text = "\n".join(" ".join(s) for s in sentences) + "\n"
        pruning = ["--prune", *map(str, prune)] if any(prune) else []
        subprocess.run([lmplz, "-o", str(order), "--discount_fallback", *pruning,
                        "--arpa", str(arpa)], input=text.encode(), check=True,
                       capture_output=True)
        tool = "lmplz"
    else:
        KneserNeyModel(sentences, order, prune).write_arpa(arpa)
        tool = "ds2_tf.ngram (modified Kneser-Ney)"
    result = {"arpa": str(arpa), "order": order, "sentences": len(sentences),
              "words": sum(len(s) for s in sentences), "builder": tool,
              "prune": list(prune) if any(prune) else None}
    if build_binary:
        binary = arpa.with_suffix(".bin")
        subprocess.run([build_binary, str(arpa), str(binary)], check=True, capture_output=True)
        result["binary"] = str(binary)
    return result
