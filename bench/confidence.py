"""Do word confidences separate right words from wrong ones? (issue #35)

    python bench/confidence.py --model ds2_small_en --data DIR [--split test] [--label NAME]

Transcribes a prepared split with `ds2 transcribe --format json`'s definitions (greedy; see
ds2_tf/decoding/alignment.py), aligns each hypothesis to its reference with jiwer, and compares
the confidence of hypothesis words that match their reference word with that of the others
(substituted or inserted). Also the share of wrong words among the least confident tenth.
Results: bench/results/confidence_LABEL.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ds2_small_en")
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--label", default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    import jiwer

    import ds2_tf
    from tfrecords_tools.writer import split_examples

    examples = list(split_examples(args.data, args.split))
    waves = [np.frombuffer(e["audio"], "<i2").astype(np.float32) / 32768 for e in examples]
    recognizer = ds2_tf.load_model(args.model)
    transcripts = recognizer.transcripts(waves)
    right, wrong = [], []
    for example, transcript in zip(examples, transcripts):
        confidences = [w.confidence for w in transcript.words]
        if not confidences:
            continue
        alignment = jiwer.process_words([example["transcript"] or "-"],
                                        [transcript.text]).alignments[0]
        for chunk in alignment:
            target = right if chunk.type == "equal" else wrong
            target += confidences[chunk.hyp_start_idx: chunk.hyp_end_idx]
    every = sorted([(c, False) for c in right] + [(c, True) for c in wrong])
    tenth = every[: max(1, len(every) // 10)]
    result = {"model": str(args.model), "data": args.data, "split": args.split,
              "utterances": len(examples), "right_words": len(right), "wrong_words": len(wrong),
              "mean_confidence_right": float(np.mean(right)) if right else None,
              "mean_confidence_wrong": float(np.mean(wrong)) if wrong else None,
              "wrong_share_overall": len(wrong) / max(1, len(every)),
              "wrong_share_least_confident_tenth": sum(w for _, w in tenth) / len(tenth)}
    lines = [f"Word confidence (greedy, `ds2_tf/decoding/alignment.py`) of `{args.model}` on "
             f"{args.split} of `{args.data}` ({len(examples)} utterances).", "",
             "| hypothesis words | count | mean confidence |", "|---|---|---|",
             f"| right (match the reference) | {len(right)} | "
             f"{result['mean_confidence_right']:.3f} |",
             f"| wrong (substituted or inserted) | {len(wrong)} | "
             f"{result['mean_confidence_wrong']:.3f} |", "",
             f"Wrong words are {100 * result['wrong_share_overall']:.1f} % of all hypothesis "
             f"words and {100 * result['wrong_share_least_confident_tenth']:.1f} % of the least "
             f"confident tenth."]
    save(args.out, f"confidence_{args.label or Path(str(args.model)).name}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
