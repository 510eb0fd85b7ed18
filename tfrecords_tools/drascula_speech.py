"""Real speech for training: the voice acting of *Drascula: The Vampire Strikes Back*.

    python -m tfrecords_tools.drascula_speech --out DIR [--language en|es] [--speeds 1]
    ds2 prepare --out CORPUS --alphabet english --unknown-chars map train=DIR/train.csv

Why: the two other games (``steel_sky_speech``, ``amazon_queen_speech``) are the only real
English speech the project trains on, and real human speech is where the released model is
weakest. Alcachofa Soft released this 1996 adventure as freeware (Debian: ``drascula``; the
licence allows free redistribution); its English version has about 800 recorded lines by a third
cast (0.8 h): John Hacker, Count Drascula, Igor, B.J., Von Braun and the village's people.
The Spanish original (``--language es``; Debian: ``drascula-spanish``) is the same lines by
another cast (0.7 h): real speech by other people, in another language, as the Asterisk prompts
in Italian and French (``asterisk_prompts``) that lowered every real set's CER. The one stage
that heard it ended worse than two that did not (other seeds, so no proof; docs/models.md,
version 18); the recipe does not use it unless CORPORA names drascula_es.

The game's files (the formats as ScummVM's ``drascula`` engine reads them), in
``/usr/share/scummvm/drascula/LANGUAGE/`` (Debian links ``es/drascula.dat`` to ``en/``'s):

- ``drascula.dat`` (version 6): ``DRASCULA``, a version byte, thirteen tables of fixed-size
  records (each a big-endian count, then the records), the number of languages, then fifteen
  text tables: a count of strings, then per language (English, Spanish, German, French,
  Italian, Russian) a length and a block in which each string follows the 2-byte length of its
  zero-padded slot, in code page 437 (Spanish ``Ñ``; ``º`` stands for a space in two lines).
- The speech: ``PREFIX{N}.ALS``, raw unsigned 8-bit mono at 11025 Hz with 32 bytes of header
  and trailer; line N of the table the prefix names (none: John Hacker; ``D``: Drascula, and
  from line 58 the blind man; ``I``: Igor; ``BJ``; ``VB``: Von Braun; ``B``: the drunk; ``E``:
  the musician; ``L``: the werewolf; ``P``: the pianist; ``T``: the bartender). One exception,
  as the engine plays it: ``D83.ALS`` goes with John Hacker's line 83 (the trunk scene), which
has no English text. ``S*.ALS``
  and ``F*.ALS`` are sound effects and music.

Checked on the real game: 763 of the 783 ``.ALS`` files name a line (the other 20: the effects,
and ``B61``/``B62``, beyond the drunk's 15 lines), and text length follows speech length (r =
0.88). ``3.ALS`` starts and ends with seconds of silence, which the engine skips; so does this
reader.

Lines whose text has digits or symbols are left out (double quotes, used for emphasis, are
dropped), as for the other games, and so are lines with spelled letters ("B.J."): a letter's
name is not its character. Spanish lines lose their accents and ``¿ ¡`` (a-z, as for the
Asterisk prompts); its one-letter words are a, e, o, u, y. Every 25th line goes to ``dev.csv``
(``drascula_dev``). Speakers: ``drascula-TABLE`` (``hacker``, ``drascula``, ``igor``, ...; the
blind man's lines go with Drascula's table), ``drascula-es-TABLE`` for the Spanish cast.
"""
from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import numpy as np

from tfrecords_tools.alphabet import strip_accents
from tfrecords_tools.game_speech import (RATE, GameError, LineWriter, game_parser, run,
                                         transcript)

GAMES = Path("/usr/share/scummvm/drascula")  # a folder per language
# language → (its name, its place among drascula.dat's texts, the Debian package with its speech)
LANGUAGES = {"en": ("English", 0, "drascula"), "es": ("Spanish", 1, "drascula-spanish")}
# one-letter words that are words, not spelled letters ("B.J." → "b j")
ONE_LETTER_WORDS = {"en": "ai", "es": "aeouy"}
VERSION = 6
RECORD_BYTES = (4, 4, 4, 2, 4, 2, 4, 2, 2, 20, 20, 10, 8)  # the fixed tables, in file order
TABLES = ("hacker", "drascula", "drunk", "bj", "musician", "igor", "werewolf", "pianist",
          "bartender", "vonbraun", "system", "history", "verbs", "misc", "sync")
PREFIXES = {"": "hacker", "D": "drascula", "B": "drunk", "BJ": "bj", "E": "musician",
            "I": "igor", "L": "werewolf", "P": "pianist", "T": "bartender", "VB": "vonbraun"}
EXCEPTIONS = {"D83": ("hacker", 83)}  # the engine's talk_trunk: Drascula's file, Hacker's line
SPEECH_RATE = 11025
FRAME_BYTES = 32  # header and trailer of each .ALS file
SILENCE = {("3.ALS", 145166): (73959, 26306)}  # (name, size) → bytes the engine skips at each end


