"""``ds2 report``: one Markdown results table and a training-curves PNG for a finished run.

Gathers what the other commands leave in the run directory (train_summary.json, history.csv,
eval-SPLIT-DECODER.json, TensorBoard's batch losses) and, when given, the corpus's dataset.json
and an export folder, so a demo or benchmark ends with numbers a reader can check.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from ds2_tf.model.run_dir import CONFIG, SUMMARY


def _read_history(run: Path) -> list[dict]:
    path = run / "history.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return [{k: (float(v) if v not in ("", "NA") else None) for k, v in row.items()}
                for row in csv.DictReader(handle)]


def _batch_losses(run: Path) -> tuple[list[int], list[float]]:
    """Per-step training loss from TensorBoard's event files (Keras writes ``batch_loss``)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    logs = run / "logs" / "train"
    if not logs.is_dir():
        return [], []
    acc = EventAccumulator(str(logs), size_guidance={"tensors": 0})
    acc.Reload()
    if "batch_loss" not in acc.Tags().get("tensors", []):
        return [], []
    import tensorflow as tf
    events = acc.Tensors("batch_loss")
    return [e.step for e in events], [float(tf.make_ndarray(e.tensor_proto)) for e in events]


def plot_curves(run: Path, out_png: Path, preset: str | None = None) -> Path | None:
    """Training loss per step and dev CER/WER per epoch, side by side."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("note: matplotlib is not installed (pip install matplotlib); no PNG written")
        return None
    steps, losses = _batch_losses(run)
    history = _read_history(run)
    fig, (ax_loss, ax_dev) = plt.subplots(1, 2, figsize=(10, 3.6))
    if steps:
        ax_loss.plot(steps, losses, lw=1)
    elif history:
        ax_loss.plot([h["epoch"] + 1 for h in history], [h["loss"] for h in history], marker="o")
    # Keras logs the running mean over the epoch so far; under SortaGrad the first epoch's
    # utterances get longer as it goes, so its loss rises before it falls.
    ax_loss.set(title="training CTC loss (running mean per epoch)",
                xlabel="step" if steps else "epoch", yscale="log")
    epochs = [h["epoch"] + 1 for h in history if h.get("dev_cer") is not None]
    for key, label in (("dev_cer", "dev CER"), ("dev_wer", "dev WER")):
        values = [100 * h[key] for h in history if h.get(key) is not None]
        if values:
            ax_dev.plot(epochs, values, marker="o", label=label)
    ax_dev.set(title="dev error rates (greedy)", xlabel="epoch", ylabel="%")
    if epochs:
        ax_dev.legend()
        ax_dev.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for ax in (ax_loss, ax_dev):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{run.name}: preset {preset}, {len(history)} epochs")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def results_table(run: Path, config: dict, data: Path | None = None,
                  export: Path | None = None) -> str:
    summary = json.loads((run / SUMMARY).read_text()) if (run / SUMMARY).exists() else {}
    lines = ["| what | value |", "|---|---|"]
    if data is not None and (data / "dataset.json").exists():
        info = json.loads((data / "dataset.json").read_text())
        for split, meta in info.get("splits", {}).items():
            who = f", {meta['num_speakers']} speakers" if meta.get("num_speakers") else ""
            gender = meta.get("speakers_by_gender") or {}
            if gender:
                who += " (" + ", ".join(f"{n} {g}" for g, n in sorted(gender.items())) + ")"
            lines.append(f"| corpus {split} | {meta.get('num_utterances', '?')} utterances, "
                         f"{meta.get('hours', 0):.2f} h{who} |")
    if summary:
        budget = " (time budget)" if summary.get("stopped_by_time_budget") else ""
        lines.append(f"| training | preset {config.get('preset')}, {summary.get('epochs_run')} "
                     f"epochs, {summary.get('steps')} steps, "
                     f"{summary.get('train_seconds', 0) / 60:.1f} min{budget}, "
                     f"{summary.get('precision')} |")
    for path in sorted(run.glob("eval-*.json")):
        result = json.loads(path.read_text())
        lines.append(f"| {result['split']} · {result['decoder']} | CER {100 * result['cer']:.1f} %, "
                     f"WER {100 * result['wer']:.1f} % ({result['num_utterances']} utterances) |")
    if export is not None and export.is_dir():
        for model in sorted(export.rglob("saved_model.pb")):
            lines.append(f"| SavedModel {model.parent.relative_to(export)} | "
                         f"{_dir_mb(model.parent):.1f} MB |")
        for lite in sorted(export.rglob("*.tflite")):
            lines.append(f"| TFLite {lite.relative_to(export)} | {lite.stat().st_size / 1e6:.1f} MB |")
    return "\n".join(lines)


def report(run_dir: str, data_dir: str | None = None, export_dir: str | None = None,
           out: str | None = None) -> dict:
    run = Path(run_dir)
    if not (run / CONFIG).exists():
        raise FileNotFoundError(f"{run / CONFIG}: not found (is {run} a `ds2 train` run directory?)")
    config = json.loads((run / CONFIG).read_text())
    table = results_table(run, config, Path(data_dir) if data_dir else None,
                          Path(export_dir) if export_dir else None)
    out_md = Path(out) if out else run / "results.md"
    out_md.write_text(table + "\n")
    png = plot_curves(run, out_md.with_name("training_curves.png"), config.get("preset"))
    return {"table": table, "markdown": str(out_md), "png": str(png) if png else None}
