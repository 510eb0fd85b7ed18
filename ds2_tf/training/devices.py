"""Where training runs: the distribution strategy and the mixed-precision policy for this machine."""
from __future__ import annotations

import os
import sys

import keras
import tensorflow as tf


def choose_strategy(name: str = "auto", model_parallel: str = "none") -> tf.distribute.Strategy:
    """TF_CONFIG → MultiWorkerMirrored; >1 GPU → Mirrored; otherwise the default strategy.

    With ``model_parallel="time"`` each replica owns two devices (ds2_tf/model/time_split.py):
    Mirrored runs one replica per pair, on the pair's first device; "auto" mirrors only when
    there are at least two pairs."""
    per_replica = 2 if model_parallel == "time" else 1
    if name == "auto":
        if os.environ.get("TF_CONFIG"):
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > per_replica:
            name = "mirrored"
        else:
            name = "default"
    if name == "multiworker":
        if per_replica > 1:
            raise ValueError("model_parallel='time' is not supported with the multi-worker "
                             "strategy; use one machine's devices (--strategy mirrored)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        devices = [d.name for d in gpus] or [d.name for d in cpus]
        if len(devices) < per_replica:
            raise ValueError(f"model_parallel='time' needs at least 2 devices; found "
                             f"{len(devices)}")
        return tf.distribute.MirroredStrategy(devices[::per_replica][:len(devices) // per_replica])
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"unknown strategy {name!r} (auto, default, mirrored, multiworker)")


BFLOAT16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}  # bfloat16 arithmetic in hardware

def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags (Linux), or None where they cannot be read."""
    try:
        with open(cpuinfo) as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def cpu_bfloat16() -> bool | None:
    """Whether this machine computes on a CPU with bfloat16 instructions (AMX, AVX512-BF16):
    None where a GPU does the work or the flags cannot be read."""
    if tf.config.list_physical_devices("GPU"):
        return None
    flags = cpu_flags()
    return None if flags is None else bool(flags & BFLOAT16_CPU_FLAGS)


INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16")


def inference_precision(precision: str = "auto") -> str:
    """The Keras dtype policy a recognizer runs in: "float32"; "bfloat16" (mixed_bfloat16:
    matmuls and convolutions in bfloat16, weights kept in float32); "auto": mixed_bfloat16 on a
    CPU with bfloat16 instructions (AMX, AVX512-BF16) and no GPU, float32 elsewhere. Why auto:
    there a batch's matmuls run several times faster in bfloat16, and the released model's greedy
    CER moved by under 0.1 point on both dev sets (docs/usage.md, "Precision")."""
    if precision not in INFERENCE_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(INFERENCE_PRECISIONS)}, "
                         f"not {precision!r}")
    if precision == "auto":
        return "mixed_bfloat16" if cpu_bfloat16() else "float32"
    return "mixed_bfloat16" if precision == "bfloat16" else "float32"


def set_precision(precision: str) -> None:
    if precision == "mixed_float16" and not tf.config.list_physical_devices("GPU"):
        raise ValueError("--precision mixed_float16 needs a GPU; use mixed_bfloat16 on CPUs "
                         "with AMX/AVX512-BF16, or float32")
    if precision == "mixed_bfloat16" and cpu_bfloat16() is False:
        # Without these instructions bfloat16 is emulated: slower than float32
        # (bench/results/epyc_zen3_avx2/).
        print("warning: this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16), so "
              "mixed_bfloat16 is emulated and usually slower than float32 here", file=sys.stderr)
    keras.mixed_precision.set_dtype_policy(precision)
