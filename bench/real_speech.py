"""Transcribed human speech that installs from the package registries, as evaluation splits.

    python bench/real_speech.py --out DIR      # → DIR: a prepared corpus (ds2 evaluate --split S)
    python bench/real_speech.py --combine OUT  # OUT/eval-real_all-*: from the three splits'
                                               # `ds2 evaluate` reports (no second model run)

Every training utterance of this project is synthetic, so these recordings are its only measure of
how a model does on people. No public corpus can be downloaded here; what the package registries
carry is:

  real      Debian's ``pocketsphinx-testdata``: five LibriVox read-speech sentences, five spoken
            card names and "go forward ten meters" (11 utterances, 3 speakers). Every result
            before 2026-12-04 used this split alone, so it keeps its name.
  asterisk  the Asterisk PBX's English prompts (``asterisk-core-sounds-en-g722``, with the
            transcript list of ``asterisk-core-sounds-en``): one professional speaker (Allison
            Smith), studio recordings stored as G.722 wideband (16 kHz, decoded by the ``g722``
            pip package). Prompts whose text has digits, symbols or bracketed non-speech are left
            out rather than guessed ("dial 500" can be read several ways), and so are the spoken
            letter names (the reference "j" is said "jay").
  alsa      alsa-utils' channel-test prompts ("front left", ...): 8 two-word recordings, 48 kHz,
            resampled here to 16 kHz.
  real_all  the three together.
  asterisk_dev, asterisk_test
            Asterisk's prompts in two fixed halves (by a hash of the prompt's name): the one
            speaker's dev half, on which changes aimed at real speech are chosen, and the test
            half that reports them without that choice in it. The same speaker is in both.

A source that is not installed is reported in one line and skipped; the others are still built.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tfrecords_tools.asterisk_prompts import decode_g722, transcripts  # noqa: E402
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TEXT = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ALSA = Path("/usr/share/sounds/alsa")
PS_MODEL = Path("/usr/share/pocketsphinx/model/en-us")
FIELDS = ["path", "transcript", "speaker"]


def pocketsphinx_rows(work: Path) -> list[dict]:
    """pocketsphinx-testdata's transcribed recordings (16 kHz mono); goforward.raw becomes a WAV
    in ``work``."""
    rows = []
    for folder in ("librivox", "cards"):
        trans = next((POCKETSPHINX / folder).glob("*transcription"), None)
        if trans is None:
            continue
        for line in trans.read_text().splitlines():
            match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*$", line)
            if not match:
                continue
            text, utt = " ".join(match.group(1).split()).lower(), match.group(2)
            wav = POCKETSPHINX / folder / f"{utt}.wav"
            if wav.exists():
                rows.append({"path": str(wav), "transcript": text, "speaker": folder})
    raw = POCKETSPHINX / "goforward.raw"
    if raw.exists() and shutil.which("sox"):
        work.mkdir(parents=True, exist_ok=True)
        wav = work / "goforward.wav"
        subprocess.run(["sox", "-t", "raw", "-r", "16000", "-e", "signed", "-b", "16", "-c", "1",
                        str(raw), str(wav)], check=True)
        rows.append({"path": str(wav), "transcript": "go forward ten meters", "speaker": "goforward"})
    return rows


def asterisk_rows(work: Path) -> list[dict]:
    """The G.722 prompts decoded to 16-bit 16 kHz WAVs in ``work`` (skipped when decoded before)."""
    import soundfile

    prompts = transcripts(gzip.open(ASTERISK_TEXT, "rt", encoding="utf-8").read())
    rows = []
    for name, text in sorted(prompts.items()):
        source = ASTERISK / f"{name}.g722"
        if not source.exists():
            continue
        wav = work / f"{name.replace('/', '__')}.wav"
        if not wav.exists():
            wav.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(wav, decode_g722(source), 16000, subtype="PCM_16")
        rows.append({"path": str(wav), "transcript": text, "speaker": "asterisk:allison"})
    return rows


def alsa_rows(work: Path) -> list[dict]:
    """alsa-utils' spoken channel names, resampled from 48 kHz to 16 kHz mono WAVs in ``work``."""
    import soundfile
    import soxr

    rows = []
    for source in sorted(ALSA.glob("*.wav")):
        if source.stem == "Noise":
            continue
        wav = work / source.name
        if not wav.exists():
            audio, rate = soundfile.read(source, dtype="float32", always_2d=True)
            work.mkdir(parents=True, exist_ok=True)
            soundfile.write(wav, soxr.resample(audio.mean(axis=1), rate, 16000), 16000,
                            subtype="PCM_16")
        rows.append({"path": str(wav), "transcript": source.stem.replace("_", " ").lower(),
                     "speaker": "alsa"})
    return rows


