"""The streaming model as a SavedModel (and TFLite): ``step`` with all state explicit.

The chunked computation itself is :class:`ds2_tf.inference.streaming.StreamingModel`; this module
only writes it out.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import tensorflow as tf

from ds2_tf.config import RunConfig
from ds2_tf.inference.streaming import StreamingModel
from ds2_tf.model.deepspeech2 import portable
from tfrecords_tools.alphabet import Alphabet


def export_streaming(model, config: RunConfig, alphabet: Alphabet, out_dir: str | Path,
                     name: str = "ds2", chunk_frames: int = 32, tflite: bool = True) -> list[Path]:
    """SavedModel (signature ``step``) and, optionally, ``<name>.stream.tflite`` + metadata."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = portable(model)  # no cuDNN ops in a file meant for CPUs and phones
    stream = StreamingModel(model, config, chunk_frames)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("step", stream.step, input_signature=[stream.input_specs()])
    saved = out_dir / "saved_model"
    archive.write_out(str(saved), verbose=False)
    meta = {"chunk_samples": stream.chunk_samples, "chunk_frames": chunk_frames,
            "flush_steps": stream.flush_steps, "state": {k: list(v.shape) for k, v in
                                                         stream.state_specs().items()}}
    (out_dir / "streaming.json").write_text(json.dumps(meta, indent=1) + "\n")
    alphabet.save(out_dir / "alphabet.json")
    config.save(out_dir / "config.json")
    written = [saved]
    if tflite:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["step"])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        path = out_dir / f"{name}.stream.tflite"
        path.write_bytes(converter.convert())
        written.append(path)
    return written
