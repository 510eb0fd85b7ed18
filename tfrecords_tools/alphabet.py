"""The output alphabet: characters ↔ ids, transcript normalization, blank last.

Blank is the *last* index everywhere because `tf.nn.ctc_beam_search_decoder` has no option to
move it; keeping one convention avoids off-by-one remaps between loss, decoders and exports.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

ENGLISH = " abcdefghijklmnopqrstuvwxyz'"
UNKNOWN_POLICIES = ("skip", "map")
_APOSTROPHES = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}


class TranscriptError(ValueError):
    """A transcript that cannot be expressed in the alphabet (the message says why)."""


@dataclass(frozen=True)
class Alphabet:
    """An ordered character set; id ``len(characters)`` is the CTC blank."""

    characters: tuple[str, ...]
    lowercase: bool = True

    def __post_init__(self):
        if len(set(self.characters)) != len(self.characters):
            raise ValueError("alphabet has duplicate characters")
        if any(len(c) != 1 for c in self.characters):
            raise ValueError("alphabet entries must be single characters")
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(self.characters)})

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def english(cls) -> "Alphabet":
        return cls(tuple(ENGLISH), lowercase=True)

    @classmethod
    def from_string(cls, chars: str, lowercase: bool = True) -> "Alphabet":
        return cls(tuple(dict.fromkeys(chars)), lowercase=lowercase)

    @classmethod
    def from_transcripts(cls, texts: Iterable[str], keep_space: bool | None = None) -> "Alphabet":
        """Every letter/mark/digit seen in ``texts`` (after cleaning), sorted; for e.g. Mandarin."""
        seen: set[str] = set()
        for text in texts:
            seen.update(_clean(text, lowercase=True))
        has_space = " " in seen
        seen.discard(" ")
        chars = sorted(seen)
        if keep_space if keep_space is not None else has_space:
            chars = [" "] + chars
        return cls(tuple(chars), lowercase=True)

    @classmethod
    def load(cls, path: str | Path) -> "Alphabet":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_json(data)

    @classmethod
    def from_json(cls, data: dict) -> "Alphabet":
        return cls(tuple(data["characters"]), lowercase=bool(data.get("lowercase", True)))

    def to_json(self) -> dict:
        return {"characters": list(self.characters), "lowercase": self.lowercase,
                "blank_index": self.blank_index}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1) + "\n",
                              encoding="utf-8")

    # ---- ids ----------------------------------------------------------------------------------
    @property
    def blank_index(self) -> int:
        return len(self.characters)

    @property
    def num_classes(self) -> int:
        """Characters + blank: the width of the model's output layer."""
        return len(self.characters) + 1

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[c] for c in text]
        except KeyError as err:
            raise TranscriptError(f"character {err.args[0]!r} is not in the alphabet") from None

    def decode(self, ids: Sequence[int]) -> str:
        """Ids → text; blank and out-of-range ids are ignored (no CTC collapsing here)."""
        n = len(self.characters)
        return "".join(self.characters[i] for i in ids if 0 <= i < n)

    # ---- normalization ------------------------------------------------------------------------
    def normalize(self, text: str, unknown: str = "skip") -> str:
        """Bring a raw transcript into the alphabet.

        Always: Unicode NFKC, lowercase (for cased alphabets), punctuation → space, whitespace
        collapsed (removed if the alphabet has no space, as for Mandarin). Then characters still
        outside the alphabet either reject the transcript (``unknown="skip"``, raising
        :class:`TranscriptError` naming the character) or are mapped (``"map"``: accents stripped,
        whatever is still unknown dropped).
        """
        if unknown not in UNKNOWN_POLICIES:
            raise ValueError(f"unknown-character policy must be one of {UNKNOWN_POLICIES}")
        cleaned = _clean(text, self.lowercase, keep=self._index)
        bad = [c for c in cleaned if c not in self._index and c != " "]
        if bad and unknown == "skip":
            raise TranscriptError(
                f"character {bad[0]!r} (U+{ord(bad[0]):04X}) is outside the alphabet "
                f"(use --unknown-chars map to strip accents and drop such characters)")
        if bad:
            cleaned = "".join(c if (c in self._index or c == " ") else " "
                              for c in strip_accents(cleaned))
        if " " not in self._index:
            cleaned = cleaned.replace(" ", "")
        cleaned = " ".join(cleaned.split())
        if not cleaned:
            raise TranscriptError("transcript is empty after normalization")
        return cleaned


def strip_accents(text: str) -> str:
    """Each letter without its accents (é → e, ñ → n, ü → u): NFKD, combining marks dropped."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _clean(text: str, lowercase: bool, keep: dict | set = frozenset()) -> str:
    text = unicodedata.normalize("NFKC", text)
    for src, dst in _APOSTROPHES.items():
        text = text.replace(src, dst)
    if lowercase:
        text = text.lower()
    out = []
    for ch in text:
        if ch in keep:
            out.append(ch)
        elif ch.isspace() or unicodedata.category(ch)[0] in "PSZC":
            out.append(" ")  # punctuation, symbols, separators, control characters
        else:
            out.append(ch)
    return " ".join("".join(out).split())
