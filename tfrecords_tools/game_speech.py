"""What the tools that take real speech from freeware games share: subtitles → transcripts, the
evaluated sentences no line may say, the WAVs at several speeds with every Nth line for dev, the
command-line flags and their checks, and the manifests.

Each game's reader (``steel_sky_speech``, ``amazon_queen_speech``) finds (speech, subtitle)
pairs in its own archive format and offers them to a :class:`LineWriter`.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from tfrecords_tools.manifests import write_csv

RATE = 16000


class GameError(Exception):
    """The game's files are missing or not the version the reader knows."""


def transcript(text: str) -> str | None:
    """A subtitle → lower-case words, or None when its reading is not certain (digits,
    symbols, bracketed asides)."""
    text = text.replace("’", "'")
    if re.search(r"[0-9\[\]()#*$@+=<>/\"_&%~^|\\{}]", text):
        return None
    words = re.sub(r"[.,;:?!]", " ", text).replace("-", " ").lower().split()
    words = [word.strip("'") for word in words]
    words = [word for word in words if word]
    if words and all(re.fullmatch(r"[a-z]+(?:'[a-z]+)*", word) for word in words):
        return " ".join(words)
    return None


def held_out_sentences(corpora: list[Path]) -> set[str]:
    """Transcripts of every split but train of these prepared corpora (dev, test, real speech):
    a line saying one of them is left out, so no evaluated sentence is heard in training."""
    from tfrecords_tools.writer import read_dataset_json, split_examples

    sentences = set()
    for corpus in corpora:
        for split in read_dataset_json(corpus)["splits"]:
            if split != "train":
                sentences.update(example["transcript"] for example in split_examples(corpus, split))
    return sentences


class LineWriter:
    """Takes each (speech, subtitle) pair a game reader finds: keeps it when the subtitle has a
    certain reading (``reading``: text → words or None) that is not an evaluated sentence and
    the speech loads, writes it as 16 kHz WAVs (train lines at every speed) and collects the
    manifest rows; every ``dev_every``-th kept line goes to dev (the same actors: a check of
    fit, not of new voices)."""

    def __init__(self, out: Path, speeds: list[float], dev_every: int,
                 held_out: set[str] = frozenset(), reading=transcript):
        self.out, self.speeds, self.dev_every = out, speeds, dev_every
        self.held_out, self.reading = held_out, reading
        self.rows: dict[str, list[dict]] = {"train": [], "dev": []}
        self.kept = self.skipped = self.evaluated = self.unreadable = 0

    def offer(self, name: str, text: str, load_audio, speaker: str) -> None:
        """``load_audio()`` → float32 samples at 16 kHz, or ValueError naming what is damaged
        (the line is left out with a note)."""
        said = self.reading(text)
        if said is None:
            self.skipped += 1
            return
        if said in self.held_out:
            self.evaluated += 1
            return
        try:
            audio = load_audio()
        except ValueError as error:  # truncated or damaged
            print(f"note: {error}; line left out", file=sys.stderr)
            self.unreadable += 1
            return
        self.add(name, audio, said, speaker)

    def add(self, name: str, audio: np.ndarray, said: str, speaker: str) -> None:
        import soundfile
        import soxr

        every = self.dev_every
        split = "dev" if every and self.kept % every == every - 1 else "train"
        self.kept += 1
        for speed in self.speeds if split == "train" else [1.0]:
            wav = self.out / "wav" / f"{name}_x{speed:g}.wav"
            if not wav.exists():
                wav.parent.mkdir(parents=True, exist_ok=True)
                changed = audio if speed == 1 else soxr.resample(audio, RATE * speed, RATE)
                soundfile.write(wav, changed, RATE, subtype="PCM_16")
            self.rows[split].append({"path": str(wav), "transcript": said, "speaker": speaker})

    def summary(self) -> str:
        return (f"{self.kept} lines kept, {self.skipped} left out (no certain reading), "
                f"{self.evaluated} held out (an evaluated sentence), "
                f"{self.unreadable} unreadable")


def game_parser(doc: str) -> argparse.ArgumentParser:
    """A game reader's command line: its docstring as help, and the flags all readers take."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for wav/, train.csv and dev.csv")
    parser.add_argument("--speeds", nargs="+", type=float, default=[1.0])
    parser.add_argument("--dev-every", type=int, default=25,
                        help="every Nth kept line goes to dev.csv (0: none)")
    parser.add_argument("--held-out", nargs="*", type=Path, default=[], metavar="CORPUS",
                        help="prepared corpora whose dev/test sentences no line may say")
    return parser


def flag_error(args: argparse.Namespace) -> str | None:
    """One line saying what is wrong with the common flags, or None."""
    for corpus in args.held_out:
        if not (corpus / "dataset.json").is_file():
            return f"--held-out {corpus}: no dataset.json (not a prepared corpus)"
    if not all(0.5 <= speed <= 2 for speed in args.speeds):
        return f"--speeds {args.speeds}: each factor must be in [0.5, 2]"
    if args.dev_every < 0 or args.dev_every == 1:
        return f"--dev-every {args.dev_every}: 0 (no dev) or 2 and above"
    return None


def run(args: argparse.Namespace, extract, reading=transcript) -> int:
    """Check the common flags, call ``extract(writer)`` and write the manifests; a missing or
    unknown game is one error line."""
    error = flag_error(args)
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()  # the manifests name the WAVs by absolute path
    writer = LineWriter(out, args.speeds, args.dev_every, held_out_sentences(args.held_out),
                        reading)
    try:
        extract(writer)
    except GameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not writer.rows["train"]:
        print("error: no speech lines extracted", file=sys.stderr)
        return 1
    for split, split_rows in writer.rows.items():
        if split_rows:
            write_csv(out / f"{split}.csv", split_rows)
            print(f"{out / f'{split}.csv'}: {len(split_rows)} utterances", file=sys.stderr)
    return 0
