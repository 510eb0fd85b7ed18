"""bench/model_side_probes.py: the greedy reading with a bias, and which layers it re-estimates."""
import numpy as np
import pytest
from conftest import bench_module


def load_probes():
    return bench_module("model_side_probes")


def test_a_blank_bias_changes_what_the_best_path_reads():
    from tfrecords_tools.alphabet import Alphabet

    probes, alphabet = load_probes(), Alphabet.english()
    a, blank = alphabet.characters.index("a"), alphabet.blank_index
    lp = np.full((3, alphabet.num_classes), -9.0)
    lp[0, a], lp[1, blank], lp[1, a], lp[2, a] = 0.0, -0.1, -0.3, 0.0  # a · blank · a
    assert probes.greedy_cer(alphabet, ["aa"], [lp]) == 0.0  # the blank splits the repeat
    assert probes.greedy_cer(alphabet, ["aa"], [lp], {blank: -0.5}) == 50.0  # "a": one deleted
    assert probes.greedy_cer(alphabet, ["aa"], [lp], {blank: +0.5}) == 0.0


def test_every_batch_norm_of_the_network_is_found():
    from ds2_tf.config import preset
    from ds2_tf.model.deepspeech2 import build_model
    from ds2_tf.model.masked import MaskedBatchNorm
    from tfrecords_tools.alphabet import Alphabet

    config = preset("tiny")
    model = build_model(config, Alphabet.english().num_classes)
    found = load_probes().batch_norms(model)
    assert all(isinstance(bn, MaskedBatchNorm) for bn in found)
    assert len(found) == len(config.model.conv) + config.model.rnn_layers


def test_a_bad_split_or_run_is_one_line(tmp_path):
    probes = load_probes()
    with pytest.raises(SystemExit, match="expected NAME=DATA:SPLIT with DATA a prepared corpus"):
        probes.main(["--split", f"dev={tmp_path}:dev", "--label", "x", "--out", str(tmp_path)])
    (tmp_path / "dataset.json").write_text("{")
    with pytest.raises(SystemExit, match="dataset.json: not valid JSON"):
        probes.main(["--split", f"dev={tmp_path}:dev", "--label", "x", "--out", str(tmp_path)])
    (tmp_path / "dataset.json").write_text('{"splits": {"train": {}}}')
    with pytest.raises(SystemExit, match=r"has no split 'dev' \(it has train\)"):
        probes.main(["--split", f"dev={tmp_path}:dev", "--label", "x", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="model_side_probes: .*nowhere"):
        probes.main(["--split", f"t={tmp_path}:train", "--run", str(tmp_path / "nowhere"),
                     "--label", "x", "--out", str(tmp_path)])
