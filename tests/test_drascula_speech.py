"""Drascula's voice acting as training data: drascula.dat's text tables, which table and line
each speech file says, 8-bit 11 kHz speech → 16 kHz WAVs, the Spanish cast, and the command's
errors, on small game folders written here in the game's format (the real game is not needed)."""
import csv
import struct

import numpy as np
import pytest

from tfrecords_tools import drascula_speech as drascula
from tfrecords_tools.game_speech import LineWriter

soundfile = pytest.importorskip("soundfile")

# the engine's layout, written out here so that a reader with another order fails
RECORD_BYTES = (4, 4, 4, 2, 4, 2, 4, 2, 2, 20, 20, 10, 8)
TABLES = ("hacker", "drascula", "drunk", "bj", "musician", "igor", "werewolf", "pianist",
          "bartender", "vonbraun", "system", "history", "verbs", "misc", "sync")
# English texts by table (index 0 is always empty); a second language follows each
TEXTS = {
    "hacker": ["", "That's the second biggest door I've seen in my life", "Not really",
               "Omelette, 1.00", "What are you doing here B.J.?", "I found a \"pine\" stake"],
    "drascula": ["", "Hey Igor, how is everything going?", "Bla, bla, bla."],
    "bj": ["", "Are you all right?"],
    "vonbraun": ["", "Who the hell is calling at this time?"],
    "igor": ["", "Master, this is not working", ""],
}
# the same lines in Spanish, as the game writes them (code page 437: Ñ, º for a space)
SPANISH = {
    "hacker": ["", "Es la segunda puerta mas grande que he visto en mi vida", "Bueno, no",
               "Tortilla, 1.00", "¿Que haces aqui B.J.?",
               "¡VAYA, ME TENGO QUE CORTAR LAS UÑAS!"],
    "drascula": ["", "OºMEºPONESºUNºCUBATA", "Bla, bla, bla."],
    "bj": ["", "¿Estas bien?"],
    "vonbraun": ["", "¿Quien demonios llama a estas horas?"],
    "igor": ["", "Amo, esto no funciona", ""],
}


def _block(strings: list[str]) -> bytes:
    """One language's strings as the engine reads them: each string (from the second, which
    starts at byte 8) follows the 2-byte size of its slot, padded to 4 bytes with room for the
    next size."""
    block = bytearray(8)
    struct.pack_into(">H", block, 2, 4)  # the empty string 0: the next one 4 bytes on
    for text in strings[1:]:
        slot = (len(text) + 1 + 2 + 3) & ~3  # text, its zero, the next size; 4-byte aligned
        struct.pack_into(">H", block, len(block) - 2, slot)
        block += text.encode("cp437").ljust(slot, b"\0")
    return bytes(block)


def dat(texts=TEXTS, version=drascula.VERSION, languages=3) -> bytes:
    """The inverse of ``texts``: one record in each fixed table; English, Spanish, then German
    (not read) when ``languages`` is 3."""
    data = bytearray(b"DRASCULA" + bytes([version]))
    for record in RECORD_BYTES:
        data += struct.pack(">H", 1) + bytes(record)
    data += struct.pack(">H", languages)
    for table in TABLES:
        english = list(texts.get(table, [""]))
        spanish = list(SPANISH.get(table, [""]))[:len(english)]
        spanish += [""] * (len(english) - len(spanish))
        german = ["", *("x" * len(text) for text in english[1:])]
        data += struct.pack(">H", len(english))
        for strings in (english, spanish, german)[:languages]:
            block = _block(strings)
            data += struct.pack(">H", len(block)) + block
    return bytes(data)


def als(seconds: float) -> bytes:
    """Raw unsigned 8-bit speech at 11025 Hz between 32-byte header and trailer."""
    t = np.arange(int(seconds * drascula.SPEECH_RATE)) / drascula.SPEECH_RATE
    pcm = (128 + 60 * np.sin(2 * np.pi * 300 * t)).astype(np.uint8)
    return bytes(32) + pcm.tobytes() + bytes(32)


SPEECH = {"1.ALS": ("hacker", 1), "2.ALS": ("hacker", 2), "3.ALS": ("hacker", 3),
          "4.ALS": ("hacker", 4), "5.ALS": ("hacker", 5), "D1.ALS": ("drascula", 1),
          "BJ1.ALS": ("bj", 1), "VB1.ALS": ("vonbraun", 1), "I1.ALS": ("igor", 1),
          "I2.ALS": ("igor", 2)}


