"""Training: it learns, it guards against NaN, it resumes after SIGKILL, it distributes."""
import csv
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import REPO, ds2, needs_espeak

pytestmark = needs_espeak


@pytest.mark.slow
def test_tiny_learns_a_few_synthetic_utterances(trained_run, synth_corpus):
    from ds2_tf.evaluation.evaluate import evaluate

    result = evaluate(trained_run, synth_corpus, split="train")
    assert result["cer"] <= 0.05, result
    for name in ("config.json", "alphabet.json", "best.weights.h5", "last.weights.h5",
                 "history.csv", "train_summary.json"):
        assert (trained_run / name).exists(), name
    assert list((trained_run / "logs").rglob("events.out.tfevents*"))


def test_schedule_warms_up_then_anneals_by_steps_or_by_the_time_budget():
    from ds2_tf.training.callbacks import TimeBudget
    from ds2_tf.training.optimizer import BudgetCosine

    progress = tf.Variable(0.0)
    lr = BudgetCosine(1.0, warmup_steps=10, total_steps=1000, final_fraction=0.05,
                      progress=progress)
    assert float(lr(0)) == pytest.approx(0.1, rel=1e-3)  # warming up
    assert float(lr(10)) == pytest.approx(1.0, rel=1e-2)  # peak
    assert float(lr(1000)) == pytest.approx(0.05, rel=1e-3)  # annealed by steps
    progress.assign(0.5)  # half the time budget spent after 20 of 1000 steps
    assert float(lr(20)) == pytest.approx(0.05 + 0.95 * 0.5, rel=1e-3)
    progress.assign(1.0)
    assert float(lr(20)) == pytest.approx(0.05, rel=1e-3)

    budget = TimeBudget(minutes=1e-4, progress=progress)  # 6 ms
    progress.assign(0.0)
    budget.set_model(keras.Model())
    time.sleep(0.01)
    budget.on_train_batch_end(0)
    assert budget.expired and float(progress) == 1.0

    from ds2_tf.config import preset
    from ds2_tf.training.optimizer import make_schedule
    short = make_schedule(preset("small").train, total_steps=140)  # decay_steps is 20 000
    assert float(short(140)) == pytest.approx(6e-4 * 0.05, rel=1e-3)  # annealed by the run's end
    long = make_schedule(preset("small").train, total_steps=50_000)
    assert float(long(20_000)) == pytest.approx(6e-4 * 0.05, rel=1e-3)  # by decay_steps


def test_a_resumed_run_spends_what_is_left_of_its_time_budget(tmp_path):
    """The time spent is kept beside the run; a resumed run (its backup exists) starts from it,
    so its learning rate keeps annealing instead of jumping back to the peak."""
    from ds2_tf.training.callbacks import TimeBudget

    spent_file = tmp_path / "time_spent.json"
    first = TimeBudget(minutes=10, progress=tf.Variable(0.0), spent_file=spent_file)
    first.set_model(keras.Model())
    first.spent_before = 360.0  # as if 6 of the 10 minutes had gone
    first.on_train_batch_end(0)
    first.on_train_end()  # the file is also written every SAVE_EVERY_S while training
    assert json.loads(spent_file.read_text())["seconds"] == pytest.approx(360, abs=1)
    progress = tf.Variable(0.0)
    resumed = TimeBudget(minutes=10, progress=progress, spent_file=spent_file, resuming=True)
    resumed.set_model(keras.Model())
    resumed.on_train_batch_end(0)
    assert float(progress) == pytest.approx(0.6, abs=0.01) and not resumed.expired
    fresh = TimeBudget(minutes=10, progress=progress, spent_file=spent_file)  # a new run
    fresh.set_model(keras.Model())
    fresh.on_train_batch_end(0)
    assert float(progress) < 0.01
    spent_file.write_text("{damaged")
    assert TimeBudget(minutes=10, spent_file=spent_file, resuming=True).spent_before == 0.0


def test_nan_batch_triggers_the_guard_naming_the_step(synth_corpus):
    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import preset
    from ds2_tf.data.pipeline import make_dataset
    from ds2_tf.model.deepspeech2 import build_model
    from ds2_tf.training.callbacks import NaNGuard, NonFiniteLoss
    from ds2_tf.training.optimizer import make_optimizer

    config = preset("tiny").replace(train={"batch_frames": 800})
    model = build_model(config, 29)
    model.compile(optimizer=make_optimizer(config.train, 100))
    ds = make_dataset(str(synth_corpus), "train", config, Alphabet.english())

    def poison(index, batch):
        x, y = batch
        bad = tf.where(index == 1, np.float32("nan"), 0.0)
        return {**x, "waveform": x["waveform"] + bad}, y

    ds = ds.enumerate().map(poison)
    with pytest.raises(NonFiniteLoss, match=r"epoch 1, batch 2 \(global step"):
        model.fit(ds, epochs=1, callbacks=[NaNGuard()], verbose=0)


