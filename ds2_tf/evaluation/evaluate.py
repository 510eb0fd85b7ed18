"""``ds2 evaluate``: corpus-level WER/CER on a prepared split + a per-utterance report."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import tensorflow as tf

from ds2_tf.data.pipeline import make_dataset
from ds2_tf.decoding.ctc import make_decoder
from ds2_tf.evaluation.metrics import error_rates, utterance_errors
from ds2_tf.model.released import outputs_dir
from ds2_tf.model.run_dir import load_run, run_files


def traced_inference(model, fixed_weights: bool = False):
    """The model in inference mode as one traced function (eager Keras RNNs step in Python).
    ``fixed_weights``: the weights will not change (not a callback during training), so the
    conv front-end may compute what depends only on them once (``reuse_fft_weights``)."""
    if fixed_weights:
        model.frontend.reuse_fft_weights()
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def dataset_outputs(infer, dataset):
    """(ids, refs, [(logits, length)]) for every utterance of a ``with_meta`` dataset."""
    ids, refs, outputs = [], [], []
    for x, _, meta in dataset:
        out = infer(x)
        logits, lengths = out["logits"].numpy(), out["output_length"].numpy()
        outputs += [(logits[i, : lengths[i]], int(lengths[i])) for i in range(len(lengths))]
        refs += [t.decode("utf-8") for t in meta["transcript"].numpy()]
        ids += [u.decode("utf-8") for u in meta["utt_id"].numpy()]
    return ids, refs, outputs


def split_outputs(model, config, alphabet, data_dir, split, limit=None):
    """Model outputs for every usable utterance of ``split``: (ids, refs, [(logits, length)])."""
    return dataset_outputs(traced_inference(model, fixed_weights=True), make_dataset(
        data_dir, split, config, alphabet, with_meta=True, limit=limit))


def decode_outputs(decode_fn, outputs) -> list[str]:
    return [decode_fn(logits[None], [length])[0] for logits, length in outputs]


def read_report(path) -> dict[str, tuple[str, str]]:
    """utt_id → (reference, hypothesis) from a report ``evaluate`` wrote."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["utt_id"]: (row["reference"], row["hypothesis"])
                for row in csv.DictReader(handle, delimiter="\t")}


def evaluate(run_dir, data_dir, split="test", decoder="greedy", beam_width=None, report=None,
             limit=None, **lm_options) -> dict:
    _, alphabet = run_files(run_dir)  # set the decoder up first: fail fast on a missing LM
    decode_fn = make_decoder(alphabet, decoder, beam_width, run_dir=run_dir, **lm_options)
    model, config, alphabet = load_run(run_dir)
    ids, refs, outputs = split_outputs(model, config, alphabet, data_dir, split, limit)
    hyps = decode_outputs(decode_fn, outputs)
    if not refs:
        raise ValueError(f"{data_dir}: split {split!r} has no usable utterances")
    rates = error_rates(refs, hyps)
    report = Path(report) if report else outputs_dir(run_dir) / f"eval-{split}-{decoder}.tsv"
    with open(report, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["utt_id", "wer", "cer", "reference", "hypothesis"])
        for utt, ref, hyp in zip(ids, refs, hyps):
            wer, cer = utterance_errors(ref, hyp)
            writer.writerow([utt, f"{wer:.4f}", f"{cer:.4f}", ref, hyp])
    result = {**rates, "num_utterances": len(refs), "decoder": decoder, "split": split,
              "data": str(data_dir), "report": str(report)}
    report.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")  # for ds2 report
    return result
