"""Real English speech for training: the voice acting of *Flight of the Amazon Queen* (CD talkie).

    python -m tfrecords_tools.amazon_queen_speech --out DIR [--speeds 1] [--dev-every 25]
    ds2 prepare --out CORPUS --alphabet english --unknown-chars map train=DIR/train.csv

Why: the voice acting of *Beneath a Steel Sky* (``steel_sky_speech``) was the first real English
speech this project trained on, and 40 minutes with it lowered the real-speech dev CER by 2.2
points against the same stage without it. Krome Studios released this 1995 adventure as freeware
(Debian: ``flight-of-the-amazon-queen``; the licence allows free redistribution and
modification); its talkie version has about 6000 recorded lines by another cast (mostly American
accents), each stored with the text the game shows for it: more real voices of another kind.

The game's file (the format as ScummVM's ``queen`` engine reads it): ``queen.1c`` starts with
``QTBL``, a version, a compression byte (1: the speech is MP3) and a table of entries (name,
bundle, offset, size, big-endian). Strings are a length byte and the text, padded to 2 bytes
(4 in dialogue tables). A line is cut into segments at ``*`` commands (``*XY`` takes 11 more
characters), each segment its own speech file.

- Dialogues, ``NAME.DOG`` (after a 20-byte header): a talk key, the dialogue tree and two string
  tables, Joe's lines and the other person's (id + string); the two lines said on meeting again
  follow the ``person2`` offset. Segment ``k`` of line ``id`` is ``{key:2d}{id:4x}{J|P}{k:x}``
  with spaces as zeros (``SSSS``: the greeting, ``XXXX``: the lines said on meeting again), e.g.
  ``020006P1.SB``.
- Cutaway scenes, ``NAME.CUT`` (same header): after the entry string, one string per scene
  object; segment ``k`` of object ``i`` is ``{NAME padded with _ to 5}{i:02d}{k:x}``, e.g.
  ``C5C__021.SB``.

Checked on the real game: 3983 of its 3984 dialogue speech files and all 2036 cutaway ones are
found, and text length follows speech length (r = 0.82 for the dialogue lines, 0.80 for the
scenes). Joe's object descriptions (``JOE*.SB``, about 560) are not read.

Lines whose text has digits or symbols are left out (double quotes, used for emphasis, are
dropped), as for the other games, and so are lines of single letters (names spelled out: a
letter's name is not its character). Every 25th line goes to ``dev.csv`` (``queen_dev``).
Speakers: ``queen-joe`` for Joe, ``queen-NAME`` (the dialogue file's name without digits) for
the others, ``queen-scene`` for the scenes (their speakers are not read).
"""
from __future__ import annotations

import io
import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfrecords_tools.game_speech import (RATE, GameError, LineWriter, game_parser, run,
                                         transcript)

GAME = Path("/usr/share/scummvm/flight-of-the-amazon-queen/queen.1c")
HEADER_BYTES = 20  # of .DOG and .CUT files: "AmBk", sizes and "Datas   "
COMMANDS_NOT_SPOKEN = {"GD", "GM"}  # Joe grabs: the engine skips these segments' speech
MP3 = 1


@dataclass(frozen=True)
class Line:
    speech: str  # the speech file's name in the archive
    text: str
    speaker: str


class Archive:
    """``queen.1c``: entry name → bytes."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise GameError(f"{path} missing (apt-get install flight-of-the-amazon-queen)")
        self.path = path
        with open(path, "rb") as handle:
            head = handle.read(13)
            if len(head) < 13 or head[:4] != b"QTBL":
                raise GameError(f"{path}: not a ScummVM-rebuilt Amazon Queen archive "
                                "(no QTBL header)")
            self.compression = head[12]
            count_bytes = handle.read(2)
            count = struct.unpack(">H", count_bytes)[0] if len(count_bytes) == 2 else 0
            table = handle.read(21 * count)
        if count == 0 or len(table) < 21 * count:
            raise GameError(f"{path}: truncated table ({len(table)} bytes for {count} entries)")
        self.entries: dict[str, tuple[int, int]] = {}
        for index in range(count):
            record = table[21 * index: 21 * index + 21]
            name = record[:12].rstrip(b"\0").decode("latin-1")
            self.entries[name] = struct.unpack(">II", record[13:21])
        self._handle = open(path, "rb")

    def load(self, name: str) -> bytes:
        """Entry ``name``; ValueError when the archive ends before it does."""
        offset, size = self.entries[name]
        self._handle.seek(offset)
        data = self._handle.read(size)
        if len(data) != size:
            raise ValueError(f"{name}: {len(data)} of {size} bytes in {self.path} (truncated?)")
        return data


def _string(data: bytes, offset: int, align: int) -> tuple[str, int]:
    """A length-prefixed string at ``offset`` and the offset after it (padded to ``align``)."""
    length = data[offset]
    offset += 1
    text = data[offset: offset + length].decode("latin-1")
    end = offset + length
    if length and align > 1:
        end = (end + align - 1) & ~(align - 1)
    return text, end


def _table(data: bytes, offset: int, count: int) -> list[tuple[int, str]]:
    """A dialogue file's string table: (id, text) for ``count`` entries."""
    entries = []
    for _ in range(count):
        identifier = struct.unpack_from(">h", data, offset + 2)[0]
        text, offset = _string(data, offset + 4, 4)
        entries.append((identifier, text))
    return entries


