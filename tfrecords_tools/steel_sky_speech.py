"""Real English speech for training: the voice acting of *Beneath a Steel Sky* (CD talkie).

    python -m tfrecords_tools.steel_sky_speech --out DIR [--speeds 1] [--dev-every 25]
    ds2 prepare --out CORPUS --alphabet english --unknown-chars map train=DIR/train.csv

Why: until now the only real speech this project trained on was Italian and French phone
prompts (asterisk_prompts.py); real English speech that installs from a package registry was
only ever small enough to test on. Revolution Software released this 1994 adventure game as
freeware (Debian: ``beneath-a-steel-sky``; its licence allows redistribution and modification).
Its CD version holds about 3400 spoken lines by a cast of British voice actors, each line
stored next to the subtitle the game shows for it: acted, conversational English from many
people, unlike anything the synthetic voices say.

The game's files (the format as ScummVM's ``sky`` engine reads it):

- ``sky.dnr`` lists the files of ``sky.dsk``: number, offset and size, and whether the file is
  RNC ProPack compressed (``propack`` pip package).
- Subtitles: English section ``s`` is file 60600 + s; each message is Huffman coded with a tree
  that is not in the game's data but in the engine. It is found in the installed ScummVM binary
  (``apt-get install scummvm``) as the array of (left, right, character) nodes that forms a
  complete tree and decodes the subtitles as text (``find_text_tree``).
- Speech: the line for message ``i`` of section ``s`` is file 50000 + offset(s) + i, 8-bit
  unsigned PCM at 11025 Hz after a 22-byte header. The offsets are found from the data: for each
  section, the one at which the speech lengths follow the subtitle lengths best
  (``speech_offsets``; a section without a clear match is left out).

Lines whose subtitle has digits or symbols are left out (their reading is not certain), as for
the Asterisk prompts. Every 25th line goes to ``dev.csv`` (the same actors: a check of fit, not
of new voices). Speakers are not labelled in the files, so all rows name one speaker.
"""
from __future__ import annotations

import re
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfrecords_tools.game_speech import RATE, GameError, LineWriter, game_parser, run

GAME = Path("/usr/share/scummvm/beneath-a-steel-sky")
SCUMMVM = Path("/usr/games/scummvm")
SUBTITLES_FIRST_FILE = 60600  # English: sections 0–7
SECTIONS = 8
SPEECH_FIRST_FILE = 50000
HEADER_BYTES = 22  # the game's per-file header: eleven little-endian 16-bit fields
SPEECH_RATE = 11025
SPEAKER = "steel-sky"
MIN_CORRELATION = 0.6  # length of subtitle vs. length of speech, at the right offset


@dataclass(frozen=True)
class Entry:
    offset: int
    size: int
    compressed: bool


class Archive:
    """``sky.dnr`` + ``sky.dsk``: file number → bytes (RNC-compressed files unpacked)."""

    def __init__(self, folder: Path):
        directory, self.data_path = folder / "sky.dnr", folder / "sky.dsk"
        if not directory.is_file() or not self.data_path.is_file():
            raise GameError(f"{folder}: sky.dnr / sky.dsk missing "
                            "(apt-get install beneath-a-steel-sky)")
        raw = directory.read_bytes()
        count = struct.unpack_from("<I", raw)[0] if len(raw) >= 4 else 0
        if count == 0 or len(raw) < 4 + 8 * count:
            raise GameError(f"{directory}: truncated ({len(raw)} bytes for {count} entries)")
        self.entries: dict[int, Entry] = {}
        for index in range(count):
            record = raw[4 + 8 * index: 12 + 8 * index]
            number = struct.unpack_from("<H", record)[0]
            offset = int.from_bytes(record[2:5], "little")
            flags = int.from_bytes(record[5:8], "little")
            if offset & 0x800000:  # offsets in 16-byte units
                offset = (offset & 0x7FFFFF) << 4
            self.entries[number] = Entry(offset, flags & 0x3FFFFF, not flags & 0x800000)
        self._handle = open(self.data_path, "rb")

    def raw(self, number: int) -> bytes:
        """File ``number`` as stored; ValueError when sky.dsk ends before it does."""
        entry = self.entries[number]
        self._handle.seek(entry.offset)
        data = self._handle.read(entry.size)
        if len(data) != entry.size or entry.size < HEADER_BYTES:
            raise ValueError(f"file {number}: {len(data)} of {entry.size} bytes in "
                             f"{self.data_path} (truncated?)")
        return data

    def unpacked_size(self, number: int) -> int:
        """Size after unpacking, from the file's header alone (only the header is read; a
        truncated body is found when the file is loaded)."""
        entry = self.entries[number]
        self._handle.seek(entry.offset)
        head = self._handle.read(HEADER_BYTES)
        if len(head) != HEADER_BYTES or entry.size < HEADER_BYTES:
            raise ValueError(f"file {number}: {len(head)} of {entry.size} bytes in "
                             f"{self.data_path} (truncated?)")
        flag, total = struct.unpack_from("<H", head)[0], struct.unpack_from("<H", head, 12)[0]
        return ((flag & ~0xFF) << 8) | total if flag & 0x80 else entry.size

    def load(self, number: int) -> bytes:
        data = self.raw(number)
        flag = struct.unpack_from("<H", data)[0]
        if self.entries[number].compressed and flag & 0x80:
            import propack  # RNC ProPack; the header stays as it is

            try:
                return data[:HEADER_BYTES] + bytes(propack.unpack(data[HEADER_BYTES:]))
            except (ValueError, IndexError) as error:  # a damaged stream
                raise ValueError(f"file {number}: RNC data unreadable ({error})") from None
        return data


