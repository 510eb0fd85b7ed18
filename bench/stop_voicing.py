"""Which sounds a model gets wrong, from its evaluation reports: character substitutions per set,
and the voicing of stops (p, t, k heard as b, d, g and the reverse).

    python bench/stop_voicing.py bench/results/ds2_small_en_v10 [--label v10]

Reads the greedy reports (``eval-SPLIT-greedy.tsv``) that ``recipes/ds2_small_en.sh evaluate``
writes; no model runs. Why: on real speech the released model's errors are not spread evenly;
on the Asterisk and alsa prompts it hears voiceless stops as voiced ("please" → "bleas") about
15 % of the time, the other way round almost never, and on synthetic voices neither. A lever
meant to close the real-speech gap should move this figure; the overall CER alone may not show
why it did or did not. Results: bench/results/stop_voicing_LABEL.{json,md}.
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import save  # noqa: E402

SPLITS = ("test", "test_noisy", "real", "asterisk", "alsa")
STOPS = (("p", "b"), ("t", "d"), ("k", "g"))  # (voiceless, voiced)


def substitutions(report: Path) -> tuple[Counter, Counter]:
    """(reference character → hypothesis character) substitution counts, reference counts."""
    with open(report, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return substitutions_of([row["reference"] for row in rows],
                            [row["hypothesis"] for row in rows])


def substitutions_of(refs: list[str], hyps: list[str]) -> tuple[Counter, Counter]:
    """The same from reference and hypothesis lists."""
    import jiwer

    subs, chars = Counter(), Counter()
    for ref, hyp in zip(refs, hyps):
        chars.update(ref)
        if not ref.strip():
            continue
        for chunk in jiwer.process_characters(ref, hyp).alignments[0]:
            if chunk.type == "substitute":
                subs.update(zip(ref[chunk.ref_start_idx: chunk.ref_end_idx],
                                hyp[chunk.hyp_start_idx: chunk.hyp_end_idx]))
    return subs, chars


def voicing(subs: Counter, chars: Counter) -> dict:
    def rate(pairs):
        total = sum(chars[a] for a, _ in pairs)
        return sum(subs[pair] for pair in pairs) / total if total else float("nan")
    return {"devoiced_to_voiced": rate(STOPS),
            "voiced_to_devoiced": rate([(b, a) for a, b in STOPS]),
            "voiceless_stops": sum(chars[a] for a, _ in STOPS),
            "voiced_stops": sum(chars[b] for _, b in STOPS)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="a folder of eval-SPLIT-greedy.tsv reports")
    parser.add_argument("--label", default=None, help="default: the folder's name")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    folder = Path(args.results)
    label = args.label or folder.name
    result = {"results": str(folder), "splits": {}}
    for split in SPLITS:
        report = folder / f"eval-{split}-greedy.tsv"
        if not report.is_file():
            print(f"note: {report} missing; {split} left out", file=sys.stderr)
            continue
        subs, chars = substitutions(report)
        result["splits"][split] = {**voicing(subs, chars),
                                   "top_substitutions": [[a, b, n] for (a, b), n
                                                         in subs.most_common(8)]}
    if not result["splits"]:
        print(f"stop_voicing: {folder}: no eval-SPLIT-greedy.tsv reports", file=sys.stderr)
        return 2
    lines = [f"Stop voicing in greedy transcripts of `{folder}` (character alignment of each "
             "utterance, jiwer): the share of reference p/t/k written as b/d/g, and of b/d/g "
             "written as p/t/k.", "",
             "| set | p,t,k → b,d,g | b,d,g → p,t,k | voiceless / voiced stops | most frequent "
             "substitutions |", "|---|---|---|---|---|"]
    for split, row in result["splits"].items():
        top = ", ".join(f"{a}→{b} {n}" for a, b, n in row["top_substitutions"][:5])
        lines.append(f"| {split} | {100 * row['devoiced_to_voiced']:.1f} % | "
                     f"{100 * row['voiced_to_devoiced']:.1f} % | {row['voiceless_stops']} / "
                     f"{row['voiced_stops']} | {top} |")
    save(args.out, f"stop_voicing_{label}", result, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
