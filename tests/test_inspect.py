from tests.conftest import ds2, needs_espeak
from tfrecords_tools.inspect_shards import inspect_dataset

pytestmark = needs_espeak


def test_inspect_passes_a_sound_corpus(synth_corpus):
    summary, problems = inspect_dataset(synth_corpus)
    assert problems == []
    assert "[train]" in summary and "#" in summary


def test_inspect_detects_a_corrupted_shard(synth_corpus, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(synth_corpus, copy)
    shard = sorted(copy.glob("train-*.tfrecord"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte inside a record's audio
    shard.write_bytes(bytes(data))
    _, problems = inspect_dataset(copy)
    assert any("corrupted" in p for p in problems), problems
    result = ds2("inspect", str(copy))
    assert result.returncode == 1 and "problem" in result.stderr
