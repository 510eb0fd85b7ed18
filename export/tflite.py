"""TFLite: waveform [1, N] (any N) → log_probs [1, T, V]; builtin ops only; decoding in numpy.

Converted with ``TFLiteConverter.from_saved_model`` from a batch-1 SavedModel: neither
tf.lite.Interpreter nor ai-edge-litert runs Flex ops, and a dynamic batch does not convert, while
batch 1 with a dynamic length does. Float32 always (a mixed-precision run is rebuilt in float32),
optionally with dynamic-range int8 weights.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from ds2_tf.config import RunConfig
from ds2_tf.decoding.ctc import greedy_ids
from ds2_tf.model.deepspeech2 import rebuild_with_compute_paths
from tfrecords_tools.alphabet import Alphabet


def tflite_function(model):
    def infer(waveform):
        num_samples = tf.fill([1], tf.shape(waveform)[1])
        out = model({"waveform": waveform, "num_samples": num_samples}, training=False)
        return {"log_probs": tf.nn.log_softmax(tf.cast(out["logits"], tf.float32), axis=-1)}

    return infer


def convert(model, int8: bool = False, stacked: bool = True) -> bytes:
    """Keras model → .tflite bytes (builtin ops only; int8 = dynamic-range weight quantization).

    The model is rebuilt, same weights, with the compute paths TFLite runs: the RNNs as one
    stacked, unrolled loop per layer (``rnn_loop="stacked"``), which TFLite runs faster than
    Keras's per-direction loops, whose cost grows with utterance length (bench/export_latency.py;
    ``stacked=False`` keeps Keras's loops for that comparison),
    and the conv layers with builtin ops only (``conv_algorithm="tflite"``: no IRFFT2D)."""
    model = rebuild_with_compute_paths(model, conv_algorithm="tflite",
                                       rnn_loop="stacked" if stacked else "keras",
                                       model_parallel="none")
    with tempfile.TemporaryDirectory() as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", tflite_function(model),
                             input_signature=[tf.TensorSpec([1, None], tf.float32, name="waveform")])
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if int8:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()


def op_names(blob: bytes) -> set[str]:
    """Operator names in a .tflite model (custom/Flex ops show up as their custom names)."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        tf.lite.experimental.Analyzer.analyze(model_content=blob)
    return set(re.findall(r"Op#\d+ (\w+)\(", buffer.getvalue()))


def export_tflite(model, config: RunConfig, alphabet: Alphabet, out_dir: str | Path,
                  name: str = "ds2", int8: bool = False) -> list[Path]:
    """Write ``name.tflite`` (and ``name.int8.tflite``) with alphabet.json and config.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for quantize in ((False, True) if int8 else (False,)):
        blob = convert(model, int8=quantize)
        bad = {op for op in op_names(blob) if op.startswith("Flex") or op == "CUSTOM"}
        if bad:
            raise RuntimeError(f"TFLite conversion produced non-builtin ops {sorted(bad)}")
        path = out_dir / f"{name}{'.int8' if quantize else ''}.tflite"
        path.write_bytes(blob)
        written.append(path)
    alphabet.save(out_dir / "alphabet.json")
    config.save(out_dir / "config.json")
    return written


class TFLiteRecognizer:
    """Runs an exported .tflite file: waveform → log-probs → greedy transcript (numpy only)."""

    def __init__(self, path: str | Path, num_threads: int = 1, runtime: str = "litert"):
        path = Path(path)
        self.alphabet = Alphabet.load(path.parent / "alphabet.json")
        self.config = json.loads((path.parent / "config.json").read_text())
        if runtime == "litert":
            from ai_edge_litert.interpreter import Interpreter
        else:
            Interpreter = tf.lite.Interpreter
        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._length = None

    def log_probs(self, waveform: np.ndarray) -> np.ndarray:
        waveform = np.asarray(waveform, np.float32).reshape(1, -1)
        if waveform.shape[1] != self._length:
            self.interpreter.resize_tensor_input(self._input, list(waveform.shape))
            self.interpreter.allocate_tensors()
            self._length = waveform.shape[1]
        self.interpreter.set_tensor(self._input, waveform)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)[0]

    def transcribe(self, waveform: np.ndarray) -> str:
        log_probs = self.log_probs(waveform)
        return self.alphabet.decode(greedy_ids(log_probs, len(log_probs), self.alphabet.blank_index))
