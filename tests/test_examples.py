"""The runnable examples in examples/ run and print what they say (real ImageJ, real Dask)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import DATA, ROOT


def test_demo_output_saving(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "demo_output_saving.py"),
                           "--data-dir", str(DATA), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"xy_8bit_binary_randomshapes_labels.tif", "xy_8bit_binary_randomshapes_rois.zip",
            "xy_8bit_binary_randomshapes_results.csv", "run.json"} <= saved


def test_batch_warm_cluster(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "batch_warm_cluster.py"),
                           "--data-dir", str(DATA), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert re.search(r"^upto1000px: 2 ok, 0 failed, 0 timeout", out, re.M), out
    assert re.search(r"^anysize: 2 ok, 0 failed, 0 timeout", out, re.M), out
    # the course image: 7 particles, one of them over 1000 pixels
    counts = re.findall(r"xy_8bit_binary_randomshapes-\w+: (\d+) particles", out)
    assert counts == ["6", "7"], out
