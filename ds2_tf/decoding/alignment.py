"""Word timings and confidence from the CTC best path (greedy decoding).

Each emitted character is a run of frames whose most probable class is that character (a
repeated character is always split by a blank). A word is the characters between spaces: it
starts at the start of its first character's first frame and ends at the end of its last
character's last frame. Output frame i is centred on input frame ``i · time_stride`` (the conv
front-end pads symmetrically), whose window is centred ``window / 2`` samples after its start.

Confidence, all in [0, 1]: a character's is the highest posterior probability among its frames; a
word's is the geometric mean of its characters'; an utterance's is the mean, over its frames, of
the most probable class's posterior (blank frames included, so silence scores as confident).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from tfrecords_tools.alphabet import Alphabet


@dataclass(frozen=True)
class FrameClock:
    """Seconds of output frames: ``hop_samples · time_stride`` apart, first centred at
    ``window_samples / 2``."""

    sample_rate_hz: int
    hop_samples: int
    window_samples: int
    time_stride: int

    @classmethod
    def of(cls, config) -> "FrameClock":
        features = config.features
        return cls(features.sample_rate_hz, features.hop_samples, features.window_samples,
                   config.model.time_stride)

    @property
    def frame_s(self) -> float:
        return self.hop_samples * self.time_stride / self.sample_rate_hz

    def center_s(self, frame: int) -> float:
        return (frame * self.time_stride * self.hop_samples + self.window_samples / 2) \
            / self.sample_rate_hz


@dataclass(frozen=True)
class Word:
    word: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    text: str
    duration_s: float
    confidence: float
    words: list[Word] = field(default_factory=list)
    alternatives: list[dict] = field(default_factory=list)  # [{"text", "score"}], best first

    def to_json(self, **extra) -> dict:
        out = {**extra, "text": self.text, "duration_s": round(self.duration_s, 3),
               "confidence": round(self.confidence, 4),
               "words": [{k: round(v, 3) if isinstance(v, float) else v
                          for k, v in asdict(w).items()} for w in self.words]}
        if self.alternatives:
            out["alternatives"] = [{"text": a["text"], "score": round(a["score"], 4)}
                                   for a in self.alternatives]
        return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.asarray(logits, np.float64) - np.max(logits, axis=-1, keepdims=True)
    probs = np.exp(shifted)
    return probs / probs.sum(axis=-1, keepdims=True)


def beam_transcript(logits: np.ndarray, beams: list, clock: FrameClock,
                    duration_s: float) -> Transcript:
    """The best beam's text; word times from its word frames where the decoder gives them
    (pyctcdecode does, TensorFlow's beam search does not), each word's confidence the mean of the
    top class's posterior over its frames; ``beams`` as alternatives."""
    probs = softmax(logits)
    peak = probs.max(axis=-1)
    text, _, frames = beams[0]
    words = []
    half = clock.frame_s / 2
    for word, (first, end) in frames or []:
        first, last = max(0, first), max(first, min(end, len(peak)) - 1)
        words.append(Word(word, max(0.0, clock.center_s(first) - half),
                          min(duration_s, clock.center_s(last) + half),
                          float(peak[first: last + 1].mean()) if len(peak) else 1.0))
    alternatives = [{"text": t, "score": s} for t, s, _ in beams]
    return Transcript(text, duration_s, float(peak.mean()) if len(peak) else 1.0, words,
                      alternatives)


def greedy_transcript(logits: np.ndarray, length: int, alphabet: Alphabet, clock: FrameClock,
                      duration_s: float) -> Transcript:
    """The best path of ``logits`` [T, V] (first ``length`` frames) with word timings."""
    probs = softmax(logits[:length])
    best, peak = probs.argmax(axis=-1), probs.max(axis=-1)
    chars = []  # (character, first frame, last frame, confidence, label)
    for t, label in enumerate(best):
        if label == alphabet.blank_index:
            continue
        if chars and t > 0 and best[t - 1] == label:
            char, first, _, conf, _ = chars[-1]
            chars[-1] = (char, first, t, max(conf, float(peak[t])), int(label))
        else:
            chars.append((alphabet.characters[label], t, t, float(peak[t]), int(label)))
    words, current = [], []
    for item in chars + [(" ", 0, 0, 1.0, -1)]:
        if item[0] != " ":
            current.append(item)
            continue
        if current:
            half = clock.frame_s / 2
            start = max(0.0, clock.center_s(current[0][1]) - half)
            end = min(duration_s, clock.center_s(current[-1][2]) + half)
            confidence = float(np.exp(np.mean(np.log([max(c[3], 1e-12) for c in current]))))
            words.append(Word("".join(c[0] for c in current), start, end, confidence))
            current = []
    text = alphabet.decode([c[4] for c in chars])  # exactly greedy_decode's text
    confidence = float(peak.mean()) if length else 1.0
    return Transcript(text, duration_s, confidence, words)


def join_texts(texts) -> str:
    """Consecutive pieces' texts as one: words separated by one space, none at the ends (a
    CTC decode may begin or end a piece with a space)."""
    return " ".join(" ".join(texts).split())


def join_pieces(pieces: list[tuple[float, float, Transcript]], duration_s: float,
                nbest: int = 0) -> Transcript:
    """One recording's transcript from its pieces' ``(start_s, end_s, transcript)``, in order:
    words shifted to recording time, whitespace normalized, confidence weighted by piece length;
    with ``nbest``, the k-th alternative joins every piece's k-th best (or its last), its score
    the sum of theirs. A single piece ``(0, duration, t)`` gives ``t`` with normalized text."""
    words = [Word(w.word, w.start_s + start, w.end_s + start, w.confidence)
             for start, _, piece in pieces for w in piece.words]
    confidence = sum(p.confidence * (b - a) for a, b, p in pieces) / duration_s \
        if duration_s else 1.0
    alternatives = []
    for k in range(nbest):
        picks = [p.alternatives[min(k, len(p.alternatives) - 1)] for _, _, p in pieces]
        alternatives.append({"text": join_texts(a["text"] for a in picks),
                             "score": sum(a["score"] for a in picks)})
    return Transcript(join_texts(p.text for _, _, p in pieces), duration_s, confidence, words,
                      alternatives)
