"""Cutting long recordings at pauses."""
import numpy as np
import pytest

from ds2_tf.inference.segment import frame_energy_db, pause_cuts, pieces

RATE = 16000


def speech(seconds: float, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * 0.2).astype(np.float32)


def test_cuts_fall_inside_pauses_and_pieces_tile_the_recording():
    parts, bounds, position = [], [], 0
    for i in range(12):  # 12 × (4 s of "speech" + 0.6 s of silence) ≈ 55 s
        parts += [speech(4, i), np.zeros(int(0.6 * RATE), np.float32)]
        bounds.append((position + 4 * RATE, position + int(4.6 * RATE)))  # the silence
        position += int(4.6 * RATE)
    audio = np.concatenate(parts)
    cut = pieces(audio, RATE, max_piece_s=10)
    assert np.array_equal(np.concatenate([p for _, p in cut]), audio)  # nothing lost or doubled
    assert all(len(p) <= 10 * RATE for _, p in cut)
    for start, _ in cut[1:]:
        assert any(a <= start < b for a, b in bounds), start / RATE


def test_without_pauses_pieces_still_respect_the_limit():
    audio = speech(65, 0)
    cut = pieces(audio, RATE, max_piece_s=30)
    assert len(cut) == 3 and all(len(p) <= 30 * RATE for _, p in cut)
    assert np.array_equal(np.concatenate([p for _, p in cut]), audio)


def test_short_and_silent_recordings_are_one_piece():
    assert pause_cuts(speech(3, 1), RATE) == [0]
    assert pause_cuts(np.zeros(RATE * 40, np.float32), RATE, max_piece_s=30)[0] == 0
    assert len(pieces(np.zeros(10, np.float32), RATE)) == 1


def test_batches_in_two_streams_give_the_same_results_in_order(monkeypatch):
    import threading
    import time

    import ds2_tf.inference.recognizer as recognizer_module

    monkeypatch.setattr(recognizer_module, "BATCH_SECONDS", 20.0)
    waves = [speech(s, i) for i, s in enumerate([3, 7, 2, 45, 5, 4, 6, 2.5])]
    threads = set()

    def run(padded, lengths):  # per row: its samples' sum, so a row's result names its piece
        threads.add(threading.get_ident())
        time.sleep(0.05)  # long enough that the second thread takes the next batch
        return [float(row[:n].sum()) for row, n in zip(padded, lengths)]

    one = recognizer_module.run_in_pieces(waves, RATE, run, streams=1)
    threads.clear()
    two = recognizer_module.run_in_pieces(waves, RATE, run, streams=2)
    assert two == one and len(threads) == 2  # same pieces, results and order, two threads
    assert [len(parts) for parts in one] == [1, 1, 1, 2, 1, 1, 1, 1]  # 45 s: two pieces
    for wave, parts in zip(waves, one):
        assert np.isclose(sum(r for _, r in parts), wave.sum(), atol=1e-3)


def test_batches_by_length_are_even_and_fill_every_stream():
    from ds2_tf.inference.recognizer import batches_by_length

    lengths = [int(s * RATE) for s in np.random.default_rng(0).uniform(2, 6, 200)]
    budget = 120 * RATE
    for streams in (1, 2, 3):
        batches = batches_by_length(lengths, budget, streams)
        assert sorted(k for b in batches for k in b) == list(range(200))  # each once
        assert len(batches) % streams == 0
        costs = [max(lengths[k] for k in b) * len(b) for b in batches]
        assert max(costs) <= budget and min(costs) > 0.8 * max(costs)  # no small last batch
        spans = [(min(lengths[k] for k in b), max(lengths[k] for k in b)) for b in batches]
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # neighbours by length
    assert len(batches_by_length([3 * RATE] * 3, budget, 2)) == 2  # both streams get work
    assert batches_by_length([5 * RATE], budget, 2) == [[0]]
    assert batches_by_length([], budget, 2) == []


def test_only_several_pieces_share_the_cores(tmp_path):
    import soundfile

    from ds2_tf.inference.recognizer import several_pieces

    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    soundfile.write(short, speech(3, 0), RATE)
    soundfile.write(long, speech(31, 1), RATE)
    assert not several_pieces([short])  # one piece: one batch, all the cores
    assert several_pieces([long]) and several_pieces([short, short])
    assert several_pieces([tmp_path / "missing.wav"])  # its error comes when it is read


