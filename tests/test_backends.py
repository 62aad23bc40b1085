"""The same activities on every backend: imagej1 in this process, fiji in a process of its own.

The fiji cases need a Fiji.app: set FIJI_HOME. Without it they are skipped
with that reason, and everything else runs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fijirun
from fijirun.outputs import read_image, read_rois, read_table

from backend_cases import CASES
from conftest import ACTIVITIES, MACROS, RANDOMSHAPES

HERE = Path(__file__).resolve().parent
FIJI_HOME = os.environ.get("FIJI_HOME")
needs_fiji = pytest.mark.skipif(not FIJI_HOME, reason="FIJI_HOME is not set: the fiji backend needs a Fiji.app")
OUTPUT_CASES = ["activity_macro", "activity_jython", "course_macro", "course_jython"]


@pytest.fixture(scope="module")
def imagej1_runs(ij_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("imagej1")
    runs = {}
    for name in OUTPUT_CASES:
        runs[name] = CASES[name](ij_session, root / name, ACTIVITIES=ACTIVITIES, MACROS=MACROS,
                                 RANDOMSHAPES=RANDOMSHAPES)
    return runs


@pytest.fixture(scope="module")
def fiji_runs(tmp_path_factory):
    if not FIJI_HOME:
        pytest.skip("FIJI_HOME is not set: the fiji backend needs a Fiji.app")
    root = tmp_path_factory.mktemp("fiji")
    proc = subprocess.run([sys.executable, str(HERE / "fiji_driver.py"), str(root)], cwd=HERE,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _outputs(folder):
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.name != "run.json")
    return {p.name: p for p in files}


@needs_fiji
@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_fiji_outputs_identical_to_imagej1(imagej1_runs, fiji_runs, name):
    fiji = fiji_runs["cases"][name]
    assert fiji["status"] == "ok", fiji
    ours = _outputs(imagej1_runs[name].output_dir)
    theirs = _outputs(fiji["output_dir"])
    assert sorted(ours) == sorted(theirs)
    for fname, path in ours.items():
        other = theirs[fname]
        if fname.endswith((".tif", ".png")):
            a, b = read_image(path), read_image(other)
            assert a.dtype == b.dtype and np.array_equal(a, b), fname
        elif fname.endswith(".zip"):
            ra, rb = read_rois(path), read_rois(other)
            assert [r.name for r in ra] == [r.name for r in rb]
            assert all(np.array_equal(x.coordinates(), y.coordinates()) for x, y in zip(ra, rb))
        elif fname.endswith((".txt", ".csv")):
            pd.testing.assert_frame_equal(read_table(path), read_table(other))
    record = json.loads((Path(fiji["output_dir"]) / "run.json").read_text())
    assert record["backend"] == "fiji" and record["status"] == "ok"


@needs_fiji
def test_fiji_errors_raised_with_line(fiji_runs):
    syntax = fiji_runs["cases"]["syntax_error"]
    assert syntax["type"] == "MacroError" and syntax["line"] == 7
    unknown = fiji_runs["cases"]["unknown_command"]
    assert unknown["type"] == "UnrecognizedCommandError" and unknown["line"] == 2
    assert "Morphological Segmentation Deluxe" in unknown["message"]


@needs_fiji
def test_fiji_plugin_runs_on_fiji(fiji_runs):
    case = fiji_runs["cases"]["fiji_plugin"]
    assert case["status"] == "ok", case
    assert "foreground: " in case["log"]
    value = float(case["log"].split("foreground: ")[1].split()[0])
    assert 0 < value < 255  # a thresholded ramp: part black, part white


@needs_fiji
def test_fiji_startup_and_versions(fiji_runs):
    assert fiji_runs["versions"]["imagej2"].startswith("2.")
    assert fiji_runs["startup_s"] < 120


def _image_objects(log):
    return int(log.rsplit(":", 1)[1])


# Leaked, the 30 runs' images alone would be 30 or more; a few others are ImageJ's own
# (the last run's image, the clipboard; Fiji's legacy layer keeps one or two more).
FEW_IMAGES = 10


def test_images_left_open_by_runs_are_freed_imagej1(ij_session, tmp_path):
    """A warm engine does not keep every run's images: 30 runs leave at most the last one's."""
    from backend_cases import images_left_open

    assert 1 <= _image_objects(images_left_open(ij_session, tmp_path).log) < FEW_IMAGES  # the last one is open


@needs_fiji
def test_images_left_open_by_runs_are_freed_fiji(fiji_runs):
    case = fiji_runs["cases"]["images_left_open"]
    assert case["status"] == "ok", case
    assert 1 <= _image_objects(case["log"]) < FEW_IMAGES, case


def test_fiji_plugin_needs_plugin_on_imagej1(ij_session):
    with pytest.raises(fijirun.UnrecognizedCommandError) as info:
        CASES["fiji_plugin"](ij_session, None)
    assert info.value.command == "Auto Local Threshold"
    assert "needs plugin: Auto Local Threshold" in str(info.value)


@pytest.mark.parametrize("name", OUTPUT_CASES)
def test_imagej1_cases_ok(imagej1_runs, name):
    assert imagej1_runs[name].ok and imagej1_runs[name].label_mask.max() == 6


def test_fiji_backend_without_fiji_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("FIJI_HOME", raising=False)
    code = subprocess.run([sys.executable, "-m", "fijirun", "run", str(ACTIVITIES / "state_probe.ijm"),
                           "--backend", "fiji", "--json"], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "FIJI_HOME"})
    out = json.loads(code.stdout.strip().splitlines()[-1])
    assert code.returncode != 0 and out["error"]["type"] == "EngineError"
    assert "needs a Fiji.app" in out["error"]["message"]


HEADLESS_PROBE = """
import json, sys, fijirun
s = fijirun.Session("fiji", headless=True)
out = {}
for name in ("output_saving.ijm", "output_saving.py"):
    try:
        r = s.run(sys.argv[1] + "/" + name, input=sys.argv[2], output_dir=sys.argv[3] + "/" + name)
        out[name] = {"status": r.status, "outputs": [p.name for p in r.outputs]}
    except fijirun.FijirunError as exc:
        out[name] = {"status": "error", "type": type(exc).__name__, "message": str(exc),
                     "log": getattr(exc, "log", "")}
print(json.dumps(out))
"""


@needs_fiji
def test_fiji_headless_fails_loudly_never_silently(tmp_path):
    """pyimagej's headless mode made the activity 'succeed' and save nothing; here it raises."""
    proc = subprocess.run([sys.executable, "-c", HEADLESS_PROBE, str(MACROS), str(RANDOMSHAPES), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, result in out.items():
        assert result["status"] == "error", (name, result)
        assert "HeadlessException" in result["message"] + result["log"]
    assert not any(tmp_path.rglob("*.tif"))
