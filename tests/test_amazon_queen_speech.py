"""Flight of the Amazon Queen's voice acting as training data: the archive table, the dialogue
and scene files' strings, segments and speech-file names, MP3 speech → 16 kHz WAVs, and the
command's errors, on small archives written here in the game's format (the real game is not
needed)."""
import csv
import io
import struct

import numpy as np
import pytest

from tfrecords_tools import amazon_queen_speech as queen
from tfrecords_tools.game_speech import LineWriter

soundfile = pytest.importorskip("soundfile")
if "MP3" not in soundfile.available_formats():
    pytest.skip("this libsndfile has no MP3", allow_module_level=True)

KEY = 3
JOE = [(0, "Ummm....*06Hi, I'm Joe King.*03"), (6, "Did a parrot come through here?*04*02"),
       (0x1E, "Room 101, please.*03"), (0x2A, "*GDThanks for the chat.*03")]
PERSON = [(7, "Sorry pal, but I don't speak APE.*16*02"),
          (0x28, "I guess that's a \"no\".*XY00(237,112)Bye then."), (0x29, "C*02H*02")]
AGAIN = ("Hello again.", "You look familiar.")


def _string(text: str, at: int, align: int) -> bytes:
    """Length byte + text, padded so that the next field starts on ``align`` from ``at``."""
    raw = bytes([len(text)]) + text.encode("latin-1")
    end = at + len(raw)
    if text and align > 1:
        end = (end + align - 1) & ~(align - 1)
    return raw.ljust(end - at, b"\0")


def dialogue_file(joe=JOE, person=PERSON, again=AGAIN) -> bytes:
    """The inverse of ``dialogue_lines``: one tree level, Joe's table, the person's, again."""
    level_max = 1
    body = bytearray(32 + 96 * level_max)
    for table in (joe, person):
        if table is person:
            person1 = len(body)
        for identifier, text in table:
            body += struct.pack(">hh", 0, identifier)
            body += _string(text, len(body), 4)
    person2 = len(body)
    for text in again:
        body += _string(text, len(body), 2)
    struct.pack_into(">5h", body, 0, level_max, 1, KEY, len(joe), len(person))
    struct.pack_into(">3H", body, 22, person1, 0, person2)
    return b"AmBk" + bytes(8) + b"Datas   " + bytes(body)


SCENE = ["*FL", "It's the blueprint.", "Hey, over here!*01Oh it's you."]  # entry, objects 1, 2


def cutaway_file(strings=SCENE) -> bytes:
    """The inverse of ``cutaway_lines``: a header pointing at the strings (no scene objects'
    data: the reader needs only their count)."""
    body = bytearray(12)
    struct.pack_into(">Hhh", body, 0, 0, -(len(strings) - 1), 0)  # negative: cannot skip
    struct.pack_into(">H", body, 8, len(body))
    for text in strings:
        body += _string(text, len(body), 2)
    return b"AmBk" + bytes(8) + b"Datas   " + bytes(body)


