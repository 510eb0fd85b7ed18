"""Input pipeline: constant-frame buckets, replica-divisible batches, SortaGrad, filtering."""
import numpy as np
import tensorflow as tf

from tfrecords_tools.alphabet import Alphabet
from ds2_tf.config import preset
from ds2_tf.data.pipeline import bucket_plan, make_dataset
from tests.conftest import needs_espeak

SPLIT = {"length_histogram": {"edges_s": list(range(0, 17)),
                              "counts": [0, 5, 20, 40, 60, 60, 50, 40, 30, 20, 10, 8, 6, 4, 2, 1]},
         "duration_s": {"max": 15.7}, "hours": 1.0}


def test_buckets_hold_padded_frames_roughly_constant_and_divide_by_replicas():
    config = preset("small").replace(train={"batch_frames": 20000, "max_batch_size": 512})
    for replicas in (1, 2, 4):
        boundaries, sizes = bucket_plan(SPLIT, config, replicas)
        assert len(sizes) == len(boundaries) + 1 and boundaries == sorted(boundaries)
        assert all(s % replicas == 0 and s >= replicas for s in sizes)
        uppers = boundaries + [int(15.7 * 16000) + 1]
        padded = [s * config.features.num_frames(u) for s, u in zip(sizes, uppers)]
        assert max(padded) <= 20000 and min(padded) > 20000 * 0.6, padded


@needs_espeak
def test_sortagrad_first_epoch_is_shortest_first_then_shuffled(synth_corpus):
    config = preset("tiny").replace(train={"batch_frames": 400, "num_buckets": 1})
    epoch = tf.Variable(0, dtype=tf.int64)
    ds = make_dataset(str(synth_corpus), "train", config, Alphabet.english(), training=True,
                      epoch=epoch)
    first = [int(n) for x, _ in ds for n in x["num_samples"].numpy()]
    assert first == sorted(first) and len(first) > 5
    orders = set()
    for e in (1, 2, 3):
        epoch.assign(e)
        orders.add(tuple(int(n) for x, _ in ds for n in x["num_samples"].numpy()))
    assert all(sorted(o) == sorted(first) for o in orders)
    assert any(list(o) != first for o in orders)


@needs_espeak
def test_unusable_utterances_are_filtered(synth_corpus):
    # a time stride of 16 leaves too few output frames for most transcripts
    config = preset("tiny").replace(model={"conv": (preset("tiny").model.conv[0].__class__(
        4, (5, 21), (16, 4)),)})
    ds = make_dataset(str(synth_corpus), "train", config, Alphabet.english())
    kept = sum(int(x["num_samples"].shape[0]) for x, _ in ds)
    full = sum(int(x["num_samples"].shape[0]) for x, _ in
               make_dataset(str(synth_corpus), "train", preset("tiny"), Alphabet.english()))
    assert kept < full
    for x, y in ds:
        frames = config.output_length(x["num_samples"].numpy())
        assert np.all(frames >= y["label_length"].numpy())