@pytest.mark.slow
def test_sigkill_mid_training_resumes_from_backup(synth_corpus, tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "ds2_tf.cli", "train", "--data", str(synth_corpus), "--out",
            str(run), "--preset", "tiny", "--epochs", "4", "--steps-per-epoch", "20",
            "--max-dev", "0"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        meta = run / "backup" / "training_metadata.json"
        try:
            if json.loads(meta.read_text())["epoch"] >= 1:  # a backup inside the second epoch
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "train_summary.json").exists(), "killed too late: training had finished"
    result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["completed"] and 1 <= summary["epochs_run"] < 4, summary
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(run / "history.csv"))]
    assert epochs[-1] == 3 and sorted(set(epochs)) == [0, 1, 2, 3]


def run_script(name: str, *args: str) -> dict:
    """Run tests/scripts/NAME in its own process (logical devices must be configured before
    TensorFlow initializes) and return the JSON it prints."""
    result = subprocess.run([sys.executable, str(REPO / "tests" / "scripts" / name), *args],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_mirrored_over_two_cpus_gives_the_default_strategys_loss():
    losses = run_script("mirrored_loss.py")
    assert losses["replicas"] == 2
    np.testing.assert_allclose(losses["mirrored"], losses["default"], rtol=1e-5)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_on_localhost_end_with_identical_weights(synth_corpus, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "ds2_tf.cli", "train", "--data", str(synth_corpus), "--out",
             str(tmp_path / f"w{index}"), "--preset", "tiny", "--epochs", "2",
             "--steps-per-epoch", "3", "--max-dev", "0"],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    weights = []
    for index in range(2):
        with h5py.File(tmp_path / f"w{index}" / "last.weights.h5") as f:
            arrays = []
            f.visititems(lambda name, obj: arrays.append((name, obj[()])) if hasattr(obj, "shape") else None)
            weights.append(dict(arrays))
    assert weights[0].keys() == weights[1].keys() and len(weights[0]) > 5
    for name in weights[0]:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    summary = json.loads((tmp_path / "w0" / "train_summary.json").read_text())
    assert summary["replicas"] == 2 and summary["steps"] == 6


@pytest.mark.slow
def test_mixed_bfloat16_training_with_weight_averaging_loads_back_as_float32(synth_corpus,
                                                                             tmp_path):
    import keras

    from ds2_tf.model.run_dir import load_run
    from ds2_tf.training.train import train

    summary = train(str(synth_corpus), str(tmp_path / "bf16"), preset_name="tiny",
                    train_overrides={"epochs": 1, "precision": "mixed_bfloat16",
                                     "ema_momentum": 0.9},
                    max_dev_utterances=0, verbose=0)
    assert summary["precision"] == "mixed_bfloat16" and np.isfinite(summary["final"]["loss"])
    assert keras.mixed_precision.dtype_policy().name == "float32"  # not leaked
    model, config, _ = load_run(tmp_path / "bf16")
    assert config.train.ema_momentum == 0.9  # saved next to the weights
    assert (tmp_path / "bf16" / "last_raw.weights.h5").exists()  # the un-averaged ones, to compare
    assert all(w.dtype == "float32" and np.isfinite(w.numpy()).all() for w in model.weights)
    out = model({"waveform": np.zeros((1, 16000), np.float32), "num_samples": np.array([16000])})
    assert out["logits"].dtype == tf.float32


def test_best_checkpoint_selection_uses_cer_while_wer_is_saturated():
    from ds2_tf.training.callbacks import selection_score

    # epochs of a real demo run: WER stuck near 100 % while CER fell from 87 % to 50 %
    epochs = [(0.999, 0.867), (1.002, 0.793), (1.010, 0.740), (1.059, 0.584), (1.007, 0.504)]
    scores = [selection_score(w, c) for w, c in epochs]
    assert scores.index(min(scores)) == 4
    assert selection_score(0.85, 0.40) < selection_score(0.95, 0.10)  # real words win
    assert selection_score(0.30, 0.10) < selection_score(0.40, 0.05)  # then WER decides


def test_train_flags_override_the_preset(monkeypatch):
    from ds2_tf.cli import build_parser

    seen = {}
    monkeypatch.setattr("ds2_tf.training.train.train", lambda *a, **kw: seen.update(kw))
    for flags, key, expected in ((["--spec-augment"], "spec_augment", True),
                                 (["--no-spec-augment"], "spec_augment", False),
                                 (["--no-sortagrad"], "sortagrad", False),
                                 (["--ema", "0.999"], "ema_momentum", 0.999),
                                 (["--seed", "7"], "seed", 7),
                                 (["--spectral-tilt", "0.7"], "spectral_tilt", 0.7)):
        args = build_parser().parse_args(["train", "--data", "d", "--out", "o", *flags])
        args.func(args)
        assert seen["train_overrides"][key] == expected
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o"])
    args.func(args)
    # the preset decides
    assert not {"spec_augment", "sortagrad", "ema_momentum", "seed"} & set(seen["train_overrides"])
    assert seen["feature_overrides"] == {}
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--batch-frames",
                                      "4000", "--feature-normalization", "utterance"])
    args.func(args)
    assert seen["train_overrides"] == {"batch_frames": 4000}
    assert seen["feature_overrides"] == {"normalization": "utterance"}
    assert seen["model_overrides"] == {}
    args = build_parser().parse_args(["train", "--data", "d", "--out", "o", "--rnn-loop", "cudnn",
                                      "--model-parallel", "time"])
    args.func(args)
    assert seen["model_overrides"] == {"rnn_loop": "cudnn", "model_parallel": "time"}


