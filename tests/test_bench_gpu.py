"""bench/gpu.py runs end to end (on this CPU, as a smoke run of the script, not a measurement) and
refuses without a GPU unless told otherwise."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def run_bench(*args):
    return subprocess.run([sys.executable, "bench/gpu.py", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=600)


def test_refuses_in_one_line_without_a_gpu(tmp_path):
    result = run_bench("--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "bench/gpu.py: no GPU visible to TensorFlow; nothing to measure")
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path):
    result = run_bench("--preset", "tiny", "--allow-cpu", "--precision", "float32",
                       "--loops", "cudnn", "stacked", "--seconds", "1", "--rounds", "1",
                       "--max-batch-cap", "80", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads((tmp_path / "gpu_smoke_cpu_tiny.json").read_text())
    assert set(data["loops"]) == {"cudnn", "stacked"}
    for entry in data["loops"].values():
        assert entry["audio_s_per_s"]["ours"] > 0 and entry["audio_s_per_s"]["stock"] > 0
    assert data["largest_batch"]["largest_batch"] >= 40
    assert "model parallelism: needs 2 GPUs" in data["skipped"]
    assert "| cudnn |" in (tmp_path / "gpu_smoke_cpu_tiny.md").read_text()
