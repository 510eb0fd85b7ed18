"""Text for the synthetic corpus: Debian's fortunes (English, Mandarin poems) or a built-in fallback."""
from __future__ import annotations

import random
import re
from pathlib import Path

from tfrecords_tools.audio import SynthError

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


def split_sentences(sentences: list[str], seed: int, eval_fraction: float = 0.1) -> dict[str, list[str]]:
    order = list(sentences)
    random.Random(seed + 1).shuffle(order)
    k = max(1, int(len(order) * eval_fraction))
    return {"dev": order[:k], "test": order[k: 2 * k], "train": order[2 * k:]}
