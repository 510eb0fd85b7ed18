"""Silence what native libraries print straight to file descriptor 2 (TensorFlow's start-up
notices, KenLM's loading progress bar); Python exceptions are unaffected."""
from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    if os.environ.get("DS2_VERBOSE_NATIVE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
