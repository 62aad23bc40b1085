"""fijirun check with *Redirect to* an image of another calibration (real ImageJ runs).

ImageJ 1.53t's ParticleAnalyzer measures the pixel statistics (Area, X/Y, Mean, IntDen, the
Summary's areas) with the redirect image's calibration, and its Analyzer measures the outline
(Perim., Feret) with the analysed image's; Circ. mixes both. A correct table ImageJ wrote with a
redirect image of another scale and unit must pass, an edited one must fail on the edited cell.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import tifffile

from fijirun.check import CheckError, check
from fijirun.reference import Calibration, analyze_particles, format_value

from conftest import DATA

NUCLEI = DATA / "xy_8bit__few_touching_nuclei.tif"
MEASUREMENTS = "area mean centroid perimeter shape feret's integrated area_fraction"

# The output-saving macro (fiji_macros/output_saving.ijm), measuring on a redirect image: the
# analysed mask is in mm (1.5 mm pixels), the grey image it redirects to in µm (0.25 µm pixels).
# The size range is in the analysed image's mm² (no "pixel"): 45 mm² is 20 pixels.
MACRO = """#@ File input
#@ File outputDir
open(input);
title = getTitle();
base = File.getNameWithoutExtension(title);
run("Properties...", "channels=1 slices=1 frames=1 unit=mm pixel_width=1.5 pixel_height=1.5 voxel_depth=1");
run("Duplicate...", "title=intensity");
run("Properties...", "channels=1 slices=1 frames=1 unit=um PIXEL voxel_depth=1");
CALIBRATE
selectImage(title);
setOption("BlackBackground", true);
setAutoThreshold("Otsu dark");
run("Convert to Mask");
run("Set Measurements...", "MEASUREMENTS redirect=intensity decimal=3");
run("Analyze Particles...", "size=45-Infinity show=[Count Masks] display clear summarize add");
Table.save(outputDir + File.separator + base + "_results.csv", "Results");
Table.save(outputDir + File.separator + base + "_summary.csv", "Summary");
selectImage("Count Masks of " + title);
saveAs("Tiff", outputDir + File.separator + base + "_labels.tif");
roiManager("save", outputDir + File.separator + base + "_rois.zip");
roiManager("reset");
run("Set Measurements...", "area mean redirect=None decimal=3");
"""
CASES = {
    "scaled": ("pixel_width=0.25 pixel_height=0.25", ""),
    # anisotropic redirect pixels: ImageJ gives no Major/Minor (0), so AR is NaN, Round Infinity
    "anisotropic": ("pixel_width=0.25 pixel_height=0.5", ""),
    # a calibration function on the redirect image: ImageJ measures calibrated values
    "calibrated": ("pixel_width=0.25 pixel_height=0.25",
                   'run("Calibrate...", "function=[Straight Line] unit=[Gray Value] text1=[0 255] '
                   'text2=[10 520]");'),
    # a threshold on the redirect image: ImageJ's %Area is the fraction of redirect pixels within it
    "thresholded": ("pixel_width=0.25 pixel_height=0.25", "setThreshold(100, 255);"),
}
STEM = "xy_8bit__few_touching_nuclei"


@pytest.fixture(scope="module")
def runs(ij_session, tmp_path_factory):
    """Each case run once by the real engine; name -> output folder."""
    base = tmp_path_factory.mktemp("redirect")
    out = {}
    for name, (pixel, calibrate) in CASES.items():
        macro = base / f"{name}.ijm"
        macro.write_text(MACRO.replace("PIXEL", pixel).replace("CALIBRATE", calibrate)
                         .replace("MEASUREMENTS", MEASUREMENTS + (" min median" if name == "calibrated" else "")))
        out[name] = ij_session.run(macro, input=NUCLEI, output_dir=base / name).output_dir
    return out


def copy_of(runs, name, tmp_path):
    dest = tmp_path / name
    shutil.copytree(runs[name], dest)
    return dest


def _rows(path):
    lines = path.read_text().splitlines()
    return lines[0].split(","), [line.split(",") for line in lines[1:]]


def _cell(path, row, column):
    header, rows = _rows(path)
    return rows[row - 1][header.index(column)]


def _edit_cell(path, row, column, value):
    header, rows = _rows(path)
    rows[row - 1][header.index(column)] = value
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")


def test_redirect_of_another_scale_passes(runs):
    out = runs["scaled"]
    results = out / f"{STEM}_results.csv"
    # what ImageJ wrote: Area in µm² (0.0625 µm² a pixel: particle 1 has 460 pixels), Perim. and
    # Feret in mm (1.5 mm pixels), Circ. 4π·µm²/mm²
    labels = tifffile.imread(out / f"{STEM}_labels.tif")
    assert int(np.count_nonzero(labels == 1)) == 460
    assert _cell(results, 1, "Area") == "28.750"
    assert _cell(results, 1, "Perim.") == "181.066"
    assert _cell(results, 1, "Feret") == "57.433"
    assert _cell(results, 1, "Circ.") == "0.011"
    assert _cell(results, 1, "X") == "2.734"
    report = check(out)
    for rel in ("results.csv", "summary.csv", "rois.zip", "labels.tif"):
        v = report[f"{STEM}_{rel}"]
        assert v.verdict == "pass", (rel, v.reason)
    assert "7 rows × 17 columns agree" in report[f"{STEM}_results.csv"].reason
    assert report.verdict == "pass"
    recovered = report.recovered
    assert recovered["redirect"] == "intensity"
    assert recovered["redirect_calibration"] == {"pixel_width": 0.25, "pixel_height": 0.25, "unit": "µm",
                                                 "calibrated_values": False}


def test_redirect_of_another_scale_changed_cell_fails(runs, tmp_path):
    edited = copy_of(runs, "scaled", tmp_path)
    results = edited / f"{STEM}_results.csv"
    _edit_cell(results, 2, "Perim.", "216.615")                 # ImageJ wrote 216.614
    v = check(edited)[f"{STEM}_results.csv"]
    assert v.verdict == "fail"
    assert "row 2, column Perim.: 216.615 in the file, 216.614 in the reference" in v.reason, v.reason
    assert v.details["n_mismatches"] == 1
    shutil.copy(runs["scaled"] / results.name, results)
    _edit_cell(results, 3, "Area", "56.625")                    # ImageJ wrote 56.562 (905 pixels)
    v = check(edited)[f"{STEM}_results.csv"]
    assert v.verdict == "fail" and v.details["n_mismatches"] == 1
    assert "row 3, column Area: 56.625 in the file, 56.562 in the reference" in v.reason, v.reason
    summary = edited / f"{STEM}_summary.csv"
    assert _cell(summary, 1, "Total Area") == "425.438"         # µm², as the Area column
    assert _cell(summary, 1, "%Area") == "19.676"               # of the 186 x 186 pixels' 2162.25 µm²
    _edit_cell(summary, 1, "Total Area", "425.5")
    v = check(edited)[f"{STEM}_summary.csv"]
    assert v.verdict == "fail"
    assert "column Total Area: 425.5 in the file, 425.438 in the reference" in v.reason, v.reason


@pytest.mark.parametrize("case", ["scaled", "anisotropic"])
def test_reference_table_is_imagejs(runs, case):
    """The reference, given both calibrations, prints every cell as ImageJ wrote it."""
    out = runs[case]
    record = json.loads((out / "run.json").read_text())
    a = record["analyses"][0]
    cal, rcal = a["image"]["calibration"], a["redirect_calibration"]
    assert (cal["pixel_width"], cal["unit"]) == (1.5, "mm")
    assert rcal["unit"] == "µm" and rcal["pixel_width"] == 0.25
    assert rcal["pixel_height"] == (0.25 if case == "scaled" else 0.5)
    mask = tifffile.imread(out / a["snapshot"]["path"])
    grey = tifffile.imread(out / a["redirect_snapshot"]["path"])
    ref = analyze_particles(mask, redirect=grey, measurements=MEASUREMENTS, size=(45, None), pixel_units=False,
                            calibration=(cal["pixel_width"], cal["pixel_height"], cal["unit"]),
                            redirect_calibration=Calibration(rcal["pixel_width"], rcal["pixel_height"],
                                                             rcal["unit"]))
    header, rows = _rows(out / f"{STEM}_results.csv")
    assert header[1:] == list(ref.table.columns)
    assert len(rows) == len(ref.table) == 7
    for i, row in enumerate(rows):
        # ImageJ prints a column of whole numbers without decimals ("53", not "53.000"): the
        # printed numbers are compared
        want = [float(format_value(ref.values[c][i], 3)) for c in header[1:]]
        got = [float(cell) for cell in row[1:]]
        assert np.array_equal(got, want, equal_nan=True), (i + 1, row, want)
    v = check(out)[f"{STEM}_results.csv"]
    assert v.verdict == "pass", v.reason
    if case == "anisotropic":
        assert {r[header.index("AR")] for r in rows} == {"NaN"}
        assert {r[header.index("Round")] for r in rows} == {"Infinity"}
    # without the redirect image's calibration the areas would be in mm², not what ImageJ wrote
    wrong = analyze_particles(mask, redirect=grey, measurements="area", size=(45, None), pixel_units=False,
                              calibration=(cal["pixel_width"], cal["pixel_height"], cal["unit"]))
    assert format_value(wrong.values["Area"][0], 3) != rows[0][header.index("Area")]


def test_redirect_calibration_needs_a_redirect():
    with pytest.raises(ValueError, match="needs a redirect image"):
        analyze_particles(np.zeros((4, 4), np.uint8), redirect_calibration=(0.5, 0.5, "um"))


def test_redirect_with_a_calibration_function_names_the_columns(runs, tmp_path):
    """ImageJ measures the function's values; the reference cannot: those columns are named."""
    out = runs["calibrated"]
    results = out / f"{STEM}_results.csv"
    assert _cell(results, 1, "Mean") == "162.387"           # 10 + 2·76.193: the function's values
    assert _cell(results, 1, "RawIntDen") == "35049"        # raw, as without a function
    report = check(out)
    v = report[f"{STEM}_results.csv"]
    assert v.verdict == "warn", v.reason
    assert v.reason.startswith("columns not compared (the redirect image has a calibration function")
    assert v.reason.endswith(": Mean, Min, Max, IntDen, Median"), v.reason
    assert sorted(v.details["not_reproduced"]) == ["IntDen", "Max", "Mean", "Median", "Min"]
    assert v.details["n_mismatches"] == 0
    s = report[f"{STEM}_summary.csv"]
    assert s.verdict == "warn" and s.reason.endswith(": Mean, IntDen, Median"), s.reason
    assert report.verdict == "warn"
    # the other columns are still compared
    edited = copy_of(runs, "calibrated", tmp_path)
    _edit_cell(edited / results.name, 1, "Feret", "57.434")
    v = check(edited)[results.name]
    assert v.verdict == "fail" and "row 1, column Feret: 57.434 in the file, 57.433" in v.reason, v.reason


