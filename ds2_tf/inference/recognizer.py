"""A trained model as one Python object: waveform in, text out (``ds2_tf.load_model``)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ds2_tf.inference.segment import pieces

MAX_PIECE_S = 30.0  # longer recordings are cut at pauses (ds2_tf/inference/segment.py)
BATCH_SECONDS = 120.0  # padded audio per model call: bounds memory, whatever the input
# Batches run at once, each in its own thread (see share_cores). Why: a batch's BN-RNN steps are
# small sequential ops that keep a thread pool's workers waiting on each other; two batches side
# by side with half the cores each fill those gaps (bench/transcribe_throughput.py).
STREAMS = 2


def share_cores(streams: int = STREAMS) -> None:
    """Gives each of ``streams`` concurrent batches an equal share of the CPU's cores as
    TensorFlow's intra-op threads. Only possible before TensorFlow starts its runtime (``ds2
    transcribe`` calls it first thing); afterwards it changes nothing, and streams still help
    a little sharing the default pool."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, (os.cpu_count() or 1)
                                                                 // streams))
    except RuntimeError:  # the runtime is already up: its thread pools are fixed
        pass


def several_pieces(paths) -> bool:
    """Whether audio files give more than one piece to run: several files, or one longer than
    ``MAX_PIECE_S`` (an unreadable one counts as long: its error comes when it is read). One
    piece is one batch, which runs fastest with all the cores (no ``share_cores``)."""
    if len(paths) != 1:
        return True
    import soundfile

    try:
        return soundfile.info(str(paths[0])).duration > MAX_PIECE_S
    except (OSError, RuntimeError, ValueError):
        return True


