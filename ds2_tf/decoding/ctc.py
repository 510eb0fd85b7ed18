"""CTC decoding: greedy (numpy and in-graph) and beam search, blank last."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrecords_tools.alphabet import Alphabet


def greedy_ids(log_probs: np.ndarray, length: int, blank: int) -> list[int]:
    """Best path: argmax per frame, merge repeats, drop blanks."""
    best = np.argmax(log_probs[:length], axis=-1)
    out, previous = [], -1
    for idx in best:
        if idx != previous and idx != blank:
            out.append(int(idx))
        previous = idx
    return out


def greedy_decode(logits, lengths, alphabet: Alphabet) -> list[str]:
    logits, lengths = np.asarray(logits), np.asarray(lengths)
    return [alphabet.decode(greedy_ids(logits[i], int(lengths[i]), alphabet.blank_index))
            for i in range(len(lengths))]


def greedy_decode_graph(log_probs, lengths, alphabet: Alphabet) -> tf.Tensor:
    """In-graph greedy decoding → string [B] (for SavedModel signatures)."""
    best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
    valid = tf.sequence_mask(lengths, tf.shape(best)[1])
    previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    keep = valid & (best != previous) & (best != alphabet.blank_index)
    table = tf.constant(list(alphabet.characters) + [""])
    chars = tf.where(keep, tf.gather(table, best), "")
    return tf.strings.reduce_join(chars, axis=1)


def beam_decode(logits, lengths, alphabet: Alphabet, beam_width: int = 32) -> list[str]:
    """`tf.nn.ctc_beam_search_decoder` (its blank is the last class, as ours)."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    decoded, _ = tf.nn.ctc_beam_search_decoder(tf.transpose(logits, [1, 0, 2]),
                                               tf.cast(lengths, tf.int32), beam_width=beam_width,
                                               top_paths=1)
    dense = tf.sparse.to_dense(decoded[0], default_value=-1).numpy()
    return [alphabet.decode([int(i) for i in row if i >= 0]) for row in dense]


def beam_alternatives(logits, alphabet: Alphabet, beam_width: int, n: int) -> list:
    """The ``n`` best paths of one utterance's logits [T, V] as (text, log probability, None):
    TensorFlow's beam search gives no word frames."""
    logits = tf.convert_to_tensor(np.asarray(logits)[:, None], tf.float32)
    decoded, scores = tf.nn.ctc_beam_search_decoder(logits, [logits.shape[0]],
                                                    beam_width=max(beam_width, n), top_paths=n)
    return [(alphabet.decode([int(i) for i in path.values.numpy()]), float(scores[0, k]), None)
            for k, path in enumerate(decoded)]


def decode(logits, lengths, alphabet: Alphabet, decoder: str = "greedy",
           beam_width: int = 32) -> list[str]:
    if decoder == "greedy":
        return greedy_decode(logits, lengths, alphabet)
    if decoder == "beam":
        return beam_decode(logits, lengths, alphabet, beam_width)
    raise ValueError(f"unknown decoder {decoder!r} (greedy or beam)")


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def make_decoder(alphabet: Alphabet, decoder: str = "greedy", beam_width: int | None = None,
                 run_dir=None, lm=None, **lm_options):
    """A callable (logits [B, T, V], lengths [B]) → transcripts.

    ``lm`` decoding takes its LM path and α, β, … from ``RUN/lm.json`` (written by
    ``ds2 tune-lm``; shipped with a released model and with exports) unless given explicitly;
    options left as None keep those values.
    """
    if decoder == "greedy":
        return lambda logits, lengths: decode(logits, lengths, alphabet, decoder)
    if decoder == "beam":
        width = beam_width or 32
        fn = lambda logits, lengths: decode(logits, lengths, alphabet, decoder, width)  # noqa: E731
        fn.beams = lambda logits, n: beam_alternatives(logits, alphabet, width, n)
        return fn
    if decoder != "lm":
        raise ValueError(f"unknown decoder {decoder!r} (greedy, beam or lm)")
    from dataclasses import fields

    from ds2_tf.decoding.lm_beam import LMDecoder, LMDecoderConfig, load_lm_settings

    settings = {}
    if run_dir is not None:  # a run, an export's assets folder or a released model's name
        from ds2_tf.model.released import resolve_run

        settings = load_lm_settings(resolve_run(run_dir)) or {}
    lm = lm or settings.get("lm")
    if not lm:
        raise ValueError("--decoder lm needs --lm LM.arpa (or run `ds2 tune-lm` to store one "
                         "beside the run)")
    values = {f.name: settings[f.name] for f in fields(LMDecoderConfig) if f.name in settings}
    values.update({k: v for k, v in {**lm_options, "beam_width": beam_width}.items()
                   if v is not None})
    lm_decoder = LMDecoder(alphabet, lm, LMDecoderConfig(**values))
    fn = lambda logits, lengths: lm_decoder.decode_batch(log_softmax(logits), lengths)  # noqa: E731
    fn.beams = lambda logits, n: lm_decoder.beams(log_softmax(logits), len(logits), n)
    fn.lm_config = lm_decoder.config  # the α, β, … in use (given, or the run's lm.json)
    return fn
