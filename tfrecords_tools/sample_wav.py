"""Write one utterance of a prepared split back out as a WAV file (for demos and smoke tests).

Usage: python -m tfrecords_tools.sample_wav DATA_DIR SPLIT OUT.wav [INDEX]
"""
from __future__ import annotations

import os
import sys

import numpy as np
import soundfile

from tfrecords_tools.quiet import native_stderr_silenced

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with native_stderr_silenced():  # TensorFlow's start-up notices (CUDA probing on CPU machines)
    import tensorflow as tf

    tf.config.list_physical_devices("GPU")

from tfrecords_tools.writer import split_examples


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    data_dir, split, out = argv[:3]
    index = int(argv[3]) if len(argv) == 4 else 0
    try:
        for i, ex in enumerate(split_examples(data_dir, split)):
            if i == index:
                soundfile.write(out, np.frombuffer(ex["audio"], "<i2"), ex["sample_rate"],
                                subtype="PCM_16")
                print(f"{out}: {ex['utt_id']} \"{ex['transcript']}\"", file=sys.stderr)
                return 0
    except (OSError, ValueError) as err:  # missing corpus or shard, unknown split
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{data_dir}: split {split} has fewer than {index + 1} utterances", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
