"""tf.data input pipeline: shards → parse → filter → (augment) → length buckets → prefetch.

Batches hold a roughly constant number of padded spectrogram frames (short utterances in large
batches, long ones in small), batch sizes divisible by the replica count. SortaGrad: when
``epoch`` (a variable the trainer advances) is 0, utterances come shortest-first; afterwards,
shuffled.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from ds2_tf.config import RunConfig
from tfrecords_tools.alphabet import Alphabet
from tfrecords_tools.schema import FEATURES
from tfrecords_tools.writer import read_dataset_json, shard_paths

AUTOTUNE = tf.data.AUTOTUNE
SORT_WINDOW = 4096  # utterances sorted together for SortaGrad (the whole split when smaller)


def char_table(alphabet: Alphabet) -> tf.lookup.StaticHashTable:
    keys = tf.constant(list(alphabet.characters))
    values = tf.range(len(alphabet.characters), dtype=tf.int32)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), -1)


def parse_function(alphabet: Alphabet):
    table = char_table(alphabet)

    def parse(serialized):
        ex = tf.io.parse_single_example(serialized, FEATURES)
        labels = table.lookup(tf.strings.unicode_split(ex["transcript"], "UTF-8"))
        return {
            "pcm": tf.io.decode_raw(ex["audio"], tf.int16, little_endian=True),
            "num_samples": tf.cast(ex["num_samples"], tf.int32),
            "labels": labels,
            "label_length": tf.size(labels, out_type=tf.int32),
            "utt_id": ex["utt_id"],
            "transcript": ex["transcript"],
        }

    return parse


def usable_filter(config: RunConfig):
    """Drop utterances CTC cannot align: unknown characters, or too few output frames."""

    def usable(item):
        labels = item["labels"]
        repeats = tf.reduce_sum(tf.cast(labels[1:] == labels[:-1], tf.int32))
        frames = config.output_length(item["num_samples"])
        return (tf.reduce_all(labels >= 0) & (item["label_length"] > 0)
                & (frames >= item["label_length"] + repeats))

    return usable


def bucket_plan(split_info: dict, config: RunConfig, replicas: int = 1):
    """Bucket boundaries (samples) at duration quantiles, and per-bucket batch sizes."""
    train = config.train
    hist = split_info.get("length_histogram", {})
    counts = np.asarray(hist.get("counts", []), float)
    edges = np.asarray(hist.get("edges_s", []), float)
    max_s = float(split_info.get("duration_s", {}).get("max", 20.0)) or 20.0
    boundaries_s: list[float] = []
    if counts.sum() > 0:
        cumulative = np.cumsum(counts) / counts.sum()
        for q in np.arange(1, train.num_buckets) / train.num_buckets:
            edge = float(edges[1:][np.searchsorted(cumulative, q)])
            if edge < max_s and (not boundaries_s or edge > boundaries_s[-1]):
                boundaries_s.append(edge)
    rate = config.features.sample_rate_hz
    boundaries = [int(b * rate) for b in boundaries_s]
    uppers = boundaries + [int(np.ceil(max_s * rate)) + 1]
    sizes = []
    for upper in uppers:
        frames = max(1, int(config.features.num_frames(upper)))
        size = int(np.clip(train.batch_frames // frames, 1, train.max_batch_size))
        sizes.append(max(replicas, size - size % replicas))
    return boundaries, sizes


def _to_model_inputs(batch):
    x = {"waveform": tf.cast(batch["pcm"], tf.float32) / 32768.0,
         "num_samples": batch["num_samples"]}
    y = {"labels": batch["labels"], "label_length": batch["label_length"]}
    return x, y


def _add_noise(probability: float, snr_db: tuple[float, float]):
    def add(x, y):
        wave, n = x["waveform"], x["num_samples"]
        mask = tf.sequence_mask(n, tf.shape(wave)[1], tf.float32)
        power = tf.reduce_sum(wave * wave * mask, 1) / tf.maximum(tf.cast(n, tf.float32), 1.0)
        snr = tf.random.uniform(tf.shape(n), snr_db[0], snr_db[1])
        scale = tf.sqrt(power / 10.0 ** (snr / 10.0))
        scale *= tf.cast(tf.random.uniform(tf.shape(n)) < probability, tf.float32)
        noise = tf.random.normal(tf.shape(wave)) * scale[:, None] * mask
        return {**x, "waveform": wave + noise}, y

    return add


def _sorted_by_length(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Shortest first within windows of SORT_WINDOW utterances (exact for smaller splits)."""
    def sort_window(window):
        order = tf.argsort(window["num_samples"])
        return tf.data.Dataset.from_tensor_slices({k: tf.gather(v, order) for k, v in window.items()})

    return dataset.ragged_batch(SORT_WINDOW).flat_map(sort_window).map(
        lambda item: {k: (v.to_tensor() if isinstance(v, tf.RaggedTensor) else v)
                      for k, v in item.items()})


def make_dataset(data_dir: str, split: str, config: RunConfig, alphabet: Alphabet,
                 training: bool = False, replicas: int = 1, epoch: tf.Variable | None = None,
                 limit: int | None = None, with_meta: bool = False) -> tf.data.Dataset:
    """Batches of ``(x, y)`` (or ``(x, y, meta)`` with utt_id/transcript when ``with_meta``)."""
    info = read_dataset_json(data_dir)
    files = shard_paths(data_dir, split)
    compressed = any(f.endswith(".gz") for f in files)
    boundaries, sizes = bucket_plan(info["splits"][split], config, replicas)

    def records(shuffle: bool) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices(files)
        if shuffle:
            ds = ds.shuffle(len(files), seed=config.train.seed, reshuffle_each_iteration=True)
        ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, "GZIP" if compressed else ""),
                           cycle_length=min(4, len(files)), num_parallel_calls=AUTOTUNE,
                           deterministic=not shuffle)
        if limit:
            ds = ds.take(limit)
        ds = ds.map(parse_function(alphabet), num_parallel_calls=AUTOTUNE,
                    deterministic=not shuffle).filter(usable_filter(config))
        if shuffle:
            ds = ds.shuffle(1024, seed=config.train.seed, reshuffle_each_iteration=True)
        return ds

    def batches(ds: tf.data.Dataset) -> tf.data.Dataset:
        if not with_meta:
            ds = ds.map(lambda item: {k: v for k, v in item.items()
                                      if k not in ("utt_id", "transcript")})
        return ds.bucket_by_sequence_length(
            lambda item: item["num_samples"], boundaries, sizes,
            padded_shapes=None, pad_to_bucket_boundary=False, drop_remainder=False)

    if training:
        shuffled = batches(records(shuffle=True))
        if config.train.sortagrad and epoch is not None:
            ordered = batches(_sorted_by_length(records(shuffle=False)))
            selector = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).repeat().map(
                lambda _: tf.cast(tf.minimum(epoch.read_value(), 1), tf.int64))
            ds = tf.data.Dataset.choose_from_datasets([ordered, shuffled], selector)
        else:
            ds = shuffled
    else:
        ds = batches(records(shuffle=False))

    def finish(batch):
        x, y = _to_model_inputs(batch)
        if with_meta:
            return x, y, {"utt_id": batch["utt_id"], "transcript": batch["transcript"]}
        return x, y

    ds = ds.map(finish, num_parallel_calls=AUTOTUNE)
    if training and config.train.noise_prob > 0:
        ds = ds.map(_add_noise(config.train.noise_prob, config.train.noise_snr_db),
                    num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
