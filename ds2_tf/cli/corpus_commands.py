"""``ds2 prepare | synth | merge | inspect``: corpora → TFRecords (all in ``tfrecords_tools``)."""
from __future__ import annotations

import sys

from ds2_tf.cli.arguments import count_arg, range_arg, share_arg


def cmd_prepare(args) -> int:
    from ds2_tf.config import preset
    from tfrecords_tools.ingest import prepare_corpus

    info = prepare_corpus(args.out, args.sources, alphabet=args.alphabet,
                          unknown_chars=args.unknown_chars,
                          geometry=preset(args.preset).geometry,
                          min_duration_s=args.min_duration, max_duration_s=args.max_duration,
                          workers=args.workers, overwrite=args.overwrite, compress=args.gzip)
    usable = sum(s["num_utterances"] for s in info.get("splits", {}).values())
    if usable == 0:
        print(f"ds2 prepare: error: no usable utterances in {args.out}", file=sys.stderr)
        return 1
    return 0


def cmd_synth(args) -> int:
    from tfrecords_tools.audio_effects import Augmentation
    from tfrecords_tools.synth import PRESET_HOURS, synth_corpus
    from tfrecords_tools.voices import KOKORO_BLENDS

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
                        else args.kokoro_blends, variation=args.variation)
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


def register(sub) -> None:
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
    p.add_argument("--speed", type=range_arg, default=(0.9, 1.1), metavar="LO:HI")
    p.add_argument("--pitch", type=range_arg, default=(30, 70), metavar="LO:HI",
                   help="espeak-ng base pitch range (0-99) for augmented train voices")
    p.add_argument("--reverb-prob", type=float, default=0.3)
    p.add_argument("--noise-prob", type=float, default=0.3)
    p.add_argument("--pitch-shift-prob", type=float, default=0.0,
                   help="share of train utterances shifted in pitch and formants (sox)")
    p.add_argument("--pitch-shift", type=range_arg, default=(-200.0, 500.0), metavar="LO:HI",
                   help="pitch-shift range in cents")
    p.add_argument("--telephone-prob", type=float, default=0.0,
                   help="share of train utterances band-limited like a phone line")
    p.add_argument("--snr", type=range_arg, default=(10.0, 30.0), metavar="LO:HI",
                   help="additive-noise SNR range in dB")
    p.add_argument("--generated-voices", type=int, default=0, metavar="N",
                   help="add N seeded espeak-ng training speakers with randomized pitch, "
                        "formants, breathiness (half female); dev/test voices stay as they are")
    p.add_argument("--train-engines", default=None, metavar="LIST",
                   help="train only on these engines' voices (comma list), dev/test unchanged; "
                        "e.g. flite,festival = the six plain voices of the ablation baseline")
    p.add_argument("--engine-share", type=share_arg, action="append", default=[],
                   metavar="ENGINE=FRACTION",
                   help="give an engine's voices this share of the train utterances (repeatable),"
                        " e.g. kokoro=0.15; the other voices share the rest uniformly")
    p.add_argument("--train-voices", default=None, metavar="LIST",
                   help="move held-out test voices into training (comma list, e.g. "
                        "piper:joe-us, the one neural English voice); test goes without them")
    p.add_argument("--kokoro-blends", type=count_arg, default=None, metavar="N",
                   help="seeded blends of Kokoro's five voice packs added as neural training "
                        "speakers (default 16)")
    p.add_argument("--variation", type=count_arg, default=0, metavar="N",
                   help="N > 0: another training draw for the same --seed (sentence order, "
                        "voices, augmentation, new generated speakers and Kokoro blends); "
                        "dev/test stay the same, so it merges with the seed's other corpora")
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

