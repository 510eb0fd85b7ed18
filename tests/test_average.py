"""`ds2 average`: a run whose weights are the weighted mean of several runs', usable (and
releasable) like a trained one; mismatched runs and bad flags are one-line errors."""
import json
import shutil

import numpy as np
import pytest

from ds2_tf.cli.app import main as ds2_main


def shifted_copy(run, out, shift: float):
    """``run`` with every floating-point variable moved by ``shift`` (a second "run")."""
    from ds2_tf.model.run_dir import BEST, load_run

    shutil.copytree(run, out)
    model, _, _ = load_run(run)
    model.set_weights([w + shift if np.issubdtype(w.dtype, np.floating) else w
                       for w in model.get_weights()])
    model.save_weights(str(out / BEST))
    return out


def test_average_is_the_weighted_mean_and_loads_like_a_run(trained_run, synth_corpus, tmp_path,
                                                           capsys, monkeypatch):
    import ds2_tf
    import ds2_tf.model.released as released
    from tfrecords_tools.writer import split_examples
    from ds2_tf.model.run_dir import load_run

    other = shifted_copy(trained_run, tmp_path / "other", 1.0)
    out = tmp_path / "avg"
    assert ds2_main(["average", "--run", str(trained_run), "--run", str(other),
                     "--weight", "3", "--weight", "1", "--out", str(out)]) == 0
    assert f"averaged 0.75 × {trained_run.resolve()} + 0.25 × {other.resolve()} → {out}" \
        in capsys.readouterr().out
    base, _, _ = load_run(trained_run)
    averaged, _, _ = load_run(out)
    floats = [(a, b) for a, b in zip(base.get_weights(), averaged.get_weights())
              if np.issubdtype(a.dtype, np.floating)]
    assert floats
    for a, b in floats:
        np.testing.assert_allclose(b, a + 0.25, rtol=1e-5, atol=1e-5)
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["completed"] and [s["weight"] for s in summary["averaged_from"]] == [0.75, 0.25]

    # A released model averages by name: with its own release (float16 weights), a run stays
    # itself to float16 precision.
    monkeypatch.setattr(released, "RELEASED_ROOT", tmp_path / "released")
    released.write_release(trained_run, "tiny_en", {"version": 1}, root=tmp_path / "released")
    with_release = tmp_path / "with_release"
    assert ds2_main(["average", "--run", str(trained_run), "--run", "tiny_en",
                     "--out", str(with_release)]) == 0
    near, _, _ = load_run(with_release)
    for a, b in zip(base.get_weights(), near.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)
    # A run averaged with itself is that run, exactly: the same transcript of an utterance it
    # learned.
    same = tmp_path / "same"
    assert ds2_main(["average", "--run", str(trained_run), "--run", str(trained_run),
                     "--out", str(same)]) == 0
    example = next(iter(split_examples(synth_corpus, "train")))
    waveform = np.frombuffer(example["audio"], "<i2").astype(np.float32) / 32768
    text = ds2_tf.load_model(trained_run).transcribe(waveform)
    assert text and ds2_tf.load_model(same).transcribe(waveform) == text


@pytest.mark.parametrize("extra, message", [
    ([], "averaging needs at least two runs"),
    (["--run", "{run}", "--weight", "1"], "1 weights for 2 runs"),
    (["--run", "{run}", "--weight", "1", "--weight", "0"], "weights must be positive"),
    (["--run", "{streaming}"], "another network or other features than"),
    (["--run", "{run}", "--out", "{full}"], "exists and is not empty"),
    (["--run", "{tmp}/nowhere"], "nowhere: no such run directory or released model"),
])
def test_bad_averages_are_one_line(trained_run, tmp_path, capsys, extra, message):
    from ds2_tf.config import preset

    streaming = tmp_path / "streaming"
    streaming.mkdir()
    preset("tiny-streaming").save(streaming / "config.json")
    shutil.copyfile(trained_run / "alphabet.json", streaming / "alphabet.json")
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    names = {"run": trained_run, "streaming": streaming, "full": full, "tmp": tmp_path}
    args = ["average", "--run", str(trained_run), "--out", str(tmp_path / "out")]
    args += [a.format(**names) for a in extra]
    assert ds2_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ds2 average: error: ") and message in err[0], err
