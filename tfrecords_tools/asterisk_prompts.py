"""Real human speech for training: the Asterisk PBX's Italian, French and Russian prompts.

    python -m tfrecords_tools.asterisk_prompts --out DIR [--languages it fr] [--speeds 0.95 1 1.05]
    ds2 prepare --out CORPUS --alphabet english --unknown-chars map train=DIR/train.csv

Why: every other training utterance of this project is synthetic, and on real speech the released
model stalled near 37 % CER whatever synthetic data was added. Debian packages the Asterisk core
prompts, studio recordings by professional speakers with their transcripts, in several languages.
Their English prompts (one speaker, Allison) are the real-speech evaluation sets
(bench/real_speech.py) and never train; Spanish is Allison too and is refused. Italian (a male
speaker), Canadian French and Russian (two female speakers) are other people: other voices, real
articulation; the Italian and French ones through the same studio chain as the English. Their
spelling differs from English (this costs some synthetic-English accuracy), but 900 steps with
the Italian and French ones lowered every real set's CER (bench/results/lever_foreign_prompts.md).
The Russian ones (``--languages ru``) did not help on top of them (lever_russian_prompts.md).

Each prompt is kept only where its text is certain: glosses in brackets are dropped, accents are
folded to a-z, Russian is romanized (``ROMANIZATIONS``), prompts with digits or symbols are left
out, as for the English sets, and so are those with acronyms. Each prompt is written at every
``--speeds`` factor (speed perturbation, 16 kHz PCM WAVs).
"""
from __future__ import annotations

import argparse
import gzip
import re
import sys
from pathlib import Path

from tfrecords_tools.alphabet import strip_accents
from tfrecords_tools.manifests import write_csv

SOUNDS = Path("/usr/share/asterisk/sounds")
DOCS = Path("/usr/share/doc")
TRAINING_LANGUAGES = ("it", "fr")  # ru too on request: it did not help (docs/models.md)
# Allison Smith speaks both: training on either would put the evaluation speaker in training.
REFUSED = {"en": "English is the real-speech evaluation set (bench/real_speech.py)",
           "es": "the Spanish prompts are Allison, the speaker of the evaluation set"}
RATE = 16000
# Russian in Latin letters, BGN/PCGN without diacritics: each letter's usual English spelling of
# its sound (ж zh, х kh, ы y); the soft and hard signs are not sounds of their own.
CYRILLIC = dict(zip("абвгдезийклмнопрстуфыэ", "abvgdeziyklmnoprstufye")) | {
    "ё": "yo", "ж": "zh", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "",
    "ь": "", "ю": "yu", "я": "ya"}
ROMANIZATIONS = {"ru": CYRILLIC}  # languages not written in Latin letters: letter → Latin


def transcripts(text: str, fold_accents: bool = False,
                romanization: dict[str, str] | None = None) -> dict[str, str]:
    """``name: Text.`` lines → {name: normalized text}, keeping only prompts whose reading is
    unambiguous: letters, spaces and apostrophes once punctuation is dropped. With
    ``fold_accents`` (other languages), glosses in round brackets are removed, a prompt with an
    acronym (said as letter names) is left out and accents are folded to a-z; without it
    (English), a prompt with brackets is left out. A ``romanization`` (``ROMANIZATIONS``, e.g.
    Russian's) does the same after writing each letter in Latin ones, and leaves out a prompt
    that already holds Latin letters (a name or a term said in some unknown way)."""
    prompts = {}
    for line in text.lstrip("\ufeff").splitlines():
        if line.startswith(";") or ": " not in line:
            continue
        name, said = (part.strip() for part in line.split(": ", 1))
        if name.startswith("letters/"):  # "j" is said "jay": a character model writes the sound
            continue
        if fold_accents or romanization:
            said = re.sub(r"\([^)]*\)", " ", said).replace("’", "'")
            if any(len(word) > 1 and word.isupper() for word in re.findall(r"[^\W\d_]+", said)):
                continue  # an acronym (PBX, SIP, МГЦП): spelled out in letter names
            if romanization:
                if re.search(r"[A-Za-z]", said):
                    continue
                said = "".join(romanization.get(c.lower(), c) for c in said)
            said = re.sub(r"[\"«»“”…]", " ", strip_accents(said))
        if re.search(r"[0-9\[\]()#*$@+=<>/\"_&%]", said):
            continue
        words = re.sub(r"[.,;:?!]", " ", said).replace("-", " ").lower().split()
        if words and all(re.fullmatch(r"[a-z']+", word) for word in words):
            prompts[name] = " ".join(words)
    return prompts