def make_game(tmp_path, texts=TEXTS, extra: dict[str, bytes] | None = None, language="en"):
    """A folder with drascula.dat, a speech file per line of ``SPEECH`` (0.08 s a character of
    the language's text), a sound effect and a picture."""
    game = tmp_path / language
    game.mkdir(exist_ok=True)
    (game / "drascula.dat").write_bytes(dat(texts))
    texts = SPANISH if language == "es" else texts
    for name, (table, index) in SPEECH.items():
        (game / name).write_bytes(als(max(0.3, 0.08 * len(texts[table][index]))))
    (game / "S1.ALS").write_bytes(als(0.5))  # an effect: no table
    (game / "1.ALG").write_bytes(bytes(100))
    for name, content in (extra or {}).items():
        (game / name).write_bytes(content)
    return game


def test_the_english_texts_are_read_from_every_table():
    texts = drascula.texts(dat())
    assert set(texts) == set(TABLES)
    assert texts["hacker"] == TEXTS["hacker"] and texts["drascula"] == TEXTS["drascula"]
    assert texts["vonbraun"] == TEXTS["vonbraun"] and texts["system"] == [""]


def test_the_spanish_texts_are_the_second_language_in_code_page_437():
    texts = drascula.texts(dat(), "es")
    assert texts["hacker"] == SPANISH["hacker"] and texts["vonbraun"] == SPANISH["vonbraun"]
    assert texts["hacker"][5].endswith("UÑAS!") and texts["system"] == [""]


def test_speech_files_say_the_line_of_the_table_their_prefix_names(tmp_path, capsys):
    lines = {name: (text, table) for name, text, table in drascula.speech_lines(
        make_game(tmp_path))}
    assert lines["1.ALS"] == ("That's the second biggest door I've seen in my life", "hacker")
    assert lines["D1.ALS"] == ("Hey Igor, how is everything going?", "drascula")
    assert lines["BJ1.ALS"] == ("Are you all right?", "bj")
    assert lines["VB1.ALS"] == ("Who the hell is calling at this time?", "vonbraun")
    assert "S1.ALS" not in lines and "I2.ALS" not in lines  # an effect; a line with no text
    assert "note: 1 speech files have no English text, left out: I2.ALS" in (
        capsys.readouterr().err)


def test_d83_goes_with_john_hackers_line_83_as_the_engine_plays_it(tmp_path):
    texts = {**TEXTS, "hacker": TEXTS["hacker"] + [""] * 77 + ["Hello, anybody in there?"],
             "drascula": TEXTS["drascula"] + [""] * 80 + ["Bla, bla, bla."]}
    assert len(texts["hacker"]) == 84 and len(texts["drascula"]) == 84
    game = make_game(tmp_path, texts, extra={"D83.ALS": als(1.5)})
    lines = {name: (text, table) for name, text, table in drascula.speech_lines(game)}
    assert lines["D83.ALS"] == ("Hello, anybody in there?", "hacker")


def test_readings_leave_out_digits_and_spelled_letters_and_drop_emphasis_quotes():
    assert drascula.reading('I found a "pine" stake') == "i found a pine stake"
    assert drascula.reading("What are you doing here B.J.?") is None
    assert drascula.reading("Omelette, 1.00") is None
    assert drascula.reading("I... a vampire!") == "i a vampire"
    assert drascula.reading("He wears a toupeÉ") is None  # English keeps only a-z


def test_spanish_readings_fold_accents_and_keep_spanish_one_letter_words():
    assert drascula.reading("¡VAYA, ME TENGO QUE CORTAR LAS UÑAS!", "es") == (
        "vaya me tengo que cortar las unas")
    assert drascula.reading("OºMEºPONESºUNºCUBATA", "es") == "o me pones un cubata"
    assert drascula.reading("¿Y no les da vergüenza?", "es") == "y no les da verguenza"
    assert drascula.reading("Sí, señor", "es") == "si senor"
    assert drascula.reading("¿Que haces aqui B.J.?", "es") is None
    assert drascula.reading("Tortilla, 1.00", "es") is None
    assert drascula.reading("o me pones un cubata") is None  # "o" is no English word


