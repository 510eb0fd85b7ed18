"""``ds2 export``: a trained run → SavedModel (TF Serving layout) and, on request, TFLite files."""
from __future__ import annotations

import sys
from pathlib import Path

from ds2_tf.decoding.lm_beam import copy_lm_settings
from ds2_tf.model.run_dir import load_run
from export.savedmodel import export_saved_model
from export.tflite import export_tflite


def next_version(base: Path) -> int:
    versions = [int(p.name) for p in base.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def copy_lm(run_dir, folders: list[Path]) -> list[str]:
    """Ship the tuned LM (RUN/lm.json from `ds2 tune-lm`) and its file next to the exports,
    so clients decode with the same α, β as `ds2 evaluate --decoder lm`."""
    try:
        return [str(path) for folder in folders for path in copy_lm_settings(run_dir, folder)]
    except FileNotFoundError as err:  # a stale lm.json: the model itself still exports
        print(f"warning: {err}; exported without it", file=sys.stderr)
        return []


def export_run(run_dir: str | Path, out_dir: str | Path, name: str = "ds2",
               version: int | None = None, tflite: bool = False, int8: bool = False,
               streaming: bool = False, overwrite: bool = False) -> dict:
    """Always float32: a run trained in mixed precision is rebuilt in float32 before export."""
    out_dir = Path(out_dir)
    model, config, alphabet = load_run(run_dir, precision="float32")
    if streaming and config.model.bidirectional:
        raise ValueError(f"{run_dir}: --streaming needs a unidirectional model (preset "
                         "'streaming'); this run is bidirectional")
    version = version or next_version(out_dir / name)
    written = {"saved_model": str(export_saved_model(model, config, alphabet, out_dir, name,
                                                     version, overwrite))}
    if tflite or int8:
        files = export_tflite(model, config, alphabet, out_dir / f"{name}-tflite" / str(version),
                              name, int8=int8)
        written["tflite"] = [str(p) for p in files]
    if streaming:
        from export.streaming import export_streaming

        written["streaming"] = [str(p) for p in export_streaming(
            model, config, alphabet, out_dir / f"{name}-streaming" / str(version), name,
            tflite=tflite or int8)]
    lm_files = copy_lm(run_dir, [Path(written["saved_model"]) / "assets.extra"]
                       + [Path(p).parent for p in written.get("tflite", [])[:1]])
    if lm_files:
        written["lm"] = lm_files
    for kind, paths in written.items():
        for path in paths if isinstance(paths, list) else [paths]:
            print(f"{kind}: {path}", file=sys.stderr)
    return written
