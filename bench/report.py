"""Where every benchmark leaves its figures: STEM.json (all numbers) and STEM.md (the table)."""
from __future__ import annotations

import json
from pathlib import Path


def save(out_dir: str | Path, stem: str, result: dict, lines: list[str]) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
