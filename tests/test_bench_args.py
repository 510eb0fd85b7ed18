"""bench/accuracy.py passes flag strings through to `ds2 synth` / `ds2 train`."""
from conftest import bench_module


def load_accuracy():
    return bench_module("accuracy")


def test_a_lone_flag_is_taken_as_the_value_of_train_args():
    attach = load_accuracy().attach_passthrough_values
    argv = ["--label", "x", "--train-args", "--no-spec-augment",
            "--synth-args", "--augment --noise-prob 0.3", "--minutes", "5"]
    assert attach(argv) == ["--label", "x", "--train-args=--no-spec-augment",
                            "--synth-args=--augment --noise-prob 0.3", "--minutes", "5"]
    assert attach(["--train-args=--epochs 2"]) == ["--train-args=--epochs 2"]
    assert attach(["--train-args"]) == ["--train-args"]  # argparse then names the missing value


def test_rates_by_engine_groups_an_evaluate_report_by_the_test_voices_engine(tmp_path):
    report = tmp_path / "eval-test-greedy.tsv"
    report.write_text("utt_id\twer\tcer\treference\thypothesis\n"
                      "a\t0\t0\tgo forward\tgo forward\n"
                      "b\t0\t0\tten meters\tten meters\n"
                      "c\t1\t0.5\tgo home\tgo hom\n", encoding="utf-8")
    speakers = {"a": "espeak:en+m4", "b": "espeak:en+Andrea", "c": "piper:joe-us"}
    rates = load_accuracy().rates_by_engine(report, speakers)
    assert set(rates) == {"espeak", "piper"}
    assert rates["espeak"]["cer"] == 0 and rates["espeak"]["num_utterances"] == 2
    assert rates["piper"]["cer"] == 1 / 7 and rates["piper"]["num_utterances"] == 1


def test_stop_voicing_counts_voiceless_stops_written_voiced_and_the_reverse(tmp_path):
    module = bench_module("stop_voicing")
    report = tmp_path / "eval-asterisk-greedy.tsv"
    report.write_text("utt_id\twer\tcer\treference\thypothesis\n"
                      "a\t1\t0.2\tplease tap\tbleas dap\n"  # p→b, t→d; p kept; e deleted
                      "b\t0\t0\tgood dog\tgood dog\n"
                      "c\t1\t0.1\tbig\tpig\n", encoding="utf-8")  # b→p
    subs, chars = module.substitutions(report)
    assert subs[("p", "b")] == 1 and subs[("t", "d")] == 1 and subs[("b", "p")] == 1
    rates = module.voicing(subs, chars)
    assert rates["voiceless_stops"] == 3 and rates["voiced_stops"] == 6  # p p t / g d d g b g
    assert rates["devoiced_to_voiced"] == 2 / 3 and rates["voiced_to_devoiced"] == 1 / 6
