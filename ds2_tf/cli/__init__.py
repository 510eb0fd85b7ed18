"""The ``ds2`` command line (:mod:`ds2_tf.cli.app`); one module per command group."""
from ds2_tf.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
