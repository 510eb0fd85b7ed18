"""CTC beam search with an n-gram LM: score = log p_ctc + α·log p_lm + β·words (pyctcdecode + kenlm).

Before the beam search, each frame keeps only the paper's candidate set: the most probable
characters whose cumulative probability reaches ``cutoff_prob``, at most ``cutoff_top_n`` of them.
Our blank is the last class; pyctcdecode is told so through its label list.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tfrecords_tools.alphabet import Alphabet
from tfrecords_tools.quiet import native_stderr_silenced

INSTALL_HINT = ("beam search with a language model needs kenlm and pyctcdecode: "
                "pip install kenlm pygtrie && pip install --no-deps pyctcdecode==0.5.0 "
                "(pyctcdecode pins numpy<2, which TensorFlow 2.21 cannot use; it runs fine with "
                "numpy 2), or run `make`, which installs them")
LM_JSON = "lm.json"
PRUNED = -1e9  # log-prob given to characters outside a frame's candidate set
# pyctcdecode re-normalizes and clips log-probs at log(1e-15), so PRUNED arrives as ≈ -34.5;
# skipping tokens below -33.5 drops exactly the pruned ones (kept ones are far more probable).
SKIP_BELOW = -33.5


@contextlib.contextmanager
def quiet_logger(name: str, level: int = logging.ERROR):
    """Raise one logger's level for a block, then put the caller's level back."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(saved)


class MissingDependency(RuntimeError):
    pass


def require_lm_packages():
    try:
        import kenlm  # noqa: F401
        from pyctcdecode import build_ctcdecoder
    except ImportError:
        raise MissingDependency(INSTALL_HINT) from None
    return build_ctcdecoder


@dataclass
class LMDecoderConfig:
    alpha: float = 0.5  # LM weight
    beta: float = 1.0  # word-insertion bonus
    beam_width: int = 100
    cutoff_prob: float = 0.99  # paper's pruning: cumulative probability of kept characters
    cutoff_top_n: int = 40  # …and at most this many per frame
    beam_prune_logp: float = -10.0  # drop beams this far below the best
    unk_score_offset: float = -10.0  # log10 penalty for words outside the LM's vocabulary
    hotwords: list[str] = field(default_factory=list)
    hotword_weight: float = 10.0


def prune_candidates(log_probs: np.ndarray, cutoff_prob: float, top_n: int) -> np.ndarray:
    """Per frame, keep the fewest most-probable characters whose probability sums to
    ``cutoff_prob`` (at most ``top_n``); the rest get a log-prob of PRUNED."""
    order = np.argsort(-log_probs, axis=1)
    sorted_probs = np.exp(np.take_along_axis(log_probs, order, axis=1))
    cumulative = np.cumsum(sorted_probs, axis=1)
    keep_count = np.minimum((cumulative < cutoff_prob - 1e-6).sum(axis=1) + 1, top_n)
    keep_sorted = np.arange(log_probs.shape[1])[None, :] < keep_count[:, None]
    keep = np.zeros_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, axis=1)
    return np.where(keep, log_probs, PRUNED).astype(np.float32)


def is_arpa(path: str | Path) -> bool:
    """An ARPA text file, plain or gzip-compressed (KenLM reads both); else a KenLM binary."""
    return str(path).endswith((".arpa", ".arpa.gz"))


