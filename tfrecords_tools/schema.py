"""The TFRecord contract: one `tf.train.Example` per utterance (see DESIGN.md, "TFRecord example").

`audio` int16 little-endian PCM bytes, `num_samples` int64, `sample_rate` int64, `transcript` UTF-8
bytes (normalized), `utt_id` bytes, `speaker` bytes (may be empty).
"""
from __future__ import annotations

import tensorflow as tf

FEATURES = {
    "audio": tf.io.FixedLenFeature([], tf.string),
    "num_samples": tf.io.FixedLenFeature([], tf.int64),
    "sample_rate": tf.io.FixedLenFeature([], tf.int64),
    "transcript": tf.io.FixedLenFeature([], tf.string),
    "utt_id": tf.io.FixedLenFeature([], tf.string),
    "speaker": tf.io.FixedLenFeature([], tf.string, default_value=b""),
}


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def make_example(utt_id: str, pcm16: bytes, sample_rate: int, transcript: str,
                 speaker: str = "") -> bytes:
    """Serialize one utterance; ``pcm16`` is little-endian int16 mono."""
    feature = {
        "audio": _bytes(pcm16),
        "num_samples": _int(len(pcm16) // 2),
        "sample_rate": _int(sample_rate),
        "transcript": _bytes(transcript.encode("utf-8")),
        "utt_id": _bytes(utt_id.encode("utf-8")),
        "speaker": _bytes(speaker.encode("utf-8")),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def parse_example(serialized: bytes) -> dict:
    """Python-side parse (tests, inspect): returns plain bytes/ints/str."""
    example = tf.train.Example.FromString(serialized)
    f = example.features.feature
    return {
        "audio": f["audio"].bytes_list.value[0],
        "num_samples": f["num_samples"].int64_list.value[0],
        "sample_rate": f["sample_rate"].int64_list.value[0],
        "transcript": f["transcript"].bytes_list.value[0].decode("utf-8"),
        "utt_id": f["utt_id"].bytes_list.value[0].decode("utf-8"),
        "speaker": f["speaker"].bytes_list.value[0].decode("utf-8") if "speaker" in f else "",
    }


def shard_name(split: str, index: int, count: int, compressed: bool = False) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord" + (".gz" if compressed else "")