def mp3(seconds: float, rate: int = 11025) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    out = io.BytesIO()
    soundfile.write(out, (0.4 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate,
                    format="MP3")
    return out.getvalue()


def all_lines() -> dict[str, bytes]:
    """A dialogue, a scene, and one MP3 per spoken segment (0.08 s a character)."""
    files = {"APE.DOG": dialogue_file(), "C5C.CUT": cutaway_file()}
    lines = (queen.dialogue_lines("APE.DOG", files["APE.DOG"])
             + queen.cutaway_lines("C5C.CUT", files["C5C.CUT"]))
    for line in lines:
        files[line.speech] = mp3(max(0.3, 0.08 * len(line.text)))
    return files


def make_game(tmp_path, files: dict[str, bytes] | None = None, compression=queen.MP3):
    """queen.1c holding ``files`` (default: ``all_lines()``)."""
    if files is None:
        files = all_lines()
    header = b"QTBL" + b"CEM10\0" + bytes(2) + bytes([compression])
    table_size = 2 + 21 * len(files)
    offset, table, data = len(header) + table_size, b"", b""
    for name, content in files.items():
        table += name.encode().ljust(12, b"\0") + b"\1" + struct.pack(">II", offset, len(content))
        offset += len(content)
        data += content
    path = tmp_path / "queen.1c"
    path.write_bytes(header + struct.pack(">H", len(files)) + table + data)
    return path


def test_readings_leave_out_digits_and_spelling_and_drop_emphasis_quotes():
    assert queen.reading('I guess that\'s a "no".') == "i guess that's a no"
    assert queen.reading("C") is None and queen.reading("K I N G") is None
    assert queen.reading("Room 101.") is None
    assert queen.reading("I...") is None  # one letter alone: a word or a letter, unsure


def test_segments_split_at_commands_and_count_the_unspoken_ones():
    assert queen.segments("Ummm....*06Hi, I'm Joe King.*03") == [(0, "Ummm...."),
                                                                  (1, "Hi, I'm Joe King.")]
    assert queen.segments("Wait!*XY00(237,112)Over here.") == [(0, "Wait!"), (1, "Over here.")]
    assert queen.segments("*GDThanks.*03") == [(1, "Thanks.")]  # "" before *GD: not spoken
    assert queen.segments("No command") == [(0, "No command")]


def test_dialogue_lines_name_their_speech_files_as_the_engine_does():
    lines = {line.speech: (line.text, line.speaker)
             for line in queen.dialogue_lines("APE2.DOG", dialogue_file())}
    assert lines["03SSSSJ1.SB"] == ("Ummm....", "queen-joe")  # Joe's greeting: first entry
    assert lines["03SSSSJ2.SB"] == ("Hi, I'm Joe King.", "queen-joe")
    assert lines["030006J1.SB"] == ("Did a parrot come through here?", "queen-joe")
    assert lines["03002AJ2.SB"][0] == "Thanks for the chat."
    assert lines["030007P1.SB"] == ("Sorry pal, but I don't speak APE.", "queen-ape")
    assert lines["030028P2.SB"][0] == "Bye then."
    assert lines["03XXXXP1.SB"] == ("Hello again.", "queen-ape")
    assert lines["03XXXXJ1.SB"] == ("You look familiar.", "queen-joe")


def test_cutaway_lines_name_their_speech_files_as_the_engine_does():
    lines = [(line.speech, line.text, line.speaker)
             for line in queen.cutaway_lines("C5C.CUT", cutaway_file())]
    assert lines == [("C5C__011.SB", "It's the blueprint.", "queen-scene"),
                     ("C5C__021.SB", "Hey, over here!", "queen-scene"),
                     ("C5C__022.SB", "Oh it's you.", "queen-scene")]


def test_lines_become_16khz_wavs_with_their_text(tmp_path, capsys):
    game = make_game(tmp_path)
    writer = LineWriter(tmp_path / "out", [1.0, 1.1], dev_every=3,
                        held_out={"you look familiar"}, reading=queen.reading)
    queen.extract(game, writer)
    said = [row["transcript"] for split in writer.rows.values() for row in split]
    assert sorted(set(said)) == sorted({
        "ummm", "hi i'm joe king", "did a parrot come through here", "thanks for the chat",
        "sorry pal but i don't speak ape", "i guess that's a no", "bye then", "hello again",
        "it's the blueprint", "hey over here", "oh it's you"})
    # not "Room 101" (digits), "C", "H" (a name spelled out), nor the held-out sentence
    assert "11 lines kept, 3 left out (no certain reading" in capsys.readouterr().err
    assert len(writer.rows["dev"]) == 3 and len(writer.rows["train"]) == 2 * 8
    row = next(r for r in writer.rows["dev"] + writer.rows["train"]
               if r["transcript"] == "sorry pal but i don't speak ape")
    audio, rate = soundfile.read(row["path"])
    seconds = 0.08 * len("Sorry pal, but I don't speak APE.")
    assert rate == 16000 and abs(len(audio) / rate - seconds) < 0.15
    assert row["speaker"] == "queen-ape"


def test_a_damaged_speech_file_is_reported_and_left_out_the_rest_kept(tmp_path, capsys):
    files = all_lines()
    files["030006J1.SB"] = b"\0" * 200  # not MP3
    writer = LineWriter(tmp_path / "out", [1.0], dev_every=0, reading=queen.reading)
    queen.extract(make_game(tmp_path, files), writer)
    said = [row["transcript"] for row in writer.rows["train"]]
    assert "did a parrot come through here" not in said and len(said) == 11
    assert "note: 030006J1.SB: MP3 data unreadable" in capsys.readouterr().err


def test_bad_input_gets_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "o")]
    assert queen.main(out + ["--game", str(tmp_path / "none.1c")]) == 1
    assert "apt-get install flight-of-the-amazon-queen" in capsys.readouterr().err
    (tmp_path / "junk.1c").write_bytes(b"RIFF" + bytes(40))
    assert queen.main(out + ["--game", str(tmp_path / "junk.1c")]) == 1
    assert "no QTBL header" in capsys.readouterr().err
    game = make_game(tmp_path)
    (tmp_path / "cut.1c").write_bytes(game.read_bytes()[:40])
    assert queen.main(out + ["--game", str(tmp_path / "cut.1c")]) == 1
    assert "truncated table" in capsys.readouterr().err
    ogg = make_game(tmp_path, compression=2)
    assert queen.main(out + ["--game", str(ogg)]) == 1
    assert "speech compression 2" in capsys.readouterr().err
    assert queen.main(out + ["--speeds", "3"]) == 2
    assert queen.main(out + ["--held-out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: --held-out {tmp_path}: no dataset.json (not a prepared corpus)")


def test_a_truncated_entry_is_one_clear_error(tmp_path):
    game = make_game(tmp_path)
    archive = queen.Archive(game)
    last = max(archive.entries, key=lambda name: archive.entries[name][0])
    game.write_bytes(game.read_bytes()[: archive.entries[last][0] + 10])
    with pytest.raises(ValueError, match=f"{last}: 10 of .* bytes"):
        queen.Archive(game).load(last)


def test_main_writes_manifests(tmp_path):
    out = tmp_path / "out"
    assert queen.main(["--out", str(out), "--game", str(make_game(tmp_path)),
                       "--dev-every", "0"]) == 0
    rows = list(csv.DictReader(open(out / "train.csv", encoding="utf-8")))
    assert len(rows) == 12 and not (out / "dev.csv").exists()
    assert rows[0]["path"].startswith(str(out)) and rows[0]["speaker"].startswith("queen-")
