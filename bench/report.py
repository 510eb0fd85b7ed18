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


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB.

    Read from VmHWM in /proc/self/status: ``getrusage().ru_maxrss`` survives exec on Linux, so a
    child started from a big parent would report the parent's peak instead of its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
