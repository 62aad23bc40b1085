"""fijirun batch on the user's Fiji (issue 18): a Fiji-only command, every guarantee of a batch.

Each worker starts the pinned Fiji once (``FIJI_HOME``, ../shared/fiji/Fiji.app) and keeps
it. The script runs Auto Local Threshold, which plain ImageJ does not have: good images are
done and equal to a one-shot ``fijirun run --backend fiji`` of the same script; a corrupt
image fails, a hanging one times out, one needing a plugin this Fiji lacks fails with
``UnrecognizedCommandError``; kill -9 of a Fiji worker mid-batch costs one attempt;
``--resume`` runs only what is not done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from fijirun.batch import output_name
from fijirun.batch.manifest import MANIFEST

from batch_helpers import corrupt_tiff, kill_a_busy_worker, make_good_images, stop_process_group
from conftest import run_cli

pytestmark = [pytest.mark.fiji, pytest.mark.skipif(
    not os.environ.get("FIJI_HOME"), reason="FIJI_HOME is not set: the fiji backend needs a Fiji.app")]

SCRIPT = """#@ File input
#@ File (style="directory") outputDir
#@ Integer (value=0) delay
open(input);
if (indexOf(getTitle(), "hang") >= 0) while (true) {}
if (indexOf(getTitle(), "plugin") >= 0) run("Connected Components Labeling", "connectivity=4 type=[16 bits]");
wait(delay);
run("8-bit");
run("Auto Local Threshold", "method=Bernsen radius=5 parameter_1=0 parameter_2=0 white");
run("Set Measurements...", "area mean redirect=None decimal=3");
setThreshold(255, 255);
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + "/results.csv");
saveAs("Tiff", outputDir + "/binary.tif");
"""


def _batch(tmp_path, inputs, out, *extra, timeout=600):
    script = tmp_path / "local_threshold.ijm"
    script.write_text(SCRIPT)
    return run_cli("batch", script, *inputs, "--output", out, "--backend", "fiji", "--fiji",
                   os.environ["FIJI_HOME"], "--workers", "2", "--json", *extra, timeout=timeout)


def _summary(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def test_fiji_batch_good_corrupt_and_hanging_images(tmp_path):
    good = make_good_images(tmp_path / "in", 4)
    corrupt_tiff(tmp_path / "in" / "corrupt.tif")
    shutil.copy(next(iter(good)), tmp_path / "in" / "hang.tif")
    shutil.copy(next(iter(good)), tmp_path / "in" / "plugin.tif")  # MorphoLibJ: not in this Fiji
    out = tmp_path / "out"
    code, stdout, stderr = _batch(tmp_path, [tmp_path / "in"], out, "--timeout", "30")
    assert code == 1, stderr[-3000:]
    summary = _summary(stdout)
    assert (summary["ok"], summary["failed"], summary["timeout"], summary["pending"]) == (4, 2, 1, 0)
    manifest = json.loads((out / MANIFEST).read_text())
    entries = {Path(e["input"]).name: e for e in manifest["images"].values()}
    assert {name: e["status"] for name, e in entries.items()} == {
        **{p.name: "ok" for p in good}, "corrupt.tif": "failed", "hang.tif": "timeout", "plugin.tif": "failed"}
    # a plugin the Fiji lacks is that image's clear error, not a batch crash
    assert entries["plugin.tif"]["error"]["type"] == "UnrecognizedCommandError"
    assert "Connected Components Labeling" in entries["plugin.tif"]["error"]["message"]
    # differential: each good image's outputs equal a one-shot run of the same script on Fiji
    script = tmp_path / "local_threshold.ijm"
    for path in good:
        folder = out / output_name(path)
        binary = tifffile.imread(folder / "binary.tif")
        assert set(np.unique(binary)) <= {0, 255} and binary.shape == tifffile.imread(path).shape
        one = tmp_path / "one" / path.stem
        code, _, err = run_cli("run", script, "--backend", "fiji", "--fiji", os.environ["FIJI_HOME"],
                               "--input", path, "--output", one, timeout=300)
        assert code == 0, err[-2000:]
        assert np.array_equal(binary, tifffile.imread(one / "binary.tif"))
        assert (folder / "results.csv").read_text() == (one / "results.csv").read_text()


def test_kill9_of_a_fiji_worker_mid_batch_costs_one_attempt(tmp_path):
    images = make_good_images(tmp_path / "in", 6)
    out = tmp_path / "out"
    script = tmp_path / "local_threshold.ijm"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fijirun", "batch", str(script), str(tmp_path / "in"), "-o", str(out),
         "--backend", "fiji", "--fiji", os.environ["FIJI_HOME"], "--workers", "2", "--set", "delay=2500",
         "--timeout", "120", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # both workers mid-image (each image waits 2.5 s), at least one image done
        victim = kill_a_busy_worker(proc, out, ages=(0.3, 1.5), timeout=300)
        assert victim is not None, "never saw both Fiji workers busy"
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        stop_process_group(proc)
    assert proc.returncode == 0, stderr[-3000:]
    summary = _summary(stdout)
    assert (summary["ok"], summary["failed"], summary["timeout"], summary["pending"]) == (6, 0, 0, 0)
    entries = json.loads((out / MANIFEST).read_text())["images"].values()
    assert {e["input"] for e in entries} == {str(p) for p in images}
    assert sorted(e["attempts"] for e in entries) == [1, 1, 1, 1, 1, 2]


def test_fiji_batch_resume_runs_only_what_is_not_done(tmp_path):
    good = make_good_images(tmp_path / "in", 2)
    corrupt_tiff(tmp_path / "in" / "late.tif")
    out = tmp_path / "out"
    code, stdout, stderr = _batch(tmp_path, [tmp_path / "in"], out, "--timeout", "60")
    assert code == 1 and _summary(stdout)["failed"] == 1, stderr[-3000:]
    before = {p: (out / output_name(p) / "binary.tif").stat().st_mtime_ns for p in good}
    shutil.copy(next(iter(good)), tmp_path / "in" / "late.tif")  # the image arrives whole
    code, stdout, stderr = _batch(tmp_path, [tmp_path / "in"], out, "--timeout", "60", "--resume")
    summary = _summary(stdout)
    assert code == 0 and (summary["ok"], summary["ran"], summary["skipped"]) == (3, 1, 2), stderr[-3000:]
    assert {p: (out / output_name(p) / "binary.tif").stat().st_mtime_ns for p in good} == before
