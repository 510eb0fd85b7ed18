"""``ds2 tune-lm``: grid-search the LM weight α and word bonus β on one or more dev splits and
store the best values beside the run (RUN/lm.json), where evaluate, transcribe and export pick
them up.

Several dev sets (say synthetic dev and a real-speech dev half) count equally: the best setting
has the lowest mean WER over the sets, so a small set of another kind of speech is not outvoted
by a large one. α and β trade the acoustic model against the LM, and that trade differs between
speech the model knows well (a low β suffices) and speech it does not (the LM must fill in more).
"""
from __future__ import annotations

import sys

from ds2_tf.decoding.ctc import log_softmax
from ds2_tf.decoding.lm_beam import LM_JSON, LMDecoder, LMDecoderConfig, save_lm_settings
from ds2_tf.evaluation.evaluate import split_outputs
from ds2_tf.evaluation.metrics import error_rates
from ds2_tf.model.released import outputs_dir
from ds2_tf.model.run_dir import load_run

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
BETAS = (0.0, 0.5, 1.0, 2.0, 3.0)


def tune_lm(run_dir, dev_sets, lm, alphas=ALPHAS, betas=BETAS, beam_width=100, limit=None,
            save=None) -> dict:
    """``dev_sets``: [(data_dir, split), ...]; ``limit``: the first N utterances of each. The
    stored ``dev_wer``/``dev_cer`` are the chosen setting's means over the sets; each grid row
    keeps every set's own rates under ``sets``."""
    model, config, alphabet = load_run(run_dir)
    sets = []
    for data_dir, split in dev_sets:
        _, refs, outputs = split_outputs(model, config, alphabet, data_dir, split, limit)
        if not refs:
            raise ValueError(f"{data_dir}: split {split!r} has no usable utterances")
        sets.append((f"{data_dir}:{split}", refs,
                     [(log_softmax(logits), length) for logits, length in outputs]))
    decoder = LMDecoder(alphabet, lm, LMDecoderConfig(beam_width=beam_width))
    grid = []
    for alpha in alphas:
        for beta in betas:
            decoder.set_weights(alpha, beta)
            per_set = {name: error_rates(refs, [decoder.decode(lp, n) for lp, n in log_probs])
                       for name, refs, log_probs in sets}
            row = {"alpha": alpha, "beta": beta,
                   "wer": sum(r["wer"] for r in per_set.values()) / len(per_set),
                   "cer": sum(r["cer"] for r in per_set.values()) / len(per_set)}
            if len(per_set) > 1:
                row["sets"] = {name: {"wer": r["wer"], "cer": r["cer"]}
                               for name, r in per_set.items()}
            grid.append(row)
            each = "".join(f"  [{100 * r['wer']:.2f}% {100 * r['cer']:.2f}%]"
                           for r in per_set.values()) if len(per_set) > 1 else ""
            print(f"alpha {alpha:<5g} beta {beta:<5g} WER {100 * row['wer']:6.2f}%  "
                  f"CER {100 * row['cer']:6.2f}%{each}", file=sys.stderr)
    best = min(grid, key=lambda row: (row["wer"], row["cer"], row["alpha"]))
    decoder.set_weights(best["alpha"], best["beta"])
    tuned_on = [{"data": str(data_dir), "split": split, "utterances": len(refs)}
                for (data_dir, split), (_, refs, _) in zip(dev_sets, sets)]
    path = save_lm_settings(run_dir, lm, decoder.config,
                            {"tuned_on": tuned_on[0] if len(tuned_on) == 1 else tuned_on,
                             "dev_wer": best["wer"], "dev_cer": best["cer"], "grid": grid},
                            path=save or outputs_dir(run_dir) / LM_JSON)
    return {**best, "settings": str(path)}
