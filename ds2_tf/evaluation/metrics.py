"""Corpus-level WER/CER (total edits / total reference words or characters), via jiwer."""
from __future__ import annotations

import jiwer


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """WER and CER over the whole corpus, as jiwer computes them (not averaged per utterance)."""
    pairs = [(r, h) for r, h in zip(references, hypotheses) if r.strip()]
    if not pairs:
        return {"wer": float("nan"), "cer": float("nan"), "words": 0, "chars": 0}
    refs, hyps = [p[0] for p in pairs], [p[1] for p in pairs]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {"wer": float(words.wer), "cer": float(chars.cer),
            "words": sum(len(r.split()) for r in refs), "chars": sum(len(r) for r in refs),
            "word_edits": words.substitutions + words.deletions + words.insertions,
            "char_edits": chars.substitutions + chars.deletions + chars.insertions}


def utterance_errors(reference: str, hypothesis: str) -> tuple[float, float]:
    if not reference.strip():
        return float("nan"), float("nan")
    return float(jiwer.wer(reference, hypothesis)), float(jiwer.cer(reference, hypothesis))
