"""``ds2 prepare``: user corpora (LibriSpeech, CSV/TSV, JSONL) → TFRecord splits + dataset.json."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from tfrecords_tools.alphabet import Alphabet
from tfrecords_tools.manifests import read_source
from tfrecords_tools.prepare import (
    PrepareOptions,
    output_dir_ready,
    print_skips,
    record_split,
    resolve_alphabet,
    write_split,
)
from tfrecords_tools.spectrogram import FrameGeometry
from tfrecords_tools.writer import DATASET_JSON, read_dataset_json, write_dataset_json


def parse_sources(specs: list[str]) -> dict[str, list[str]]:
    """``SPLIT=PATH`` arguments → {split: [paths]} in order of first appearance."""
    splits: dict[str, list[str]] = {}
    for spec in specs:
        split, sep, path = spec.partition("=")
        if not sep or not split or not path:
            raise ValueError(f"source {spec!r}: expected SPLIT=PATH, e.g. train=LibriSpeech/train-clean-100")
        if not split.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"source {spec!r}: split names use letters, digits, '-' and '_'")
        splits.setdefault(split, []).append(path)
    return splits


def prepare_corpus(out_dir: str | Path, sources: list[str], alphabet: str = "english",
                   unknown_chars: str = "skip", geometry: FrameGeometry = FrameGeometry(),
                   min_duration_s: float = 0.0, max_duration_s: float = float("inf"),
                   workers: int | None = None, overwrite: bool = False,
                   compress: bool = False, shard_mb: int = 32) -> dict:
    out_dir = Path(out_dir)
    splits = parse_sources(sources)
    info = read_dataset_json(out_dir) if (out_dir / DATASET_JSON).exists() else {}
    for split in splits:
        output_dir_ready(out_dir, split, overwrite, info)
    jobs_by_split = {}
    for split, paths in splits.items():
        jobs = []
        for path in paths:
            jobs.extend(read_source(path))
        jobs_by_split[split] = jobs
    if info.get("alphabet") and alphabet in ("english", "auto") and not overwrite:
        chars = Alphabet.from_json(info["alphabet"])  # keep splits of one corpus consistent
    else:
        base = jobs_by_split.get("train") or next(iter(jobs_by_split.values()))
        chars = resolve_alphabet(alphabet, (j.transcript for j in base if not j.error))
    options = PrepareOptions(chars, geometry, unknown_chars, min_duration_s, max_duration_s)
    workers = workers or os.cpu_count() or 1
    for split, jobs in jobs_by_split.items():
        stats = write_split(out_dir, split, jobs, options, workers, total=len(jobs),
                            shard_bytes=shard_mb << 20, compress=compress)
        info = record_split(info, split, stats, options, {"sources": splits[split]})
        write_dataset_json(out_dir, info)
        print(f"[{split}] {len(stats.durations)} utterances, {stats.hours:.3f} h, "
              f"{len(stats.shards)} shard(s) → {out_dir}", file=sys.stderr)
        print_skips(split, stats.skipped)
    chars.save(out_dir / "alphabet.json")
    return info
