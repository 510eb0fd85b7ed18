"""Rendering one utterance: a recipe (engine, voice, text, augmentation, seed) → 16 kHz PCM.

Runs in worker processes; every engine is an installed program or a pip package, offline.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from tfrecords_tools import espeak_voices, kokoro_voices
from tfrecords_tools.audio import (
    AudioError,
    check_signal,
    float_to_pcm16,
    read_audio,
    run_program,
    to_mono_16k,
)
from tfrecords_tools.audio_effects import (
    add_noise,
    pitch_shift,
    reverberate,
    room_impulse_response,
    speed_perturb,
    telephone,
    trim_silence,
)
from tfrecords_tools.voices import Voice, piper_voices



def synthesize(voice: Voice, text: str, rate_wpm: int = 160, pitch: int = 50) -> np.ndarray:
    """Text → float32 audio at 16 kHz with one engine voice."""
    if voice.engine == "kokoro":  # returns samples directly: no WAV file in between
        audio, rate = kokoro_voices.synthesize(voice.name, text, rate_wpm)
        return to_mono_16k(audio, rate)
    if voice.engine in ("espeak", "mbrola"):  # MBROLA: espeak-ng's phonemes, human diphones
        generated = espeak_voices.parse_name(voice.name) if voice.engine == "espeak" else None
        path = ["--path", str(espeak_voices.ensure_variant(*generated))] if generated else []
        name = voice.name if voice.engine == "espeak" else f"mb-{voice.name}"
        wav = run_program(["espeak-ng", *path, "-v", name, "-s", str(rate_wpm), "-p", str(pitch),
                    "--stdout", "-b", "1", text])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.wav")
            if voice.engine == "flite":
                run_program(["flite", "-voice", voice.name, "-t", text, "-o", out])
            elif voice.engine == "festival":
                run_program(["text2wave", "-eval", f"(voice_{voice.name})", "-o", out],
                     stdin=text.encode("utf-8"))
            elif voice.engine == "piper":
                _piper_wav(voice.name, text, out, rate_wpm)
            elif voice.engine == "rhvoice":  # rate and pitch in percent of the voice's own
                run_program(["RHVoice-test", "-p", voice.name, "-r", str(_percent_rate(rate_wpm)),
                      "-t", str(_percent_pitch(pitch)), "-o", out], stdin=text.encode("utf-8"))
            elif voice.engine == "pico":  # no rate/pitch flags: SSML tags (corpus text is a-z ')
                run_program(["pico2wave", "-l", voice.name, "-w", out,
                      f"<pitch level='{_percent_pitch(pitch)}'>"
                      f"<speed level='{_percent_rate(rate_wpm)}'>{text}</speed></pitch>"])
            else:
                raise AudioError(f"unknown engine {voice.engine!r}")
            wav = Path(out).read_bytes()
    data, rate = read_audio(wav)
    return to_mono_16k(data, rate)


NORMAL_WPM = 165.0  # the rate (espeak-ng words per minute) an engine speaks at by default


def _percent_rate(rate_wpm: int) -> int:
    """espeak-ng words per minute → percent of an engine's normal rate (``NORMAL_WPM``)."""
    return round(100 * rate_wpm / NORMAL_WPM)


def _percent_pitch(pitch: int) -> int:
    """espeak-ng pitch (0–99, 50 normal) → percent of an engine's normal pitch."""
    return 100 + 2 * (pitch - 50)


_PIPER_LOADED: dict = {}


def _piper_wav(name: str, text: str, out: str, rate_wpm: int) -> None:
    """Piper (VITS, ONNX) voice; loaded once per worker process. Speaking rate follows rate_wpm."""
    import wave

    from piper import PiperVoice, SynthesisConfig

    if name not in _PIPER_LOADED:
        paths = piper_voices().get(name)
        if paths is None:
            raise AudioError(f"Piper voice {name!r} is not installed")
        _PIPER_LOADED[name] = PiperVoice.load(paths[0], config_path=paths[1])
    config = SynthesisConfig(length_scale=NORMAL_WPM / max(rate_wpm, 60))
    with wave.open(out, "wb") as handle:
        _PIPER_LOADED[name].synthesize_wav(text, handle, syn_config=config)


def render(recipe: dict) -> tuple[np.ndarray, dict]:
    """Worker entry point: recipe → int16 PCM at 16 kHz (and the recipe, for the record)."""
    voice = Voice(recipe["engine"], recipe["voice"], recipe.get("gender", "?"))
    audio = synthesize(voice, recipe["text"], recipe.get("rate_wpm", 160), recipe.get("pitch", 50))
    audio = trim_silence(audio)
    rng = np.random.default_rng(recipe["seed"])
    audio = speed_perturb(audio, recipe.get("speed", 1.0))
    if recipe.get("shift_cents"):
        audio = pitch_shift(audio, recipe["shift_cents"])
    if recipe.get("rt60_s"):
        audio = reverberate(audio, room_impulse_response(rng, recipe["rt60_s"]))
    if recipe.get("snr_db") is not None:
        audio = add_noise(audio, recipe["snr_db"], rng)
    if recipe.get("telephone"):
        audio = telephone(audio)
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    if peak > 0:
        audio = audio * (recipe.get("gain", 0.5) / peak)
    check_signal(audio)
    return float_to_pcm16(audio), recipe