def test_every_train_flag_in_the_table_names_a_config_field():
    import dataclasses

    from ds2_tf.cli import build_parser
    from ds2_tf.cli.train_command import TRAIN_FLAGS
    from ds2_tf.config import RunConfig

    dests = {a.dest for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions}
    fields = {name: {f.name for f in dataclasses.fields(getattr(RunConfig(), name))}
              for name in ("train", "features", "model")}
    for dest, section, field in TRAIN_FLAGS:
        assert dest in dests and field in fields[section], (dest, section, field)


@pytest.mark.parametrize("flags, reason", [
    (["--preset", "streaming", "--feature-normalization", "utterance"], "unidirectional"),
    (["--ema", "1.5"], "ema_momentum must be in [0, 1)"),
])
def test_bad_train_flags_are_one_line_errors_before_any_data_is_read(tmp_path, flags, reason):
    result = ds2("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *flags)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flags, warns", [("fpu avx fma", True), ("avx512f avx512_bf16", False),
                                          ("amx_tile amx_bf16", False)])
def test_mixed_bfloat16_warns_on_cpus_without_bfloat16_instructions(tmp_path, monkeypatch, capsys,
                                                                    flags, warns):
    from ds2_tf.training import devices as train

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    parsed = train.cpu_flags(str(cpuinfo))
    assert parsed == set(flags.split())
    monkeypatch.setattr(train, "cpu_flags", lambda: parsed)
    policy = keras.mixed_precision.dtype_policy()
    try:
        train.set_precision("mixed_bfloat16")
    finally:
        keras.mixed_precision.set_dtype_policy(policy)
    assert ("no bfloat16 instructions" in capsys.readouterr().err) is warns


def check_one_weight_run(run, stop_early, steps_per_epoch=4, momentum=0.5):
    """tests/scripts/ema_one_weight.py's record: training unchanged, epoch-end callbacks and the
    finished model see the moving average, the raw file holds the raw weight."""
    raw = run["raw"]
    assert len(raw) == (2 if stop_early else 3) * steps_per_epoch
    assert raw == pytest.approx([1 - 0.8 ** (t + 1) for t in range(len(raw))])
    average, averages = None, []
    for w in raw:  # Keras starts the average at the first step's weights
        average = w if average is None else momentum * average + (1 - momentum) * w
        averages.append(average)
    assert run["at_epoch_end"] == pytest.approx(averages[steps_per_epoch - 1::steps_per_epoch])
    assert run["final"] == pytest.approx(averages[-1])
    assert averages[-1] < raw[-1] - 0.01  # the average lags: a real difference to detect
    assert run["raw_file"] == pytest.approx(raw[-1]) and not run["raw_file_before_fit"]


@pytest.mark.parametrize("stop_early", [False, True], ids=["all-epochs", "stopped-early"])
def test_averaged_weights_reach_epoch_end_callbacks_and_the_final_model(stop_early, tmp_path):
    from tests.scripts.ema_one_weight import one_weight_run

    check_one_weight_run(one_weight_run(tmp_path / "raw.weights.h5", stop_early), stop_early)


