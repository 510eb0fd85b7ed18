"""Hundreds of distinct espeak-ng speakers from a seed: generated voice variants.

espeak-ng ships about 100 variants, 80 % of them male, many close to one another. A variant file
is a handful of numbers — pitch base and range, per-formant frequency/height/width scaling,
breathiness, voicing, consonant strength, flutter, roughness — so we draw them from ranges around
adult female and male vocal tracts (half of each), write them into a private copy of espeak-ng's
data folder (symlinks to the system files plus our files in ``voices/!v``) and run espeak-ng with
``--path``. The same (seed, index) always gives the same file, so corpora stay reproducible.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

PREFIX = "ds2gen"
SYSTEM_DATA = ("/usr/lib/x86_64-linux-gnu/espeak-ng-data", "/usr/lib/aarch64-linux-gnu/espeak-ng-data",
               "/usr/share/espeak-ng-data", "/usr/local/share/espeak-ng-data")


def system_data_dir() -> Path | None:
    return next((Path(p) for p in SYSTEM_DATA if (Path(p) / "phontab").exists()), None)


def variant_name(seed: int, index: int) -> str:
    return f"{PREFIX}{seed}x{index:04d}"


def parse_name(name: str) -> tuple[int, int] | None:
    """``ds2gen<seed>x<index>`` (as in ``en-us+ds2gen0x0017``) → (seed, index)."""
    variant = name.split("+", 1)[-1]
    if not variant.startswith(PREFIX):
        return None
    seed, index = variant[len(PREFIX):].split("x")
    return int(seed), int(index)


def variant(seed: int, index: int) -> tuple[str, str]:
    """(variant file text, gender "f"/"m") for generated speaker ``index`` of ``seed``."""
    rng = random.Random(f"espeak-variant:{seed}:{index}")
    female = rng.random() < 0.5
    if female:  # shorter vocal tract: formants ~10-25 % higher, pitch ~150-240 Hz
        base, scale = rng.uniform(150, 240), rng.uniform(1.08, 1.25)
    else:
        base, scale = rng.uniform(75, 140), rng.uniform(0.86, 1.04)
    lines = ["language variant", f"name {variant_name(seed, index)}",
             f"gender {'female' if female else 'male'}",
             f"pitch {int(base)} {int(base * rng.uniform(1.3, 2.3))}"]
    for k in range(9):
        lines.append(f"formant {k} {int(100 * scale * rng.uniform(0.95, 1.05))} "
                     f"{int(rng.uniform(75, 135))} {int(rng.uniform(80, 140))}")
    if rng.random() < 0.35:  # breathy voices
        lines.append("breath " + " ".join(str(rng.randint(0, 45)) for _ in range(8)))
    lines += [f"voicing {rng.randint(55, 110)}",
              f"consonants {rng.randint(80, 125)} {rng.randint(80, 125)}",
              f"flutter {rng.randint(0, 30)}", f"roughness {rng.randint(0, 5)}",
              f"intonation {rng.randint(1, 4)}"]
    return "\n".join(lines) + "\n", ("f" if female else "m")


def cache_root() -> Path:
    return Path(os.environ.get("DS2_CACHE", Path.home() / ".cache" / "ds2-tf"))


# espeak-ng lists at most 349 voice files (N_VOICES_LIST) and, past that, no longer finds the
# language voices: "The specified espeak-ng voice does not exist". The system has ≈ 320 (languages
# + variants + mbrola), so each data folder holds at most this many generated variants and no
# mbrola voices (they need the separate mbrola program anyway).
VARIANTS_PER_FOLDER = 100


def data_path(seed: int, index: int) -> Path:
    """The folder to pass as ``espeak-ng --path`` (it holds ``espeak-ng-data``)."""
    return cache_root() / f"espeak-ng-generated-{seed}-{index // VARIANTS_PER_FOLDER}"


def ensure_variant(seed: int, index: int) -> Path:
    """Create (once, atomically, safe across worker processes) the data folder and the variant."""
    system = system_data_dir()
    if system is None:
        raise FileNotFoundError("espeak-ng data not found (apt-get install espeak-ng)")
    root = data_path(seed, index)
    data = root / "espeak-ng-data"
    if not data.exists():
        root.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=".espeak-"))
        (staging / "voices" / "!v").mkdir(parents=True)
        for entry in system.iterdir():
            if entry.name != "voices":
                (staging / entry.name).symlink_to(entry)
        for entry in (system / "voices").iterdir():
            if entry.name not in ("!v", "mb"):
                (staging / "voices" / entry.name).symlink_to(entry)
        for entry in (system / "voices" / "!v").iterdir():
            (staging / "voices" / "!v" / entry.name).symlink_to(entry)
        root.mkdir(exist_ok=True)
        try:
            staging.rename(data)
        except OSError:  # another worker won the race
            shutil.rmtree(staging, ignore_errors=True)
    target = data / "voices" / "!v" / variant_name(seed, index)
    if not target.exists():
        text, _ = variant(seed, index)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".v-")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)
    return root
