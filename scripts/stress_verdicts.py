"""Stress benchmark of verdicts: many runs of the verdict corpus in one Session, under CPU load.

Each activity of ``tests/verdict_corpus`` first runs alone in a fresh process (``fijirun
regress`` on a one-activity course: its *fresh* class, message and line). Then ``--runs``
runs of the activities, in random order (successive shuffles of the corpus), go through one
``Session`` (in a child process; classified by regress's own ``run_activity``) while two
CPU-burning processes run beside it. Each run is compared with the activity's fresh verdict:

* **silent success**: fresh is a failure class, the run ``passed``;
* **misattributed**: another failure class, or the same class with another message or line;
* **hang**: ``timeout`` where fresh is not a timeout;
* also counted: **spurious failures** (fresh ``passed``, the run failed) and **session
  deaths** (the session process died and was restarted; e.g. ``System.exit``).

Exit 1 when silent successes, misattributions, hangs or spurious failures are non-zero.

    python scripts/stress_verdicts.py --runs 1000 [--backend imagej1] [--timeout 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import verdicts as V  # noqa: E402


def classify(fresh, got):
    """The kind of disagreement of one run with its fresh verdict, or None."""
    ef, gf = fresh["class"], got["class"]
    if ef == gf:
        if ef != "passed" and (fresh["message"] != got["message"] or fresh["line"] != got["line"]):
            return "misattributed"
        return None
    if gf == "passed":
        return "silent_success"
    if gf == "timeout":
        return "hang"
    if ef == "passed":
        return "spurious_failure"
    return "misattributed"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000, help="runs in the session (default 1000)")
    p.add_argument("--backend", default="imagej1", choices=["imagej1", "fiji"])
    p.add_argument("--timeout", type=float, default=V.TIMEOUT, help="seconds per run (default 5)")
    p.add_argument("--seed", type=int, help="random seed of the order (default: random)")
    p.add_argument("--burners", type=int, default=2, help="CPU-burning processes (default 2)")
    p.add_argument("--fresh", metavar="FILE",
                   help="fresh verdicts from an earlier `python tests/verdicts.py fresh` (else computed now)")
    p.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    args = p.parse_args(argv)
    if args.backend == "fiji" and V.fiji_dir() is None:
        p.error(f"--backend fiji: set FIJI_HOME (no {V.FIJI_DEFAULT})")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    say = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else \
        (lambda *a: print(*a, flush=True))

    t0 = time.perf_counter()
    if args.fresh:
        fresh = json.loads(Path(args.fresh).read_text())
    else:
        say(f"fresh-process verdicts of {len(V.activities())} activities ({args.backend})...")
        fresh = V.fresh_records(args.backend, timeout=args.timeout)
    t_fresh = time.perf_counter() - t0
    paths = sorted(fresh)
    order = []
    while len(order) < args.runs:
        block = list(paths)
        rng.shuffle(block)
        order.extend(block)
    order = order[:args.runs]

    counts = Counter()
    examples = {}
    per_activity = Counter()
    progress = {"n": 0}

    def on_record(path, got):
        progress["n"] += 1
        kind = classify(fresh[path], got)
        counts[kind or "agree"] += 1
        if kind:
            per_activity[(path, kind)] += 1
            examples.setdefault(f"{path} [{kind}]", {"fresh": fresh[path], "got": got})
        if progress["n"] % 100 == 0:
            say(f"  {progress['n']}/{len(order)} runs, {sum(v for k, v in counts.items() if k != 'agree')} "
                f"disagreements")

    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stress-verdicts-") as tmp, V.burners(args.burners):
        results, sessions = V.session_records(args.backend, order, tmp, timeout=args.timeout,
                                              on_record=on_record,
                                              child_timeout=300 + args.runs * (args.timeout + 5))
    t_runs = time.perf_counter() - t1
    summary = {
        "backend": args.backend, "runs": len(results), "activities": len(paths), "seed": seed,
        "timeout": args.timeout, "burners": args.burners,
        "silent_successes": counts["silent_success"], "misattributed": counts["misattributed"],
        "hangs": counts["hang"], "spurious_failures": counts["spurious_failure"],
        "agree": counts["agree"], "session_deaths": sessions - 1,
        "by_activity": [{"path": p, "kind": k, "count": c} for (p, k), c in sorted(per_activity.items())],
        "examples": examples,
        "seconds": {"fresh": round(t_fresh, 1), "runs": round(t_runs, 1)},
    }
    bad = summary["silent_successes"] + summary["misattributed"] + summary["hangs"] + summary["spurious_failures"]
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{len(results)} runs of {len(paths)} activities in one {args.backend} session "
              f"(seed {seed}, {args.burners} burners) in {t_runs:.0f} s (+{t_fresh:.0f} s fresh):")
        for key in ("silent_successes", "misattributed", "hangs", "spurious_failures", "session_deaths", "agree"):
            print(f"  {key:<18} {summary[key]}")
        for item in summary["by_activity"]:
            print(f"    {item['count']:>4} x {item['kind']:<16} {item['path']}")
        for name, ex in examples.items():
            print(f"  e.g. {name}: fresh {ex['fresh']}\n       got   {ex['got']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
