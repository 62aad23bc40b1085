"""Benchmark batch runs (not a test): fijirun batch on Dask vs ImageJ started per image.

200 synthetic 512x512 binary images (about 40 particles each) go through the
output-saving macro (fiji_macros/output_saving.ijm, 5 outputs per image):

* ``cold``: ``fijirun.batch`` as a user calls it once, with 1 and with 2
  worker processes: the whole call (Dask cluster start, a JVM and an Xvfb in
  each worker, JIT warm-up, every image, manifest, combined CSV/Parquet,
  shutdown);
* ``warm``: the same batch sent to an already running cluster
  (``fijirun.batch.local_cluster`` + ``scheduler=``) whose workers ran a
  warm-up batch: what a notebook or a long-lived cluster sees, and how the
  workers themselves scale;
* the same macro run by ImageJ's own command line started once per image,
  ``java -cp ij.jar ij.ImageJ -batch macro.ijm input,outputDir``, all on one
  virtual display (the usual shell-loop "headless Fiji batch"). The ``#@``
  lines become ``getArgument()`` parsing; Fiji's Glasbey LUT comes from a
  plugins folder as in fijirun. ``--baseline-images`` runs it on a subset
  (its cost is per image: one JVM each).

Each fijirun figure is the median of ``--repeat`` runs (the machine's load
varies). Extra ``--jvm-option`` values replace the workers' default JVM
options (``fijirun.batch.BATCH_JVM_OPTIONS``).

    python scripts/bench_batch.py [--images 200] [--baseline-images 200] [--repeat 3]
                                  [--jvm-option=-XX:TieredStopAtLevel=1] [--json out.json]

The machine's ideal is measured in the same run: the macro's CPU time per image in one warm
engine (a process of its own with the workers' JVM options, after 20 warm-up images; the
least of three such probes) × images ÷ cores; each mode's wall time
with 2 or more workers is reported as a fraction of it. Beside it, the engines alone: one warm
engine per core side by side, each on its share of the images, with no Dask and no batch
bookkeeping — the best one engine per core does here, ImageJ's own waits included (the CPU
ideal leaves them out). ``--workers 1 2 3`` measures those worker counts (default 1 and 2).

``--backend fiji [--fiji PATH]`` (or ``FIJI_HOME``) measures the batch on the user's Fiji
instead: ``fijirun batch --backend fiji`` with 2 workers (cold: the whole call, each
worker starting its Fiji) against Fiji's own command line started once per image,
``ImageJ-linux64 -batch macro.ijm input,outputDir`` on a virtual display (headless Fiji
cannot run this macro: its Count Masks image is never shown), measured on
``--baseline-images`` images (default 10; its cost is per image) and reported per image.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MACRO = ROOT / "fiji_macros" / "output_saving.ijm"
IJ_JAR = Path(os.environ.get("FIJIRUN_IJ_JAR", "/usr/share/java/ij.jar"))


def make_images(folder, n, size=512, particles=40, seed=0):
    import tifffile

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        img = np.zeros((size, size), np.uint8)
        for _ in range(particles):
            h, w = rng.integers(3, 25, 2)
            y, x = rng.integers(0, size - 25, 2)
            img[y:y + h, x:x + w] = 255
        path = folder / f"img_{i:04d}.tif"
        tifffile.imwrite(path, img)
        paths.append(path)
    return paths


def _figures(frame, wall):
    s = frame.attrs["summary"]
    assert s["ok"] == len(frame), s["failures"][:3]
    return {"images": len(frame), "seconds": round(wall, 2),
            "images_per_second": round(len(frame) / wall, 2),
            "startup_seconds": s["startup_seconds"],
            "processing_images_per_second": s["processing_images_per_second"]}


def _median(runs):
    runs = sorted(runs, key=lambda r: r["images_per_second"])
    out = dict(runs[len(runs) // 2])
    out["all_images_per_second"] = [r["images_per_second"] for r in runs]
    return out


def run_cold(folder, out, workers, jvm_options):
    """One whole ``fijirun.batch`` call on a cluster of its own."""
    import fijirun

    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    frame = fijirun.batch(MACRO, [folder], out, workers=workers, timeout=120, progress=False,
                          jvm_options=jvm_options)
    return _figures(frame, time.perf_counter() - t)


def run_warm(folder, warmup_folder, work, workers, jvm_options, repeat):
    """Batches sent to one running cluster whose workers are already warm."""
    import fijirun
    from fijirun.batch import local_cluster

    runs = []
    with local_cluster(workers) as cluster:
        address = cluster.scheduler_address
        fijirun.batch(MACRO, [warmup_folder], work / f"warmup{workers}", scheduler=address,
                      timeout=120, progress=False, jvm_options=jvm_options)
        for i in range(repeat):
            out = work / f"warm{workers}-{i}"
            t = time.perf_counter()
            frame = fijirun.batch(MACRO, [folder], out, scheduler=address, timeout=120,
                                  progress=False, jvm_options=jvm_options)
            runs.append(_figures(frame, time.perf_counter() - t))
            shutil.rmtree(out, ignore_errors=True)
    return _median(runs)


_CPU_PROBE = """
import json, resource, sys, time
import fijirun
paths, macro, out, options = sys.argv[1].split(","), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with fijirun.Session(jvm_options=tuple(options), capture_state=False) as s:
    def one(i, p):
        s.run(macro, input=p, output_dir=f"{out}/{i}", params={"minSize": 0, "maxSize": 1000})
    for i, p in enumerate(paths[:20]):  # JIT warm-up, as a warm worker has it
        one(f"w{i}", p)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    start, t0 = time.time(), time.perf_counter()
    for i, p in enumerate(paths):
        one(i, p)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall, end = time.perf_counter() - t0, time.time()
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(json.dumps({"images": len(paths), "cpu_seconds_per_image": cpu / len(paths),
                  "wall_seconds_per_image": wall / len(paths), "start": start, "end": end}))