def segments(sentence: str) -> list[tuple[int, str]]:
    """(index, text) of the spoken segments of a line: ``*`` + a two-letter command ends a
    segment (``*XY`` takes 11 more characters); every command counts, spoken or not."""
    out, start, index, i = [], 0, 0, 0
    while i < len(sentence):
        if sentence[i] != "*":
            i += 1
            continue
        command = sentence[i + 1: i + 3]
        out.append((index, sentence[start:i], command))
        i += 3 + (11 if command == "XY" else 0)
        index, start = index + 1, i
    if start < len(sentence):
        out.append((index, sentence[start:], ""))
    return [(index, text) for index, text, command in out if command not in COMMANDS_NOT_SPOKEN]


def dialogue_lines(name: str, raw: bytes) -> list[Line]:
    """Every spoken segment of one ``.DOG`` file with the name of its speech file."""
    data = raw[HEADER_BYTES:]
    level_max, _, key, joe_count, person_count = struct.unpack_from(">5h", data)
    level_max = abs(level_max)  # negative: the player cannot leave this conversation
    person1, _, person2 = struct.unpack_from(">3H", data, 22)
    person = "queen-" + re.sub(r"[0-9]+$", "", name.rsplit(".", 1)[0]).lower()
    prefixes = []
    for index, (identifier, text) in enumerate(_table(data, 32 + level_max * 96, joe_count)):
        # the table's first entry is Joe's greeting
        prefixes.append((f"{key:2d}SSSSJ" if index == 0 else f"{key:2d}{identifier:4x}J",
                         text, "queen-joe"))
    for identifier, text in _table(data, person1, person_count):
        prefixes.append((f"{key:2d}{identifier:4x}P", text, person))
    again_person, offset = _string(data, person2, 2)
    again_joe, _ = _string(data, offset, 2)
    prefixes += [(f"{key:2d}XXXXP", again_person, person),
                 (f"{key:2d}XXXXJ", again_joe, "queen-joe")]
    lines = []
    for prefix, text, speaker in prefixes:
        for index, segment in segments(text):
            speech = f"{prefix}{index + 1:x}".replace(" ", "0").upper() + ".SB"
            lines.append(Line(speech, segment, speaker))
    return lines


def cutaway_lines(name: str, raw: bytes) -> list[Line]:
    """Every spoken segment of one ``.CUT`` file (a scripted scene) with its speech file's name.
    Each of the scene's objects reads the next string after the entry string; the text of
    object ``i`` is spoken as ``{NAME padded with _ to 5}{i:02d}{k:x}``."""
    data = raw[HEADER_BYTES:]
    count = abs(struct.unpack_from(">h", data, 2)[0])
    _, offset = _string(data, struct.unpack_from(">H", data, 8)[0], 2)  # the entry string
    prefix = name.rsplit(".", 1)[0].upper().ljust(5, "_")
    lines = []
    for index in range(1, count + 1):
        text, offset = _string(data, offset, 2)
        lines += [Line(f"{prefix}{index:02d}{part + 1:X}.SB", segment, "queen-scene")
                  for part, segment in segments(text)]
    return lines


def speech_samples(name: str, data: bytes) -> np.ndarray:
    """Speech file ``name`` (MP3) → float32 mono samples at 16 kHz."""
    import soundfile
    import soxr

    try:
        audio, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise ValueError(f"{name}: MP3 data unreadable ({str(error).strip()[:80]})") from None
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    return soxr.resample(audio, rate, RATE).astype(np.float32) if rate != RATE else audio


def reading(text: str) -> str | None:
    """The words of a line (double quotes mark emphasis here), or None when uncertain: digits,
    symbols, or only single letters (names spelled out: a letter's name is not its character;
    a lone "I" or "a" goes with them)."""
    said = transcript(text.replace('"', ""))
    return None if said is None or re.fullmatch(r"[a-z]( [a-z])*", said) else said


def extract(game: Path, writer: LineWriter) -> None:
    archive = Archive(game)
    if archive.compression != MP3:
        raise GameError(f"{game}: speech compression {archive.compression}; this reader knows "
                        "the Debian package's MP3 version (1)")
    lines: list[Line] = []
    readers = {".DOG": dialogue_lines, ".CUT": cutaway_lines}
    for name in sorted(archive.entries):
        if name[-4:] in readers:
            try:
                lines += readers[name[-4:]](name, archive.load(name))
            except (ValueError, IndexError, struct.error) as error:
                print(f"note: {name}: unreadable ({error}); its lines are left out",
                      file=sys.stderr)
    seen = set()
    for line in lines:
        if line.speech not in archive.entries or line.speech in seen or not line.text.strip():
            continue
        seen.add(line.speech)
        writer.offer(f"queen_{line.speech[:-3].lower()}", line.text,
                     lambda speech=line.speech: speech_samples(speech, archive.load(speech)),
                     line.speaker)
    print(f"amazon queen: {writer.summary()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = game_parser(__doc__)
    parser.add_argument("--game", type=Path, default=GAME, help="the game's queen.1c")
    args = parser.parse_args(argv)
    return run(args, lambda writer: extract(args.game, writer), reading)


if __name__ == "__main__":
    sys.exit(main())