def lm_vocabulary(arpa: str | Path) -> list[str]:
    """The words of an ARPA file's unigram section (pyctcdecode scores partial words with it)."""
    words, in_unigrams = [], False
    opener = gzip.open if str(arpa).endswith(".gz") else open
    with opener(arpa, "rt", encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif line.startswith("\\"):
                if in_unigrams:
                    break
            elif in_unigrams and line:
                word = line.split("\t")[1] if "\t" in line else line.split()[1]
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    return words


class LMDecoder:
    """Beam search decoder over log-probs [T, V]; ``lm_path`` None gives plain beam search."""

    def __init__(self, alphabet: Alphabet, lm_path: str | Path | None,
                 config: LMDecoderConfig | None = None):
        build_ctcdecoder = require_lm_packages()
        self.config = config or LMDecoderConfig()
        self.alphabet = alphabet
        labels = list(alphabet.characters) + [""]  # "" marks the blank, which is our last class
        if lm_path is not None and not Path(lm_path).exists():
            raise FileNotFoundError(f"{lm_path}: language model not found (build one with "
                                    "`ds2 lm build`)")
        use_lm = lm_path is not None
        # With α = 0 the LM must have no influence at all: pyctcdecode applies the unknown-word
        # offset to partial words without α, so it is switched off too.
        unk = self.config.unk_score_offset if self.config.alpha else 0.0
        # KenLM draws a progress bar while loading an ARPA file; pyctcdecode warns about small
        # vocabularies and label oddities on every decoder it builds.
        with native_stderr_silenced(), quiet_logger("pyctcdecode"):
            self.decoder = build_ctcdecoder(
                labels, kenlm_model_path=str(lm_path) if use_lm else None,
                unigrams=lm_vocabulary(lm_path) if use_lm and is_arpa(lm_path) else None,
                alpha=self.config.alpha, beta=self.config.beta, unk_score_offset=unk)

    def set_weights(self, alpha: float, beta: float) -> None:
        """Change α and β without reloading the LM (used by tune-lm's grid search)."""
        self.config.alpha, self.config.beta = float(alpha), float(beta)
        unk = self.config.unk_score_offset if alpha else 0.0
        self.decoder.reset_params(alpha=float(alpha), beta=float(beta), unk_score_offset=float(unk))

    def decode(self, log_probs: np.ndarray, length: int | None = None) -> str:
        return self.beams(log_probs, length, 1)[0][0]

    def beams(self, log_probs: np.ndarray, length: int | None = None, n: int = 1) -> list:
        """The ``n`` best (text, score, [(word, (first frame, end frame))]), best first; the
        score is pyctcdecode's combined acoustic + LM score (higher is better)."""
        log_probs = np.asarray(log_probs, np.float32)[:length]
        pruned = prune_candidates(log_probs, self.config.cutoff_prob, self.config.cutoff_top_n)
        # decode_beams, not decode: pyctcdecode's decode() also prunes beams that share their
        # last n words, with n = the LM order (1 without an LM), so α = 0 with an LM searched
        # differently from no LM at all (measured: "folwr" vs "folowr"). Plain beam search here.
        beams = self.decoder.decode_beams(pruned, beam_width=self.config.beam_width,
                                          beam_prune_logp=self.config.beam_prune_logp,
                                          token_min_logp=SKIP_BELOW, prune_history=False,
                                          hotwords=self.config.hotwords or None,
                                          hotword_weight=self.config.hotword_weight)
        return [(text.strip(), float(score), [(w, (int(a), int(b))) for w, (a, b) in frames])
                for text, _, frames, _, score in beams[:n]]

    def decode_batch(self, log_probs, lengths) -> list[str]:
        return [self.decode(log_probs[i], int(lengths[i])) for i in range(len(lengths))]


def save_lm_settings(run_dir: str | Path, lm_path: str | Path, config: LMDecoderConfig,
                     extra: dict | None = None, path: str | Path | None = None) -> Path:
    path = Path(path) if path else Path(run_dir) / LM_JSON
    data = {"lm": str(Path(lm_path).resolve()), **asdict(config), **(extra or {})}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def load_lm_settings(run_dir: str | Path) -> dict | None:
    """``run_dir/lm.json`` (None if there is none), its LM path made absolute: a relative one
    names a file beside the settings (exports and released models carry their LM that way)."""
    path = Path(run_dir) / LM_JSON
    if not path.exists():
        return None
    try:
        settings = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a valid LM settings file ({err})") from None
    if settings.get("lm") and not Path(settings["lm"]).is_absolute():
        settings["lm"] = str(path.parent / settings["lm"])
    return settings


def copy_lm_settings(run_dir: str | Path, folder: str | Path, compress: bool = False) -> list[Path]:
    """Copy a run's tuned LM (``lm.json`` and its LM file) into ``folder``, the settings naming
    the file relatively, so the folder decodes with the same α, β wherever it is moved: an
    export's assets, a released model. ``compress``: an ARPA file is gzipped (KenLM reads it;
    a quarter of the bytes), reproducibly (no time stamp), so an unchanged LM is the same
    bytes in every release. Returns the files written (none if the run has no LM)."""
    from ds2_tf.model.released import resolve_run

    settings = load_lm_settings(resolve_run(run_dir))
    if not settings or not settings.get("lm"):
        return []
    source, folder = Path(settings["lm"]), Path(folder)
    if not source.exists():
        raise FileNotFoundError(f"{source}: the LM named by {Path(run_dir) / LM_JSON} is missing")
    target = folder / source.name
    if compress and source.name.endswith(".arpa"):
        target = folder / (source.name + ".gz")
        with open(source, "rb") as src, open(target, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out:
            shutil.copyfileobj(src, out)
    elif source.resolve() != target.resolve():
        shutil.copy2(source, target)
    (folder / LM_JSON).write_text(json.dumps({**settings, "lm": target.name}, indent=1) + "\n")
    return [target, folder / LM_JSON]
