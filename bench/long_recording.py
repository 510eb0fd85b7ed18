"""`ds2 transcribe` on long recordings: wall time, real-time factor and peak memory of the CLI.

    python bench/long_recording.py [--minutes 20 120] [--preset small]
                                   [--stream-minutes 20] [--stream-preset streaming]

Each recording is random speech-like noise in 2–6 s bursts with 0.5 s pauses, written as a 16 kHz
WAV and transcribed by `ds2 transcribe` in a child process, exactly as a user runs it, while the
parent samples the child's peak resident memory (VmHWM). For comparison, in the same run, the
first 20 minutes' bursts as separate short WAV files go through one `ds2 transcribe` call (batched
by length). ``--stream`` rows do the same with a unidirectional model (``--stream-preset``): the
clips one after another through one process, then the long recording, chunk by chunk with partial
results. Random weights: speed and memory do not depend on them. Results:
bench/results/long_recording_PRESET.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402
from transcribe_throughput import random_run  # noqa: E402

RATE = 16000
DS2 = [sys.executable, "-m", "ds2_tf.cli"]


def bursts(total_s: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, length = [], 0.0
    while length < total_s:
        clip = (rng.standard_normal(int(rng.uniform(2, 6) * RATE)) * 0.1).astype(np.float32)
        out.append(clip)
        length += len(clip) / RATE + 0.5
    return out


def write_recording(path: Path, clips: list[np.ndarray]) -> float:
    """Joined with 0.5 s pauses, written in blocks (a 2-hour file never sits in memory as one)."""
    import soundfile
    pause = np.zeros(RATE // 2, np.float32)
    samples = 0
    with soundfile.SoundFile(str(path), "w", RATE, 1, subtype="PCM_16") as out:
        for clip in clips:
            out.write(clip)
            out.write(pause)
            samples += len(clip) + len(pause)
    return samples / RATE


def run_cli(args: list[str]) -> dict:
    """Wall seconds and peak RSS (MiB, VmHWM sampled every 0.2 s) of one `ds2` child process."""
    start = time.perf_counter()
    # Output to files, not pipes: a pipe nobody reads while polling would stall the child.
    out_file, err_file = tempfile.TemporaryFile("w+"), tempfile.TemporaryFile("w+")
    child = subprocess.Popen(DS2 + args, stdout=out_file, stderr=err_file, text=True)
    peak = 0.0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
        time.sleep(0.2)
    out_file.seek(0)
    err_file.seek(0)
    out, err = out_file.read(), err_file.read()
    if child.returncode != 0:
        raise RuntimeError(f"ds2 {' '.join(args[:3])}…: exit {child.returncode}: {err[-500:]}")
    return {"seconds": time.perf_counter() - start, "peak_rss_mib": peak,
            "lines": len(out.splitlines())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--minutes", nargs="+", type=float, default=[20.0, 120.0])
    parser.add_argument("--stream-preset", default="streaming")
    parser.add_argument("--stream-minutes", nargs="*", type=float, default=[20.0],
                        help="long recordings for `ds2 transcribe --stream` (none: skip)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    result = {"preset": args.preset, "recordings": {},
              "hardware": f"{platform.processor() or platform.machine()}, "
                          f"{os.cpu_count()} CPU threads"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = random_run(args.preset, tmp)
        import soundfile
        clips = bursts(20 * 60, seed=0)
        clip_files = []
        for i, clip in enumerate(clips):
            clip_files.append(str(tmp / f"clip{i:04d}.wav"))
            soundfile.write(clip_files[-1], clip, RATE)
        clips_audio = sum(len(c) for c in clips) / RATE
        measured = run_cli(["transcribe", "--model", str(run), *clip_files])
        result["short_clips"] = {**measured, "files": len(clips), "audio_s": clips_audio,
                                 "rtf": measured["seconds"] / clips_audio}
        for minutes in args.minutes:
            path = tmp / f"long{minutes:g}.wav"
            audio_s = write_recording(path, bursts(minutes * 60, seed=0))
            measured = run_cli(["transcribe", "--model", str(run), "--format", "json", str(path)])
            result["recordings"][f"{minutes:g}"] = {**measured, "audio_s": audio_s,
                                                    "rtf": measured["seconds"] / audio_s}
            path.unlink()
        if args.stream_minutes:
            stream_run = tmp / "stream_run"
            stream_run.mkdir()
            random_run(args.stream_preset, stream_run)
            measured = run_cli(["transcribe", "--model", str(stream_run), "--stream", *clip_files])
            result["stream_short_clips"] = {**measured, "files": len(clips), "audio_s": clips_audio,
                                            "rtf": measured["seconds"] / clips_audio}
            result["stream_recordings"] = {}
            for minutes in args.stream_minutes:
                path = tmp / f"long{minutes:g}.wav"
                audio_s = write_recording(path, bursts(minutes * 60, seed=0))
                measured = run_cli(["transcribe", "--model", str(stream_run), "--stream", str(path)])
                result["stream_recordings"][f"{minutes:g}"] = {
                    **measured, "audio_s": audio_s, "rtf": measured["seconds"] / audio_s}
                path.unlink()
    clips_rtf = result["short_clips"]["rtf"]
    lines = [f"`ds2 transcribe` (the CLI, one child process per row) on long recordings, preset "
             f"`{args.preset}` (random weights); {result['hardware']}. Wall time includes "
             "starting Python and TensorFlow and reading the file.", "",
             "| input | audio | wall | real-time factor | ÷ short clips' RTF | peak RSS |",
             "|---|---|---|---|---|---|",
             f"| {result['short_clips']['files']} short clips (2–6 s), one call | "
             f"{clips_audio / 60:.1f} min | {result['short_clips']['seconds']:.0f} s | "
             f"{clips_rtf:.4f} | 1.00 | {result['short_clips']['peak_rss_mib']:.0f} MiB |"]
    for minutes, r in result["recordings"].items():
        r["rtf_over_clips"] = r["rtf"] / clips_rtf
        lines.append(f"| one {minutes}-min recording | {r['audio_s'] / 60:.1f} min | "
                     f"{r['seconds']:.0f} s | {r['rtf']:.4f} | **{r['rtf_over_clips']:.2f}×** | "
                     f"**{r['peak_rss_mib']:.0f} MiB** |")
    if "stream_short_clips" in result:
        stream_clips = result["stream_short_clips"]
        lines += ["", f"`ds2 transcribe --stream`, preset `{args.stream_preset}` (unidirectional, "
                  "random weights): 320 ms chunks with partial results, fed in 0.5 s pieces.", "",
                  "| input | audio | wall | real-time factor | ÷ short clips' RTF | peak RSS |",
                  "|---|---|---|---|---|---|",
                  f"| {stream_clips['files']} short clips, one call | {clips_audio / 60:.1f} min | "
                  f"{stream_clips['seconds']:.0f} s | {stream_clips['rtf']:.4f} | 1.00 | "
                  f"{stream_clips['peak_rss_mib']:.0f} MiB |"]
        for minutes, r in result["stream_recordings"].items():
            r["rtf_over_clips"] = r["rtf"] / stream_clips["rtf"]
            lines.append(f"| one {minutes}-min recording | {r['audio_s'] / 60:.1f} min | "
                         f"{r['seconds']:.0f} s | {r['rtf']:.4f} | **{r['rtf_over_clips']:.2f}×** | "
                         f"**{r['peak_rss_mib']:.0f} MiB** |")
    lines += ["", "Targets (issue #35): a 20-minute recording within 1.5× the short clips' "
              "real-time factor with peak RSS ≤ 2 GB; a 2-hour file works; the same for `--stream`."]
    save(args.out, f"long_recording_{args.preset}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
