"""Is the real-recording gap at the input? Greedy CER of one run on the real recordings after
simple input changes, and with batch-norm statistics taken from each utterance itself (AdaBN).

    python bench/real_probes.py --run bench/out/accuracy/k10noise30/run \
        --real-csv bench/out/accuracy/k10noise30/real.csv [--label real_probes]

If a level, band or speed mismatch (or a shift of the features' distribution) caused the errors,
one of these would lower the CER a lot. Diagnostics only: the AdaBN row uses the test audio's own
statistics, which a benchmark result must not.
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
from tfrecords_tools.audio_effects import band_pass  # noqa: E402

RATE = 16000


def band(x: np.ndarray, low: float = 0.0, high: float = RATE / 2 + 1) -> np.ndarray:
    return band_pass(x, RATE, low, high).astype(np.float32)


def rms_to(x: np.ndarray, dbfs: float = -21.4) -> np.ndarray:
    """-21.4 dBFS: the median RMS of the synthetic training utterances (measured)."""
    return (x * 10 ** (dbfs / 20) / np.sqrt(np.mean(x ** 2))).astype(np.float32)


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
    "high-pass 100 Hz + RMS": lambda x: rms_to(band(x, 100)),
    "0.9x speed": lambda x: faster(x, 0.9),
    "1.1x speed": lambda x: faster(x, 1.1),
    "1.2x speed": lambda x: faster(x, 1.2),
}


def main(argv: list[str] | None = None) -> int:
    import tensorflow as tf

    from ds2_tf.decoding.ctc import make_decoder
    from ds2_tf.evaluation.metrics import error_rates
    from ds2_tf.model.run_dir import load_run
    from tfrecords_tools.audio import load_waveform

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--real-csv", required=True, help="path,transcript rows (bench/accuracy)")
    parser.add_argument("--label", default="real_probes")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args(argv)
    model, _, alphabet = load_run(args.run)
    decode = make_decoder(alphabet, "greedy", None, run_dir=args.run)
    rows = list(csv.DictReader(open(args.real_csv, newline="")))
    refs = [row["transcript"] for row in rows]
    audio = [load_waveform(row["path"], RATE) for row in rows]
    saved = [w.numpy() for w in model.non_trainable_weights]

    def transcribe(waveforms, batch_statistics=False):
        hyps = []
        for x in waveforms:
            out = model({"waveform": tf.constant(x[None]), "num_samples": tf.constant([len(x)])},
                        training=batch_statistics)
            hyps.append(decode(out["logits"].numpy(), out["output_length"].numpy())[0])
        for weight, value in zip(model.non_trainable_weights, saved):
            weight.assign(value)  # training=True moved the BN averages: put them back
        return hyps

    results = []
    for name, probe in PROBES.items():
        hyps = transcribe([probe(x) for x in audio])
        results.append({"probe": name, **error_rates(refs, hyps), "hypotheses": hyps})
    hyps = transcribe(audio, batch_statistics=True)
    results.append({"probe": "BN statistics from each utterance (AdaBN)",
                    **error_rates(refs, hyps), "hypotheses": hyps})
    lines = [f"Greedy CER / WER of `{args.run}` on {len(rows)} real recordings after each input "
             "change (diagnostic).", "", "| probe | CER | WER |", "|---|---|---|"]
    lines += [f"| {r['probe']} | {100 * r['cer']:.1f} % | {100 * r['wer']:.1f} % |" for r in results]
    save(args.out, args.label, {"run": args.run, "results": results}, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
