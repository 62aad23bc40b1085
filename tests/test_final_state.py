"""The final state of a run (``run.state/``) against what ImageJ itself saves of the same images.

The macro leaves images of every type open (8-, 16-, 32-bit with a NaN, RGB, a
calibrated stack), two tables and a Log, and
saves each image with ImageJ's own TIFF writer: the state's pixels, hashes and
statistics must agree with those files, read independently with tifffile. A
Jython script leaves ROIs in the ROI Manager.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import roifile
import tifffile

import fijirun

MACRO = r"""
#@ File (style="directory") outputDir
newImage("bytes", "8-bit ramp", 64, 48, 1);
saveAs("Tiff", outputDir + "/bytes.tif");
newImage("shorts", "16-bit ramp", 64, 48, 1);
run("Multiply...", "value=3");
saveAs("Tiff", outputDir + "/shorts.tif");
newImage("floats", "32-bit ramp", 64, 48, 1);
setPixel(3, 4, NaN);
setPixel(5, 6, -2.5);
saveAs("Tiff", outputDir + "/floats.tif");
newImage("colour", "RGB ramp", 64, 48, 1);
setPixel(1, 2, 0x123456);
saveAs("Tiff", outputDir + "/colour.tif");
newImage("stack", "8-bit random", 32, 16, 3);
run("Properties...", "channels=1 slices=3 frames=1 pixel_width=0.5 pixel_height=0.25 voxel_depth=2 unit=um");
saveAs("Tiff", outputDir + "/stack.tif");
run("Set Measurements...", "area mean redirect=None decimal=3");
run("Measure");
selectImage("bytes.tif");
run("Measure");
Table.create("Counts");
// with the table named: without it, Table.set writes to the front window, which
// becomes "Counts" when the window system activates it (ImageJ waits 200 ms for that)
Table.set("n", 0, 5, "Counts");
Table.set("n", 1, 7, "Counts");
Table.update("Counts");
print("hello from the macro");
"""

# A macro's ROI Manager in batch mode is its interpreter's and ends with it: the
# ROI Manager a final state holds is a window, as a Jython script makes one.
ROIS = """
from ij.gui import OvalRoi, Roi
from ij.plugin.frame import RoiManager
manager = RoiManager()
manager.addRoi(Roi(1, 2, 10, 12))
manager.addRoi(OvalRoi(20, 20, 8, 6))
"""

TITLES = ["bytes.tif", "shorts.tif", "floats.tif", "colour.tif", "stack.tif"]


@pytest.fixture(scope="module")
def state_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("final-state")
    script = folder / "leave_state.ijm"
    script.write_text(MACRO)
    rois = folder / "leave_rois.py"
    rois.write_text(ROIS)
    out = folder / "out"
    with fijirun.Session() as session:
        result = session.run(script, output_dir=out)
        assert result.ok, result.error
        roi_result = session.run(rois, output_dir=folder / "rois")
        assert roi_result.ok, roi_result.error
    return out, json.loads((out / "run.json").read_text())["state"], folder / "rois"


def test_images_are_listed_in_the_order_they_were_opened(state_run):
    _, state, _ = state_run
    assert [i["title"] for i in state["images"]] == TITLES
    assert [i["type"] for i in state["images"]] == ["8-bit", "16-bit", "32-bit", "RGB", "8-bit"]
    assert state["errors"] == []


@pytest.mark.parametrize("title", TITLES)
def test_state_pixels_equal_imagej_saved_pixels(state_run, title):
    out, state, _ = state_run
    entry = next(i for i in state["images"] if i["title"] == title)
    kept = tifffile.imread(out / entry["file"])
    saved = tifffile.imread(out / title)  # ImageJ's own TIFF writer
    np.testing.assert_array_equal(kept.reshape(saved.shape), saved)
    assert entry["sha256"] == hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
    values = saved[np.isfinite(saved)] if saved.dtype.kind == "f" else saved
    assert entry["min"] == pytest.approx(float(values.min()))
    assert entry["max"] == pytest.approx(float(values.max()))
    assert entry["mean"] == pytest.approx(float(values.mean(dtype=np.float64)))
    assert (entry["width"], entry["height"]) == ((32, 16) if title == "stack.tif" else (64, 48))


def test_special_values_survive(state_run):
    out, state, _ = state_run
    floats = tifffile.imread(out / state["images"][2]["file"]).reshape(48, 64)
    assert np.isnan(floats[4, 3]) and floats[6, 5] == -2.5
    assert state["images"][2]["min"] == -2.5
    colour = tifffile.imread(out / state["images"][3]["file"]).reshape(48, 64, 3)
    assert colour[2, 1].tolist() == [0x12, 0x34, 0x56]


def test_stack_planes_and_calibration(state_run):
    out, state, _ = state_run
    stack = state["images"][4]
    assert (stack["width"], stack["height"], stack["channels"], stack["slices"], stack["frames"]) == (32, 16, 1, 3, 1)
    assert tifffile.imread(out / stack["file"]).shape == (3, 16, 32)
    cal = stack["calibration"]
    assert (cal["pixel_width"], cal["pixel_height"], cal["pixel_depth"]) == (0.5, 0.25, 2.0)
    assert cal["unit"] in ("µm", "micron", "um")


def test_tables_rois_and_log(state_run):
    out, state, _ = state_run
    tables = {t["title"]: t for t in state["tables"]}
    assert list(tables) == ["Results", "Counts"]  # the Results table first
    assert tables["Results"]["rows"] == 2 and tables["Results"]["columns"][:2] == ["Area", "Mean"]
    assert tables["Counts"]["rows"] == 2 and tables["Counts"]["columns"] == ["n"]
    counts = (out / tables["Counts"]["file"]).read_text().split()
    assert counts[-2:] == ["5", "7"]
    assert state["rois"] is None  # the macro made none
    assert "hello from the macro" in (out / state["log"]["file"]).read_text()


def test_roi_manager(state_run):
    _, _, out = state_run
    state = json.loads((out / "run.json").read_text())["state"]
    assert state["rois"]["count"] == 2
    rois = roifile.ImagejRoi.fromfile(out / state["rois"]["file"])
    assert [r.roitype for r in rois] == [roifile.ROI_TYPE.RECT, roifile.ROI_TYPE.OVAL]
    assert (rois[0].left, rois[0].top, rois[0].right, rois[0].bottom) == (1, 2, 11, 14)
    assert (rois[1].left, rois[1].top, rois[1].right, rois[1].bottom) == (20, 20, 28, 26)
    assert state["images"] == [] and state["tables"] == []


UNREADABLE = """
from ij import ImagePlus
from ij.process import ByteProcessor
import java.lang


class Unreadable(ImagePlus):
    def getStack(self):
        raise java.lang.AssertionError("cannot read")


Unreadable("unreadable", ByteProcessor(10, 10)).show()
ImagePlus("readable", ByteProcessor(8, 8)).show()
"""


def test_an_unreadable_image_is_said_and_loses_no_other(tmp_path):
    """A Java Error (not only an Exception) reading one image is that image's error, not the run's."""
    out = tmp_path / "out"
    with fijirun.Session() as session:
        result = session.run_code(UNREADABLE, "jython", output_dir=out)
    assert result.ok, result.error
    state = json.loads((out / "run.json").read_text())["state"]
    assert [i["title"] for i in state["images"]] == ["readable"]
    assert len(state["errors"]) == 1
    assert state["errors"][0].startswith("image unreadable: ") and "cannot read" in state["errors"][0]
