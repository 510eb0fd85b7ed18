"""SRT and WebVTT subtitles from a transcript's word timings.

Words are grouped into cues of at most ``MAX_CUE_S`` seconds and ``MAX_CUE_CHARS`` characters (a
common subtitle line length); a pause longer than ``PAUSE_S`` between two words starts a new cue.
"""
from __future__ import annotations

MAX_CUE_S = 5.0
MAX_CUE_CHARS = 42
PAUSE_S = 1.0


def cues(words) -> list[tuple[float, float, str]]:
    """(start, end, text) per cue, from words with ``word``, ``start_s``, ``end_s``."""
    out: list[tuple[float, float, str]] = []
    current: list = []
    for word in words:
        if current:
            text = " ".join(w.word for w in current + [word])
            if (word.end_s - current[0].start_s > MAX_CUE_S or len(text) > MAX_CUE_CHARS
                    or word.start_s - current[-1].end_s > PAUSE_S):
                out.append((current[0].start_s, current[-1].end_s,
                            " ".join(w.word for w in current)))
                current = []
        current.append(word)
    if current:
        out.append((current[0].start_s, current[-1].end_s, " ".join(w.word for w in current)))
    return out


def timestamp(seconds: float, decimal: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def srt(transcript) -> str:
    blocks = [f"{i}\n{timestamp(a, ',')} --> {timestamp(b, ',')}\n{text}\n"
              for i, (a, b, text) in enumerate(cues(transcript.words), 1)]
    return "\n".join(blocks)


def vtt(transcript) -> str:
    blocks = [f"{timestamp(a, '.')} --> {timestamp(b, '.')}\n{text}\n"
              for a, b, text in cues(transcript.words)]
    return "WEBVTT\n\n" + "\n".join(blocks)


WRITERS = {"srt": srt, "vtt": vtt}
