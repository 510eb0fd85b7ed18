"""Beneath a Steel Sky's speech as training data: the game's archive, the Huffman-coded
subtitles, the speech offsets found from lengths, transcripts and the command's errors, on small
archives written here in the game's format (the real game is not needed)."""
import csv
import heapq
import struct

import numpy as np
import pytest

from tfrecords_tools import steel_sky_speech as sky
from tfrecords_tools.game_speech import LineWriter, transcript

propack = pytest.importorskip("propack")

LINES = ["Hey!", "What's it for?", "I don't know - it's just a piece of metal.", "Foster",
         "You nicked me knackwurst!", "Room 101, please.", "", "So who built the computer?"]


def huffman_tree(text: str) -> list[tuple[int, int, int]]:
    """A Huffman tree over ``text``'s bytes and the terminating 0, numbered breadth first (so
    every child comes after its parent, as in the engine's tables)."""
    counts = {0: 1}
    for byte in text.encode("latin-1"):
        counts[byte] = counts.get(byte, 0) + 1
    heap = [(count, index, byte) for index, (byte, count) in enumerate(counts.items())]
    heapq.heapify(heap)
    serial = len(heap)
    while len(heap) > 1:
        first, second = heapq.heappop(heap), heapq.heappop(heap)
        heapq.heappush(heap, (first[0] + second[0], serial, (first[2], second[2])))
        serial += 1
    nodes, queue = [], [heap[0][2]]
    while queue:
        node = queue.pop(0)
        if isinstance(node, tuple):
            first_child = len(nodes) + len(queue) + 1
            nodes.append((first_child, first_child + 1, 0))
            queue += list(node)
        else:
            nodes.append((0, 0, node))
    return nodes


def codes(tree) -> dict[int, str]:
    out, stack = {}, [(0, "")]
    while stack:
        index, path = stack.pop()
        left, right, value = tree[index]
        if left == 0 and right == 0:
            out[value] = path
        else:
            stack += [(left, path + "0"), (right, path + "1")]
    return out


