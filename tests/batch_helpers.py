"""Helpers for the batch tests: synthetic images with known particles, processes."""

from __future__ import annotations

import os
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import psutil

ACTIVITY = Path(__file__).resolve().parent / "activities" / "batch_output_saving.ijm"

#: A batch script (Jython) that writes its worker JVM's options and CPU count to jvm.txt.
JVM_PROBE = """#@ File input
#@ File outputDir
# writes the worker JVM's options and CPU count beside the image's results
from java.lang import Runtime
from java.lang.management import ManagementFactory
from ij import IJ
import os
imp = IJ.openImage(input.getAbsolutePath())
args = list(ManagementFactory.getRuntimeMXBean().getInputArguments())
f = open(os.path.join(outputDir.getAbsolutePath(), "jvm.txt"), "w")
f.write("cpus=%d\\n" % Runtime.getRuntime().availableProcessors())
f.write("width=%d\\n" % imp.getWidth())
f.write("\\n".join(str(a) for a in args) + "\\n")
f.close()
"""


def squares_image(path, n, size=96):
    """An 8-bit binary image with ``n`` separate squares of sides 3, 4, 5...; their areas."""
    import tifffile

    img = np.zeros((size, size), np.uint8)
    areas = []
    for j in range(n):
        side = 3 + j
        y, x = 8 + 20 * (j // 4), 8 + 20 * (j % 4)
        img[y:y + side, x:x + side] = 255
        areas.append(side * side)
    tifffile.imwrite(path, img)
    return areas


def make_good_images(folder, count, prefix="good"):
    """``count`` images ``prefix_<i>.tif`` with i+1 squares; returns path → expected areas."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {folder / f"{prefix}_{i}.tif": squares_image(folder / f"{prefix}_{i}.tif", 1 + i % 6)
            for i in range(count)}


def corrupt_tiff(path):
    """A TIFF header followed by a first IFD offset far past the end of the file."""
    good = Path(path).with_suffix(".good.tmp")
    squares_image(good, 2)
    raw = good.read_bytes()
    good.unlink()
    Path(path).write_bytes(b"II*\x00" + (10 ** 8).to_bytes(4, "little") + raw[8:])


def descendants(pid=None):
    try:
        return psutil.Process(pid or os.getpid()).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def worker_processes(pid=None):
    """Dask worker processes (spawned by nannies) below ``pid``."""
    out = []
    for p in descendants(pid):
        try:
            if "spawn_main" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def leftover(pids_before, names=("Xvfb", "java", "dask", "python")):
    """Processes below this one, started by the test, still alive after a short wait."""
    deadline = time.time() + 15
    while True:
        alive = []
        for p in descendants():
            try:
                cmd = " ".join(p.cmdline())
                if "resource_tracker" in cmd:  # multiprocessing's helper: lives as long as pytest
                    continue
                if p.pid not in pids_before and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(f"{p.pid} {cmd[:120]}")
            except psutil.Error:
                pass
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.5)


def stop_process_group(proc, timeout=20):
    """Terminate a process started with ``start_new_session=True`` and all its group."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except Exception:  # noqa: BLE001
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def output_contents(folder):
    """File name → content of an image folder's outputs (ZIP members, not the ZIP's dates; no run.json)."""
    out = {}
    folder = Path(folder)
    for p in sorted(folder.rglob("*")):
        name = str(p.relative_to(folder))
        if p.is_dir() or name in ("run.json", "run.log", "run.failed.json", "run.failed.log", "check.json",
                                  "batch.json"):
            continue
        if p.suffix == ".zip":
            with zipfile.ZipFile(p) as z:
                out[name] = {n: z.read(n) for n in z.namelist()}
        else:
            out[name] = p.read_bytes()
    return out


def ok_count(out):
    """Images ``ok`` in a batch folder's manifest (0 while it cannot be read)."""
    import json

    try:
        manifest = json.loads((Path(out) / "manifest.json").read_text())
    except (OSError, ValueError):
        return 0
    return sum(e["status"] == "ok" for e in manifest["images"].values())


def kill_a_busy_worker(proc, out, ages, timeout):
    """kill -9 of one worker of the batch ``proc`` while both workers are mid-image.

    Waits until at least one image is ``ok`` and exactly two images are in flight in
    ``out/.fijirun-tmp``, each started between ``ages[0]`` and ``ages[1]`` seconds ago;
    returns the killed worker process, or None when that never happened within ``timeout``.
    """
    from fijirun.batch.manifest import TMP_DIR

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        tmp = Path(out) / TMP_DIR
        running = [p for p in tmp.iterdir() if ".old." not in p.name] if tmp.is_dir() else []
        started = []  # a folder listed may be published (renamed away) before its stat
        for p in running:
            try:
                started.append(time.time() - p.stat().st_mtime)
            except FileNotFoundError:
                continue
        if ok_count(out) >= 1 and len(started) == 2 and all(ages[0] < a < ages[1] for a in started):
            workers = worker_processes(proc.pid)
            if len(workers) == 2:
                workers[0].send_signal(signal.SIGKILL)
                return workers[0]
        time.sleep(0.05)
    return None
