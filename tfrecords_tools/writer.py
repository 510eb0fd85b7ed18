"""Atomic sharded TFRecord writing and the dataset.json that describes a prepared corpus.

Shards are written into a hidden temp folder and renamed into place only when the split is
complete, and dataset.json is replaced atomically last: an interrupted run leaves the previous
state intact, and a re-run refuses to overwrite a split unless asked.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

from tfrecords_tools.schema import parse_example, shard_name

DATASET_JSON = "dataset.json"


class ShardedWriter:
    """Streams serialized examples into shards of about ``shard_bytes`` each."""

    def __init__(self, out_dir: str | Path, split: str, shard_bytes: int = 32 << 20,
                 compress: bool = False):
        self.out_dir = Path(out_dir)
        self.split = split
        self.shard_bytes = shard_bytes
        self.compress = compress
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{split}-", dir=self.out_dir))
        self._parts: list[Path] = []
        self._writer = None
        self._bytes = 0
        self.num_records = 0

    def write(self, serialized: bytes) -> None:
        if self._writer is None or self._bytes >= self.shard_bytes:
            self._open_next()
        self._writer.write(serialized)
        self._bytes += len(serialized)
        self.num_records += 1

    def _open_next(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self._tmp / f"part-{len(self._parts):05d}"
        options = tf.io.TFRecordOptions(compression_type="GZIP" if self.compress else "")
        self._writer = tf.io.TFRecordWriter(str(path), options)
        self._parts.append(path)
        self._bytes = 0

    def commit(self) -> list[str]:
        """Close, replace any old shards of this split, and move the new ones into place."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for old in self.out_dir.glob(f"{self.split}-?????-of-?????.tfrecord*"):
            old.unlink()
        names = []
        for index, part in enumerate(self._parts):
            name = shard_name(self.split, index, len(self._parts), self.compress)
            os.replace(part, self.out_dir / name)
            names.append(name)
        shutil.rmtree(self._tmp, ignore_errors=True)
        return names

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()


def read_dataset_json(data_dir: str | Path) -> dict:
    path = Path(data_dir) / DATASET_JSON
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found (run `ds2 prepare` or `ds2 synth` first)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def write_dataset_json(data_dir: str | Path, info: dict) -> None:
    path = Path(data_dir) / DATASET_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def shard_paths(data_dir: str | Path, split: str) -> list[str]:
    info = read_dataset_json(data_dir)
    if split not in info.get("splits", {}):
        raise ValueError(f"{Path(data_dir) / DATASET_JSON}: no split {split!r} "
                         f"(have: {', '.join(info.get('splits', {})) or 'none'})")
    return [str(Path(data_dir) / name) for name in info["splits"][split]["shards"]]


def split_examples(data_dir: str | Path, split: str) -> Iterator[dict]:
    """Every example of a split, parsed (``schema.parse_example``); GZIP shards by their name."""
    for path in shard_paths(data_dir, split):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: shard listed in {Path(data_dir) / DATASET_JSON} "
                                    "is missing")
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression).as_numpy_iterator():
            yield parse_example(record)
