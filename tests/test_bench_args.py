"""bench/accuracy.py passes flag strings through to `ds2 synth` / `ds2 train`."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def load_accuracy():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_accuracy", BENCH / "accuracy.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_a_lone_flag_is_taken_as_the_value_of_train_args():
    attach = load_accuracy().attach_passthrough_values
    argv = ["--label", "x", "--train-args", "--no-spec-augment",
            "--synth-args", "--augment --noise-prob 0.3", "--minutes", "5"]
    assert attach(argv) == ["--label", "x", "--train-args=--no-spec-augment",
                            "--synth-args=--augment --noise-prob 0.3", "--minutes", "5"]
    assert attach(["--train-args=--epochs 2"]) == ["--train-args=--epochs 2"]
    assert attach(["--train-args"]) == ["--train-args"]  # argparse then names the missing value
