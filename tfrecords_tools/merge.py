"""``ds2 merge``: train on several prepared corpora at once, without copying a byte of audio.

Why: synthesizing is the slow part (natural TTS voices render 20–140× real time on one core), so
corpora made with different engine mixes or augmentations are worth pooling rather than
re-synthesizing. The merged folder's dataset.json lists every corpus's train shards by relative
path; dev, test and any other split come from the first corpus only, so evaluation stays exactly
comparable with runs trained on that corpus alone.

A merge refuses (one line naming the corpus) what would make results lie or training fail:
a different alphabet, sample rate or label filter; mixed GZIP and plain shards; and a train
utterance, LM sentence or speaker of any corpus that is also in the first corpus's held-out splits
(corpora from ``ds2 synth`` share held-out sentences and voices only when made with the same
``--seed``).
"""
from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from tfrecords_tools.audio import SAMPLE_RATE_HZ
from tfrecords_tools.prepare import SplitStats
from tfrecords_tools.writer import (
    DATASET_JSON,
    read_dataset_json,
    split_examples,
    write_dataset_json,
)

LM_TEXT = "lm_text_train.txt"  # written by `ds2 synth`: the training sentence pool


def _held_out(data_dir: Path, info: dict) -> tuple[dict[str, str], set[str]]:
    """Transcripts (→ split) and speakers of every split but train."""
    texts, speakers = {}, set()
    for split in info["splits"]:
        if split == "train":
            continue
        for example in split_examples(data_dir, split):
            texts.setdefault(example["transcript"], split)
            if example["speaker"]:
                speakers.add(example["speaker"])
    return texts, speakers


def _check_compatible(first: Path, first_info: dict, corpus: Path, info: dict) -> None:
    for key, what in (("alphabet", "alphabet"), ("sample_rate_hz", "sample rate"),
                      ("label_filter", "label filter (preset, strides, window)")):
        if info.get(key) != first_info.get(key):
            raise ValueError(f"{corpus}: {what} differs from {first}'s; prepare both corpora "
                             "with the same settings")


def _pooled_moments(infos: list[dict]) -> dict | None:
    """Exact per-bin mean/std of the union from each corpus's (mean, std, frames)."""
    stats = [i.get("feature_stats") for i in infos]
    if not all(s and s.get("split") == "train" for s in stats):
        return None
    if len({(s["window_samples"], s["hop_samples"]) for s in stats}) != 1:
        return None
    frames = np.array([s["frames"] for s in stats], dtype=np.float64)
    means = np.array([s["mean"] for s in stats])
    second = np.array([s["std"] for s in stats]) ** 2 + means ** 2
    mean = (frames[:, None] * means).sum(0) / frames.sum()
    std = np.sqrt(np.maximum((frames[:, None] * second).sum(0) / frames.sum() - mean ** 2, 1e-8))
    return {"split": "train", "mean": mean.round(6).tolist(), "std": std.round(6).tolist(),
            "frames": int(frames.sum()), "window_samples": stats[0]["window_samples"],
            "hop_samples": stats[0]["hop_samples"]}


def merge_corpora(out_dir: str | Path, corpora: list[str | Path], overwrite: bool = False,
                  allow_overlap: bool = False) -> dict:
    """Write ``out_dir/dataset.json``: train = every corpus's train split, the rest = the first's."""
    out_dir = Path(out_dir)
    corpora = [Path(c) for c in corpora]
    if len(corpora) < 2:
        raise ValueError("ds2 merge needs at least two corpora")
    if any(c.resolve() == out_dir.resolve() for c in corpora):
        raise ValueError(f"{out_dir}: --out must be a new folder, not one of the corpora")
    if len({c.resolve() for c in corpora}) != len(corpora):
        raise ValueError("the same corpus is listed twice")
    if (out_dir / DATASET_JSON).exists() and not overwrite:
        raise FileExistsError(f"{out_dir / DATASET_JSON}: already exists (pass --overwrite)")
    infos = [read_dataset_json(c) for c in corpora]
    first, first_info = corpora[0], infos[0]
    for corpus, info in zip(corpora, infos):
        if "train" not in info.get("splits", {}):
            raise ValueError(f"{corpus / DATASET_JSON}: no train split to merge")
        _check_compatible(first, first_info, corpus, info)
    names = [n for i in infos for n in i["splits"]["train"]["shards"]]
    names += [n for s, m in first_info["splits"].items() if s != "train" for n in m["shards"]]
    if len({n.endswith(".gz") for n in names}) > 1:
        raise ValueError("some corpora have GZIP shards and some plain ones; re-prepare one of "
                         "them so all match (the input pipeline reads one kind per run)")

    held_texts, held_speakers = _held_out(first, first_info)
    stats = SplitStats(0)
    sources, pool_lines = [], []  # pool_lines: every corpus's LM sentence pool, read once
    for corpus, info in zip(corpora, infos):
        meta = info["splits"]["train"]
        leaks, voices = Counter(), set()
        for example in split_examples(corpus, "train"):
            if example["transcript"] in held_texts:
                leaks[held_texts[example["transcript"]]] += 1
            if example["speaker"] in held_speakers:
                voices.add(example["speaker"])
            stats.durations.append(example["num_samples"] / SAMPLE_RATE_HZ)
            stats.speakers[example["speaker"]] += 1
        pool = (corpus / LM_TEXT).read_text(encoding="utf-8").splitlines() \
            if (corpus / LM_TEXT).exists() else []
        lm_leaks = sum(line.strip() in held_texts for line in pool)
        pool_lines += pool
        if (leaks or voices or lm_leaks) and not allow_overlap:
            what = [f"{n} train utterance(s) whose sentence is in {first}'s {s} split"
                    for s, n in sorted(leaks.items())]
            what += [f"{len(voices)} speaker(s) of {first}'s held-out splits "
                     f"(e.g. {sorted(voices)[0]})"] if voices else []
            what += [f"{lm_leaks} held-out sentence(s) in {LM_TEXT}"] if lm_leaks else []
            raise ValueError(f"{corpus}: {'; '.join(what)} — corpora from `ds2 synth` must share "
                             "--seed (or pass --allow-overlap)")
        stats.shards += [os.path.relpath(corpus / n, out_dir) for n in meta["shards"]]
        sources.append({"data": os.path.relpath(corpus, out_dir),
                        "num_utterances": meta["num_utterances"], "hours": meta["hours"],
                        "synth_request": info.get("synth_request")})

    out_dir.mkdir(parents=True, exist_ok=True)
    merged = {k: v for k, v in first_info.items() if k not in ("splits", "feature_stats",
                                                                "synth_request")}
    merged["splits"] = {}
    for split, meta in first_info["splits"].items():
        if split == "train":
            merged["splits"]["train"] = {**stats.summary(stats.shards), "merged_from": sources}
        else:
            merged["splits"][split] = {**meta, "shards": [os.path.relpath(first / n, out_dir)
                                                          for n in meta["shards"]]}
    moments = _pooled_moments(infos)
    if moments:
        merged["feature_stats"] = moments
    if (first / "alphabet.json").exists():
        shutil.copyfile(first / "alphabet.json", out_dir / "alphabet.json")
    if pool_lines:
        lines = dict.fromkeys(line for line in pool_lines if line)
        (out_dir / LM_TEXT).write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif (out_dir / LM_TEXT).exists():
        (out_dir / LM_TEXT).unlink()  # an earlier merge's pool would no longer match
    write_dataset_json(out_dir, merged)
    return merged
