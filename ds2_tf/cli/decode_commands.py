"""``ds2 evaluate | transcribe | report``: decode with a trained model and score it."""
from __future__ import annotations


from ds2_tf.cli.arguments import add_decoder_flags, lm_options


def cmd_evaluate(args) -> int:
    from ds2_tf.evaluation.evaluate import evaluate

    result = evaluate(args.run, args.data, split=args.split, decoder=args.decoder,
                      beam_width=args.beam_width, report=args.report, limit=args.limit,
                      **lm_options(args))
    print(f"{args.split}: WER {100 * result['wer']:.2f}%  CER {100 * result['cer']:.2f}%  "
          f"({result['num_utterances']} utterances, {result['decoder']} decoding) "
          f"report: {result['report']}")
    return 0


def cmd_transcribe(args) -> int:
    from ds2_tf.inference.recognizer import several_pieces, share_cores
    from ds2_tf.inference.transcribe import transcribe_files

    run, files = (args.model, args.inputs) if args.model else (args.inputs[0], args.inputs[1:])
    # batches side by side, half the cores each, in bfloat16 where the CPU has it; a stream
    # steps one chunk after another; one short file is one batch of one, faster on all the
    # cores and in float32 (bench/results/transcribe_throughput_small*.md)
    several = not args.stream and several_pieces(files)
    if several:
        share_cores()
    precision = args.precision if several or args.precision != "auto" else "float32"
    if not files:
        raise ValueError("no audio files given (ds2 transcribe --model NAME|RUN FILE... or "
                         "ds2 transcribe RUN FILE...)")
    failures = transcribe_files(run, files, decoder=args.decoder, beam_width=args.beam_width,
                                streaming=args.stream, output=args.format, out_dir=args.out_dir,
                                nbest=args.nbest, precision=precision,
                                **lm_options(args))
    return 1 if failures == len(files) else 0


def cmd_report(args) -> int:
    from ds2_tf.evaluation.report import report

    result = report(args.run, data_dir=args.data, export_dir=args.export, out=args.out)
    print(result["table"])
    print(f"table: {result['markdown']}" + (f"  curves: {result['png']}" if result["png"] else ""))
    return 0


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="corpus-level WER/CER on a split")
    p.add_argument("--run", "--model", dest="run", required=True, metavar="RUN",
                   help="a run directory, or the name of a released model (e.g. ds2_small_en)")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    add_decoder_flags(p)
    p.add_argument("--report", default=None, help="per-utterance TSV (default: RUN/eval-SPLIT.tsv)")
    p.add_argument("--limit", type=int, default=None, help="only the first N utterances")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("transcribe", help="transcribe audio files")
    p.add_argument("--model", default=None, metavar="RUN",
                   help="a run directory or a released model name (e.g. ds2_small_en); without "
                        "it the first argument is the run directory")
    p.add_argument("inputs", nargs="+", metavar="FILE", help="[RUN] audio files")
    add_decoder_flags(p)
    p.add_argument("--format", choices=("text", "json", "srt", "vtt"), default="text",
                   help="text: path<TAB>text; json: one object per file with duration, "
                        "confidence and word start/end times; srt/vtt: subtitles (greedy)")
    p.add_argument("--nbest", type=int, default=0, metavar="N",
                   help="with --format json and --decoder beam|lm: the N best transcripts as "
                        "alternatives [{text, score}]")
    p.add_argument("--out-dir", default=None,
                   help="with --format srt|vtt: write DIR/NAME.srt per input (needed for several)")
    p.add_argument("--stream", action="store_true",
                   help="feed the audio chunk by chunk and print partial results as they arrive "
                        "(unidirectional models, e.g. the 'streaming' preset)")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="auto (default): bfloat16 on a CPU with bfloat16 instructions (AMX, "
                        "AVX512-BF16) and no GPU for several files or a long one, else float32; "
                        "exports and --stream run as they are")
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("report", help="results table (Markdown) and training-curves PNG of a run")
    p.add_argument("--run", required=True, help="a training run directory")
    p.add_argument("--data", default=None, help="the corpus (adds its size and speakers)")
    p.add_argument("--export", default=None, help="an export root (adds model sizes)")
    p.add_argument("--out", default=None, help="Markdown file (default RUN/results.md; the PNG "
                   "goes next to it as training_curves.png)")
    p.set_defaults(func=cmd_report)

