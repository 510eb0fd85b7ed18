import pytest

from tfrecords_tools.alphabet import Alphabet, TranscriptError


def test_english_normalization_strips_punctuation_and_case():
    a = Alphabet.english()
    assert a.normalize("  Hello, World!  It’s   FINE. ") == "hello world it's fine"


def test_unknown_characters_skip_names_the_character():
    with pytest.raises(TranscriptError, match="'3'"):
        Alphabet.english().normalize("route 3")


def test_unknown_characters_map_strips_accents_and_drops_the_rest():
    assert Alphabet.english().normalize("Café 5 naïve", unknown="map") == "cafe naive"


def test_empty_after_normalization_is_an_error():
    with pytest.raises(TranscriptError, match="empty"):
        Alphabet.english().normalize(" ... !! ")


def test_blank_is_last_and_round_trip(tmp_path):
    a = Alphabet.english()
    assert a.blank_index == len(a.characters) == a.num_classes - 1
    ids = a.encode("it's ok")
    assert a.decode(ids + [a.blank_index]) == "it's ok"
    a.save(tmp_path / "alphabet.json")
    assert Alphabet.load(tmp_path / "alphabet.json") == a


def test_mandarin_character_alphabet_without_spaces():
    a = Alphabet.from_transcripts(["床前明月光", "疑是地上霜。"])
    assert " " not in a.characters and "。" not in a.characters
    assert a.normalize("床前 明月，光") == "床前明月光"
    assert a.decode(a.encode("明月")) == "明月"