"""


def engine_cpu_per_image(paths, work, jvm_options, engines=1):
    """CPU and wall seconds per image of the macro in warm engines (ImageJ's work, plus
    fijirun's ≈ 8 ms), each in a process of its own with the batch workers' JVM options;
    no Dask.

    With ``engines`` > 1, that many such processes run at once, each on its own share of
    ``paths``: what the machine does at best with one warm engine per worker and nothing
    else (``images_per_second``, from the first start to the last end of the timed part).
    """
    shares = [paths[i::engines] for i in range(engines)]
    procs = [subprocess.Popen([sys.executable, "-c", _CPU_PROBE, ",".join(map(str, share)), str(MACRO),
                               str(work / f"cpu-probe-{i}"), json.dumps(list(jvm_options))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for i, share in enumerate(shares)]
    reports = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the CPU probe failed: {err[-3000:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for i in range(engines):
        shutil.rmtree(work / f"cpu-probe-{i}", ignore_errors=True)
    n = sum(r["images"] for r in reports)
    span = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {"engines": engines, "images": n,
            "cpu_seconds_per_image": sum(r["cpu_seconds_per_image"] * r["images"] for r in reports) / n,
            "wall_seconds_per_image": sum(r["wall_seconds_per_image"] * r["images"] for r in reports) / n,
            "images_per_second": round(n / span, 2)}


_SPIN = "import time\nt=time.perf_counter()\nx=0\nfor i in range(20_000_000): x+=i\nprint(time.perf_counter()-t)"


def cpu_scaling_ceiling(repeat=5):
    """How much faster two CPU-bound processes get through twice the work than one process
    through once (median of ``repeat``): this machine's own limit for any 1 -> 2 worker
    scaling (shared or hyper-threaded cores stay below 2x; a busy host varies a lot)."""
    def spin(n):
        t = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", _SPIN], stdout=subprocess.DEVNULL)
                 for _ in range(n)]
        for p in procs:
            p.wait()
        return time.perf_counter() - t
    ratios = sorted(2 * spin(1) / spin(2) for _ in range(repeat))
    return {"median": round(ratios[len(ratios) // 2], 2), "min": round(ratios[0], 2),
            "max": round(ratios[-1], 2)}


def _argument_macro(path):
    """The output-saving macro for a command line: its ``#@`` parameters from ``getArgument()``."""
    text = re.sub(r"^#@.*\n", "", MACRO.read_text(), flags=re.M)
    path.write_text('args = split(getArgument(), ",");\ninput = args[0];\noutputDir = args[1];\n'
                    "minSize = 0;\nmaxSize = 1000;\n" + text)
    return path


def _launch_per_image(paths, out, command, env, cwd, what, check_exit=True):
    """One launch per image, all on one virtual display: ``command(image, dest)`` is the argv.

    Each launch must save the macro's 5 outputs (and, with ``check_exit``, exit 0).
    """
    from fijirun.display import VirtualDisplay

    display = VirtualDisplay().start()
    env = dict(env, DISPLAY=display.display)
    try:
        t = time.perf_counter()
        for p in paths:
            dest = out / p.stem
            dest.mkdir(parents=True)
            proc = subprocess.run(command(p, dest), env=env, cwd=cwd, capture_output=True, text=True)
            if (check_exit and proc.returncode != 0) or len(list(dest.iterdir())) != 5:
                raise RuntimeError(f"{what} failed on {p} (exit {proc.returncode}): {proc.stdout[-2000:]} "
                                   f"{proc.stderr[-2000:]}")
        wall = time.perf_counter() - t
    finally:
        display.stop()
    return {"images": len(paths), "seconds": round(wall, 2), "images_per_second": round(len(paths) / wall, 3)}


def run_imagej_per_image(paths, out, work):
    """ImageJ's own command line, one JVM per image: ``java -cp ij.jar ij.ImageJ -batch``."""
    from fijirun.luts import write_luts

    home = work / "ij-home"
    (home / "plugins").mkdir(parents=True)
    write_luts(home / "luts")
    macro = _argument_macro(work / "output_saving_arg.ijm")
    return _launch_per_image(
        paths, out, lambda p, dest: ["java", f"-Dplugins.dir={home}", "-cp", str(IJ_JAR), "ij.ImageJ",
                                     "-batch", str(macro), f"{p},{dest}"],
        os.environ, home, "ImageJ")


def _fiji_launcher(fiji, work):
    """Fiji's own launcher, runnable: the Fiji.app's, or an executable copy of it beside links.

    A read-only Fiji.app whose launcher lost its executable bit (the pinned one here) is
    launched from ``work/fiji-launcher``: a copy of the launcher binary (it finds its
    Fiji by its own folder) and a symbolic link to every other entry of the Fiji.app.
    Nothing is written into the Fiji.app; the folder goes with ``work``.
    """
    launcher = Path(fiji) / "ImageJ-linux64"
    if os.access(launcher, os.X_OK):
        return launcher
    if not launcher.is_file():
        raise RuntimeError(f"{launcher} does not exist: Fiji's own command line cannot be measured")
    folder = work / "fiji-launcher"
    folder.mkdir()
    for entry in Path(fiji).iterdir():
        if entry.name != launcher.name:
            (folder / entry.name).symlink_to(entry)
    copy = folder / launcher.name
    shutil.copyfile(launcher, copy)
    copy.chmod(0o755)
    return copy


# What Fiji 2.3.0's launcher needs on Java 17: its default GC options (-Xincgc) are gone
# since Java 9, the legacy layer patches ij.* classes (java.lang must be open), and a
# broken plugin service of this Fiji must not stop the context (as in fijirun's backend).
_FIJI_JAVA17 = ["--default-gc", "-Dscijava.context.strict=false",
                "--add-opens=java.base/java.lang=ALL-UNNAMED", "--"]


def run_fiji_per_image(paths, out, work, fiji):
    """Fiji's own command line, one launch per image (the usual shell loop).

    ``ImageJ-linux64 -batch macro.ijm input,outputDir`` on a virtual display: with
    ``--headless`` this macro cannot run in Fiji (Analyze Particles' Count Masks image
    is never shown, so ``selectImage`` fails), so the shell loop runs under an Xvfb,
    as ``xvfb-run`` would. One display for the whole loop, as for ImageJ's baseline.
    Fiji's exit status is not checked (its broken plugin services are reported on
    stderr); its 5 outputs are.
    """
    from fijirun.jars import find_java

    macro = _argument_macro(work / "output_saving_arg_fiji.ijm")
    launcher = _fiji_launcher(fiji, work)
    return _launch_per_image(
        paths, out, lambda p, dest: [str(launcher), *_FIJI_JAVA17, "--console", "-batch", str(macro), f"{p},{dest}"],
        dict(os.environ, JAVA_HOME=str(find_java().home)), work, "Fiji", check_exit=False)


def main_fiji(args, work, paths, jvm_options):
    """``--backend fiji``: fijirun's Fiji batch (2 workers, cold) vs Fiji launched per image."""
    import fijirun
    from fijirun.backends.fiji import find_fiji

    fiji = str(find_fiji(args.fiji))
    results = {"backend": "fiji", "fiji": fiji, "images": args.images, "repeat": args.repeat,
               "jvm_options": list(jvm_options)}
    runs = []
    for i in range(args.repeat):
        out = work / f"fiji-out{i}"
        t = time.perf_counter()
        frame = fijirun.batch(MACRO, [work / "in"], out, workers=2, timeout=300, progress=False,
                              backend="fiji", fiji_dir=fiji, jvm_options=jvm_options)
        runs.append(_figures(frame, time.perf_counter() - t))
        shutil.rmtree(out, ignore_errors=True)
    results["cold_2_workers"] = r = _median(runs)
    print(f"cold: fijirun batch --backend fiji, 2 workers: {r['images_per_second']:.2f} images/s "
          f"({r['seconds']:.1f} s for {r['images']}; start-up {r['startup_seconds']:.1f} s; "
          f"runs {r['all_images_per_second']})", flush=True)
    nb = args.baseline_images or 10
    try:
        results["fiji_per_image"] = b = run_fiji_per_image(paths[:nb], work / "out-fiji", work, fiji)
    except RuntimeError as exc:
        print(f"no Fiji per-image baseline: {exc}", flush=True)
        return results
    print(f"Fiji -batch, one launch per image: {b['images_per_second']:.3f} images/s "
          f"({b['seconds']:.1f} s for {b['images']}: {b['seconds'] / b['images']:.2f} s per image)", flush=True)
    results["speedup_vs_fiji_per_image"] = round(r["images_per_second"] / b["images_per_second"], 1)
    print(f"fiji: 2 workers vs Fiji per image: {results['speedup_vs_fiji_per_image']:.1f}x (goal >= 50x)")
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--baseline-images", type=int, default=None,
                    help="images for the per-image ImageJ baseline (default: all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per fijirun figure (median)")
    ap.add_argument("--jvm-option", action="append", dest="jvm_options", metavar="OPT",
                    help="worker JVM option (repeatable; replaces the default)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="N",
                    help="worker counts to measure (default: 1 2; the fractions are for 2 and more)")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--backend", choices=["imagej1", "fiji"], default="imagej1")
    ap.add_argument("--fiji", metavar="PATH", help="Fiji.app for --backend fiji (or FIJI_HOME)")
    args = ap.parse_args(argv)
    from fijirun.batch import BATCH_JVM_OPTIONS

    jvm_options = tuple(args.jvm_options or BATCH_JVM_OPTIONS)
    work = Path(tempfile.mkdtemp(prefix="fijirun-bench-batch-"))
    try:
        paths = make_images(work / "in", args.images)
        if args.backend == "fiji":
            results = main_fiji(args, work, paths, jvm_options)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
            return 0
        make_images(work / "warmup", 100, seed=1)
        results = {"images": args.images, "size": "512x512", "cpus": os.cpu_count(),
                   "jvm_options": list(jvm_options), "repeat": args.repeat,
                   "cpu_scaling_ceiling": cpu_scaling_ceiling()}
        c = results["cpu_scaling_ceiling"]
        print(f"this machine: two CPU-bound processes do {c['median']:.2f}x the work of one "
              f"(min {c['min']:.2f}, max {c['max']:.2f}): the ceiling of 1 -> 2 worker scaling here",
              flush=True)
        for n in args.workers:
            r = _median([run_cold(work / "in", work / f"out{n}", n, jvm_options)
                         for _ in range(args.repeat)])
            results[f"cold_{n}_workers"] = r
            print(f"cold: fijirun batch, {n} worker(s): {r['images_per_second']:.2f} images/s "
                  f"({r['seconds']:.1f} s for {r['images']}; start-up {r['startup_seconds']:.1f} s; "
                  f"runs {r['all_images_per_second']})", flush=True)
        for n in args.workers:
            r = run_warm(work / "in", work / "warmup", work, n, jvm_options, args.repeat)
            results[f"warm_{n}_workers"] = r
            print(f"warm cluster: fijirun batch, {n} worker(s): {r['images_per_second']:.2f} images/s "
                  f"({r['seconds']:.1f} s for {r['images']}; runs {r['all_images_per_second']})",
                  flush=True)
        nb = args.baseline_images or args.images
        results["imagej_per_image"] = b = run_imagej_per_image(paths[:nb], work / "out-ij", work)
        print(f"ImageJ -batch, one JVM per image: {b['images_per_second']:.2f} images/s "
              f"({b['seconds']:.1f} s for {b['images']})", flush=True)
        # ImageJ's own CPU per image: the least of three probes (a busy moment only adds)
        probes = [engine_cpu_per_image(paths[:100], work, jvm_options) for _ in range(3)]
        results["engine"] = e = min(probes, key=lambda p: p["cpu_seconds_per_image"])
        results["engine_probes_cpu_ms"] = [round(1000 * p["cpu_seconds_per_image"], 1) for p in probes]
        cores = os.cpu_count() or 1
        ideal = e["cpu_seconds_per_image"] * args.images / cores
        print(f"one warm engine: {1000 * e['cpu_seconds_per_image']:.1f} ms CPU per image "
              f"({1000 * e['wall_seconds_per_image']:.1f} ms wall: the engine waits "
              f"{1 - e['cpu_seconds_per_image'] / e['wall_seconds_per_image']:.0%} of the time); "
              f"the machine's ideal for {args.images} images on {cores} cores: {ideal:.2f} s "
              f"(least of the probes {results['engine_probes_cpu_ms']} ms)", flush=True)
        # the best one engine per core does here with nothing else running (no Dask, no
        # batch bookkeeping): ImageJ's own waits included, which the CPU ideal leaves out
        results["engines_alone"] = a = engine_cpu_per_image(paths, work, jvm_options, engines=cores)
        print(f"{cores} warm engines side by side, no Dask: {a['images_per_second']:.2f} images/s "
              f"({a['images_per_second'] * ideal / args.images:.2f} of the machine's ideal)", flush=True)
        for mode in ("cold", "warm"):
            for n in args.workers:
                r = results[f"{mode}_{n}_workers"]
                if n < 2:
                    continue
                key = f"{mode}_fraction_of_ideal" + ("" if n == 2 else f"_{n}_workers")
                results[key] = round(ideal / r["seconds"], 2)
                results[key.replace("_ideal", "_engines_alone")] = round(
                    r["images_per_second"] / a["images_per_second"], 2)
                print(f"{mode}: {n} workers reach {results[key]:.2f} of the machine's ideal "
                      f"(goal >= {0.8 if mode == 'warm' else 0.6}), "
                      f"{results[key.replace('_ideal', '_engines_alone')]:.2f} of the engines alone", flush=True)
        for mode in ("cold", "warm") if {1, 2} <= set(args.workers) else ():
            one, two = results[f"{mode}_1_workers"], results[f"{mode}_2_workers"]
            results[f"{mode}_speedup_2_workers_vs_imagej"] = round(
                two["images_per_second"] / b["images_per_second"], 2)
            results[f"{mode}_scaling_1_to_2_workers"] = round(
                two["images_per_second"] / one["images_per_second"], 2)
            print(f"{mode}: 2 workers vs ImageJ per image: "
                  f"{results[f'{mode}_speedup_2_workers_vs_imagej']:.1f}x (goal >= 10x); "
                  f"1 -> 2 workers: {results[f'{mode}_scaling_1_to_2_workers']:.2f}x (goal >= 1.7x)")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
