"""Benchmark the engine (not a test): cold start, per-run cost, memory.

Measures, on the output-saving activity (fiji_macros/output_saving.ijm) and a
course image:

* cold start: JVM + ImageJ + virtual display, in a fresh process;
* per-run median over N runs in one warm session, split into ImageJ's own
  work (the interpreter thread) and fijirun's overhead (preparing, staging,
  moving, parsing and hashing the outputs, run.json);
* the same macro with a fresh process, JVM and display per run
  (``fijirun run`` in a shell loop);
* peak RSS of the session process;
* one-shot: a whole ``fijirun run`` command (fresh process) against ImageJ's own
  ``java -cp ij.jar ij.ImageJ -batch`` in the same run, for a trivial macro and
  the output-saving activity (goal: at most 2x).

    python scripts/bench_engine.py --runs 50
    FIJI_HOME=/path/to/Fiji.app python scripts/bench_engine.py --backend fiji
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "fijirun" / "data" / "images"  # fijirun.data, the shipped course images

COLD = """
import time, json, sys
t0 = time.perf_counter()
import fijirun
t1 = time.perf_counter()
s = fijirun.Session(sys.argv[1])
s.start()
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "start": t2 - t1}))
"""


def cold_start(repeats, backend):
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", COLD, backend], capture_output=True, text=True,
                              env=env, check=True)
        wall = time.perf_counter() - t
        d = json.loads(proc.stdout.strip().splitlines()[-1])
        d["process_wall"] = wall
        out.append(d)
    return out


def warm_runs(n, image, macro, backend):
    import psutil

    import fijirun

    with tempfile.TemporaryDirectory() as tmp, fijirun.Session(backend) as session:
        totals, imagej, overhead = [], [], []
        for i in range(n + 1):
            r = session.run(macro, input=image, output_dir=Path(tmp) / "out")
            if i == 0:
                continue  # the first run loads ImageJ's classes
            totals.append(r.timings["total"])
            imagej.append(r.timings["imagej"])
            overhead.append(r.timings["total"] - r.timings["imagej"])
        rss = psutil.Process().memory_info().rss
        return {
            "startup_s": session.startup_seconds,
            "median_total_s": statistics.median(totals),
            "median_imagej_s": statistics.median(imagej),
            "median_overhead_s": statistics.median(overhead),
            "rss_mb": rss / 2**20,
        }


NO_ANALYSIS = """#@ File input
#@ File (style="directory") outputDir
open(input);
run("Set Measurements...", "area centroid decimal=3");
run("Measure");
saveAs("Results", outputDir + "/measure.csv");
"""


def recording_cost(n, image, macro, backend):
    """What recording each particle analysis costs (run.json "analyses", the snapshot)."""
    import fijirun

    with tempfile.TemporaryDirectory() as tmp, fijirun.Session(backend) as session:
        plain = Path(tmp) / "no_analysis.ijm"
        plain.write_text(NO_ANALYSIS)
        with_analysis, without, record_ms, snapshot_ms = [], [], [], []
        for i in range(n + 1):
            a = session.run(macro, input=image, output_dir=Path(tmp) / "a")
            b = session.run(plain, input=image, output_dir=Path(tmp) / "b")
            if i == 0:
                continue
            with_analysis.append(a.timings["total"])
            without.append(b.timings["total"])
            t = a.analyses[0]["timings_ms"]
            record_ms.append(t["record"])
            snapshot_ms.append(t["snapshot"])
        return {
            "median_run_with_analysis_s": statistics.median(with_analysis),
            "median_run_without_analysis_s": statistics.median(without),
            "median_record_ms": statistics.median(record_ms),
            "max_record_ms": max(record_ms),
            "median_snapshot_write_ms": statistics.median(snapshot_ms),
            "snapshot_bytes": a.analyses[0]["snapshot"]["bytes"],
        }


def fresh_jvm_runs(n, image, macro, backend):
    """The same activity with a fresh process and JVM per run (``fijirun run``)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.pop("DISPLAY", None)
        times, failures = [], []
        for i in range(n):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "fijirun", "run", str(macro), "--input", str(image),
                                   "--output", f"{tmp}/out{i}", "--backend", backend], env=env,
                                  capture_output=True, text=True, timeout=300)
            if proc.returncode != 0:
                failures.append(proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"])
                continue
            times.append(time.perf_counter() - t)
        return {"median_s": statistics.median(times), "runs": len(times), "failures": failures}


TRIVIAL = 'print("hello");\n'


def _batch_variant(macro_text):
    """The macro for ImageJ's own ``-batch``: its ``#@`` parameters read from the argument instead."""
    lines = [line for line in macro_text.splitlines() if not line.startswith("#@")]
    head = ['args = split(getArgument(), "|");', "input = args[0];", "outputDir = args[1];",
            "minSize = 0;", "maxSize = 1000;"]
    return "\n".join(head + lines) + "\n"


def one_shot(n, image, macro):
    """One whole command per run, fresh process each time: ``fijirun run`` vs ImageJ's ``-batch``.

    ImageJ's own is ``java -cp ij.jar ij.ImageJ -batch macro arg`` on a display (an
    Xvfb this benchmark starts); fijirun is measured on that same display and with
    none (then it starts its own Xvfb, as on a server). Both use the same ImageJ jar
    and the Glasbey LUTs in an ImageJ folder of their own. fijirun's Python bytecode
    is cached, as in an installed package (``PYTHONDONTWRITEBYTECODE`` is dropped).
    """
    from fijirun.display import VirtualDisplay
    from fijirun.jars import find_ij_jar, find_java, find_jython_jar
    from fijirun.luts import write_luts

    java = find_java()
    classpath = os.pathsep.join(str(p) for p in (find_ij_jar(), find_jython_jar()) if p)
    cases = {"trivial": TRIVIAL, "output_saving": Path(macro).read_text()}
    report = {}
    with tempfile.TemporaryDirectory() as tmp, VirtualDisplay() as display:
        home = Path(tmp) / "imagej"
        write_luts(home / "luts")
        (home / "plugins").mkdir()
        for name, text in cases.items():
            ours = Path(tmp) / f"{name}.ijm"
            ours.write_text(text)
            theirs = Path(tmp) / f"{name}_batch.ijm"
            theirs.write_text(_batch_variant(text))
            times = {"imagej_batch": [], "fijirun_same_display": [], "fijirun_own_xvfb": []}
            for i in range(n):
                out = Path(tmp) / f"{name}-{i}"
                out.mkdir()
                cmd = [str(java.home / "bin" / "java"), f"-Dplugins.dir={home}", "-cp", classpath,
                       "ij.ImageJ", "-batch", str(theirs), f"{image}|{out}/ij"]
                (out / "ij").mkdir()
                times["imagej_batch"].append(_timed(cmd, dict(os.environ, DISPLAY=display.display)))
                for mode, env_display in (("fijirun_same_display", display.display), ("fijirun_own_xvfb", None)):
                    env = dict(os.environ)
                    env.pop("DISPLAY", None)
                    # as an installed package runs: its bytecode cached (pip compiles it), not
                    # compiled again by every command (45 ms) as where this variable is set
                    env.pop("PYTHONDONTWRITEBYTECODE", None)
                    if env_display:
                        env["DISPLAY"] = env_display
                    cmd = [sys.executable, "-m", "fijirun", "run", str(ours), "--output", str(out / mode)]
                    if name != "trivial":
                        cmd += ["--input", str(image)]
                    times[mode].append(_timed(cmd, env))
                if name == "output_saving":  # both made the same five outputs (a fast failure is no figure)
                    made = [sorted(p.name for p in (out / d).iterdir() if "_labels" in p.name or "_r" in p.name)
                            for d in ("ij", "fijirun_same_display", "fijirun_own_xvfb")]
                    if len(made[0]) != 5 or made.count(made[0]) != 3:
                        raise SystemExit(f"the runs made different outputs: {made}")
            med = {k: statistics.median(v) for k, v in times.items()}
            report[name] = {f"{k}_median_s": round(v, 3) for k, v in med.items()} | {
                "ratio_same_display": round(med["fijirun_same_display"] / med["imagej_batch"], 2),
                "ratio_own_xvfb": round(med["fijirun_own_xvfb"] / med["imagej_batch"], 2)}
    return report


def _timed(cmd, env):
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed: {proc.stderr.strip()[-500:]}")
    return wall


def main():
    parser = argparse.ArgumentParser(description="fijirun engine benchmark")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--fresh-runs", type=int, default=20)
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--image", default=str(DATA / "xy_8bit_binary_randomshapes.tif"))
    parser.add_argument("--macro", default=str(ROOT / "fiji_macros" / "output_saving.ijm"))
    parser.add_argument("--backend", default="imagej1", choices=["imagej1", "fiji"],
                        help="fiji needs FIJI_HOME")
    parser.add_argument("--recording-only", action="store_true",
                        help="only the cost of recording particle analyses")
    parser.add_argument("--one-shot", type=int, default=10, metavar="N",
                        help="one-shot runs per case against ImageJ's own -batch (imagej1; 0: skip)")
    parser.add_argument("--one-shot-only", action="store_true", help="only the one-shot comparison")
    args = parser.parse_args()
    if args.one_shot_only:
        print(json.dumps(one_shot(args.one_shot, args.image, args.macro), indent=2))
        return
    if args.recording_only:
        print(json.dumps(recording_cost(args.runs, args.image, args.macro, args.backend), indent=2))
        return

    cold = cold_start(args.cold, args.backend)
    warm = warm_runs(args.runs, args.image, args.macro, args.backend)
    fresh = fresh_jvm_runs(args.fresh_runs, args.image, args.macro, args.backend)
    report = {
        "backend": args.backend,
        "cold_start_median_s": statistics.median(c["start"] for c in cold),
        "import_median_s": statistics.median(c["import"] for c in cold),
        "cold_process_wall_median_s": statistics.median(c["process_wall"] for c in cold),
        "warm": warm,
        "fresh_jvm_per_run": fresh,
        "recording": recording_cost(args.runs, args.image, args.macro, args.backend),
        "speedup_warm_vs_fresh": fresh["median_s"] / warm["median_total_s"],
    }
    if args.one_shot and args.backend == "imagej1":
        report["one_shot_vs_imagej_batch"] = one_shot(args.one_shot, args.image, args.macro)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
