"""Decoding speed: seconds of decoding per second of audio, one core, for greedy, CTC beam search
(tf.nn.ctc_beam_search_decoder) and LM beam search (pyctcdecode + kenlm), at beam 100.

    python bench/decode_speed.py --run RUN --data DIR --split test --lm LM.arpa [--label TEXT]

The model's posteriors matter: a well-trained model keeps few candidates per frame after the
paper's pruning, a weak one many. Writes decode_speed_<label>.json/.md under --out.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report import save  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--lm", required=True)
    parser.add_argument("--beam-width", type=int, default=100)
    parser.add_argument("--label", default="run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from ds2_tf.decoding.ctc import beam_decode, greedy_decode, log_softmax
    from ds2_tf.evaluation.evaluate import split_outputs
    from ds2_tf.decoding.lm_beam import LMDecoder, LMDecoderConfig, prune_candidates
    from ds2_tf.evaluation.metrics import error_rates
    from ds2_tf.model.run_dir import load_run

    model, config, alphabet = load_run(args.run)
    _, refs, outputs = split_outputs(model, config, alphabet, args.data, args.split)
    log_probs = [(log_softmax(lp), n) for lp, n in outputs]
    # output frames → audio seconds: each output frame spans time_stride hops
    audio_s = sum(n for _, n in log_probs) * config.model.time_stride * config.features.hop_ms / 1000
    kept = np.mean([(prune_candidates(lp, 0.99, 40) > -1e8).sum(1).mean() for lp, _ in log_probs])
    methods = {
        "greedy": lambda lp, n: greedy_decode(lp[None], [n], alphabet)[0],
        f"CTC beam {args.beam_width} (TF)": lambda lp, n: beam_decode(lp[None], [n], alphabet,
                                                                      args.beam_width)[0],
    }
    plain = LMDecoder(alphabet, None, LMDecoderConfig(alpha=0.0, beta=0.0, beam_width=args.beam_width))
    methods[f"prefix beam {args.beam_width}, no LM"] = plain.decode
    with_lm = LMDecoder(alphabet, args.lm, LMDecoderConfig(alpha=0.5, beta=1.0, beam_width=args.beam_width))
    methods[f"prefix beam {args.beam_width} + LM (α 0.5, β 1)"] = with_lm.decode
    rows = []
    for name, fn in methods.items():
        fn(*log_probs[0])  # warm-up
        start = time.perf_counter()
        hyps = [fn(lp, n) for lp, n in log_probs]
        seconds = time.perf_counter() - start
        rates = error_rates(refs, hyps)
        rows.append({"decoder": name, "s_per_audio_s": seconds / audio_s, "wer": rates["wer"],
                     "cer": rates["cer"]})
    result = {"label": args.label, "run": args.run, "split": args.split, "utterances": len(refs),
              "audio_seconds": audio_s, "candidates_per_frame": float(kept), "rows": rows,
              "date": time.strftime("%Y-%m-%d")}
    lines = [f"{args.label}: {len(refs)} utterances, {audio_s:.0f} s of audio, "
             f"{kept:.1f} candidates per frame after pruning (p 0.99, top 40); one core.", "",
             "| decoder | s per audio s | WER | CER |", "|---|---|---|---|"]
    lines += [f"| {r['decoder']} | {r['s_per_audio_s']:.5f} | {100 * r['wer']:.1f}% | "
              f"{100 * r['cer']:.1f}% |" for r in rows]
    save(args.out, f"decode_speed_{args.label}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
