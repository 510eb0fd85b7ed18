"""A trained model as one Python object: waveform in, text out (``ds2_tf.load_model``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class Recognizer:
    """A run directory or released model, ready to transcribe 16 kHz mono float waveforms.

    The model runs as one traced function over a padded batch (eager Keras RNNs would step in
    Python), then each utterance is decoded greedily or with the decoder ``make_decoder`` builds.
    """

    def __init__(self, model, config, alphabet, decode_fn):
        import tensorflow as tf

        self.model, self.config, self.alphabet = model, config, alphabet
        self.decode_fn = decode_fn
        self._infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @classmethod
    def load(cls, name_or_path: str | Path = "ds2_small_en", decoder: str = "greedy",
             beam_width: int | None = None, **lm_options) -> "Recognizer":
        from ds2_tf.decoding.ctc import make_decoder
        from ds2_tf.model.run_dir import load_run, run_files

        _, alphabet = run_files(name_or_path)
        decode_fn = make_decoder(alphabet, decoder, beam_width, run_dir=name_or_path, **lm_options)
        model, config, alphabet = load_run(name_or_path)
        return cls(model, config, alphabet, decode_fn)

    def transcribe(self, waveforms, sample_rate_hz: int = 16000):
        """One waveform ([N] float in [-1, 1]) → its text; a list of them → a list of texts."""
        single = isinstance(waveforms, np.ndarray) and waveforms.ndim == 1
        batch = [waveforms] if single else list(waveforms)
        logits, frames = self._outputs(batch, sample_rate_hz)
        texts = [self.decode_fn(logits[i: i + 1, : frames[i]], frames[i: i + 1])[0]
                 for i in range(len(batch))]
        return texts[0] if single else texts

    def transcripts(self, waveforms, sample_rate_hz: int = 16000) -> list:
        """Greedy transcripts with word timings and confidence
        (:class:`ds2_tf.decoding.alignment.Transcript`), one per waveform."""
        from ds2_tf.decoding.alignment import FrameClock, greedy_transcript

        batch = list(waveforms)
        logits, frames = self._outputs(batch, sample_rate_hz)
        clock = FrameClock.of(self.config)
        return [greedy_transcript(logits[i], int(frames[i]), self.alphabet, clock,
                                  len(wave) / sample_rate_hz) for i, wave in enumerate(batch)]

    def _outputs(self, batch, sample_rate_hz):
        """(logits [B, T, V], output frames [B]) of one padded batch."""
        if sample_rate_hz != self.config.features.sample_rate_hz:
            raise ValueError(f"audio at {sample_rate_hz} Hz; the model takes "
                             f"{self.config.features.sample_rate_hz} Hz (resample first)")
        if not batch:
            return np.zeros((0, 0, self.alphabet.num_classes), np.float32), np.zeros(0, np.int32)
        lengths = np.array([len(w) for w in batch], np.int32)
        if lengths.min() < self.config.features.window_samples:
            raise ValueError("a waveform is shorter than one spectrogram window "
                             f"({self.config.features.window_ms:g} ms)")
        padded = np.zeros((len(batch), int(lengths.max())), np.float32)
        for row, wave in zip(padded, batch):
            row[: len(wave)] = np.asarray(wave, np.float32)
        out = self._infer({"waveform": padded, "num_samples": lengths})
        return out["logits"].numpy(), out["output_length"].numpy()