def tree_candidates(binary: bytes) -> list[list[tuple[int, int, int]]]:
    """Every byte array in ``binary`` that reads as a complete Huffman tree of 3-byte nodes
    (left, right, character): node 0 the root, children after their parent, leaves (0, 0, c),
    at least 40 leaves, one of them the terminating 0."""
    data = np.frombuffer(binary, np.uint8)
    starts = np.flatnonzero((data[:-768] == 1) & (data[2:-766] == 0) & (data[1:-767] > 1))
    found = []
    for start in starts.tolist():
        nodes = [tuple(binary[start + 3 * i: start + 3 * i + 3]) for i in range(255)]
        seen, stack, leaves = set(), [0], []
        while stack:
            index = stack.pop()
            if index in seen or index >= len(nodes):
                break
            seen.add(index)
            left, right, value = nodes[index]
            if left == 0 and right == 0:
                leaves.append(value)
            elif left <= index or right <= index:
                break
            else:
                stack += [left, right]
        else:
            if len(leaves) >= 40 and 0 in leaves and len(seen) == 2 * len(leaves) - 1:
                found.append(nodes)
    return found


def section_texts(data: bytes, tree) -> dict[int, str]:
    """One subtitle section → {message index: text}. The header holds the offset of a table of
    per-message skips (one byte each, 32 messages a block), the offset of the coded text and
    each block's length; positions count in 2-bit steps and codes are read from the high bit."""
    skips_at, text_at = struct.unpack_from("<HH", data)
    blocks = (skips_at - 4) // 2
    texts, block_start = {}, 0
    for block in range(blocks):
        if block:
            block_start += struct.unpack_from("<H", data, 4 + 2 * (block - 1))[0]
        position = block_start
        for slot in range(32):
            if slot:
                skip = data[skips_at + 32 * block + slot - 1]
                position += (skip & 0x7F) << 3 if skip & 0x80 else skip
            texts[32 * block + slot] = _decode(data, tree, text_at + (position >> 2),
                                               ((position & 3) ^ 3) * 2 + 2)
    return texts


def _decode(data: bytes, tree, byte: int, bit: int) -> str:
    chars = []
    while len(chars) < 500:
        node = 0
        while True:
            if bit:
                bit -= 1
            else:
                byte, bit = byte + 1, 7
            if byte >= len(data):
                return bytes(chars).decode("latin-1")
            node = tree[node][(data[byte] >> bit) & 1]
            if tree[node][0] == 0 and tree[node][1] == 0:
                break
        if tree[node][2] == 0:
            break
        chars.append(tree[node][2])
    return bytes(chars).decode("latin-1")


def texty(texts: dict[int, str]) -> float:
    """Share of words spelled like words (a capital at most at the start, then lower-case
    letters, then punctuation): most of them for the right tree, few in the mix of capitals,
    stops and symbols a wrong tree makes of the same bits."""
    words = " ".join(texts.values()).split()
    return sum(bool(re.fullmatch(r"[A-Z]?[a-z']+[.,;:?!-]*", word)) for word in words) / max(
        len(words), 1)


