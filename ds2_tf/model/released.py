"""Released models: named recognizers shipped inside the package, usable wherever a run directory
is (``--model NAME``, ``--init-from NAME``, ``ds2_tf.load_model(NAME)``).

A released model is a run directory in miniature: ``config.json``, ``alphabet.json``, the weights
as float16 (``weights.f16.npz``, keyed by variable path; half the bytes in git, and float16 holds
these weights to well under the model's own noise) and ``card.json`` (what it was trained on and
how well it does; the human-readable card is docs/models.md). ``recipes/ds2_small_en.sh`` rebuilds
``ds2_small_en`` from nothing and ``ds2 release`` writes a new version only when it is better on dev.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

RELEASED_ROOT = Path(__file__).resolve().parents[1] / "released"
F16_WEIGHTS = "weights.f16.npz"
CARD = "card.json"


def released_models() -> list[str]:
    """Names of the models shipped with this installation."""
    if not RELEASED_ROOT.is_dir():
        return []
    return sorted(p.name for p in RELEASED_ROOT.iterdir()
                  if not p.name.startswith(".") and (p / F16_WEIGHTS).exists())


def resolve_run(name_or_path: str | Path) -> Path:
    """A run directory, or the folder of the released model of that name."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if str(name_or_path) in released_models():
        return RELEASED_ROOT / str(name_or_path)
    if path.exists():
        raise NotADirectoryError(f"{path}: not a run directory (nor a released model name)")
    names = ", ".join(released_models()) or "none installed"
    raise FileNotFoundError(f"{name_or_path}: no such run directory or released model "
                            f"(released models: {names})")


def outputs_dir(run_dir: str | Path) -> Path:
    """Where commands write reports for ``run_dir``: the run itself, or the current directory
    for a released model (the package folder is not the user's to write in)."""
    run = resolve_run(run_dir)
    return Path(".") if run.resolve().parent == RELEASED_ROOT.resolve() else run


def save_f16_weights(model, path: str | Path) -> Path:
    """Every variable of ``model`` as float16, keyed by its path (atomic write)."""
    path = Path(path)
    values = {variable.path: np.asarray(variable.numpy()).astype(np.float16)
              for variable in model.weights}
    if len(values) != len(model.weights):
        raise ValueError("two variables share a path; cannot save them by name")
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **values)
    tmp.replace(path)
    return path


def load_f16_weights(model, path: str | Path) -> None:
    """Assign float16 weights saved by :func:`save_f16_weights` (cast to each variable's dtype);
    the file must hold exactly the model's variables."""
    path = Path(path)
    try:
        with np.load(path) as data:
            values = {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:  # truncated, not an npz
        raise ValueError(f"{path}: cannot read the weights ({err}); the file is damaged") from None
    wanted = {variable.path for variable in model.weights}
    if set(values) != wanted:
        missing, extra = sorted(wanted - set(values)), sorted(set(values) - wanted)
        raise ValueError(f"{path}: the weights do not fit this network (missing {missing[:3]}, "
                         f"unexpected {extra[:3]})")
    for variable in model.weights:
        value = values[variable.path]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{path}: {variable.path} has shape {value.shape}, the network "
                             f"{tuple(variable.shape)}")
        variable.assign(value.astype(variable.dtype))


def stage_release(run_dir: str | Path, name: str, root: Path | None = None,
                  add_files=None) -> Path:
    """``root/.name.part/``: the run's config, alphabet and best weights as float16, as they
    would ship; ``add_files(folder)`` may add more (the tuned LM). :func:`install_release` puts
    it in place; until then it is hidden from :func:`released_models`."""
    root = RELEASED_ROOT if root is None else root
    import shutil

    from ds2_tf.model.run_dir import ALPHABET, CONFIG, load_run

    model, config, alphabet = load_run(run_dir, precision="float32")
    staged = Path(root) / f".{name}.part"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    config.save(staged / CONFIG)
    alphabet.save(staged / ALPHABET)
    save_f16_weights(model, staged / F16_WEIGHTS)
    if add_files is not None:
        add_files(staged)
    return staged


def install_release(staged: Path, name: str, card: dict, root: Path | None = None) -> Path:
    """Write ``card`` into a :func:`stage_release` folder and let it replace ``root/name/``."""
    root = RELEASED_ROOT if root is None else root
    import json
    import shutil

    (staged / CARD).write_text(json.dumps(card, indent=1) + "\n", encoding="utf-8")
    out, old = Path(root) / name, Path(root) / f".{name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staged.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def write_release(run_dir: str | Path, name: str, card: dict, root: Path | None = None,
                  add_files=None) -> Path:
    """``root/name/`` (default: the package's released models): the run's config, alphabet and
    best weights as float16, plus ``card``; ``add_files(folder)`` may add more (the tuned LM)
    before the folder replaces the shipped one."""
    return install_release(stage_release(run_dir, name, root, add_files), name, card, root)