@pytest.mark.slow
def test_averaged_weights_under_mirrored_strategy_over_two_cpus(tmp_path):
    run = run_script("ema_one_weight.py", str(tmp_path / "raw.weights.h5"))
    assert run["replicas"] == 2
    check_one_weight_run(run, stop_early=True)


@pytest.mark.slow
def test_init_from_starts_where_the_source_run_ended(trained_run, synth_corpus, tmp_path):
    """Fine-tuning: one step from the trained run stays near its CER (a fresh tiny model is at
    ~100 %), the source's feature statistics come along, and the run records where it began."""
    from ds2_tf.evaluation.evaluate import evaluate
    from ds2_tf.model.run_dir import load_run
    from ds2_tf.training.train import train

    out = tmp_path / "tuned"
    train(str(synth_corpus), str(out), preset_name="tiny",
          train_overrides={"epochs": 1, "init_from": str(trained_run), "learning_rate": 1e-6},
          steps_per_epoch=1, max_dev_utterances=0, verbose=0)
    source, _, _ = load_run(trained_run)
    tuned, config, _ = load_run(out)
    assert config.train.init_from == str(trained_run)
    np.testing.assert_array_equal(tuned.spectrogram.mean.numpy(), source.spectrogram.mean.numpy())
    for a, b in zip(tuned.trainable_weights, source.trainable_weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)
    assert evaluate(out, synth_corpus, split="train")["cer"] <= 0.1


def test_init_from_may_switch_to_per_utterance_normalization_with_a_note(trained_run, capsys):
    from ds2_tf.model.run_dir import run_files, warm_start_weights, weights_path

    config, alphabet = run_files(trained_run)
    assert config.features.normalization == "global"
    switched = dataclasses.replace(
        config, features=dataclasses.replace(config.features, normalization="utterance"))
    assert warm_start_weights(switched, alphabet, trained_run) == weights_path(trained_run)
    assert ("was trained with 'global' feature normalization, this run uses 'utterance'"
            in capsys.readouterr().err)
    assert warm_start_weights(config, alphabet, trained_run) == weights_path(trained_run)
    assert capsys.readouterr().err == ""  # the same normalization: nothing to say


def test_init_from_rejects_another_network_alphabet_or_a_missing_run(synth_corpus, tmp_path):
    from tfrecords_tools.alphabet import Alphabet
    from ds2_tf.config import preset
    from tests.conftest import ds2

    source = tmp_path / "source"  # what warm-starting checks comes before any weights
    source.mkdir()
    preset("tiny").save(source / "config.json")
    Alphabet.from_transcripts(["abc"]).save(source / "alphabet.json")
    other_window = tmp_path / "other_window"  # another spectrogram: its weights cannot fit
    other_window.mkdir()
    config = preset("tiny")
    dataclasses.replace(config, features=dataclasses.replace(config.features, window_ms=32.0)) \
        .save(other_window / "config.json")
    Alphabet.from_transcripts(["abc"]).save(other_window / "alphabet.json")
    cases = [("tiny-streaming", source, "--init-from needs the same network and features; the "
                                        "networks differ (that run is preset 'tiny'; "
                                        "this one 'tiny-streaming')"),
             ("tiny", other_window, "the features differ (that run is preset 'tiny', "
                                    "FeatureConfig(sample_rate_hz=16000, window_ms=32.0"),
             ("tiny", source, "--init-from needs the same alphabet as the corpus"),
             ("tiny", tmp_path / "nowhere", "nowhere: no such run directory or released model")]
    for name, run, message, *normalization in cases:
        extra = ["--feature-normalization", *normalization] if normalization else []
        result = ds2("train", "--data", str(synth_corpus), "--out", str(tmp_path / name / run.name),
                     "--preset", name, "--init-from", str(run), *extra)
        assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        assert message in result.stderr.strip().splitlines()[-1], result.stderr


@pytest.mark.parametrize("flags, auto", [("fpu avx fma avx512f", "float32"),
                                         ("avx512f avx512_bf16", "mixed_bfloat16"),
                                         ("amx_tile amx_bf16", "mixed_bfloat16"),
                                         (None, "float32")])
def test_inference_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch, flags, auto):
    from ds2_tf.training import devices

    monkeypatch.setattr(devices, "cpu_flags", lambda: None if flags is None else
                        set(flags.split()))
    assert devices.inference_precision("auto") == auto
    assert devices.inference_precision("float32") == "float32"
    assert devices.inference_precision("bfloat16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="precision must be one of auto, float32, bfloat16"):
        devices.inference_precision("float16")
