"""``ds2 transcribe RUN files…``: one line per file; a bad file gets a one-line error and the
rest are still transcribed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from ds2_tf.inference.recognizer import Recognizer
from ds2_tf.inference.subtitles import WRITERS
from ds2_tf.model.run_dir import run_files
from tfrecords_tools.audio import AudioError, load_waveform

PENDING_SECONDS = 600.0  # audio read ahead of the model (the recognizer batches it by length)


def streaming_transcribers(model, config, alphabet, chunk_frames: int = 32):
    """A factory of StreamingTranscribers (one per file) that share one traced step function of
    the run's model (unidirectional models): tracing once, not once per file."""
    from ds2_tf.decoding.alignment import FrameClock
    from ds2_tf.inference.streaming import StreamingModel, StreamingTranscriber

    streaming = StreamingModel(model, config, chunk_frames)
    step = tf.function(streaming.step)

    def new_transcriber() -> StreamingTranscriber:
        return StreamingTranscriber(
            lambda inputs: step({k: tf.constant(v) for k, v in inputs.items()}),
            streaming.chunk_samples, streaming.initial_state(), alphabet, streaming.flush_steps,
            frame_s=FrameClock.of(config).frame_s)
    return new_transcriber


def transcribe_files(run_dir, files, decoder="greedy", beam_width=None, stream=None,
                     streaming: bool = False, piece_seconds: float = 0.5, output: str = "text",
                     out_dir=None, nbest: int = 0, recognizer: Recognizer | None = None,
                     prog: str = "ds2 transcribe", precision: str = "auto", **lm_options) -> int:
    """Prints ``path<TAB>transcript`` per file (``output="json"``: one JSON object per line with
    word timings and confidence, :mod:`ds2_tf.decoding.alignment`); returns the number of files
    that failed.

    With ``streaming``, audio is fed in ``piece_seconds`` pieces as if it were arriving, and
    each changed partial result is printed as ``path<TAB>… partial`` before the final line. A
    partial is the text since the last pause (so it stays short on an hour-long recording); the
    final line is the whole transcript.

    ``recognizer`` replaces the model that ``run_dir`` names (``ds2 client`` passes one whose
    model is a TF Serving deployment); ``prog`` starts the error lines. ``precision``: see
    ``Recognizer.load`` (a stream runs in float32: its states carry over between chunks).
    """
    from ds2_tf.inference.exported import export_kind

    stream = stream or sys.stdout  # looked up per call: sys.stdout may be replaced after import
    exported = recognizer is None and export_kind(run_dir) is not None
    if exported and streaming:
        raise ValueError(f"{run_dir}: --stream needs a run directory or released model, not an "
                         "export")
    config = None if exported or recognizer else run_files(run_dir)[0]
    if streaming and precision == "bfloat16":
        raise ValueError("--stream runs in float32 (its states carry over between chunks): drop "
                         "--precision bfloat16")
    if output != "text" and streaming:
        raise ValueError(f"--format {output} needs whole inputs: drop --stream")
    if nbest and (decoder == "greedy" or output != "json"):
        raise ValueError("--nbest lists alternatives of a beam search: use it with --decoder beam "
                         "or lm and --format json")
    if output in WRITERS and out_dir is None and len(files) > 1:
        raise ValueError(f"--format {output} writes one file per input: give --out-dir DIR "
                         "(without it, one input's subtitles go to standard output)")
    if output in WRITERS and out_dir is not None:
        stems = [Path(f).stem for f in files]
        clash = sorted({s for s in stems if stems.count(s) > 1})
        if clash:  # DIR/NAME.srt per input: two inputs named alike would overwrite each other
            raise ValueError(f"--format {output} --out-dir: several inputs are named "
                             f"{clash[0]!r}; their subtitle files would overwrite each other")
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    if streaming and config is not None and config.model.bidirectional:
        raise ValueError(f"{run_dir}: --stream needs a unidirectional model (preset 'streaming'); "
                         "this run is bidirectional")
    # the decoder is set up before the model loads: a missing LM fails fast
    if recognizer is None:
        recognizer = Recognizer.load(run_dir, decoder, beam_width=beam_width,
                                     precision="float32" if streaming else precision,
                                     **lm_options)
    model, config, alphabet = recognizer.model, recognizer.config, recognizer.alphabet
    decode_fn = recognizer.decode_fn
    new_transcriber = streaming_transcribers(model, config, alphabet) if streaming else None
    failures = 0
    pending: list[tuple[str, np.ndarray]] = []  # files read, waiting for one batched model run

    def flush() -> None:
        if output != "text":
            records = recognizer.transcripts([audio for _, audio in pending], nbest=nbest)
        if output in WRITERS:
            lines = []
            for (path, _), record in zip(pending, records):
                text = WRITERS[output](record)
                if out_dir is None:
                    lines.append(text.rstrip("\n"))
                    continue
                target = Path(out_dir) / f"{Path(path).stem}.{output}"
                target.write_text(text, encoding="utf-8")
                lines.append(f"{path}\t{target}")
        elif output == "json":
            lines = [json.dumps(r.to_json(path=str(p)), ensure_ascii=False)
                     for (p, _), r in zip(pending, records)]
        else:
            texts = recognizer.transcribe([audio for _, audio in pending])
            lines = [f"{p}\t{text}" for (p, _), text in zip(pending, texts)]
        for line in lines:
            print(line, file=stream, flush=True)
        pending.clear()

    for path in files:
        try:
            audio = load_waveform(path, config.features.sample_rate_hz)
        except AudioError as err:
            print(f"{prog}: error: {path}: {err}", file=sys.stderr)
            failures += 1
            continue
        if len(audio) < config.features.window_samples:
            print(f"{prog}: error: {path}: audio shorter than one "
                  f"{config.features.window_ms:g} ms frame", file=sys.stderr)
            failures += 1
            continue
        if streaming:
            transcriber = new_transcriber()
            shown = ""
            piece = int(piece_seconds * config.features.sample_rate_hz)
            for start in range(0, len(audio), piece):
                partial = transcriber.accept(audio[start: start + piece])
                if partial != shown:
                    print(f"{path}\t… {partial}", file=stream, flush=True)
                    shown = partial
            text = transcriber.finish()
            if decoder != "greedy":  # partials are greedy; the final result uses the decoder
                log_probs = transcriber.all_log_probs()
                text = decode_fn(log_probs[None], [len(log_probs)])[0]
            print(f"{path}\t{text}", file=stream, flush=True)
            continue
        # Files are batched by length inside the recognizer; read at most PENDING_SECONDS of
        # audio ahead, so memory stays bounded however many files there are.
        pending.append((path, audio))
        if sum(len(a) for _, a in pending) > PENDING_SECONDS * config.features.sample_rate_hz:
            flush()
    if pending:
        flush()
    return failures
