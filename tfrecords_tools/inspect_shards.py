"""``ds2 inspect DIR``: re-read every shard (record CRCs, parse, counts) and summarize the corpus."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrecords_tools.audio import SAMPLE_RATE_HZ
from tfrecords_tools.schema import FEATURES
from tfrecords_tools.writer import read_dataset_json


def verify_shard(path: Path, compressed: bool) -> tuple[list[float], list[str]]:
    """Durations of the good records and a list of problems found in one shard."""
    durations, problems = [], []
    dataset = tf.data.TFRecordDataset(str(path), compression_type="GZIP" if compressed else "")
    index = 0
    iterator = iter(dataset)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            break
        except (tf.errors.DataLossError, tf.errors.OpError) as err:
            problems.append(f"{path}: record {index}: corrupted ({err.message.splitlines()[0]})")
            break
        try:
            ex = tf.io.parse_single_example(record, FEATURES)
        except tf.errors.InvalidArgumentError as err:
            problems.append(f"{path}: record {index}: does not parse ({err.message.splitlines()[0]})")
            index += 1
            continue
        n, audio = int(ex["num_samples"]), ex["audio"].numpy()
        if len(audio) != 2 * n:
            problems.append(f"{path}: record {index}: {len(audio)} audio bytes for num_samples={n}")
        if int(ex["sample_rate"]) != SAMPLE_RATE_HZ:
            problems.append(f"{path}: record {index}: sample_rate {int(ex['sample_rate'])}")
        try:
            if not ex["transcript"].numpy().decode("utf-8"):
                problems.append(f"{path}: record {index}: empty transcript")
        except UnicodeDecodeError:
            problems.append(f"{path}: record {index}: transcript is not UTF-8")
        durations.append(n / SAMPLE_RATE_HZ)
        index += 1
    return durations, problems


def inspect_dataset(data_dir: str | Path) -> tuple[str, list[str]]:
    """Returns (printable summary, problems); problems is empty for a sound corpus."""
    data_dir = Path(data_dir)
    info = read_dataset_json(data_dir)
    lines, problems = [f"{data_dir}: alphabet of {len(info['alphabet']['characters'])} characters "
                       f"+ blank"], []
    for split, meta in info.get("splits", {}).items():
        durations: list[float] = []
        for name in meta["shards"]:
            path = data_dir / name
            if not path.exists():
                problems.append(f"{path}: shard listed in dataset.json is missing")
                continue
            found, issues = verify_shard(path, name.endswith(".gz"))
            durations += found
            problems += issues
        if len(durations) != meta["num_utterances"]:
            problems.append(f"[{split}] {len(durations)} readable records, dataset.json says "
                            f"{meta['num_utterances']}")
        lines.append(f"[{split}] {len(durations)} utterances in {len(meta['shards'])} shard(s), "
                     f"{sum(durations) / 3600:.3f} h, {meta.get('num_speakers', 0)} speakers, "
                     f"{len(meta.get('skipped', []))} skipped at prepare time")
        lines += histogram_lines(durations)
    return "\n".join(lines), problems


def histogram_lines(durations: list[float], width: int = 40) -> list[str]:
    if not durations:
        return ["    (empty)"]
    top = max(1, int(np.ceil(max(durations))))
    step = max(1, int(np.ceil(top / 12)))
    counts, edges = np.histogram(durations, bins=np.arange(0, top + step, step))
    scale = width / max(1, counts.max())
    return [f"    {lo:5.0f}-{hi:<4.0f}s {n:7d} {'#' * int(round(n * scale))}"
            for lo, hi, n in zip(edges[:-1], edges[1:], counts)]
