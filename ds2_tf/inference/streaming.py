"""Streaming inference: fixed audio chunks in, log-probs out, all state explicit.

One ``step`` consumes ``chunk_frames × hop`` samples and returns ``chunk_frames / time_stride``
output frames plus a ``valid`` flag per frame (the pipeline has a fixed delay: the conv layers'
right context and the row convolution's τ future frames). Every stage keeps the tail of its input
as state, aligned so that each output is computed from exactly the inputs whole-utterance inference
uses; left of the start and right of the end the stages see zeros in their *own* domain (zero
features, zero conv outputs, zero RNN outputs), as the whole-utterance model does with its masks.
So the concatenated valid frames equal whole-utterance log-probs (to float rounding) and the
transcripts are identical. After the last chunk (``ended`` = 1, ``num_valid`` = samples in it),
feed empty chunks (``num_valid`` = 0) until :meth:`StreamingModel.flush_steps` are done.

Works for unidirectional models (the ``streaming`` preset); a bidirectional RNN needs the future.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ds2_tf.config import RunConfig
from tfrecords_tools.alphabet import Alphabet
from tfrecords_tools.spectrogram import ceil_div


class StreamingModel(tf.Module):
    def __init__(self, model, config: RunConfig, chunk_frames: int = 32):
        super().__init__(name="streaming")
        if config.model.bidirectional:
            raise ValueError("streaming needs a unidirectional model (e.g. the 'streaming' preset); "
                             "a bidirectional RNN reads the whole utterance")
        features = config.features
        if features.window_samples != 2 * features.hop_samples:
            raise ValueError("streaming assumes window = 2 × hop (20 ms / 10 ms)")
        self.model = model
        self.config = config
        self.stride = config.model.time_stride
        if chunk_frames % self.stride:
            raise ValueError(f"chunk_frames must be a multiple of the time stride {self.stride}")
        self.chunk_frames = chunk_frames
        self.hop = features.hop_samples
        self.chunk_samples = chunk_frames * self.hop
        self.out_frames = chunk_frames // self.stride
        # Per conv layer: how many input frames of history to keep so that outputs stay aligned
        # with whole-utterance inference (output i is centred on input frame stride·i).
        self.conv_plan = []
        first = -1  # global index of the first frame the first step produces
        bins = features.num_bins
        for spec in config.model.conv:
            (k, kf), (s, _) = spec.kernel, spec.strides
            pad = k // 2
            history = next(b for b in range(k - s, k) if (first - b + pad) % s == 0)
            first_out = (first - history + pad) // s
            self.conv_plan.append({"history": history, "stride": s, "first": first,
                                   "bins": bins, "freq_pad": kf // 2})
            bins = spec.output_bins(bins)
            first = first_out
        self.rnn_first = first  # global index of the first RNN frame
        self.tau = config.model.row_conv_future
        # Steps of empty input needed after the last chunk to flush the pipeline's delay.
        delay_frames = (-first) + self.tau + 1
        self.flush_steps = int(np.ceil(delay_frames / self.out_frames)) + 1

    # ---- state ------------------------------------------------------------------------------------
    def state_specs(self) -> dict[str, tf.TensorSpec]:
        specs = {"hop_tail": tf.TensorSpec([1, self.hop], tf.float32, name="hop_tail"),
                 "samples_seen": tf.TensorSpec([1], tf.int32, name="samples_seen"),
                 "total_samples": tf.TensorSpec([1], tf.int32, name="total_samples")}
        channels = 1
        for i, (plan, spec) in enumerate(zip(self.conv_plan, self.config.model.conv)):
            specs[f"conv{i}"] = tf.TensorSpec([1, plan["history"], plan["bins"], channels],
                                              tf.float32, name=f"conv{i}")
            channels = spec.filters
        units = self.config.model.rnn_units
        for i in range(self.config.model.rnn_layers):
            specs[f"rnn{i}_h"] = tf.TensorSpec([1, units], tf.float32, name=f"rnn{i}_h")
            if self.config.model.rnn_type == "lstm":
                specs[f"rnn{i}_c"] = tf.TensorSpec([1, units], tf.float32, name=f"rnn{i}_c")
        if self.tau:
            specs["row_conv"] = tf.TensorSpec([1, self.tau, units], tf.float32, name="row_conv")
        return specs

    def initial_state(self) -> dict[str, np.ndarray]:
        return {name: np.zeros(spec.shape, spec.dtype.as_numpy_dtype)
                for name, spec in self.state_specs().items()}

    def input_specs(self) -> dict[str, tf.TensorSpec]:
        return {"chunk": tf.TensorSpec([1, self.chunk_samples], tf.float32, name="chunk"),
                "num_valid": tf.TensorSpec([1], tf.int32, name="num_valid"),
                "ended": tf.TensorSpec([1], tf.int32, name="ended"),
                **self.state_specs()}

    # ---- one step ---------------------------------------------------------------------------------
    def step(self, inputs: dict) -> dict:
        cfg, model = self.config, self.model
        big = tf.constant(2 ** 30, tf.int32)  # 'no end yet': every index is below it
        chunk = inputs["chunk"] * tf.sequence_mask(inputs["num_valid"], self.chunk_samples,
                                                   tf.float32)
        samples_seen = inputs["samples_seen"][0]
        ended = inputs["ended"][0] > 0
        # total samples: known from the chunk marked ended on (then kept in the state)
        known = inputs["total_samples"][0]
        total = tf.where(known > 0, known, samples_seen + inputs["num_valid"][0])
        total = tf.where(ended, total, big)
        # features: the previous hop + this chunk give chunk_frames complete frames
        x = model.spectrogram.normalized_log_power(tf.concat([inputs["hop_tail"], chunk], 1))
        first_frame = samples_seen // self.hop - 1
        frame_index = first_frame + tf.range(self.chunk_frames)
        num_frames = tf.where(ended, cfg.features.num_frames(total), big)
        x = x * self._keep(frame_index, num_frames)[None, :, None]
        x = x[..., None]
        # conv front-end, each layer with its input history
        new_state = {}
        length = num_frames
        index0 = first_frame
        for i, (plan, conv, norm) in enumerate(zip(self.conv_plan, model.frontend.convs,
                                                   model.frontend.norms)):
            seq = tf.concat([inputs[f"conv{i}"], x], axis=1)
            new_state[f"conv{i}"] = seq[:, -plan["history"]:]
            padded = tf.pad(seq, [[0, 0], [0, 0], [plan["freq_pad"], plan["freq_pad"]], [0, 0]])
            y = norm(conv(padded), training=False)
            y = tf.minimum(tf.nn.relu(y), cfg.model.relu_clip)
            conv_spec = cfg.model.conv[i]
            index0 = (index0 - plan["history"] + conv_spec.kernel[0] // 2) // conv_spec.strides[0]
            length = tf.where(ended, ceil_div(length, conv_spec.strides[0]), big)
            out_index = index0 + tf.range(tf.shape(y)[1])
            x = y * self._keep(out_index, length)[None, :, None, None]
        x = tf.reshape(x, [1, self.out_frames, model.frontend.output_dim])
        out_index = index0 + tf.range(self.out_frames)
        mask = self._keep(out_index, length)[None, :]
        for i, rnn in enumerate(model.rnns):
            state = [inputs[f"rnn{i}_h"]] + ([inputs[f"rnn{i}_c"]] if cfg.model.rnn_type == "lstm" else [])
            x, states = rnn(x, mask=mask, initial_state=state, return_state=True)
            new_state[f"rnn{i}_h"] = states[0]
            if cfg.model.rnn_type == "lstm":
                new_state[f"rnn{i}_c"] = states[1]
        if self.tau:
            seq = tf.concat([inputs["row_conv"], x], axis=1)
            new_state["row_conv"] = seq[:, -self.tau:]
            x = model.row_conv.depthwise(seq)
            out_index = out_index - self.tau
        if model.fc is not None:
            x = tf.minimum(tf.nn.relu(model.fc(x)), cfg.model.relu_clip)
        log_probs = tf.nn.log_softmax(tf.cast(model.classifier(x), tf.float32), axis=-1)
        valid = (out_index >= 0) & (out_index < length)
        new_state.update({
            "hop_tail": chunk[:, -self.hop:],
            "samples_seen": inputs["samples_seen"] + self.chunk_samples,
            "total_samples": tf.reshape(tf.where(ended, total, 0), [1]),
        })
        return {"log_probs": log_probs, "valid": valid[None, :], **new_state}

    @staticmethod
    def _keep(index, length):
        return tf.cast((index >= 0) & (index < length), tf.float32)


class StreamingTranscriber:
    """Feeds audio of any size through a step function; yields partial transcripts.

    Greedy decoding is incremental (each output frame is looked at once), so hours of audio cost
    time in proportion to their length. The partial result is the *open segment*: the text since
    the model last heard a pause of ``endpoint_s`` (only blanks and spaces), or since the word
    that made it longer than ``max_partial_chars`` (speech without pauses), so a partial line stays
    short on a long recording; :meth:`text` is always the whole transcript.
    """

    def __init__(self, step, chunk_samples: int, initial_state: dict, alphabet: Alphabet,
                 flush_steps: int, frame_s: float = 0.02, endpoint_s: float = 0.8,
                 max_partial_chars: int = 200):
        self.step_fn = step
        self.chunk_samples = chunk_samples
        self.state = dict(initial_state)
        self.alphabet = alphabet
        self.flush_steps = flush_steps
        self.pending = np.zeros(0, np.float32)
        self.log_probs: list[np.ndarray] = []
        self.ids: list[int] = []  # best path so far: repeats merged, blanks dropped
        self.segment_start = 0  # index in ``ids`` where the open segment begins
        self._previous = -1  # last frame's best id (repeats merge across chunks too)
        self._quiet = 0  # output frames of blank or space since the last character
        self._endpoint_frames = max(1, round(endpoint_s / frame_s))
        self._space = alphabet.characters.index(" ") if " " in alphabet.characters else -1
        self.max_partial_chars = max_partial_chars

    def _run(self, chunk: np.ndarray, num_valid: int, ended: bool) -> None:
        inputs = {"chunk": chunk[None].astype(np.float32), "num_valid": np.array([num_valid], np.int32),
                  "ended": np.array([int(ended)], np.int32), **self.state}
        out = self.step_fn(inputs)
        valid = np.asarray(out["valid"])[0]
        log_probs = np.asarray(out["log_probs"])[0][valid]
        self.log_probs.append(log_probs)
        self.state = {k: np.asarray(out[k]) for k in self.state}
        blank = self.alphabet.blank_index
        for idx in np.argmax(log_probs, axis=-1).tolist():
            if idx != self._previous and idx != blank:
                self.ids.append(idx)
                open_chars = len(self.ids) - self.segment_start
                if open_chars >= self.max_partial_chars and (
                        idx == self._space or open_chars >= 2 * self.max_partial_chars):
                    self.segment_start = len(self.ids)  # no pause for a long while: a word ends it
            self._previous = idx
            if idx == blank or idx == self._space:
                self._quiet += 1
                if self._quiet == self._endpoint_frames and len(self.ids) > self.segment_start:
                    self.segment_start = len(self.ids)  # a pause: the next words open a segment
            else:
                self._quiet = 0

    def accept(self, samples: np.ndarray) -> str:
        """Audio in; the open segment's partial transcript out."""
        self.pending = np.concatenate([self.pending, np.asarray(samples, np.float32)])
        while len(self.pending) >= self.chunk_samples:
            self._run(self.pending[: self.chunk_samples], self.chunk_samples, False)
            self.pending = self.pending[self.chunk_samples:]
        return self.partial()

    def finish(self) -> str:
        """Flushes the pipeline; returns the whole transcript."""
        last = np.zeros(self.chunk_samples, np.float32)
        last[: len(self.pending)] = self.pending
        self._run(last, len(self.pending), True)
        for _ in range(self.flush_steps):
            self._run(np.zeros(self.chunk_samples, np.float32), 0, True)
        self.pending = np.zeros(0, np.float32)
        return self.text()

    def all_log_probs(self) -> np.ndarray:
        return np.concatenate(self.log_probs) if self.log_probs else np.zeros((0, self.alphabet.num_classes))

    def partial(self) -> str:
        return self.alphabet.decode(self.ids[self.segment_start:]).strip()

    def text(self) -> str:
        return self.alphabet.decode(self.ids)