def test_ds2_transcribe_runs_one_short_file_in_float32_and_several_as_asked(tmp_path,
                                                                           monkeypatch):
    """--precision auto: one short file is one batch of one, faster in float32 on all cores;
    several files share the cores and keep auto (bfloat16 where the CPU has it)."""
    import soundfile

    import ds2_tf.inference.recognizer as recognizer_module
    import ds2_tf.inference.transcribe as transcribe_module
    from ds2_tf.cli.app import main

    short = tmp_path / "short.wav"
    soundfile.write(short, speech(3, 0), RATE)
    calls = []
    monkeypatch.setattr(recognizer_module, "share_cores", lambda: calls.append("share"))
    monkeypatch.setattr(transcribe_module, "transcribe_files",
                        lambda run, files, **kw: calls.append(kw["precision"]) or 0)
    for files, flags in (([short], []), ([short, short], []), ([short], ["--precision",
                                                                         "bfloat16"])):
        calls.clear()
        assert main(["transcribe", "--model", "ds2_small_en", *map(str, files), *flags]) == 0
        expected = ["bfloat16"] if flags else {1: ["float32"], 2: ["share", "auto"]}[len(files)]
        assert calls == expected


def test_a_long_recording_cut_at_pauses_keeps_every_word_once(trained_run, synth_corpus,
                                                             monkeypatch):
    """Training utterances of the tiny model joined with 1.5 s pauses, cut into pieces of at most
    6 s: one piece per utterance, and the stitched words are the pieces' words, each once, in
    order, with growing times. (The pieces carry some pause on each side, which the over-fitted
    tiny model does not transcribe as it does the bare utterances, so pieces are the reference.)"""
    import ds2_tf
    import ds2_tf.inference.recognizer as recognizer_module
    from tfrecords_tools.writer import split_examples

    utterances = [np.frombuffer(e["audio"], "<i2").astype(np.float32) / 32768
                  for e in list(split_examples(synth_corpus, "train"))[:5]]
    assert all(len(u) < 5.5 * RATE for u in utterances)
    recognizer = ds2_tf.load_model(trained_run)
    pause = np.zeros(int(1.5 * RATE), np.float32)
    long = np.concatenate([x for u in utterances for x in (u, pause)])
    cut = pieces(long, RATE, max_piece_s=6.0)
    assert len(cut) == len(utterances)
    alone = recognizer.transcribe([piece for _, piece in cut])
    monkeypatch.setattr(recognizer_module, "MAX_PIECE_S", 6.0)
    (transcript,) = recognizer.transcripts([long])
    assert transcript.text.split() == " ".join(alone).split() and len(transcript.words) > 5
    assert recognizer.transcribe(long) == transcript.text
    starts = [w.start_s for w in transcript.words]
    assert starts == sorted(starts) and transcript.words[-1].end_s <= len(long) / RATE


def test_frame_energy_a_block_at_a_time_equals_the_whole_signal_at_once():
    """Blocks keep a 2-hour recording's temporaries small; the energies must not change."""
    audio = speech(7.3, seed=5)  # 365 frames, the last one partial
    size = int(0.02 * RATE)
    padded = np.zeros(-(-len(audio) // size) * size, np.float32)
    padded[: len(audio)] = audio
    want = 10 * np.log10(np.mean(padded.reshape(-1, size).astype(np.float64) ** 2, axis=1) + 1e-10)
    for block in (1, 7, 3000):
        np.testing.assert_allclose(frame_energy_db(audio, RATE, block_frames=block), want,
                                   rtol=0, atol=1e-9)


def test_a_bfloat16_recognizer_transcribes_as_the_float32_one(trained_run, synth_corpus,
                                                             tmp_path):
    """``precision="bfloat16"`` computes in mixed_bfloat16 (the weights stay float32) and reads
    the same words; a stream refuses it in one line."""
    import soundfile

    import ds2_tf
    from ds2_tf.evaluation.metrics import error_rates
    from ds2_tf.inference.transcribe import transcribe_files
    from tfrecords_tools.writer import split_examples

    waves = [np.frombuffer(e["audio"], "<i2").astype(np.float32) / 32768
             for e in list(split_examples(synth_corpus, "train"))[:6]]
    full = ds2_tf.load_model(trained_run, precision="float32")
    half = ds2_tf.load_model(trained_run, precision="bfloat16")
    assert (full.precision, half.precision) == ("float32", "mixed_bfloat16")
    assert half.model.get_weights()[0].dtype == np.float32
    want, got = full.transcribe(waves), half.transcribe(waves)
    assert all(want) and error_rates(want, got)["cer"] <= 0.05, (want, got)
    wav = tmp_path / "a.wav"
    soundfile.write(wav, waves[0], RATE)
    with pytest.raises(ValueError, match="--stream runs in float32"):
        transcribe_files(trained_run, [str(wav)], streaming=True, precision="bfloat16")
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "saved_model.pb").write_bytes(b"")  # refused before it is read
    with pytest.raises(ValueError, match="an export runs in the precision it was exported in"):
        ds2_tf.load_model(tmp_path / "export", precision="bfloat16")
