"""The ``ds2`` command line: every step of the recipe is a re-runnable subcommand.

One small module per command group registers its subcommands (``register``); heavy imports happen
inside the commands so ``ds2 --help`` is instant. Expected failures (bad paths, bad flags,
unusable data) end with one line ``ds2 <command>: error: <reason>`` and exit 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from ds2_tf.cli import (corpus_commands, decode_commands, export_entry, lm_commands,
                        model_commands, train_command)

# In the order ``ds2 --help`` lists them: the data flow.
COMMAND_GROUPS = (corpus_commands, train_command, decode_commands, lm_commands, model_commands,
                  export_entry)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ds2", description="Deep Speech 2 for TensorFlow")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def quiet_tensorflow_import() -> None:
    """Import TensorFlow with C++ start-up chatter (oneDNN/CUDA notices that TF_CPP_MIN_LOG_LEVEL
    does not reach) kept off stderr; Python errors still surface normally."""
    from tfrecords_tools.quiet import native_stderr_silenced

    with native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def one_line(err: BaseException) -> str:
    """The line of an error that says what went wrong. A traced function's error starts with
    "in user code:" and a stack; its own message is the last "...Error: ..." line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if lines[0].startswith("in user code"):
        for i in range(len(lines) - 1, -1, -1):
            if "Error: " in lines[i]:  # Keras puts the cause on the line after
                after = lines[i + 1:i + 2]
                cause = after[0] if after and not after[0].startswith("Arguments") else ""
                return f"{lines[i]} {cause}".strip()
        return lines[-1]
    return lines[0]


def main(argv: list[str] | None = None) -> int:
    # TensorFlow's C++ log is not for our users: on a CPU without AVX-512 every model run logged
    # "E0000 … oneDNN supports DT_BOOL only on platforms with AVX-512" (harmless: it falls back).
    # Real failures reach them as Python errors, one line each; DS2_DEBUG=1 keeps TensorFlow's
    # errors in the log along with the traceback.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if os.environ.get("DS2_DEBUG") else "3")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:  # its own parser (flags pass through untouched)
        from ds2_tf.cli.export_entry import run_client

        return run_client(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        quiet_tensorflow_import()
        return args.func(args)
    except KeyboardInterrupt:
        print(f"ds2 {args.command}: interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, RuntimeError,
            PermissionError) as err:
        if os.environ.get("DS2_DEBUG"):
            raise
        print(f"ds2 {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