def test_lines_become_16khz_wavs_with_their_text(tmp_path, capsys):
    writer = LineWriter(tmp_path / "out", [1.0, 1.1], dev_every=3,
                        held_out={"not really"}, reading=drascula.reading)
    drascula.extract(make_game(tmp_path), writer)
    said = {row["transcript"]: row for split in writer.rows.values() for row in split}
    assert sorted(said) == sorted({
        "that's the second biggest door i've seen in my life", "i found a pine stake",
        "hey igor how is everything going", "are you all right",
        "who the hell is calling at this time", "master this is not working"})
    assert "6 lines kept, 2 left out (no certain reading), 1 held out" in capsys.readouterr().err
    assert len(writer.rows["dev"]) == 2 and len(writer.rows["train"]) == 2 * 4
    row = said["who the hell is calling at this time"]
    audio, rate = soundfile.read(row["path"])
    seconds = 0.08 * len(TEXTS["vonbraun"][1])
    assert rate == 16000 and abs(len(audio) / rate - seconds) < 0.002  # frames dropped
    assert 0.3 < np.abs(audio).max() < 0.5 and abs(audio.mean()) < 0.01  # unsigned → signed
    assert row["speaker"] == "drascula-vonbraun"


def test_the_spanish_cast_says_the_spanish_lines(tmp_path, capsys):
    out = tmp_path / "out"
    game = make_game(tmp_path, language="es")
    assert drascula.main(["--out", str(out), "--game", str(game), "--language", "es",
                          "--dev-every", "0"]) == 0
    rows = {row["transcript"]: row for row in csv.DictReader(
        open(out / "train.csv", encoding="utf-8"))}
    assert sorted(rows) == sorted({
        "es la segunda puerta mas grande que he visto en mi vida", "bueno no",
        "vaya me tengo que cortar las unas", "o me pones un cubata", "estas bien",
        "quien demonios llama a estas horas", "amo esto no funciona"})
    row = rows["quien demonios llama a estas horas"]
    assert row["speaker"] == "drascula-es-vonbraun"
    assert row["path"].endswith("drascula_es_vb1_x1.wav")
    audio, rate = soundfile.read(row["path"])
    assert abs(len(audio) / rate - 0.08 * len(SPANISH["vonbraun"][1])) < 0.002
    assert "drascula-es: 7 lines kept, 2 left out" in capsys.readouterr().err


def test_a_damaged_speech_file_is_reported_and_left_out_the_rest_kept(tmp_path, capsys):
    game = make_game(tmp_path, extra={"BJ1.ALS": bytes(40)})
    writer = LineWriter(tmp_path / "out", [1.0], dev_every=0, reading=drascula.reading)
    drascula.extract(game, writer)
    said = [row["transcript"] for row in writer.rows["train"]]
    assert "are you all right" not in said and len(said) == 6
    assert "note: BJ1.ALS: 40 bytes, no speech after the 32-byte header" in (
        capsys.readouterr().err)


def test_bad_input_gets_one_line(tmp_path, capsys, monkeypatch):
    out = ["--out", str(tmp_path / "o")]
    assert drascula.main(out + ["--game", str(tmp_path / "none")]) == 1
    assert "apt-get install drascula" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert drascula.main(out + ["--game", str(tmp_path / "empty")]) == 1
    assert "drascula.dat missing" in capsys.readouterr().err
    game = make_game(tmp_path)
    cases = {b"RIFF" + bytes(40): "no DRASCULA header",
             dat(version=5): "version 5; this reader knows version 6",
             dat()[:300]: "truncated or damaged",
             dat() + bytes(3): "3 bytes after the last table"}
    for content, message in cases.items():
        (game / "drascula.dat").write_bytes(content)
        assert drascula.main(out + ["--game", str(game)]) == 1
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0] and "Traceback" not in error[0]
    (game / "drascula.dat").write_bytes(dat(languages=1))
    assert drascula.main(out + ["--game", str(game), "--language", "es"]) == 1
    assert "1 languages, no Spanish texts" in capsys.readouterr().err
    monkeypatch.setattr(drascula, "GAMES", tmp_path / "none")
    assert drascula.main(out + ["--language", "es"]) == 1
    assert "apt-get install drascula-spanish" in capsys.readouterr().err
    assert drascula.main(out + ["--speeds", "3"]) == 2
    with pytest.raises(SystemExit):
        drascula.main(out + ["--language", "de"])
    assert "invalid choice: 'de'" in capsys.readouterr().err


def test_main_writes_manifests(tmp_path):
    out = tmp_path / "out"
    assert drascula.main(["--out", str(out), "--game", str(make_game(tmp_path)),
                          "--dev-every", "0"]) == 0
    rows = list(csv.DictReader(open(out / "train.csv", encoding="utf-8")))
    assert len(rows) == 7 and not (out / "dev.csv").exists()
    assert rows[0]["path"].startswith(str(out)) and rows[0]["speaker"].startswith("drascula-")