def texts(data: bytes, language: str = "en") -> dict[str, list[str]]:
    """``drascula.dat`` → table name → its strings in ``language`` (index = line number)."""
    name, wanted, _ = LANGUAGES[language]
    if data[:8] != b"DRASCULA":
        raise GameError("drascula.dat: no DRASCULA header (not the engine's data file)")
    if data[8] != VERSION:
        raise GameError(f"drascula.dat: version {data[8]}; this reader knows version {VERSION}")
    try:
        pos = 9
        for record in RECORD_BYTES:
            (count,) = struct.unpack_from(">H", data, pos)
            pos += 2 + count * record
        (languages,) = struct.unpack_from(">H", data, pos)
        pos += 2
        found = {}
        for table in TABLES:
            (count,) = struct.unpack_from(">H", data, pos)
            pos += 2
            for index in range(languages):  # only the wanted one is read
                (size,) = struct.unpack_from(">H", data, pos)
                if index == wanted:
                    found[table] = _strings(data[pos + 2:pos + 2 + size], count)
                pos += 2 + size
    except (struct.error, ValueError, IndexError) as error:
        raise GameError(f"drascula.dat: truncated or damaged ({error})") from None
    if pos != len(data):
        raise GameError(f"drascula.dat: {len(data) - pos} bytes after the last table "
                        "(not the layout this reader knows)")
    if len(found) != len(TABLES):
        raise GameError(f"drascula.dat: {languages} languages, no {name} texts")
    return found


def _strings(block: bytes, count: int) -> list[str]:
    """One language's block: string 0 is empty; each next string follows the 2-byte size of
    its slot (the distance to the next string), the first at 4 + the size at byte 2."""
    if len(block) < 4 or count < 1:
        raise ValueError("empty text block")
    strings, pos = [""], 4
    for _ in range(1, count):
        (slot,) = struct.unpack_from(">H", block, pos - 2)
        pos += slot
        strings.append(block[pos:block.index(b"\0", pos)].decode("cp437"))
    return strings


def speech_samples(name: str, data: bytes) -> np.ndarray:
    """An ``.ALS`` file → float32 mono samples at 16 kHz."""
    import soxr

    if len(data) <= 2 * FRAME_BYTES:
        raise ValueError(f"{name}: {len(data)} bytes, no speech after the 32-byte header")
    start, end = SILENCE.get((name.upper(), len(data)), (FRAME_BYTES, FRAME_BYTES))
    pcm = np.frombuffer(data[start:len(data) - end], np.uint8)
    audio = (pcm.astype(np.float32) - 128) / 128
    return soxr.resample(audio, SPEECH_RATE, RATE).astype(np.float32)


def reading(text: str, language: str = "en") -> str | None:
    """The words of a line (double quotes mark emphasis here), or None when uncertain: digits,
    symbols, or spelled letters (a one-letter word that is not one, ``ONE_LETTER_WORDS``).
    Spanish drops ``¿ ¡`` and folds accents to a-z."""
    text = text.replace('"', "")
    if language != "en":
        text = strip_accents(re.sub("[¿¡]", " ", text.replace("º", " ")))
    said = transcript(text)
    if said is None or any(len(word) == 1 and word not in ONE_LETTER_WORDS[language]
                           for word in said.split()):
        return None
    return said


def speech_lines(game: Path, language: str = "en") -> list[tuple[str, str, str]]:
    """(file name, text, table) of every ``.ALS`` file that names a line, in file-name order."""
    if not game.is_dir():
        raise GameError(f"{game} missing (apt-get install {LANGUAGES[language][2]})")
    dat = game / "drascula.dat"
    if not dat.is_file():
        raise GameError(f"{dat} missing (not the game's folder)")
    lines_of = texts(dat.read_bytes(), language)
    lines, untitled = [], []
    for path in sorted(game.iterdir()):
        match = re.fullmatch(r"([A-Z]*)(\d+)\.ALS", path.name.upper())
        if not match or match.group(1) not in PREFIXES:
            continue
        table, index = EXCEPTIONS.get(match.group(1) + match.group(2),
                                      (PREFIXES[match.group(1)], int(match.group(2))))
        if index >= len(lines_of[table]):
            continue  # beyond its table: no line (B61, B62)
        if lines_of[table][index].strip():
            lines.append((path.name, lines_of[table][index], table))
        else:
            untitled.append(path.name)
    if untitled:
        print(f"note: {len(untitled)} speech files have no {LANGUAGES[language][0]} text, "
              f"left out: {' '.join(untitled)}", file=sys.stderr)
    return lines


def extract(game: Path, writer: LineWriter, language: str = "en") -> None:
    lines = speech_lines(game, language)
    if not lines:
        raise GameError(f"{game}: no .ALS speech file names a line")
    prefix = "drascula" if language == "en" else f"drascula-{language}"
    for name, text, table in lines:
        writer.offer(f"{prefix.replace('-', '_')}_{name[:-4].lower()}", text,
                     lambda name=name: speech_samples(name, (game / name).read_bytes()),
                     f"{prefix}-{table}")
    print(f"{prefix}: {writer.summary()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = game_parser(__doc__)
    parser.add_argument("--language", choices=sorted(LANGUAGES), default="en",
                        help="whose voices: the English cast (en) or the Spanish one (es)")
    parser.add_argument("--game", type=Path,
                        help=f"the language's folder with drascula.dat and the .ALS files "
                             f"(default {GAMES}/LANGUAGE)")
    args = parser.parse_args(argv)
    game = args.game or GAMES / args.language
    return run(args, lambda writer: extract(game, writer, args.language),
               lambda text: reading(text, args.language))


if __name__ == "__main__":
    sys.exit(main())