@pytest.mark.parametrize("key, value, message", [
    ("pixel_width", "x", 'redirect_calibration.pixel_width is "x", not a finite number'),
    ("pixel_height", "Infinity", 'redirect_calibration.pixel_height is "Infinity", not a finite number'),
    ("unit", 3, "redirect_calibration.unit is 3, not a text"),
    ("calibrated_values", "yes", 'redirect_calibration.calibrated_values is "yes", not true or false'),
])
def test_hand_edited_redirect_calibration_is_a_one_line_error(runs, tmp_path, key, value, message):
    edited = copy_of(runs, "scaled", tmp_path)
    record = json.loads((edited / "run.json").read_text())
    record["analyses"][0]["redirect_calibration"][key] = value
    (edited / "run.json").write_text(json.dumps(record))
    with pytest.raises(CheckError, match=re.escape("run.json: analyses[0]." + message)):
        check(edited)


def test_a_record_without_the_redirect_calibration_is_checked_as_before(runs, tmp_path):
    """A run folder of an older fijirun (no redirect_calibration): the reference measures with the
    analysed image's calibration, as it did; nothing breaks. (A guard: it passes on the old code.)"""
    edited = copy_of(runs, "scaled", tmp_path)
    record = json.loads((edited / "run.json").read_text())
    del record["analyses"][0]["redirect_calibration"]
    (edited / "run.json").write_text(json.dumps(record))
    report = check(edited)
    assert report[f"{STEM}_rois.zip"].verdict == "pass"
    v = report[f"{STEM}_summary.csv"]
    assert v.verdict == "fail" and "Total Area: 425.438 in the file, 15315.750 in the reference" in v.reason


def test_redirect_with_a_threshold_measures_area_fraction_within_it(runs, tmp_path):
    out = runs["thresholded"]
    results = out / f"{STEM}_results.csv"
    assert _cell(results, 1, "%Area") == "13.478"           # of particle 1's redirect pixels, 100..255
    v = check(out)[results.name]
    assert v.verdict == "pass", v.reason
    record = json.loads((out / "run.json").read_text())
    assert record["analyses"][0]["redirect_threshold"] == [100, 255]
    edited = copy_of(runs, "thresholded", tmp_path)
    _edit_cell(edited / results.name, 2, "%Area", "100")
    v = check(edited)[results.name]
    assert v.verdict == "fail" and v.details["n_mismatches"] == 1
    assert "row 2, column %Area: 100 in the file, 13.915 in the reference" in v.reason, v.reason
    with pytest.raises(ValueError, match="needs a redirect image"):
        analyze_particles(np.zeros((4, 4), np.uint8), redirect_threshold=(1, 255))
