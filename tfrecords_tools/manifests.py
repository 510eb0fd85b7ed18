"""Corpus readers: LibriSpeech trees, CSV/TSV manifests and JSONL manifests → :class:`Item` s.

Readers never stop at a bad line: a line they cannot use becomes an Item with ``error`` set, so
prepare reports it (file:line and reason) and carries on with the rest.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

PATH_COLUMNS = ("path", "wav_filename", "audio_filepath", "audio", "file", "filename")
TEXT_COLUMNS = ("transcript", "text", "sentence", "transcription")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")


@dataclass(frozen=True)
class Item:
    """One utterance to prepare, from an audio file or a synthesis ``recipe``; ``where`` names
    it in reports (file or file:line); ``error`` is set when its manifest line was unusable."""

    utt_id: str
    audio_path: str
    transcript: str
    speaker: str = ""
    where: str = ""
    error: str = ""
    recipe: dict | None = None


def read_source(source: str | Path) -> Iterator[Item]:
    """Dispatch on what ``source`` is: a directory (LibriSpeech), .csv/.tsv, or .jsonl/.json."""
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found")
    if path.is_dir():
        return read_librispeech(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return read_csv(path)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path)
    raise ValueError(f"{path}: unknown manifest type {suffix!r} "
                     "(expected a LibriSpeech directory, .csv, .tsv or .jsonl)")


def _decoded_lines(path: Path) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text or None, error) for each line, decoding UTF-8 line by line."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.rstrip(b"\r\n")
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield number, raw.decode("utf-8"), ""
            except UnicodeDecodeError as err:
                yield number, None, (f"text is not valid UTF-8 (byte 0x{raw[err.start]:02x} at "
                                     f"column {err.start + 1})")


def read_librispeech(root: Path) -> Iterator[Item]:
    """``<root>/**/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` + ``<utt>.flac``."""
    trans_files = sorted(root.rglob("*.trans.txt"))
    if not trans_files:
        raise ValueError(f"{root}: no *.trans.txt files (not a LibriSpeech-style tree)")
    for trans in trans_files:
        for number, line, error in _decoded_lines(trans):
            where = f"{trans}:{number}"
            if error:
                yield Item(f"{trans.stem}:{number}", "", "", where=where, error=error)
                continue
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            speaker = utt_id.split("-")[0]
            audio = next((trans.parent / f"{utt_id}{ext}" for ext in (".flac", ".wav", ".ogg")
                          if (trans.parent / f"{utt_id}{ext}").exists()),
                         trans.parent / f"{utt_id}.flac")
            yield Item(utt_id, str(audio), text, speaker, where=f"{audio} ({where})")


def _resolve(manifest: Path, value: str) -> Path:
    """Paths are relative to the manifest; Common Voice keeps clips in ``clips/``."""
    candidate = Path(value)
    if candidate.is_absolute():
        return candidate
    for base in (manifest.parent, manifest.parent / "clips"):
        if (base / candidate).exists():
            return base / candidate
    return manifest.parent / candidate


def _pick(row: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in row and row[name] is not None:
            return row[name]
    return None


class _BadLine(ValueError):
    pass


def _read_rows(path: Path, parse) -> Iterator[Item]:
    """Shared line loop of the table manifests: ``parse(line, number)`` returns
    (audio, text, speaker, utt_id or None), None for a line to pass over (header), or raises
    _BadLine; every problem becomes an Item with ``error`` naming file:line."""
    seen_ids: dict[str, int] = {}
    for number, line, error in _decoded_lines(path):
        where = f"{path}:{number}"
        if not error and not line.strip():
            continue
        try:
            if error:
                raise _BadLine(error)
            row = parse(line, number)
        except _BadLine as err:
            yield Item(f"{path.stem}:{number}", "", "", where=where, error=str(err))
            continue
        if row is None:
            continue
        audio, text, speaker, utt_id = row
        audio_path = _resolve(path, str(audio).strip())
        yield Item(str(utt_id or _unique_id(audio_path.stem, seen_ids)), str(audio_path),
                   str(text), str(speaker or "").strip(), where=f"{audio_path} ({where})")


def read_csv(path: Path) -> Iterator[Item]:
    """``path,transcript[,speaker]`` (TSV for .tsv); an optional header may name the columns."""
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    header: list[str] = []

    def parse(line: str, number: int):
        fields = next(csv.reader([line], delimiter=delimiter))
        names = [f.strip().lower() for f in fields]
        if number == 1 and set(names) & set(PATH_COLUMNS) and set(names) & set(TEXT_COLUMNS):
            header.extend(names)
            return None
        if header:
            row = dict(zip(header, fields))
            audio, text, speaker = (_pick(row, PATH_COLUMNS), _pick(row, TEXT_COLUMNS),
                                    _pick(row, SPEAKER_COLUMNS))
        else:
            audio = fields[0] if fields else None
            text = fields[1] if len(fields) > 1 else None
            speaker = fields[2] if len(fields) > 2 else ""
        if not audio or text is None:
            raise _BadLine("expected `path<sep>transcript[<sep>speaker]`")
        return audio, text, speaker, None

    return _read_rows(path, parse)


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows of ``path``, ``transcript`` and ``speaker`` → a CSV manifest with a header, the form
    ``read_csv`` (and so ``ds2 prepare``) reads; the folder is made if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["path", "transcript", "speaker"])
        writer.writeheader()
        writer.writerows(rows)


def read_jsonl(path: Path) -> Iterator[Item]:
    """One JSON object per line with a path field (audio_filepath/path/…) and a text field."""

    def parse(line: str, number: int):
        try:
            row = json.loads(line)
        except ValueError as err:
            raise _BadLine(f"not a JSON object ({err})") from None
        if not isinstance(row, dict):
            raise _BadLine("not a JSON object")
        audio, text = _pick(row, PATH_COLUMNS), _pick(row, TEXT_COLUMNS)
        if not audio or text is None:
            raise _BadLine(f"needs one of {PATH_COLUMNS} and one of {TEXT_COLUMNS}")
        return audio, text, _pick(row, SPEAKER_COLUMNS), row.get("utt_id")

    return _read_rows(path, parse)


def _unique_id(stem: str, seen: dict[str, int]) -> str:
    count = seen.get(stem, 0)
    seen[stem] = count + 1
    return stem if count == 0 else f"{stem}_{count}"
