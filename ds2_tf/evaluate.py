"""``ds2 evaluate``: corpus-level WER/CER on a prepared split + a per-utterance report."""
from __future__ import annotations

import csv
from pathlib import Path

import tensorflow as tf

from ds2_tf.data import make_dataset
from ds2_tf.decode import decode
from ds2_tf.metrics import error_rates, utterance_errors
from ds2_tf.run import load_run


def transcribe_split(model, config, alphabet, data_dir, split, decoder="greedy", beam_width=32,
                     limit=None):
    """(utt_ids, references, hypotheses) for every usable utterance of ``split``."""
    infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    ids, refs, hyps = [], [], []
    for x, _, meta in make_dataset(data_dir, split, config, alphabet, with_meta=True, limit=limit):
        out = infer(x)
        hyps += decode(out["logits"].numpy(), out["output_length"].numpy(), alphabet, decoder,
                       beam_width)
        refs += [t.decode("utf-8") for t in meta["transcript"].numpy()]
        ids += [u.decode("utf-8") for u in meta["utt_id"].numpy()]
    return ids, refs, hyps


def evaluate(run_dir, data_dir, split="test", decoder="greedy", beam_width=32, report=None,
             limit=None) -> dict:
    model, config, alphabet = load_run(run_dir)
    ids, refs, hyps = transcribe_split(model, config, alphabet, data_dir, split, decoder,
                                       beam_width, limit)
    if not refs:
        raise ValueError(f"{data_dir}: split {split!r} has no usable utterances")
    rates = error_rates(refs, hyps)
    report = Path(report) if report else Path(run_dir) / f"eval-{split}-{decoder}.tsv"
    with open(report, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["utt_id", "wer", "cer", "reference", "hypothesis"])
        for utt, ref, hyp in zip(ids, refs, hyps):
            wer, cer = utterance_errors(ref, hyp)
            writer.writerow([utt, f"{wer:.4f}", f"{cer:.4f}", ref, hyp])
    return {**rates, "num_utterances": len(refs), "decoder": decoder, "split": split,
            "report": str(report)}
