"""``ds2 tune-lm``: grid-search the LM weight α and word bonus β on a dev split and store the best
values beside the run (RUN/lm.json), where evaluate, transcribe and export pick them up."""
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


def tune_lm(run_dir, data_dir, lm, split="dev", alphas=ALPHAS, betas=BETAS, beam_width=100,
            limit=None, save=None) -> dict:
    model, config, alphabet = load_run(run_dir)
    _, refs, outputs = split_outputs(model, config, alphabet, data_dir, split, limit)
    if not refs:
        raise ValueError(f"{data_dir}: split {split!r} has no usable utterances")
    log_probs = [(log_softmax(logits), length) for logits, length in outputs]
    decoder = LMDecoder(alphabet, lm, LMDecoderConfig(beam_width=beam_width))
    grid = []
    for alpha in alphas:
        for beta in betas:
            decoder.set_weights(alpha, beta)
            rates = error_rates(refs, [decoder.decode(lp, n) for lp, n in log_probs])
            grid.append({"alpha": alpha, "beta": beta, "wer": rates["wer"], "cer": rates["cer"]})
            print(f"alpha {alpha:<5g} beta {beta:<5g} WER {100 * rates['wer']:6.2f}%  "
                  f"CER {100 * rates['cer']:6.2f}%", file=sys.stderr)
    best = min(grid, key=lambda row: (row["wer"], row["cer"], row["alpha"]))
    decoder.set_weights(best["alpha"], best["beta"])
    path = save_lm_settings(run_dir, lm, decoder.config,
                            {"tuned_on": {"data": str(data_dir), "split": split,
                                          "utterances": len(refs)},
                             "dev_wer": best["wer"], "dev_cer": best["cer"], "grid": grid},
                            path=save or outputs_dir(run_dir) / LM_JSON)
    return {**best, "settings": str(path)}
