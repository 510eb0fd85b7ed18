"""Argument types and flag groups shared by several ``ds2`` commands."""
from __future__ import annotations

import argparse


def range_arg(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    try:
        return (float(lo), float(hi)) if sep else (float(lo), float(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH, got {text!r}") from None


def count_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def share_arg(text: str) -> tuple[str, float]:
    engine, sep, value = text.partition("=")
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not sep or not engine or not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"expected ENGINE=FRACTION (0 < FRACTION <= 1), "
                                         f"got {text!r}")
    return engine, share


def lm_options(args) -> dict:
    return {"lm": args.lm, "alpha": args.alpha, "beta": args.beta,
            "unk_score_offset": args.unk_offset,
            "hotwords": args.hotwords.split(",") if args.hotwords else None}


def add_decoder_flags(p) -> None:
    p.add_argument("--decoder", choices=("greedy", "beam", "lm"), default="greedy",
                   help="lm: beam search with an n-gram LM (settings from `ds2 tune-lm`)")
    p.add_argument("--beam-width", type=int, default=None, help="default 32 (beam), 100 (lm)")
    p.add_argument("--lm", default=None, help="ARPA/binary LM (default: RUN/lm.json's)")
    p.add_argument("--alpha", type=float, default=None, help="LM weight α")
    p.add_argument("--beta", type=float, default=None, help="word bonus β")
    p.add_argument("--unk-offset", type=float, default=None,
                   help="log10 penalty for words outside the LM vocabulary (default -10)")
    p.add_argument("--hotwords", default=None, help="comma-separated words to boost")