def asterisk_half(name: str) -> str:
    """asterisk_dev or asterisk_test for a prompt's WAV stem (its utterance id): fixed by the
    SHA-1 of the name, so adding or dropping a prompt moves no other."""
    return "asterisk_dev" if hashlib.sha1(name.encode("utf-8")).digest()[0] % 2 == 0 \
        else "asterisk_test"


def asterisk_halves(rows: list[dict]) -> dict[str, list[dict]]:
    halves = {"asterisk_dev": [], "asterisk_test": []}
    for row in rows:
        halves[asterisk_half(Path(row["path"]).stem)].append(row)
    return halves


SOURCES = {  # split → (builder, what to install when it is missing, the path that proves it is)
    "real": (pocketsphinx_rows, "apt-get install pocketsphinx-testdata sox", POCKETSPHINX),
    "asterisk": (asterisk_rows, "apt-get install asterisk-core-sounds-en-g722; pip install g722",
                 ASTERISK_TEXT),
    "alsa": (alsa_rows, "apt-get install alsa-utils", ALSA),
}


def build_manifests(work: Path) -> dict[str, Path]:
    """One CSV per available source plus ``real_all``; a missing source is named on stderr."""
    manifests, everything = {}, []
    for split, (builder, install, marker) in SOURCES.items():
        if not marker.exists():
            print(f"note: {split}: {marker} missing ({install}); split skipped", file=sys.stderr)
            continue
        try:
            rows = builder(work / split)
        except ImportError as error:
            print(f"note: {split}: {error} ({install}); split skipped", file=sys.stderr)
            continue
        if not rows:
            print(f"note: {split}: no transcribed recordings found; split skipped", file=sys.stderr)
            continue
        manifests[split] = write_manifest(work / f"{split}.csv", rows)
        everything += rows
        if split == "asterisk":
            for half, half_rows in asterisk_halves(rows).items():
                manifests[half] = write_manifest(work / f"{half}.csv", half_rows)
        print(f"{split}: {len(rows)} utterances", file=sys.stderr)
    if sum(split in manifests for split in SOURCES) > 1:
        manifests["real_all"] = write_manifest(work / "real_all.csv", everything)
    return manifests


def pocketsphinx_rates(rows: list[dict]) -> dict:
    """CER/WER of pocketsphinx (its US English acoustic model and LM): the classical reference."""
    from ds2_tf.evaluation.metrics import error_rates
    hyps = []
    for row in rows:
        out = subprocess.run(["pocketsphinx_continuous", "-infile", row["path"],
                              "-hmm", str(PS_MODEL / "en-us"), "-lm", str(PS_MODEL / "en-us.lm.bin"),
                              "-dict", str(PS_MODEL / "cmudict-en-us.dict"), "-logfn", os.devnull],
                             capture_output=True, text=True, check=True).stdout
        hyps.append(" ".join(out.split()).lower())
    rates = error_rates([r["transcript"] for r in rows], hyps)
    return {**rates, "num_utterances": len(rows), "hypotheses": hyps}


