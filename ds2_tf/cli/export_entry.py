"""``ds2 export`` and ``ds2 client``: the one module of ``ds2_tf`` that reaches the ``export``
package (which imports ``ds2_tf``, never the other way); nothing else imports this module but
the command table in :mod:`ds2_tf.cli.app`."""
from __future__ import annotations



def cmd_export(args) -> int:
    from export.exporter import export_run

    export_run(args.run, args.out, name=args.name, version=args.version, tflite=args.tflite,
               int8=args.int8, streaming=args.streaming, overwrite=args.overwrite)
    return 0


def run_client(argv: list[str]) -> int:
    """``ds2 client ...``: the serving client keeps its own parser (flags pass through)."""
    from export.serving_client import main as client_main

    return client_main(argv)


def register(sub) -> None:
    p = sub.add_parser("export", help="SavedModel for TF Serving (+ TFLite, streaming)")
    p.add_argument("--run", "--model", dest="run", required=True, metavar="RUN",
                   help="a run directory, or the name of a released model (e.g. ds2_small_en)")
    p.add_argument("--out", required=True, help="export root: OUT/NAME/VERSION is TF Serving's layout")
    p.add_argument("--name", default="ds2")
    p.add_argument("--version", type=int, default=None, help="default: one above the newest")
    p.add_argument("--tflite", action="store_true", help="also write OUT/NAME-tflite/VERSION/NAME.tflite")
    p.add_argument("--int8", action="store_true", help="also write a dynamic-range int8 TFLite model")
    p.add_argument("--streaming", action="store_true",
                   help="also write the chunked streaming model (unidirectional presets)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    sub.add_parser("client", help="query a TF Serving deployment (gRPC or REST); "
                   "see `ds2 client --help`")
