"""bench/compare_runs.py: per-split CER of several runs' reports and a paired bootstrap against a
control, with missing reports left out in one line."""
import json
from pathlib import Path

from conftest import bench_module

compare_runs = bench_module("compare_runs")

REFS = [f"the quick brown fox number {i} jumps" for i in range(60)]


def write(folder: Path, split: str, hyps: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["utt_id\twer\tcer\treference\thypothesis"]
    lines += [f"u{i}\t0\t0\t{r}\t{h}" for i, (r, h) in enumerate(zip(REFS, hyps))]
    (folder / f"eval-{split}-greedy.tsv").write_text("\n".join(lines) + "\n")
    return folder


def test_a_clearly_better_run_is_told_from_noise_and_a_copy_is_not(tmp_path, capsys):
    worse = [r.replace("quick", "kwik").replace("jumps", "jums") for r in REFS]
    control = write(tmp_path / "control", "dev", worse)
    better = write(tmp_path / "better", "dev", REFS)  # every utterance right
    same = write(tmp_path / "same", "dev", worse)
    code = compare_runs.main([f"control={control}", f"better={better}", f"same={same}",
                              "--control", "control", "--splits", "dev", "asterisk_dev",
                              "--label", "cmp", "--results", str(tmp_path / "out")])
    assert code == 0
    result = json.loads((tmp_path / "out" / "cmp.json").read_text())["splits"]
    assert set(result) == {"dev"}  # no run has asterisk_dev: the split is left out
    assert result["dev"]["better"]["cer"] == 0 and result["dev"]["control"]["cer"] > 0.05
    assert result["dev"]["better"]["lower_than_control"] > 0.99
    assert result["dev"]["same"]["lower_than_control"] == 0
    assert "lower_than_control" not in result["dev"]["control"]
    err = capsys.readouterr().err
    assert f"note: better: {better}/eval-asterisk_dev-greedy.tsv missing; left out" in err
    assert "| dev | better | 60 | 0.00 % |" in (tmp_path / "out" / "cmp.md").read_text()


def test_bad_arguments_are_one_line(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit):
        compare_runs.main(["a", "--control", "a", "--label", "x"])
    assert "'a': expected NAME=DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare_runs.main([f"a={tmp_path}", "--control", "b", "--label", "x"])
    assert "--control b: not one of a" in capsys.readouterr().err
