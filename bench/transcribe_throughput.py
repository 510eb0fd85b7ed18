"""`ds2 transcribe` throughput: many short files one at a time vs batched by length, and a long
recording cut at pauses vs the same audio as short clips.

    python bench/transcribe_throughput.py [--preset small] [--files 200] [--rounds 3]

Both ways use the same Recognizer (the model as one traced function): "one at a time" calls it
once per file, as `ds2 transcribe` did before batching; "batched" gives it all files, which it
sorts by length and runs in padded batches. The long recording is the same clips joined with
0.5 s pauses, transcribed as one input (cut into ≤ 30 s pieces). The "SavedModel" rows run the
same model exported with `ds2 export`, through the same Recognizer (`ds2 transcribe --model
EXPORT`): the reference for how fast the traced Keras model should be. Random weights: speed does not
depend on them. Rounds are interleaved; medians are reported. To show how much batching *could*
gain, the run also counts the model's multiply-adds (analytic, as bench/gpu.py's MFU) and measures
this CPU's float32 matmul peak: one at a time cannot be sped up by more than its time ÷ the time
the same FLOPs take at that peak. Results: bench/results/
transcribe_throughput_PRESET.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import peak_rss_mib, save  # noqa: E402

RATE = 16000


def random_run(preset_name: str, out: Path) -> Path:
    import keras

    from ds2_tf.config import preset
    from ds2_tf.model.deepspeech2 import build_model
    from tfrecords_tools.alphabet import Alphabet

    keras.utils.set_random_seed(0)
    config, alphabet = preset(preset_name), Alphabet.english()
    model = build_model(config, alphabet.num_classes, precision="float32")
    config.save(out / "config.json")
    alphabet.save(out / "alphabet.json")
    model.save_weights(str(out / "best.weights.h5"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    import ds2_tf

    rng = np.random.default_rng(0)
    clips = [(rng.standard_normal(int(rng.uniform(2, 6) * RATE)) * 0.1).astype(np.float32)
             for _ in range(args.files)]
    audio_s = sum(len(c) for c in clips) / RATE
    pause = np.zeros(RATE // 2, np.float32)
    long = np.concatenate([x for c in clips for x in (c, pause)])
    with tempfile.TemporaryDirectory() as tmp:
        from export.exporter import export_run

        run = random_run(args.preset, Path(tmp))
        recognizer = ds2_tf.load_model(run)
        saved = ds2_tf.load_model(export_run(run, Path(tmp) / "export")["saved_model"])
        ways = {"one at a time": lambda: [recognizer.transcribe(c) for c in clips],
                "batched by length": lambda: recognizer.transcribe(clips),
                "one long recording": lambda: recognizer.transcribe(long),
                "SavedModel, one at a time": lambda: [saved.transcribe(c) for c in clips],
                "SavedModel, batched by length": lambda: saved.transcribe(clips)}
        for way in ways.values():  # warm-up: tracing for the shapes each way sees
            way()
        times = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                start = time.perf_counter()
                way()
                times[name].append(time.perf_counter() - start)
        from ds2_tf.config import preset
        from train_throughput import peak_matmul_flops, training_flops

        config = preset(args.preset)
        flops = sum(training_flops(config, 1, len(c)) / 3 for c in clips)  # forward only
        peak = max(peak_matmul_flops("float32", n=1024) for _ in range(3))
    medians = {name: statistics.median(t) for name, t in times.items()}
    one, batched = medians["one at a time"], medians["batched by length"]
    long_rtf = medians["one long recording"] / (len(long) / RATE)
    result = {"preset": args.preset, "files": args.files, "audio_s": round(audio_s, 1),
              "long_recording_s": round(len(long) / RATE, 1), "rounds": args.rounds,
              "seconds": times, "median_s": medians,
              "rtf": {"one at a time": one / audio_s, "batched by length": batched / audio_s,
                      "one long recording": long_rtf},
              "batched_speedup": one / batched, "long_vs_clips_rtf_ratio": long_rtf / (batched / audio_s),
              "over_saved_model": {"one at a time": one / medians["SavedModel, one at a time"],
                                   "batched by length":
                                       batched / medians["SavedModel, batched by length"]},
              "forward_gflop": flops / 1e9, "peak_matmul_gflops": peak / 1e9,
              "gflops": {name: flops / medians[name] / 1e9 for name in ways
                         if name != "one long recording"},
              "batching_ceiling": one / (flops / peak),
              "peak_rss_mib": peak_rss_mib(),
              "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU threads"}
    lines = [f"`ds2 transcribe` throughput, preset `{args.preset}` (random weights), "
             f"{args.files} clips of 2–6 s ({audio_s / 60:.1f} min of audio), median of "
             f"{args.rounds} interleaved rounds; {result['hardware']}.", "",
             "| way | median time | real-time factor |", "|---|---|---|"]
    for name in ways:
        rtf = medians[name] / (len(long) / RATE if name == "one long recording" else audio_s)
        lines.append(f"| {name} | {medians[name]:.1f} s | {rtf:.4f} |")
    lines += ["", f"Batched by length is **{result['batched_speedup']:.2f}×** faster than one at a "
                  f"time. The long recording ({result['long_recording_s'] / 60:.1f} min, cut at "
                  f"pauses) runs at {result['long_vs_clips_rtf_ratio']:.2f}× the batched clips' "
                  f"real-time factor. Against the same model exported as a SavedModel and run "
                  f"through the same Recognizer: **{result['over_saved_model']['batched by length']:.2f}×** "
                  f"its time batched, {result['over_saved_model']['one at a time']:.2f}× one at a "
                  f"time (target ≤ 1.2×). Peak RSS {result['peak_rss_mib']:.0f} MiB."]
    lines += ["", f"How much batching could gain: the clips are {result['forward_gflop']:.0f} GFLOP "
              "of forward pass (multiply-adds × 2: convolutions, RNN projections and recurrences, "
              f"output layer). Batched runs them at {result['gflops']['batched by length']:.0f} "
              f"GFLOP/s, one at a time at {result['gflops']['one at a time']:.0f} GFLOP/s; this "
              f"CPU's float32 matmul peak, measured in the same run, is "
              f"{result['peak_matmul_gflops']:.0f} GFLOP/s. Even at that peak, batching could make "
              f"one at a time at most **{result['batching_ceiling']:.1f}×** faster; 3× would need "
              f"the batched run at {300 / result['batching_ceiling']:.0f} % of the matmul peak, "
              "convolutions and sequential RNN steps included."]
    save(args.out, f"transcribe_throughput_{args.preset}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
