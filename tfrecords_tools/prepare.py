"""Validate utterances in parallel and write one split of sharded TFRecords + its statistics.

Shared by ``ds2 prepare`` (files from manifests) and ``ds2 synth`` (audio rendered by TTS): both
produce :class:`~tfrecords_tools.manifests.Item` s; workers decode or synthesize, validate and measure them, and the parent
process alone writes, so shards are written in job order and the same inputs give the same bytes.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from tfrecords_tools.alphabet import Alphabet, TranscriptError
from tfrecords_tools.audio import SAMPLE_RATE_HZ, AudioError, load_pcm16, pcm16_to_float
from tfrecords_tools.manifests import Item
from tfrecords_tools.spectrogram import (
    FrameGeometry,
    log_power_spectrogram,
    min_frames_for_label,
)


@dataclass(frozen=True)
class PrepareOptions:
    alphabet: Alphabet
    # the model's framing and time stride: its output_length decides which utterances are too
    # short for their label (``ds2_tf``'s RunConfig.geometry of the preset being prepared for)
    geometry: FrameGeometry = FrameGeometry()
    unknown_chars: str = "skip"
    min_duration_s: float = 0.0
    max_duration_s: float = float("inf")
    compute_stats: bool = True
    # recipe → (int16 PCM, extra) for items made by TTS (``tfrecords_tools.tts.render``); a
    # module-level function, so spawned workers receive it by reference
    render: Callable | None = None


@dataclass
class Utterance:
    utt_id: str
    pcm16: bytes
    transcript: str
    speaker: str
    num_samples: int
    bin_sum: np.ndarray | None = None
    bin_sumsq: np.ndarray | None = None
    frames: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Skipped:
    where: str
    reason: str


_OPTIONS: PrepareOptions | None = None


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(options: PrepareOptions) -> None:
    global _OPTIONS
    _OPTIONS = options


def process(job: Item) -> Utterance | Skipped:
    """Worker: decode/synthesize, validate, normalize and measure one utterance."""
    options = _OPTIONS
    if job.error:
        return Skipped(job.where, job.error)
    try:
        transcript = options.alphabet.normalize(job.transcript, options.unknown_chars)
        label = options.alphabet.encode(transcript)
    except TranscriptError as err:
        return Skipped(job.where, str(err))
    extra: dict = {}
    try:
        if job.recipe is not None:
            if options.render is None:
                raise AudioError("a synthesis recipe, but no renderer was given")
            pcm, extra = options.render(job.recipe)
        else:
            pcm = load_pcm16(job.audio_path)
    except AudioError as err:
        return Skipped(job.where, str(err))
    seconds = len(pcm) / SAMPLE_RATE_HZ
    if seconds < options.min_duration_s:
        return Skipped(job.where, f"{seconds:.2f} s is shorter than --min-duration "
                                  f"{options.min_duration_s:g} s")
    if seconds > options.max_duration_s:
        return Skipped(job.where, f"{seconds:.2f} s is longer than --max-duration "
                                  f"{options.max_duration_s:g} s")
    frames = int(options.geometry.output_length(len(pcm)))
    needed = min_frames_for_label(label)
    if frames < needed:
        return Skipped(job.where, f"too short for its transcript: {frames} output frames < "
                                  f"{needed} needed (label length + repeats) at time stride "
                                  f"{options.geometry.time_stride}")
    utt = Utterance(job.utt_id, pcm.tobytes(), transcript, job.speaker, len(pcm), extra=extra)
    if options.compute_stats:
        spec = log_power_spectrogram(pcm16_to_float(pcm), options.geometry.window_samples,
                                     options.geometry.hop_samples).astype(np.float64)
        utt.bin_sum, utt.bin_sumsq, utt.frames = spec.sum(0), (spec * spec).sum(0), len(spec)
    return utt


def run_jobs(jobs: Iterable[Item], options: PrepareOptions, workers: int,
             window_per_worker: int = 4) -> Iterator:
    """Results in job order; ``workers`` > 1 uses spawned processes (TensorFlow is not forked).

    Jobs are read here, in the caller's thread, and at most ``window_per_worker`` per worker are
    in flight, so a caller that stops early (``target_hours``) just cancels a few pending ones.
    ``multiprocessing.Pool.imap`` fed the generator from a background thread, and terminating it
    mid-stream can hang for good (CPython gh-78178): that hung a CI run for 90 minutes. A worker
    that dies ends the run with an error here instead of waiting forever."""
    if workers <= 1:
        _init_worker(options)
        for job in jobs:
            yield process(job)
        return
    # One BLAS thread per worker: the workers already fill the cores, and oversubscribed
    # BLAS threads made 2 workers slower than 1. Children read these at numpy import, and the
    # executor spawns them on demand, so the settings stay until the last result.
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(options,))
    pending: deque = deque()
    try:
        for job in jobs:
            pending.append(pool.submit(process, job))
            if len(pending) >= workers * window_per_worker:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _result(future):
    try:
        return future.result()
    except BrokenProcessPool:
        raise RuntimeError("a worker process died (out of memory, or killed); "
                           "re-run with --workers 1 to see which item") from None


class SplitStats:
    """Counts, durations, speakers and per-bin spectrogram moments of one split."""

    def __init__(self, num_bins: int):
        self.durations: list[float] = []
        self.speakers: Counter = Counter()
        self.skipped: list[Skipped] = []
        self.bin_sum = np.zeros(num_bins)
        self.bin_sumsq = np.zeros(num_bins)
        self.frames = 0
        self.shards: list[str] = []

    def add(self, utt: Utterance) -> None:
        self.durations.append(utt.num_samples / SAMPLE_RATE_HZ)
        self.speakers[utt.speaker] += 1
        if utt.bin_sum is not None:
            self.bin_sum += utt.bin_sum
            self.bin_sumsq += utt.bin_sumsq
            self.frames += utt.frames

    @property
    def hours(self) -> float:
        return float(sum(self.durations)) / 3600

    def feature_moments(self) -> dict | None:
        if self.frames == 0:
            return None
        mean = self.bin_sum / self.frames
        std = np.sqrt(np.maximum(self.bin_sumsq / self.frames - mean * mean, 1e-8))
        return {"mean": mean.round(6).tolist(), "std": std.round(6).tolist(),
                "frames": int(self.frames)}

    def histogram(self) -> dict:
        if not self.durations:
            return {"edges_s": [], "counts": []}
        top = int(np.ceil(max(self.durations))) or 1
        counts, edges = np.histogram(self.durations, bins=np.arange(0, top + 1))
        return {"edges_s": edges.tolist(), "counts": counts.tolist()}

    def summary(self, shards: list[str]) -> dict:
        durations = np.array(self.durations) if self.durations else np.zeros(1)
        return {
            "num_utterances": len(self.durations),
            "hours": round(self.hours, 4),
            "num_speakers": len([s for s in self.speakers if s]),
            "duration_s": {"min": round(float(durations.min()), 3),
                           "mean": round(float(durations.mean()), 3),
                           "max": round(float(durations.max()), 3)},
            "length_histogram": self.histogram(),
            "shards": shards,
            "skipped": [{"item": s.where, "reason": s.reason} for s in self.skipped],
        }


def print_skips(split: str, skipped: list[Skipped], limit: int = 20, stream=sys.stderr) -> None:
    """One line per skipped item (up to ``limit``), then counts by reason."""
    if not skipped:
        return
    for s in skipped[:limit]:
        print(f"skipped [{split}] {s.where}: {s.reason}", file=stream)
    if len(skipped) > limit:
        reasons = Counter(s.reason.split(" (")[0].split(":")[0] for s in skipped)
        print(f"... {len(skipped) - limit} more skipped in [{split}]; by reason: "
              + "; ".join(f"{r} ×{n}" for r, n in reasons.most_common(8)), file=stream)
    print(f"[{split}] {len(skipped)} item(s) skipped; the full list is in dataset.json", file=stream)


def progress(iterable, total=None, desc=""):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency; this only guards odd environments
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit="utt", file=sys.stderr,
                disable=None, mininterval=1.0)


def output_dir_ready(out_dir: Path, split: str, overwrite: bool, info: dict) -> None:
    if split in info.get("splits", {}) and not overwrite:
        raise FileExistsError(f"{out_dir}: split {split!r} already exists in dataset.json "
                              f"(pass --overwrite to replace it)")


def write_split(out_dir: Path, split: str, jobs: Iterable[Item], options: PrepareOptions,
                workers: int, total: int | None = None, target_hours: float | None = None,
                shard_bytes: int = 32 << 20, compress: bool = False) -> SplitStats:
    """Run ``jobs`` through the workers into ``<split>-*.tfrecord``; stop early at ``target_hours``."""
    from tfrecords_tools.schema import make_example
    from tfrecords_tools.writer import ShardedWriter

    stats = SplitStats(options.geometry.num_bins)
    with ShardedWriter(out_dir, split, shard_bytes, compress) as writer:
        results = run_jobs(jobs, options, workers)
        try:
            for result in progress(results, total=total, desc=f"{split}"):
                if isinstance(result, Skipped):
                    stats.skipped.append(result)
                    continue
                writer.write(make_example(result.utt_id, result.pcm16, SAMPLE_RATE_HZ,
                                          result.transcript, result.speaker))
                stats.add(result)
                if target_hours is not None and stats.hours >= target_hours:
                    break
        finally:
            results.close()  # stops the worker pool if we left early
        stats.shards = writer.commit()
    return stats


def record_split(info: dict, split: str, stats: SplitStats, options: PrepareOptions,
                 extra: dict | None = None) -> dict:
    """Fold one split's summary into dataset.json's dict (feature statistics from train)."""
    info.setdefault("version", 1)
    info["sample_rate_hz"] = SAMPLE_RATE_HZ
    info["alphabet"] = options.alphabet.to_json()
    geometry = options.geometry
    info["label_filter"] = {"preset": geometry.preset, "time_stride": geometry.time_stride,
                            "window_samples": geometry.window_samples,
                            "hop_samples": geometry.hop_samples}
    summary = stats.summary(stats.shards)
    if extra:
        summary.update(extra)
    info.setdefault("splits", {})[split] = summary
    moments = stats.feature_moments()
    current = info.get("feature_stats", {}).get("split")
    if moments and (split == "train" or current in (None, split)):
        info["feature_stats"] = {"split": split, **moments,
                                 "window_samples": geometry.window_samples,
                                 "hop_samples": geometry.hop_samples}
    return info


def resolve_alphabet(spec: str, transcripts: Iterable[str] = ()) -> Alphabet:
    """``english`` | ``auto`` (characters of the given transcripts) | a JSON file | ``chars:...``."""
    if spec == "english":
        return Alphabet.english()
    if spec == "auto":
        return Alphabet.from_transcripts(transcripts)
    if spec.startswith("chars:"):
        return Alphabet.from_string(spec[len("chars:"):])
    path = Path(spec)
    if path.exists():
        return Alphabet.load(path)
    raise ValueError(f"--alphabet {spec!r}: expected english, auto, chars:<characters> "
                     "or an alphabet.json file")
