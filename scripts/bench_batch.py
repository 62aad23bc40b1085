"""Benchmark batch runs (not a test): fijirun batch on Dask vs ImageJ started per image.

200 synthetic 512x512 binary images (about 40 particles each) go through the
output-saving macro (fiji_macros/output_saving.ijm, 5 outputs per image):

* ``fijirun.batch`` on a LocalCluster with 1 and with 2 worker processes
  (whole call: cluster start, JVM start in each worker, every image, manifest,
  combined CSV/Parquet);
* the same macro run by ImageJ's own command line started once per image,
  ``java -cp ij.jar ij.ImageJ -batch macro.ijm input,outputDir``, all on one
  virtual display (the usual shell-loop "headless Fiji batch"). The ``#@``
  lines become ``getArgument()`` parsing; Fiji's Glasbey LUT comes from a
  plugins folder as in fijirun. ``--baseline-images`` runs it on a subset
  (its cost is per image: one JVM each).

    python scripts/bench_batch.py [--images 200] [--baseline-images 200] [--json out.json]
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


def run_fijirun(folder, out, workers):
    import fijirun

    t = time.perf_counter()
    frame = fijirun.batch(MACRO, [folder], out, workers=workers, timeout=120, progress=False)
    wall = time.perf_counter() - t
    s = frame.attrs["summary"]
    assert s["ok"] == len(frame), s["failures"][:3]
    return {"workers": workers, "images": len(frame), "seconds": round(wall, 2),
            "images_per_second": round(len(frame) / wall, 2),
            "startup_seconds": s["startup_seconds"],
            "processing_images_per_second": s["processing_images_per_second"]}


def run_imagej_per_image(paths, out, work):
    from fijirun.display import VirtualDisplay
    from fijirun.luts import write_luts

    home = work / "ij-home"
    (home / "plugins").mkdir(parents=True)
    write_luts(home / "luts")
    text = re.sub(r"^#@.*\n", "", MACRO.read_text(), flags=re.M)
    macro = work / "output_saving_arg.ijm"
    macro.write_text('args = split(getArgument(), ",");\ninput = args[0];\noutputDir = args[1];\n'
                     "minSize = 0;\nmaxSize = 1000;\n" + text)
    display = VirtualDisplay().start()
    env = dict(os.environ, DISPLAY=display.display)
    try:
        t = time.perf_counter()
        for p in paths:
            dest = out / p.stem
            dest.mkdir(parents=True)
            proc = subprocess.run(["java", f"-Dplugins.dir={home}", "-cp", str(IJ_JAR), "ij.ImageJ",
                                   "-batch", str(macro), f"{p},{dest}"], env=env, cwd=home,
                                  capture_output=True, text=True)
            if proc.returncode != 0 or len(list(dest.iterdir())) != 5:
                raise RuntimeError(f"ImageJ failed on {p}: {proc.stdout[-3000:]} {proc.stderr[-3000:]}")
        wall = time.perf_counter() - t
    finally:
        display.stop()
    return {"images": len(paths), "seconds": round(wall, 2),
            "images_per_second": round(len(paths) / wall, 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--baseline-images", type=int, default=None,
                    help="images for the per-image ImageJ baseline (default: all)")
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fijirun-bench-batch-"))
    try:
        paths = make_images(work / "in", args.images)
        results = {"images": args.images, "size": "512x512", "cpus": os.cpu_count()}
        for n in (1, 2):
            results[f"fijirun_{n}_workers"] = r = run_fijirun(work / "in", work / f"out{n}", n)
            print(f"fijirun batch, {n} worker(s): {r['images_per_second']:.2f} images/s "
                  f"({r['seconds']:.1f} s for {r['images']}; start-up {r['startup_seconds']:.1f} s; "
                  f"{r['processing_images_per_second']:.2f} images/s after start-up)", flush=True)
        nb = args.baseline_images or args.images
        results["imagej_per_image"] = b = run_imagej_per_image(paths[:nb], work / "out-ij", work)
        print(f"ImageJ -batch, one JVM per image: {b['images_per_second']:.2f} images/s "
              f"({b['seconds']:.1f} s for {b['images']})", flush=True)
        one, two = results["fijirun_1_workers"], results["fijirun_2_workers"]
        results["speedup_2_workers_vs_imagej"] = round(two["images_per_second"] / b["images_per_second"], 2)
        results["scaling_1_to_2_workers"] = round(two["images_per_second"] / one["images_per_second"], 2)
        results["scaling_1_to_2_workers_after_startup"] = round(
            two["processing_images_per_second"] / one["processing_images_per_second"], 2)
        print(f"2 workers vs ImageJ per image: {results['speedup_2_workers_vs_imagej']:.1f}x (goal >= 10x); "
              f"1 -> 2 workers: {results['scaling_1_to_2_workers']:.2f}x "
              f"({results['scaling_1_to_2_workers_after_startup']:.2f}x after start-up; goal >= 1.7x)")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