def encode_section(messages: list[str], tree) -> bytes:
    """The inverse of ``section_texts``: 32 messages a block, each starting on a 2-bit step."""
    table = codes(tree)
    blocks = -(-len(messages) // 32)
    messages = messages + [""] * (32 * blocks - len(messages))
    bits, skips, block_lengths = "", bytearray(32 * blocks), []
    for block in range(blocks):
        block_bits = 0
        for slot in range(32):
            code = "".join(table[byte] for byte in messages[32 * block + slot].encode("latin-1"))
            code += table[0]
            steps = -(-len(code) // 2)
            if steps >= 128:  # long messages: a skip of 8·n steps
                steps = -(-steps // 8) * 8
            code = code.ljust(2 * steps, "0")
            if slot < 31:
                skips[32 * block + slot] = steps if steps < 128 else 0x80 | (steps >> 3)
            bits += code
            block_bits += steps
        block_lengths.append(block_bits)
    bits = bits.ljust(-(-len(bits) // 8) * 8 + 8, "0")
    coded = bytes(int(bits[i: i + 8], 2) for i in range(0, len(bits), 8))
    skips_at = 4 + 2 * blocks
    header = struct.pack("<HH", skips_at, skips_at + len(skips))
    return header + struct.pack(f"<{blocks}H", *block_lengths) + bytes(skips) + coded


def speech_file(samples: np.ndarray, compress: bool) -> bytes:
    pcm = (np.clip(samples, -1, 1) * 127 + 128).astype(np.uint8).tobytes()
    size = len(pcm) + sky.HEADER_BYTES
    fields = [0x80 | ((size >> 16) << 8) if compress else 0, 0, 0, 0, 0, 0, size & 0xFFFF,
              0, 0, 0, 0]
    body = propack.pack(pcm, method=1) if compress else pcm
    return struct.pack("<11H", *fields) + body


def write_game(folder, files: dict[int, tuple[bytes, bool]]) -> None:
    """sky.dnr + sky.dsk holding ``files`` (number → (bytes, compressed))."""
    folder.mkdir(parents=True, exist_ok=True)
    directory, disk = [struct.pack("<I", len(files))], b""
    for number, (data, compressed) in sorted(files.items()):
        flags = len(data) | (0 if compressed else 0x800000)
        directory.append(struct.pack("<H", number) + len(disk).to_bytes(3, "little")
                         + flags.to_bytes(3, "little"))
        disk += data
    (folder / "sky.dnr").write_bytes(b"".join(directory))
    (folder / "sky.dsk").write_bytes(disk)


FILLER = [f"Item {k}: " + "word " * (k % 9) for k in range(60)]  # digits: never transcribed


def make_game(tmp_path, offset: int = 150):
    """A one-section game (section 0, its speech at ``offset``) and a fake engine binary holding
    the right tree after a decoy tree and among random bytes."""
    rng = np.random.default_rng(0)
    section = FILLER + LINES
    tree = huffman_tree("".join(section))
    files = {sky.SUBTITLES_FIRST_FILE: (encode_section(section, tree), False)}
    for index, text in enumerate(section):
        if text:  # the speech of a line lasts about as long as its text is long
            samples = 0.3 * np.sin(np.arange(300 * len(text) + int(rng.integers(0, 300))) / 5)
            compress = index % 2 == 0
            files[sky.SPEECH_FIRST_FILE + offset + index] = (speech_file(samples, compress),
                                                             compress)
    for number in range(80):  # speech of other sections, elsewhere
        files[sky.SPEECH_FIRST_FILE + 2000 + number] = (
            speech_file(np.zeros(int(rng.integers(500, 9000))), False), False)
    decoy = list(tree)
    leaves = [i for i, (left, right, _) in enumerate(decoy) if left == right == 0]
    values = [decoy[i][2] for i in leaves]
    for i, value in zip(leaves, values[1:] + values[:1]):  # same shape, letters moved round
        decoy[i] = (0, 0, value)
    as_bytes = lambda nodes: bytes(b for node in nodes for b in node)  # noqa: E731
    binary = (rng.integers(2, 255, 3000, dtype=np.uint8).tobytes() + as_bytes(decoy)
              + bytes(300) + as_bytes(tree) + rng.integers(2, 255, 3000, dtype=np.uint8).tobytes())
    game = tmp_path / "game"
    write_game(game, files)
    engine = tmp_path / "scummvm"
    engine.write_bytes(binary)
    return game, engine, section


def test_subtitles_decode_as_encoded_including_long_messages():
    section = LINES + ["a long line " * 30] + [f"line {n}" for n in range(40)]
    tree = huffman_tree("".join(section))
    decoded = sky.section_texts(encode_section(section, tree), tree)
    assert [decoded[i] for i in range(len(section))] == section


def test_the_engine_tree_is_found_among_decoys_and_speech_is_placed_by_length(tmp_path):
    game, engine, section = make_game(tmp_path)
    archive = sky.Archive(game)
    tree = sky.find_text_tree(list(sky.subtitle_sections(archive).values()),
                              engine.read_bytes())
    texts = sky.section_texts(archive.load(sky.SUBTITLES_FIRST_FILE), tree)
    assert texts[60] == "Hey!" and texts[62] == LINES[2]
    assert sky.speech_offsets(archive, {0: texts}) == {0: 150}
    number = sky.SPEECH_FIRST_FILE + 150 + 60  # an RNC-compressed one: unpacked, header kept
    assert archive.entries[number].compressed
    unpacked = archive.load(number)
    assert len(unpacked) == archive.unpacked_size(number) > len(archive.raw(number))
    assert abs(sky.speech_samples(unpacked)).max() > 0.25


def test_transcripts_keep_certain_readings_only():
    assert transcript("I don't know - it's just a piece of metal.") == (
        "i don't know it's just a piece of metal")
    assert transcript("'Ello, INSPECT it!") == "ello inspect it"
    assert transcript("Room 101, please.") is None
    assert transcript("[whistles]") is None
    assert transcript("...") is None


def test_lines_become_wavs_with_their_text_held_out_sentences_left_out(tmp_path):
    game, engine, _ = make_game(tmp_path)
    out = tmp_path / "out"
    writer = LineWriter(out, [1.0, 1.1], dev_every=3, held_out={"so who built the computer"})
    sky.extract(game, engine, writer)
    rows = writer.rows
    said = {row["transcript"] for split in rows.values() for row in split}
    assert said == {"hey", "what's it for", "i don't know it's just a piece of metal", "foster",
                    "you nicked me knackwurst"}  # not "Room 101" (digits), nor the held-out one
    assert [row["transcript"] for row in rows["dev"]] == [transcript(LINES[2])]
    assert len(rows["train"]) == 2 * 4  # every train line at both speeds
    import soundfile

    audio, rate = soundfile.read(rows["dev"][0]["path"])
    seconds = 300 * len(LINES[2]) / sky.SPEECH_RATE  # at least, before the random extra
    assert rate == 16000 and len(audio) >= seconds * rate * 0.99


def test_bad_input_gets_one_line(tmp_path, capsys):
    assert sky.main(["--out", str(tmp_path / "o"), "--game", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")
    game, engine, _ = make_game(tmp_path)
    assert sky.main(["--out", str(tmp_path / "o"), "--game", str(game),
                     "--scummvm", str(tmp_path / "missing")]) == 1
    assert "apt-get install scummvm" in capsys.readouterr().err
    assert sky.main(["--out", str(tmp_path / "o"), "--speeds", "3"]) == 2
    assert sky.main(["--out", str(tmp_path / "o"), "--held-out", str(tmp_path)]) == 2
    assert "not a prepared corpus" in capsys.readouterr().err
    engine.write_bytes(bytes(5000))  # no tree in it
    assert sky.main(["--out", str(tmp_path / "o"), "--game", str(game),
                     "--scummvm", str(engine)]) == 1
    assert "no Huffman tree" in capsys.readouterr().err


def test_main_writes_manifests(tmp_path):
    game, engine, _ = make_game(tmp_path)
    out = tmp_path / "out"
    assert sky.main(["--out", str(out), "--game", str(game), "--scummvm", str(engine),
                     "--dev-every", "0"]) == 0
    rows = list(csv.DictReader(open(out / "train.csv", encoding="utf-8")))
    assert len(rows) == 6 and not (out / "dev.csv").exists()
    assert rows[0]["speaker"] == sky.SPEAKER and rows[0]["path"].startswith(str(out))


def test_a_damaged_line_is_reported_and_left_out_the_rest_kept(tmp_path, capsys):
    game, engine, _ = make_game(tmp_path)
    disk = game / "sky.dsk"
    archive = sky.Archive(game)
    damaged = sky.SPEECH_FIRST_FILE + 150 + 62  # "I don't know - ...": RNC-compressed
    start = archive.entries[damaged].offset + sky.HEADER_BYTES
    data = bytearray(disk.read_bytes())
    data[start: start + 8] = bytes(8)  # its RNC signature and sizes gone
    disk.write_bytes(bytes(data))
    writer = LineWriter(tmp_path / "out", [1.0], dev_every=0)
    sky.extract(game, engine, writer)
    rows = writer.rows
    assert [row["transcript"] for row in rows["train"]] == [
        "hey", "what's it for", "foster", "you nicked me knackwurst", "so who built the computer"]
    assert f"note: file {damaged}: RNC data unreadable" in capsys.readouterr().err


def test_a_truncated_archive_is_one_clear_error(tmp_path):
    game, _, _ = make_game(tmp_path)
    disk = game / "sky.dsk"
    archive = sky.Archive(game)
    last = max(archive.entries, key=lambda number: archive.entries[number].offset)
    disk.write_bytes(disk.read_bytes()[: archive.entries[last].offset + 30])
    with pytest.raises(ValueError, match=f"file {last}: 30 of .* bytes"):
        sky.Archive(game).raw(last)
    (game / "sky.dnr").write_bytes(b"\0\0")
    with pytest.raises(sky.GameError, match="truncated"):
        sky.Archive(game)
