"""Benchmark (not a test): fijirun.reference.analyze_particles vs ImageJ's own
ParticleAnalyzer on a 4096x4096 binary image with about 20,000 particles and
all measurements.

The reference is timed in this process (wall time, peak memory traced with
tracemalloc, i.e. the numpy/Python allocations made by the call); ImageJ's
ParticleAnalyzer is timed inside the JVM (``getTime()`` around
``run("Analyze Particles...")`` in the macro, same options: all measurements,
Count Masks, results, ROI Manager) in the same run through the fijirun engine.

    python scripts/bench_reference.py [--size 4096] [--repeat 3] [--no-imagej]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fijirun.reference import analyze_particles  # noqa: E402

KEYS = ("area mean standard modal min centroid center perimeter bounding fit shape "
        "feret's integrated median skewness kurtosis area_fraction")


def make_image(size=4096, seed=0):
    """Discs, ellipses and rings (holes) on a jittered grid: ~20,000 particles at 4096²."""
    rng = np.random.default_rng(seed)
    img = np.zeros((size, size), np.uint8)
    cell = 29
    yy, xx = np.mgrid[-14:15, -14:15]
    for cy in range(16, size - 17, cell):
        for cx in range(16, size - 17, cell):
            a, b = rng.uniform(2.5, 12, 2)
            t = rng.uniform(0, np.pi)
            u = (xx * np.cos(t) + yy * np.sin(t)) / a
            v = (-xx * np.sin(t) + yy * np.cos(t)) / b
            r = u * u + v * v
            shape = r <= 1
            if rng.random() < 0.2:
                shape &= r >= 0.3
            dy, dx = rng.integers(-2, 3, 2)
            sl = (slice(cy - 14 + dy, cy + 15 + dy), slice(cx - 14 + dx, cx + 15 + dx))
            img[sl][shape] = 255
    return img


MACRO = r"""
#@ File input
#@ File outputDir
setBatchMode(true);
setOption("BlackBackground", true);
open(input);
run("Set Measurements...", "%s redirect=None decimal=3");
roiManager("reset");
t0 = getTime();
run("Analyze Particles...", "size=0-Infinity pixel circularity=0.00-1.00 show=[Count Masks] display clear add");
t1 = getTime();
n = nResults;
close("*");
File.saveString(""+(t1-t0)+" "+n, outputDir+"/time.txt");
""" % KEYS


def bench_reference(img, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        res = analyze_particles(img, measurements=KEYS)
        times.append(time.perf_counter() - t)
        del res
    tracemalloc.start()
    res = analyze_particles(img, measurements=KEYS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return min(times), peak, len(res.table)


def bench_imagej(img, repeat):
    import tifffile

    import fijirun
    work = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    path = work / "bench.tif"
    tifffile.imwrite(path, img, imagej=True)
    times = []
    n = None
    with fijirun.Session(memory="4g") as s:
        for i in range(repeat + 1):               # first run warms the JIT up
            out = work / f"out{i}"
            s.run_code(MACRO, "ijm", params={"input": str(path), "outputDir": str(out)}, timeout=600)
            ms, n = (out / "time.txt").read_text().split()
            if i:
                times.append(float(ms) / 1000)
    return min(times), int(n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-imagej", action="store_true")
    a = ap.parse_args()
    img = make_image(a.size)
    print(f"image {img.shape[1]}x{img.shape[0]} uint8 ({img.nbytes / 1e6:.1f} MB)")
    t, peak, n = bench_reference(img, a.repeat)
    print(f"reference: {n} particles, {t:.2f} s (best of {a.repeat}), peak memory {peak / 1e6:.0f} MB "
          f"= {peak / img.nbytes:.1f}x the image")
    if not a.no_imagej:
        tij, nij = bench_imagej(img, a.repeat)
        print(f"ImageJ ParticleAnalyzer (in the JVM): {nij} particles, {tij:.2f} s (best of {a.repeat})")
        print(f"reference / ImageJ time: {t / tij:.2f}")


if __name__ == "__main__":
    main()
