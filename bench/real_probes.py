"""Is the real-recording gap at the input? Greedy CER of one model on real recordings after
simple input changes (level, band, spectral tilt, speed, tempo, pitch, trimmed silence), and
optionally with batch-norm statistics taken from each utterance itself (AdaBN); with each, the
share of p, t, k written b, d, g (bench/stop_voicing.py), the error that most separates real
speech from synthetic.

    python bench/real_probes.py --run ds2_small_en \
        --real-csv STATE/eval/real_speech/source/asterisk_dev.csv --label real_probes_v11 [--adabn]

If a level, band, speed or voice mismatch (or a shift of the features' distribution) caused the
errors, one of these would lower the CER a lot, and would say which training augmentation to
widen. Run it on a dev split (``asterisk_dev``), never on a reported one, when it is used to
choose. Diagnostics only: the AdaBN row uses the test audio's own statistics, which a benchmark
result must not. Transcribed in length-sorted batches by the traced recognizer (``--adabn`` runs
the Keras model eagerly, one utterance at a time: slow).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402
from stop_voicing import substitutions_of, voicing  # noqa: E402
from tfrecords_tools.audio_effects import band_pass, pitch_shift, trim_silence  # noqa: E402

RATE = 16000


def band(x: np.ndarray, low: float = 0.0, high: float = RATE / 2 + 1) -> np.ndarray:
    return band_pass(x, RATE, low, high).astype(np.float32)


def rms_to(x: np.ndarray, dbfs: float = -21.4) -> np.ndarray:
    """-21.4 dBFS: the median RMS of the synthetic training utterances (measured)."""
    return (x * 10 ** (dbfs / 20) / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def emphasis(x: np.ndarray, a: float) -> np.ndarray:
    """First-order tilt at the input's RMS: 1 − a·z⁻¹ (a > 0 lifts the highs) or, for a < 0,
    its inverse 1 / (1 − |a|·z⁻¹) (lifts the lows), as train.spectral_tilt draws it."""
    if a >= 0:
        y = np.convolve(x, [1.0, -a])[: len(x)]
    else:
        y = np.empty(len(x))
        previous = 0.0
        for i, sample in enumerate(x.astype(np.float64)):
            previous = sample - a * previous
            y[i] = previous
    return (y * np.sqrt(np.mean(x ** 2) / max(np.mean(y ** 2), 1e-20))).astype(np.float32)


def faster(x: np.ndarray, factor: float) -> np.ndarray:
    n = int(len(x) / factor)
    return np.interp(np.arange(n) * factor, np.arange(len(x)), x).astype(np.float32)


PROBES = {
    "as recorded": lambda x: x,
    "DC removed": lambda x: x - x.mean(),
    "high-pass 100 Hz": lambda x: band(x, 100),
    "high-pass 200 Hz": lambda x: band(x, 200),
    "low-pass 6.5 kHz": lambda x: band(x, 0, 6500),
    "RMS to -21.4 dBFS": rms_to,
    "pre-emphasis 0.5": lambda x: emphasis(x, 0.5),
    "pre-emphasis 0.9": lambda x: emphasis(x, 0.9),
    "de-emphasis 0.5": lambda x: emphasis(x, -0.5),
    "de-emphasis 0.9": lambda x: emphasis(x, -0.9),
    "high-pass 100 Hz + RMS": lambda x: rms_to(band(x, 100)),
    "0.9x speed": lambda x: faster(x, 0.9),
    "1.1x speed": lambda x: faster(x, 1.1),
    "1.2x speed": lambda x: faster(x, 1.2),
    "0.9x tempo, pitch kept": lambda x: tempo(x, 0.9),
    "1.1x tempo, pitch kept": lambda x: tempo(x, 1.1),
    "1.2x tempo, pitch kept": lambda x: tempo(x, 1.2),
    "pitch −300 cents": lambda x: pitch_shift(x, -300),
    "pitch +300 cents": lambda x: pitch_shift(x, 300),
    "silence trimmed to 0.15 s": trim_silence,
}


def tempo(x: np.ndarray, factor: float) -> np.ndarray:
    """``factor``× faster with the pitch (and formants) put back: speed, then sox's pitch."""
    return pitch_shift(faster(x, factor), -1200 * np.log2(factor))


def main(argv: list[str] | None = None) -> int:
    import ds2_tf
    from ds2_tf.evaluation.metrics import error_rates
    from tfrecords_tools.audio import load_waveform

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a run directory or a released model name")
    parser.add_argument("--real-csv", required=True, help="path,transcript rows (bench/accuracy, "
                        "or bench/real_speech.py's source/SPLIT.csv)")
    parser.add_argument("--label", default="real_probes")
    parser.add_argument("--adabn", action="store_true", help="add the AdaBN row (eager: slow)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    recognizer = ds2_tf.load_model(args.run)
    rows = list(csv.DictReader(open(args.real_csv, newline="")))
    refs = [row["transcript"] for row in rows]
    audio = [load_waveform(row["path"], RATE) for row in rows]

    def scored(probe: str, hyps: list[str]) -> dict:
        return {"probe": probe, **error_rates(refs, hyps), "hypotheses": hyps,
                "devoiced": voicing(*substitutions_of(refs, hyps))["devoiced_to_voiced"]}

    results = []
    for name, probe in PROBES.items():
        results.append(scored(name, recognizer.transcribe([probe(x) for x in audio])))
        print(f"{name}: CER {100 * results[-1]['cer']:.1f} %", flush=True)
    if args.adabn:
        results.append(scored("BN statistics from each utterance (AdaBN)",
                              adabn_transcripts(recognizer, audio)))
    lines = [f"Greedy CER / WER of `{args.run}` on {len(rows)} real recordings "
             f"(`{Path(args.real_csv).name}`) after each input change (diagnostic).", "",
             "| probe | CER | WER | p, t, k → b, d, g |", "|---|---|---|---|"]
    lines += [f"| {r['probe']} | {100 * r['cer']:.1f} % | {100 * r['wer']:.1f} % | "
              f"{100 * r['devoiced']:.1f} % |" for r in results]
    save(args.out, args.label, {"run": args.run, "real_csv": args.real_csv, "results": results},
         lines)
    return 0


def adabn_transcripts(recognizer, audio) -> list[str]:
    """Each utterance through the Keras model with training=True (its own BN statistics)."""
    import tensorflow as tf

    model = recognizer.model
    saved = [w.numpy() for w in model.non_trainable_weights]
    hyps = []
    for x in audio:
        out = model({"waveform": tf.constant(x[None]), "num_samples": tf.constant([len(x)])},
                    training=True)
        hyps.append(recognizer.decode_fn(out["logits"].numpy(), out["output_length"].numpy())[0])
        for weight, value in zip(model.non_trainable_weights, saved):
            weight.assign(value)  # training=True moved the BN averages: put them back
    return hyps


if __name__ == "__main__":
    sys.exit(main())
