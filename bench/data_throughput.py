"""Data throughput: synth and prepare (audio hours per wall minute), and the tf.data input
pipeline against the model's consumption rate (audio seconds per wall second).

    python bench/data_throughput.py [--hours 0.25] [--preset small] [--out bench/results]

Writes data_throughput.json and data_throughput.md under --out. Medians of --repeats runs.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report import save  # noqa: E402

# Heavy imports live in main(): worker processes are spawned and re-import this file, and they
# must not pay for TensorFlow.
np = soundfile = tf = None


def _import_heavy():
    global np, soundfile, tf, Alphabet, preset, make_dataset, build_model, make_optimizer
    global prepare_corpus, synth_corpus, read_dataset_json, split_examples
    import numpy as np
    import soundfile
    import tensorflow as tf

    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import preset
    from ds2_tf.data.pipeline import make_dataset
    from ds2_tf.model.deepspeech2 import build_model
    from ds2_tf.training.optimizer import make_optimizer
    from tfrecords_tools.ingest import prepare_corpus
    from tfrecords_tools.synth import synth_corpus
    from tfrecords_tools.writer import read_dataset_json, split_examples


def hours_of(data_dir: Path) -> float:
    return sum(s["hours"] for s in read_dataset_json(data_dir)["splits"].values())


def bench_synth(work: Path, hours: float, workers: int, repeats: int) -> dict:
    rates = []
    for r in range(repeats):
        out = work / f"synth-{workers}-{r}"
        start = time.perf_counter()
        synth_corpus(out, hours=hours, seed=r, workers=workers, augment=None)
        rates.append(hours_of(out) / ((time.perf_counter() - start) / 60))
    return {"workers": workers, "hours_per_minute": statistics.median(rates), "runs": rates}


def export_wavs(data_dir: Path, folder: Path, rate: int = 44100) -> Path:
    """A CSV corpus of 44.1 kHz stereo WAVs, so prepare really decodes, down-mixes, resamples."""
    import soxr

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,transcript,speaker"]
    for ex in split_examples(data_dir, "train"):
        audio = np.frombuffer(ex["audio"], "<i2").astype(np.float32) / 32768
        audio = soxr.resample(audio, 16000, rate)
        soundfile.write(folder / f"{ex['utt_id']}.wav", np.stack([audio, audio], 1), rate)
        rows.append(f"{ex['utt_id']}.wav,{ex['transcript']},{ex['speaker']}")
    (folder / "corpus.csv").write_text("\n".join(rows) + "\n")
    return folder / "corpus.csv"


def bench_prepare(work: Path, manifest: Path, workers: int, repeats: int) -> dict:
    rates = []
    for r in range(repeats):
        out = work / f"prep-{workers}-{r}"
        start = time.perf_counter()
        prepare_corpus(out, [f"train={manifest}"], workers=workers)
        rates.append(hours_of(out) / ((time.perf_counter() - start) / 60))
    return {"workers": workers, "hours_per_minute": statistics.median(rates), "runs": rates}


def bench_pipeline_vs_model(data_dir: Path, preset_name: str, steps: int) -> dict:
    config = preset(preset_name)
    alphabet = Alphabet.english()
    epoch = tf.Variable(1, dtype=tf.int64)
    ds = make_dataset(str(data_dir), "train", config, alphabet, training=True, epoch=epoch).repeat()
    # input pipeline alone
    it = iter(ds)
    next(it)
    audio_s, count, start = 0.0, 0, time.perf_counter()
    while time.perf_counter() - start < 10:
        x, _ = next(it)
        audio_s += float(tf.reduce_sum(x["num_samples"])) / 16000
        count += int(x["num_samples"].shape[0])
    pipeline_elapsed = time.perf_counter() - start
    # the model's consumption (training steps on the same batches)
    model = build_model(config, alphabet.num_classes)
    model.compile(optimizer=make_optimizer(config.train, 1000))
    batches = list(ds.take(steps + 2))
    model.fit(tf.data.Dataset.from_generator(lambda: iter(batches[:2]),
                                             output_signature=ds.element_spec), verbose=0)
    audio_model = sum(float(tf.reduce_sum(x["num_samples"])) / 16000 for x, _ in batches[2:])
    start = time.perf_counter()
    model.fit(tf.data.Dataset.from_generator(lambda: iter(batches[2:]),
                                             output_signature=ds.element_spec), verbose=0)
    model_elapsed = time.perf_counter() - start
    pipeline_rate, model_rate = audio_s / pipeline_elapsed, audio_model / model_elapsed
    return {"preset": preset_name, "pipeline_audio_s_per_s": pipeline_rate,
            "pipeline_utterances_per_s": count / pipeline_elapsed,
            "model_audio_s_per_s": model_rate, "pipeline_over_model": pipeline_rate / model_rate,
            "model_steps_timed": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    _import_heavy()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        synth = [bench_synth(work, args.hours, w, args.repeats) for w in (1, 2)]
        manifest = export_wavs(work / "synth-2-0", work / "wavs")
        prep = [bench_prepare(work, manifest, w, args.repeats) for w in (1, 2)]
        pipe = bench_pipeline_vs_model(work / "synth-2-0", args.preset, args.steps)
    result = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "tensorflow": tf.__version__},
              "corpus_hours_per_run": args.hours, "synth": synth, "prepare": prep, "pipeline": pipe,
              "date": time.strftime("%Y-%m-%d")}
    lines = ["| step | workers | audio hours per wall minute (median) | speed-up vs 1 worker |",
             "|---|---|---|---|"]
    for name, rows in (("synth (espeak-ng, flite, festival, Piper)", synth),
                       ("prepare (44.1 kHz stereo WAV → 16 kHz TFRecords)", prep)):
        for row in rows:
            lines.append(f"| {name} | {row['workers']} | {row['hours_per_minute']:.2f} | "
                         f"{row['hours_per_minute'] / rows[0]['hours_per_minute']:.2f}× |")
    lines += ["", f"Input pipeline alone: {pipe['pipeline_audio_s_per_s']:.0f} audio-s/s "
              f"({pipe['pipeline_utterances_per_s']:.0f} utt/s); `{pipe['preset']}` training "
              f"consumes {pipe['model_audio_s_per_s']:.1f} audio-s/s → the pipeline is "
              f"**{pipe['pipeline_over_model']:.0f}×** faster than the model needs.",
              f"({result['machine']['cpus']} CPUs, TensorFlow {tf.__version__}, {result['date']})"]
    save(out, "data_throughput", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