class Recognizer:
    """A run directory or released model, ready to transcribe 16 kHz mono float waveforms.

    Every waveform is cut at pauses into pieces of at most ``MAX_PIECE_S``; the pieces of all
    waveforms are sorted by length and run in padded batches through the model as one traced
    function (eager Keras RNNs would step in Python), ``streams`` batches of at most
    ``BATCH_SECONDS`` of audio at a time; the pieces' texts and word times are then put back
    together per waveform.
    """

    def __init__(self, model, config, alphabet, decode_fn, infer=None, streams: int = STREAMS):
        """``model``: the Keras model (None for an export, whose ``infer`` is given instead);
        ``streams``: 1 where ``infer`` must not run in two threads at once (TFLite)."""
        self.model, self.config, self.alphabet = model, config, alphabet
        # the Keras dtype policy the model computes in (an export: as it was exported)
        self.precision = model.dtype_policy.name if model is not None else "export"
        self.decode_fn = decode_fn
        self.streams = streams
        if infer is None:
            from ds2_tf.evaluation.evaluate import traced_inference

            infer = traced_inference(model, fixed_weights=True)
        self._infer = infer

    @classmethod
    def load(cls, name_or_path: str | Path = "ds2_small_en", decoder: str = "greedy",
             beam_width: int | None = None, precision: str = "auto",
             **lm_options) -> "Recognizer":
        """``precision``: "auto", "float32" or "bfloat16" (``training.devices
        .inference_precision``); an export runs as it was exported."""
        from ds2_tf.decoding.ctc import make_decoder
        from ds2_tf.inference.exported import assets_folder, export_kind, load_export
        from ds2_tf.model.run_dir import load_run, run_files
        from ds2_tf.training.devices import inference_precision

        policy = inference_precision(precision)
        kind = export_kind(name_or_path)
        if kind and precision == "bfloat16":
            raise ValueError(f"{name_or_path}: an export runs in the precision it was exported "
                             "in; drop --precision bfloat16")
        if kind:  # a SavedModel or .tflite file, its LM in its assets
            infer, config, alphabet = load_export(name_or_path)
            decode_fn = make_decoder(alphabet, decoder, beam_width,
                                     run_dir=assets_folder(name_or_path), **lm_options)
            # one TFLite interpreter: its tensors are not to be shared by two threads
            return cls(None, config, alphabet, decode_fn, infer,
                       streams=1 if kind == "tflite" else STREAMS)
        _, alphabet = run_files(name_or_path)
        decode_fn = make_decoder(alphabet, decoder, beam_width, run_dir=name_or_path, **lm_options)
        model, config, alphabet = load_run(name_or_path, precision=policy)
        return cls(model, config, alphabet, decode_fn)

    def transcribe(self, waveforms, sample_rate_hz: int = 16000):
        """One waveform ([N] float in [-1, 1]) → its text; a list of them → a list of texts."""
        single = isinstance(waveforms, np.ndarray) and waveforms.ndim == 1
        batch = [waveforms] if single else list(waveforms)
        from ds2_tf.decoding.alignment import join_texts

        texts = [join_texts(self.decode_fn(logits[None], [len(logits)])[0] for _, logits in parts)
                 for parts in self._piece_outputs(batch, sample_rate_hz)]
        return texts[0] if single else texts

    def transcripts(self, waveforms, sample_rate_hz: int = 16000, nbest: int = 0) -> list:
        """Transcripts with word timings and confidence
        (:class:`ds2_tf.decoding.alignment.Transcript`), one per waveform: the greedy path, or
        with a beam/LM decoder its best beam and, with ``nbest``, that many alternatives. A
        recording cut into pieces gets alternatives rank by rank (``join_pieces``)."""
        from ds2_tf.decoding.alignment import (FrameClock, beam_transcript, greedy_transcript,
                                               join_pieces)

        beams = getattr(self.decode_fn, "beams", None)
        batch = list(waveforms)
        clock = FrameClock.of(self.config)
        out = []
        for wave, parts in zip(batch, self._piece_outputs(batch, sample_rate_hz)):
            bounds = [start for start, _ in parts] + [len(wave) / sample_rate_hz]
            pieces = []
            for (start, logits), end in zip(parts, bounds[1:]):
                piece = (beam_transcript(logits, beams(logits, max(nbest, 1)), clock, end - start)
                         if beams else greedy_transcript(logits, len(logits), self.alphabet,
                                                         clock, end - start))
                pieces.append((start, end, piece))
            out.append(join_pieces(pieces, len(wave) / sample_rate_hz, nbest if beams else 0))
        return out

    def _piece_outputs(self, batch, sample_rate_hz) -> list[list[tuple[float, np.ndarray]]]:
        """Per waveform: (start second, logits [T, V]) of each of its pieces, in order."""
        features = self.config.features
        if sample_rate_hz != features.sample_rate_hz:
            raise ValueError(f"audio at {sample_rate_hz} Hz; the model takes "
                             f"{features.sample_rate_hz} Hz (resample first)")
        if any(len(w) < features.window_samples for w in batch):
            raise ValueError("a waveform is shorter than one spectrogram window "
                             f"({features.window_ms:g} ms)")
        return run_in_pieces(batch, sample_rate_hz, self._logits, self.streams)

    def _logits(self, padded: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        out = self._infer({"waveform": padded, "num_samples": lengths})
        logits, frames = np.asarray(out["logits"]), np.asarray(out["output_length"])
        return [logits[k, : frames[k]] for k in range(len(lengths))]


def batches_by_length(lengths: list[int], budget: int, streams: int = 1) -> list[list[int]]:
    """Indices into ``lengths`` in batches of neighbours by length, each padding to at most
    ``budget`` samples (its longest × its size). As few batches as the budget allows, rounded up
    to a multiple of ``streams`` (no more than there are items), with the largest batch as small
    as that count allows: batches of about equal cost keep every stream busy to the end, where
    an odd or small last batch would leave a stream's cores idle."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)

    def pack(cap: int) -> list[list[int]]:
        groups: list[list[int]] = []
        for k in order:
            if not groups or lengths[k] * (len(groups[-1]) + 1) > cap:
                groups.append([])
            groups[-1].append(k)
        return groups

    count = min(len(order), -(-len(pack(budget)) // streams) * streams)
    low, high = max(lengths, default=0), max(budget, max(lengths, default=0))
    while low < high:  # the smallest cap that packs into ``count`` batches
        middle = (low + high) // 2
        low, high = (low, middle) if len(pack(middle)) <= count else (middle + 1, high)
    return pack(low)


def run_in_pieces(waveforms, sample_rate_hz: int, run,
                  streams: int = 1) -> list[list[tuple[float, object]]]:
    """Cuts every waveform at pauses into pieces of at most ``MAX_PIECE_S``, runs the pieces of
    all of them through ``run(padded [B, N] float32, lengths [B] int32)`` (one result per row) in
    padded batches of at most ``BATCH_SECONDS`` of audio, sorted by length so that they pad
    little, ``streams`` batches at once in as many threads, and returns per waveform its pieces'
    (start second, result), in order."""
    jobs = [(i, start, piece) for i, wave in enumerate(waveforms)
            for start, piece in pieces(np.asarray(wave, np.float32), sample_rate_hz,
                                       max_piece_s=MAX_PIECE_S)]
    batches = batches_by_length([len(piece) for _, _, piece in jobs],
                                int(BATCH_SECONDS * sample_rate_hz), streams)
    groups = [[jobs[k] for k in batch] for batch in batches]

    def run_group(group) -> list:
        lengths = np.array([len(piece) for _, _, piece in group], np.int32)
        padded = np.zeros((len(group), int(lengths.max())), np.float32)
        for row, (_, _, piece) in zip(padded, group):
            row[: len(piece)] = piece
        return run(padded, lengths)

    if streams > 1 and len(groups) > 1:
        with ThreadPoolExecutor(streams) as pool:  # results come back in the groups' order
            outputs = list(pool.map(run_group, groups))
    else:
        outputs = [run_group(group) for group in groups]
    results: list[list] = [[] for _ in waveforms]
    for group, output in zip(groups, outputs):
        for (i, start, _), result in zip(group, output, strict=True):
            results[i].append((start / sample_rate_hz, result))
    return [sorted(parts, key=lambda p: p[0]) for parts in results]