def score_pocketsphinx(manifests: dict[str, Path], results_dir: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # ROOT is on it since import
    from report import save

    if not shutil.which("pocketsphinx_continuous"):
        print("note: pocketsphinx_continuous missing (apt-get install pocketsphinx); not scored",
              file=sys.stderr)
        return
    result, lines = {}, ["pocketsphinx 0.8 (`pocketsphinx_continuous`, en-us acoustic model and "
                         "LM) on the real-speech splits of bench/real_speech.py: the classical "
                         "reference for ds2_small_en's real figures (docs/models.md).", "",
                         "| split | utterances | CER | WER |", "|---|---|---|---|"]
    from concurrent.futures import ThreadPoolExecutor

    from ds2_tf.evaluation.metrics import error_rates

    refs, hyps = [], []
    for split, manifest in manifests.items():
        with open(manifest, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if split == "real_all":  # the union: scored from the other splits' hypotheses
            rates = {**error_rates(refs, hyps), "num_utterances": len(refs)}
        else:
            with ThreadPoolExecutor(os.cpu_count() or 1) as pool:  # one process per utterance
                parts = list(pool.map(lambda row: pocketsphinx_rates([row]), rows))
            split_hyps = [h for part in parts for h in part["hypotheses"]]
            rates = {**error_rates([r["transcript"] for r in rows], split_hyps),
                     "num_utterances": len(rows), "hypotheses": split_hyps}
            refs += [r["transcript"] for r in rows]
            hyps += split_hyps
        result[split] = rates
        lines.append(f"| {split} | {rates['num_utterances']} | {100 * rates['cer']:.1f} % | "
                     f"{100 * rates['wer']:.1f} % |")
    save(results_dir, "real_speech_pocketsphinx", result, lines)


PARTS = ("real", "asterisk", "alsa")  # real_all is exactly these


def write_report(results_dir: Path, split: str, decoder: str, rows: list[dict],
                 extra: dict) -> dict:
    """eval-SPLIT-DECODER.{tsv,json} as ``ds2 evaluate --report`` writes them."""
    from ds2_tf.evaluation.metrics import error_rates

    out = results_dir / f"eval-{split}-{decoder}.tsv"
    with open(out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["utt_id", "wer", "cer", "reference", "hypothesis"],
                                delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    result = {**error_rates([r["reference"] for r in rows], [r["hypothesis"] for r in rows]),
              "num_utterances": len(rows), "decoder": decoder, "split": split,
              "report": str(out), **extra}
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def split_asterisk_report(results_dir: Path, decoder: str) -> None:
    """eval-asterisk_{dev,test}-DECODER.* from the whole Asterisk split's report (the model's
    output per utterance does not depend on the split it was read from)."""
    report = results_dir / f"eval-asterisk-{decoder}.tsv"
    if not report.is_file():
        return
    with open(report, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    data = json.loads(report.with_suffix(".json").read_text())["data"]
    for half in ("asterisk_dev", "asterisk_test"):
        write_report(results_dir, half, decoder,
                     [r for r in rows if asterisk_half(r["utt_id"]) == half],
                     {"data": data, "split_from": "asterisk"})


def combine_reports(results_dir: Path, decoder: str) -> dict | None:
    """``eval-real_all-DECODER.{tsv,json}`` in ``results_dir`` from the three splits' reports
    of ``ds2 evaluate --report`` (corpus-level rates over their union, as ``ds2 evaluate`` on
    real_all would give: the model's outputs per utterance do not depend on the split), and
    Asterisk's two halves from its report. None, with a one-line note, when a part's report is
    missing."""
    rows, sources = [], []
    for split in PARTS:
        report = results_dir / f"eval-{split}-{decoder}.tsv"
        if not report.is_file():
            print(f"note: {report} missing; real_all ({decoder}) not combined", file=sys.stderr)
            return None
        with open(report, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle, delimiter="\t"))
        sources.append(json.loads(report.with_suffix(".json").read_text())["data"])
    split_asterisk_report(results_dir, decoder)
    return write_report(results_dir, "real_all", decoder, rows,
                        {"data": sources[0], "combined_from": list(PARTS)})


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="prepared corpus to write (TFRecords)")
    parser.add_argument("--combine", metavar="RESULTS_DIR", default=None,
                        help="write RESULTS_DIR/eval-real_all-{greedy,lm}.* from its real, "
                             "asterisk and alsa reports, and stop")
    parser.add_argument("--work", default=None,
                        help="decoded WAVs and manifests (default: OUT/source)")
    parser.add_argument("--pocketsphinx", metavar="RESULTS_DIR", default=None,
                        help="also score pocketsphinx on every split → "
                             "RESULTS_DIR/real_speech_pocketsphinx.{json,md}")
    args = parser.parse_args(argv)
    if args.combine:
        combined = [combine_reports(Path(args.combine), decoder) for decoder in ("greedy", "lm")]
        return 0 if any(combined) else 1
    if not args.out:
        parser.error("--out is required (or --combine RESULTS_DIR)")
    out = Path(args.out)
    manifests = build_manifests(Path(args.work) if args.work else out / "source")
    if not manifests:
        print("error: no source of real speech is installed (see bench/real_speech.py)",
              file=sys.stderr)
        return 1
    if args.pocketsphinx:
        score_pocketsphinx(manifests, args.pocketsphinx)
    pairs = [f"{split}={path}" for split, path in manifests.items()]
    return subprocess.run([sys.executable, "-m", "ds2_tf.cli", "prepare", *pairs, "--out", str(out),
                           "--alphabet", "english", "--unknown-chars", "map", "--preset", "small",
                           "--overwrite"], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