def decode_g722(path: Path):
    """An Asterisk ``.g722`` prompt → int16 samples at 16 kHz."""
    import numpy as np
    from G722 import G722  # the `g722` pip package (ITU-T G.722 reference codec)

    return np.asarray(G722(RATE, 64000).decode(path.read_bytes()), dtype=np.int16)


def voice_folder(language: str, sounds: Path) -> Path | None:
    """The folder of ``language``'s core prompts in G.722 (e.g. it_IT_m_Carlo), if installed."""
    for folder in sorted(sounds.glob(f"{language}_*")):
        if folder.is_dir() and next(folder.glob("*.g722"), None) is not None:
            return folder.resolve()  # it_IT links to it_IT_m_Carlo: the speaker's name
    return None


def language_rows(language: str, out: Path, speeds: list[float], sounds: Path,
                  docs: Path) -> list[dict]:
    """WAVs of one language's prompts at each speed in ``out``/wav → manifest rows."""
    import numpy as np
    import soundfile
    import soxr

    text_file = docs / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    voice = voice_folder(language, sounds)
    if voice is None or not text_file.is_file():
        missing = text_file if not text_file.is_file() else sounds / f"{language}_*/*.g722"
        print(f"note: {language}: {missing} missing (apt-get install asterisk-core-sounds-"
              f"{language} asterisk-core-sounds-{language}-g722); skipped", file=sys.stderr)
        return []
    text = gzip.open(text_file, "rt", encoding="utf-8").read()
    rows = []
    prompts = transcripts(text, fold_accents=True, romanization=ROMANIZATIONS.get(language))
    for name, said in sorted(prompts.items()):
        source = voice / f"{name}.g722"
        if not source.is_file():
            continue
        audio = decode_g722(source).astype(np.float32) / 32768
        for speed in speeds:
            wav = out / "wav" / f"{language}__{name.replace('/', '__')}__x{speed:g}.wav"
            if not wav.exists():
                wav.parent.mkdir(parents=True, exist_ok=True)
                # read as if recorded at speed·16 kHz: `speed`× faster (pitch moves with it)
                changed = audio if speed == 1 else soxr.resample(audio, RATE * speed, RATE)
                soundfile.write(wav, changed, RATE, subtype="PCM_16")
            rows.append({"path": str(wav), "transcript": said,
                         "speaker": f"asterisk:{voice.name}"})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for wav/ and train.csv")
    parser.add_argument("--languages", nargs="+", default=list(TRAINING_LANGUAGES))
    parser.add_argument("--speeds", nargs="+", type=float, default=[0.95, 1.0, 1.05])
    args = parser.parse_args(argv)
    for language in args.languages:
        if language in REFUSED:
            print(f"error: --languages {language}: {REFUSED[language]}", file=sys.stderr)
            return 2
    if not all(0.5 <= speed <= 2 for speed in args.speeds):
        print(f"error: --speeds {args.speeds}: each factor must be in [0.5, 2]", file=sys.stderr)
        return 2
    out = Path(args.out)
    rows = []
    for language in args.languages:
        found = language_rows(language, out, args.speeds, SOUNDS, DOCS)
        if found:
            print(f"{language}: {len(found) // len(args.speeds)} prompts × {len(args.speeds)} "
                  f"speeds ({found[0]['speaker']})", file=sys.stderr)
        rows += found
    if not rows:
        print("error: no Asterisk prompts found for " + ", ".join(args.languages), file=sys.stderr)
        return 1
    write_csv(out / "train.csv", rows)
    print(f"{out / 'train.csv'}: {len(rows)} utterances", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
