"""Long recordings in pieces: cut at pauses so each piece is at most ``max_piece_s`` long.

A bidirectional model needs a whole piece at once, and memory grows with its length, so a long
recording is cut where the speaker pauses: the quietest stretch of at least ``min_pause_s``
before the limit (energy in 20 ms frames, quieter than ``pause_db`` below the recording's loud
frames). Where nobody pauses within the limit, the cut goes through the quietest 20 ms frame of
the piece's last third. Cuts fall in the middle of a pause, so no word is split, and the pieces
tile the recording exactly (each sample in one piece), so no word is doubled.
"""
from __future__ import annotations

import numpy as np

FRAME_S = 0.02


def frame_energy_db(audio: np.ndarray, sample_rate_hz: int, block_frames: int = 3000) -> np.ndarray:
    """Mean power per 20 ms frame, in dB (the last partial frame included, zero-padded). Computed
    a minute at a time: on a 2-hour recording, float64 copies of the whole signal would be GBs."""
    size = int(FRAME_S * sample_rate_hz)
    whole = len(audio) // size
    power = np.empty(-(-len(audio) // size), np.float64)
    for start in range(0, whole, block_frames):
        stop = min(whole, start + block_frames)
        frames = audio[start * size: stop * size].reshape(stop - start, size).astype(np.float64)
        power[start:stop] = np.mean(frames ** 2, axis=1)
    if len(power) > whole:
        tail = audio[whole * size:].astype(np.float64)
        power[whole] = np.sum(tail ** 2) / size
    return 10 * np.log10(power + 1e-10)


def pause_cuts(audio: np.ndarray, sample_rate_hz: int, max_piece_s: float = 30.0,
               min_pause_s: float = 0.3, pause_db: float = 30.0) -> list[int]:
    """Sample offsets where pieces start (the first is 0)."""
    energy = frame_energy_db(audio, sample_rate_hz)
    size = int(FRAME_S * sample_rate_hz)
    loud = np.percentile(energy, 95) if len(energy) else 0.0
    quiet = energy < loud - pause_db
    limit = max(1, int(max_piece_s / FRAME_S))
    min_pause = max(1, int(round(min_pause_s / FRAME_S)))
    cuts, start = [0], 0
    while len(energy) - start > limit:
        window = slice(start + 1, start + limit)
        cut = _middle_of_longest_pause(quiet[window], min_pause)
        if cut is None:  # no pause: the quietest frame of the last third
            third = (limit - 1) // 3
            tail = energy[window][-third:] if third else energy[window]
            cut = len(energy[window]) - len(tail) + int(np.argmin(tail))
        start = start + 1 + cut
        cuts.append(start * size)
    return [c for c in cuts if c < len(audio)] or [0]


def _middle_of_longest_pause(quiet: np.ndarray, min_frames: int) -> int | None:
    """Frame index in the middle of the latest longest run of quiet frames, if long enough."""
    best, best_len, run_start = None, 0, None
    for i, q in enumerate(np.append(quiet, False)):
        if q and run_start is None:
            run_start = i
        elif not q and run_start is not None:
            length = i - run_start
            if length >= min_frames and length >= best_len:
                best, best_len = run_start + length // 2, length
            run_start = None
    return best


def pieces(audio: np.ndarray, sample_rate_hz: int, min_piece_s: float = 0.1,
           **options) -> list[tuple[int, np.ndarray]]:
    """(start sample, samples) of each piece; together they are exactly ``audio``. A piece
    shorter than ``min_piece_s`` joins the one before it."""
    cuts = pause_cuts(audio, sample_rate_hz, **options)
    shortest = int(min_piece_s * sample_rate_hz)
    kept = [c for i, c in enumerate(cuts)
            if i == 0 or (c - cuts[i - 1] >= shortest and len(audio) - c >= shortest)]
    bounds = kept + [len(audio)]
    return [(a, audio[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a] or [(0, audio)]
