"""Stress test of ImageJ's front window: many fresh ``fijirun run`` processes of a table macro.

The macro measures an image (the Results window opens), creates a table and fills it
with ``Table.set`` without a title, which writes into ImageJ's front window. In a fresh
JVM on a loaded machine the window system's late activation of the Results window used
to make it the front window again: the values went into the Results table (7 % of
fresh runs with two CPU burners, before the guard kept shown windows from asking for
focus). Each run's final state (``run.state``) is read: the new table must hold the
values, the Results table must not.

Exit 1 when any run put the values in the wrong table or failed.

    python scripts/stress_windows.py --runs 100 [--burners 2] [--parallel 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import verdicts as V  # noqa: E402

MACRO = ROOT / "tests" / "activities" / "table_set_untitled.ijm"


def one_run(folder: Path, index: int) -> str:
    """``ok``, ``wrong table`` or ``failed: ...`` for one fresh process."""
    out = folder / f"run-{index}"
    proc = subprocess.run([sys.executable, "-m", "fijirun", "run", str(MACRO),
                           "--output", str(out), "--json"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        return f"failed: {proc.stdout.strip()[-200:] or proc.stderr.strip()[-200:]}"
    state = json.loads((out / "run.json").read_text())["state"]
    tables = {t["title"]: t for t in state["tables"]}
    counts = tables.get("Counts")
    if counts is None or counts["rows"] != 2 or "n" in tables.get("Results", {}).get("columns", []):
        return "wrong table"
    return "ok"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=100, help="fresh processes (default 100)")
    p.add_argument("--burners", type=int, default=2, help="CPU-burning processes beside them (default 2)")
    p.add_argument("--parallel", type=int, default=1, help="runs at once (default 1)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stress-windows-") as tmp, V.burners(args.burners):
        folder = Path(tmp)
        with ThreadPoolExecutor(args.parallel) as pool:
            outcomes = list(pool.map(lambda i: one_run(folder, i), range(args.runs)))
    counts = {kind: outcomes.count(kind) for kind in sorted(set(outcomes))}
    print(f"{args.runs} fresh runs ({args.burners} burners, {args.parallel} at once): {counts}")
    return 0 if counts.get("ok", 0) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