def _texty_or_zero(data: bytes, tree) -> float:
    try:
        return texty(section_texts(data, tree))
    except (IndexError, struct.error):  # a header the tree's text cannot be
        return 0.0


def subtitle_sections(archive: Archive) -> dict[int, bytes]:
    """Section → its coded subtitles as stored; an unreadable one is reported and left out."""
    sections = {}
    for section in range(SECTIONS):
        if SUBTITLES_FIRST_FILE + section in archive.entries:
            try:
                sections[section] = archive.load(SUBTITLES_FIRST_FILE + section)
            except ValueError as error:
                print(f"note: subtitle section {section} unreadable ({error}); left out",
                      file=sys.stderr)
    return sections


def find_text_tree(samples: list[bytes], binary: bytes):
    """The engine's tree among ``tree_candidates``: the one whose decoding of the subtitle
    sections ``samples`` reads most like words."""
    scored = [(np.mean([_texty_or_zero(sample, tree) for sample in samples] or [0]), tree)
              for tree in tree_candidates(binary)]
    if not scored or max(score for score, _ in scored) < 0.6:
        raise GameError("no Huffman tree in the ScummVM binary decodes the subtitles "
                        f"({len(scored)} candidates)")
    return max(scored, key=lambda pair: pair[0])[1]


def speech_offsets(archive: Archive, sections: dict[int, dict[int, str]]) -> dict[int, int]:
    """Section → the file offset of its speech (file = 50000 + offset + message index)."""
    lengths = {}
    for number in archive.entries:
        if SPEECH_FIRST_FILE <= number < 60000:
            try:
                lengths[number - SPEECH_FIRST_FILE] = archive.unpacked_size(number)
            except ValueError:
                pass  # truncated: extract() reports it if its line is kept
    offsets, search_from = {}, 0
    for section, texts in sorted(sections.items()):
        spoken = {index: len(text) for index, text in texts.items() if text.strip()}
        best = (MIN_CORRELATION, None)
        for offset in range(search_from, search_from + 400):
            pairs = [(size, lengths[offset + index]) for index, size in spoken.items()
                     if offset + index in lengths]
            if len(pairs) >= 50:
                correlation = np.corrcoef(np.asarray(pairs, float).T)[0, 1]
                if correlation > best[0]:
                    best = (correlation, offset)
        if best[1] is None:
            print(f"note: subtitle section {section}: no speech offset matches its lengths; "
                  "left out", file=sys.stderr)
            continue
        offsets[section] = best[1]
        search_from = best[1] + max(spoken) + 1
    return offsets


def speech_samples(data: bytes) -> np.ndarray:
    """A speech file → float32 samples at 16 kHz."""
    import soxr

    pcm = np.frombuffer(data[HEADER_BYTES:], np.uint8).astype(np.float32)
    return soxr.resample((pcm - 128) / 128, SPEECH_RATE, RATE).astype(np.float32)


def extract(game: Path, scummvm: Path, writer: LineWriter) -> None:
    if not scummvm.is_file():
        raise GameError(f"{scummvm} missing: its sky engine holds the subtitles' Huffman tree "
                        "(apt-get install scummvm)")
    archive = Archive(game)
    coded = subtitle_sections(archive)
    tree = find_text_tree(list(coded.values()), scummvm.read_bytes())
    sections = {}
    for section, data in coded.items():
        try:
            sections[section] = section_texts(data, tree)
        except (IndexError, struct.error) as error:
            print(f"note: subtitle section {section} unreadable ({error}); left out",
                  file=sys.stderr)
    offsets = speech_offsets(archive, sections)
    for section, offset in sorted(offsets.items()):
        for index, text in sorted(sections[section].items()):
            number = SPEECH_FIRST_FILE + offset + index
            if number in archive.entries and text.strip():
                writer.offer(f"sky_{section}_{index:04d}", text,
                             lambda number=number: speech_samples(archive.load(number)), SPEAKER)
    print(f"steel sky: {writer.summary()}; sections {sorted(offsets)} (speech offsets "
          f"{[offsets[s] for s in sorted(offsets)]})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = game_parser(__doc__)
    parser.add_argument("--game", type=Path, default=GAME, help="folder of sky.dnr and sky.dsk")
    parser.add_argument("--scummvm", type=Path, default=SCUMMVM, help="the ScummVM binary")
    args = parser.parse_args(argv)
    return run(args, lambda writer: extract(args.game, args.scummvm, writer))


if __name__ == "__main__":
    sys.exit(main())
