"""Word timings and confidence from the CTC best path, on hand-made posteriors."""
import numpy as np
import pytest

from ds2_tf.decoding.alignment import FrameClock, greedy_transcript
from ds2_tf.decoding.ctc import greedy_decode
from tfrecords_tools.alphabet import Alphabet

CLOCK = FrameClock(16000, 160, 320, 2)  # `small`: 20 ms output frames, first centred at 10 ms


def logits_for(path: str, alphabet: Alphabet, confident: float = 8.0) -> np.ndarray:
    """One frame per character of ``path`` ('_' = blank) with that class far ahead."""
    logits = np.zeros((len(path), alphabet.num_classes), np.float32)
    for t, char in enumerate(path):
        logits[t, alphabet.blank_index if char == "_" else alphabet.characters.index(char)] = confident
    return logits


def test_words_start_and_end_at_their_characters_frames():
    alphabet = Alphabet.english()
    path = "__hhi___ _tthere_"
    logits = logits_for(path, alphabet)
    result = greedy_transcript(logits, len(path), alphabet, CLOCK, duration_s=0.40)
    assert result.text == "hi there" == greedy_decode(logits[None], [len(path)], alphabet)[0]
    (hi, there) = result.words
    assert (hi.word, there.word) == ("hi", "there")
    # frame i spans [i·20 ms, (i+1)·20 ms): "hi" is frames 2–4, "there" frames 10–15
    assert hi.start_s == pytest.approx(0.04) and hi.end_s == pytest.approx(0.10)
    assert there.start_s == pytest.approx(0.20) and there.end_s == pytest.approx(0.32)
    assert 0.99 < hi.confidence <= 1 and 0.99 < result.confidence <= 1


def test_doubled_letters_need_a_blank_and_confidence_falls_with_doubt():
    alphabet = Alphabet.english()
    path = "l_oo_o_k"  # "loook" is not possible: oo_o → "oo"
    sure = greedy_transcript(logits_for(path, alphabet), len(path), alphabet, CLOCK, 0.2)
    unsure = greedy_transcript(logits_for(path, alphabet, confident=1.0), len(path), alphabet,
                               CLOCK, 0.2)
    assert sure.text == unsure.text == "look"
    assert 0 < unsure.words[0].confidence < sure.words[0].confidence <= 1
    assert 0 < unsure.confidence < sure.confidence <= 1


def test_silence_has_no_words_and_only_valid_frames_count():
    alphabet = Alphabet.english()
    logits = logits_for("____ab", alphabet)
    result = greedy_transcript(logits, 4, alphabet, CLOCK, 0.1)
    assert result.text == "" and result.words == [] and result.confidence > 0.99
    assert result.to_json(path="x.wav") == {"path": "x.wav", "text": "", "duration_s": 0.1,
                                            "confidence": round(result.confidence, 4),
                                            "words": []}
