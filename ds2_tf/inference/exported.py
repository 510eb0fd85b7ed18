"""Run an exported model (TF Serving SavedModel or .tflite) the way a run directory runs.

Both exports carry ``alphabet.json`` and ``config.json`` (the frame stride for word times), so
``ds2 transcribe --model EXPORT`` gives the same outputs as the run, timestamps included. This
needs only TensorFlow (SavedModel) or a TFLite interpreter, none of the export code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ds2_tf.config import RunConfig
from tfrecords_tools.alphabet import Alphabet


def export_kind(path: str | Path) -> str | None:
    """"savedmodel" (a version directory, or a TF Serving base path holding versions),
    "tflite", or None for anything else."""
    path = Path(path)
    if path.is_file() and path.suffix == ".tflite":
        return "tflite"
    return "savedmodel" if saved_model_dir(path) is not None else None


def saved_model_dir(path: Path) -> Path | None:
    """The SavedModel directory: ``path`` itself, or its newest numeric version."""
    if (path / "saved_model.pb").exists():
        return path
    if not path.is_dir():
        return None
    versions = sorted((p for p in path.iterdir() if p.name.isdigit() and
                       (p / "saved_model.pb").exists()), key=lambda p: int(p.name))
    return versions[-1] if versions else None


def assets_folder(path: str | Path) -> Path:
    """Where an export keeps config.json, alphabet.json and the tuned LM (lm.json and its file):
    beside a .tflite file, or in a SavedModel's ``assets.extra/``."""
    path = Path(path)
    if export_kind(path) == "tflite":
        return path.parent
    return (saved_model_dir(path) or path) / "assets.extra"


def export_assets(path: Path) -> tuple[RunConfig, Alphabet]:
    folder = assets_folder(path)
    for name in ("config.json", "alphabet.json"):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder / name}: not found; this export lacks the assets "
                                    "that decoding needs (re-export it with `ds2 export`)")
    return RunConfig.load(folder / "config.json"), Alphabet.load(folder / "alphabet.json")


def load_export(path: str | Path):
    """(infer, config, alphabet): ``infer({"waveform" [B, N], "num_samples" [B]})`` returns
    ``{"logits": log-probs [B, T, V], "output_length": [B]}`` like the Keras model."""
    path = Path(path)
    if export_kind(path) == "tflite":
        config, alphabet = export_assets(path)
        return tflite_infer(path, config), config, alphabet
    directory = saved_model_dir(path)
    config, alphabet = export_assets(directory)
    import tensorflow as tf

    serving = tf.saved_model.load(str(directory)).signatures["serving_default"]

    def infer(batch):
        out = serving(waveform=tf.constant(batch["waveform"], tf.float32),
                      num_samples=tf.constant(batch["num_samples"], tf.int32))
        return {"logits": out["log_probs"], "output_length": out["output_length"]}

    return infer, config, alphabet


def tflite_infer(path: Path, config: RunConfig):
    """TFLite models take one waveform at a time ([1, N]): rows run one by one, padded back."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]

    def infer(batch):
        rows = []
        for wave, n in zip(batch["waveform"], batch["num_samples"]):
            interpreter.resize_tensor_input(index, [1, int(n)])
            interpreter.allocate_tensors()
            interpreter.set_tensor(index, np.asarray(wave[: int(n)], np.float32)[None])
            interpreter.invoke()
            rows.append(interpreter.get_tensor(output)[0])
        frames = max(len(r) for r in rows)
        logits = np.full((len(rows), frames, rows[0].shape[-1]), -1e9, np.float32)
        for k, row in enumerate(rows):
            logits[k, : len(row)] = row
        return {"logits": logits, "output_length": np.array([len(r) for r in rows], np.int32)}

    return infer
