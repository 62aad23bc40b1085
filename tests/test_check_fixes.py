"""fijirun check: verdicts that must be right every time (real ImageJ runs, small images)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import tifffile

from fijirun.check import check
from fijirun.reference import format_value, round_like_imagej

from conftest import RANDOMSHAPES, run_each_macro

HEAD = """#@ File input
#@ File outputDir
open(input);
"""
MACROS = {
    # finding 5: ImageJ rounds half up at 0 decimals (X 2.5 -> 3, Mean 196.5 -> 197)
    "decimal0": ("grey", """setOption("BlackBackground", true);
run("Set Measurements...", "area mean centroid redirect=None decimal=0");
setThreshold(100, 255);
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
"""),
    # finding 4: white-background binary, no threshold: %Area is the fraction of non-zero pixels
    "white": ("white", """setOption("BlackBackground", false);
run("Set Measurements...", "area area_fraction redirect=None decimal=3");
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
setOption("BlackBackground", true);
"""),
    # finding 1: a one-column table (no delimiter) is compared
    "onecol": ("randomshapes", """setOption("BlackBackground", true);
run("Input/Output...", "jpeg=85 gif=-1 file=.csv save_column");
run("Set Measurements...", "area redirect=None decimal=3");
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
run("Input/Output...", "jpeg=85 gif=-1 file=.csv save_column save_row");
"""),
    # finding 2: every Summary column is compared
    "summary": ("two", """setOption("BlackBackground", true);
run("Set Measurements...", "area redirect=None decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel summarize");
saveAs("Results", outputDir + File.separator + "summary.csv");
"""),
    "summary_means": ("grey", """setOption("BlackBackground", true);
run("Set Measurements...", "area mean perimeter shape redirect=None decimal=2");
setThreshold(100, 255);
run("Analyze Particles...", "size=0-Infinity pixel summarize");
saveAs("Results", outputDir + File.separator + "summary.csv");
"""),
    # finding 3: a particle whose 16-bit redirect pixels are all 0 has NaN centre of mass (XM, YM)
    "nan_positions": ("two", """setOption("BlackBackground", true);
id = getTitle();
newImage("red", "16-bit black", 20, 20, 1);
makeRectangle(2, 2, 3, 3); run("Set...", "value=50"); run("Select None");
selectWindow(id);
run("Set Measurements...", "area mean center redirect=red decimal=3");
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
run("Set Measurements...", "area mean redirect=None decimal=3");
"""),
    # finding 6: a show=Masks image (binary, inverted LUT) named like a label mask
    "masks": ("two", """setOption("BlackBackground", true);
run("Set Measurements...", "area redirect=None decimal=3");
run("Analyze Particles...", "show=Masks display clear");
saveAs("Tiff", outputDir + File.separator + "mask.tif");
"""),
    # finding 13: the ROI set's order
    "rois": ("two", """setOption("BlackBackground", true);
run("Set Measurements...", "area centroid redirect=None decimal=3");
run("Analyze Particles...", "display clear add");
roiManager("save", outputDir + File.separator + "rois.zip");
saveAs("Results", outputDir + File.separator + "results.csv");
roiManager("reset");
"""),
    # finding 5: ResultsTable's printing of ties and signs, at 0 and 3 decimals
    "printing": ("two", """run("Clear Results");
values = newArray(-0.4, -2.5, 2.5, 0.5, -0.5, 1.5, 196.5, 0.0625, 1.0005, 2.675, -0.0004);
for (d = 0; d <= 3; d += 3) {
    run("Set Measurements...", "area redirect=None decimal=" + d);
    run("Clear Results");
    for (i = 0; i < values.length; i++) setResult("V" + i, 0, values[i]);
    updateResults();
    saveAs("Results", outputDir + File.separator + "printed" + d + ".csv");
}
run("Set Measurements...", "area redirect=None decimal=3");
"""),
}


def _images(folder):
    two = np.zeros((20, 20), np.uint8)
    two[2:5, 2:5] = 255
    two[10:14, 8:15] = 255
    white = np.full((10, 10), 255, np.uint8)
    white[3:6, 3:6] = 0
    grey = np.zeros((10, 10), np.uint8)
    grey[2, 2], grey[3, 2], grey[6, 6] = 196, 197, 200     # X 2.5, Mean 196.5; and one pixel
    paths = {}
    for name, arr in (("two", two), ("white", white), ("grey", grey)):
        paths[name] = folder / f"{name}.tif"
        tifffile.imwrite(paths[name], arr)
    paths["randomshapes"] = RANDOMSHAPES
    return paths


@pytest.fixture(scope="module")
def runs(ij_session, tmp_path_factory):
    """Each macro of MACROS run once by the real engine; name -> output folder."""
    base = tmp_path_factory.mktemp("fixes")
    macros = {name: (image, HEAD + body) for name, (image, body) in MACROS.items()}
    return run_each_macro(ij_session, base, macros, _images(base))


def copy_of(runs, name, tmp_path):
    dest = tmp_path / name
    shutil.copytree(runs[name], dest)
    return dest


def test_format_value_rounds_half_up_at_0_decimals_only():
    assert [format_value(v, 0) for v in (2.5, 196.5, 3.5, -2.5, 0.5)] == ["3", "197", "4", "-3", "1"]
    assert format_value(2.25, 1) == "2.2"                    # HALF_EVEN elsewhere (exact binary value)
    assert format_value(0.0625, 3) == "0.062"
    assert round_like_imagej(np.array([2.5, 196.5, 1.5]), 0).tolist() == [3.0, 197.0, 2.0]


def test_format_value_prints_as_imagej_saves(runs):
    values = [-0.4, -2.5, 2.5, 0.5, -0.5, 1.5, 196.5, 0.0625, 1.0005, 2.675, -0.0004]
    for d in (0, 3):
        cells = (runs["printing"] / f"printed{d}.csv").read_text().splitlines()[1].split(",")[1:]
        assert [format_value(v, d) for v in values] == cells, (d, cells)


def test_decimal_0_table_passes(runs):
    text = (runs["decimal0"] / "results.csv").read_text()
    assert text.splitlines()[1].endswith(",2,197,3,3")       # what ImageJ wrote
    report = check(runs["decimal0"])
    assert report["results.csv"].verdict == "pass", report["results.csv"].reason


def test_white_background_area_fraction_passes(runs, tmp_path):
    assert (runs["white"] / "results.csv").read_text().splitlines()[1] == "1,9,0"
    report = check(runs["white"])
    assert report["results.csv"].verdict == "pass", report["results.csv"].reason
    edited = copy_of(runs, "white", tmp_path)
    (edited / "results.csv").write_text(" ,Area,%Area\n1,9,100\n")
    v = check(edited)["results.csv"]
    assert v.verdict == "fail" and "%Area: 100 in the file, 0 in the reference" in v.reason


def test_one_column_table_is_compared(runs, tmp_path):
    lines = (runs["onecol"] / "results.csv").read_text().splitlines()
    assert lines[0] == "Area" and "," not in lines[1]
    v = check(runs["onecol"])["results.csv"]
    assert v.verdict == "pass" and "rows × 1 columns agree" in v.reason, v.reason
    edited = copy_of(runs, "onecol", tmp_path)
    (edited / "results.csv").write_text("\n".join([lines[0], "1", *lines[2:]]) + "\n")
    v = check(edited)["results.csv"]
    assert v.verdict == "fail" and "column Area: 1 in the file" in v.reason, v.reason
    (edited / "results.csv").write_text("hello\nworld\n")       # text that is no table
    v = check(edited)["results.csv"]
    assert v.verdict == "fail" and "missing columns: Area" in v.reason, v.reason


def test_summary_every_column_compared(runs, tmp_path):
    text = (runs["summary"] / "summary.csv").read_text()
    assert text.splitlines()[1].endswith("two.tif,2,37,18.500,9.250")
    assert check(runs["summary"])["summary.csv"].verdict == "pass"
    edited = copy_of(runs, "summary", tmp_path)
    (edited / "summary.csv").write_text(text.replace("2,37,18.500,9.250", "2,999,499.500,249.750"))
    v = check(edited)["summary.csv"]
    assert v.verdict == "fail" and "column Total Area: 999 in the file, 37 in the reference" in v.reason
    assert v.details["n_mismatches"] == 3
    (edited / "summary.csv").write_text(text.replace("two.tif,", "other.tif,"))
    v = check(edited)["summary.csv"]
    assert v.verdict == "fail" and "column Slice: other.tif in the file, two.tif in the reference" in v.reason
    (edited / "summary.csv").write_text(text.splitlines()[0] + "\n")  # header only
    v = check(edited)["summary.csv"]
    assert v.verdict == "fail" and "without a row" in v.reason


def test_summary_means_compared(runs, tmp_path):
    text = (runs["summary_means"] / "summary.csv").read_text()
    header, row = text.splitlines()[:2]
    assert header.split(",")[-4:] == ["Mean", "Perim.", "Circ.", "Solidity"]
    v = check(runs["summary_means"])["summary.csv"]
    assert v.verdict == "pass", v.reason
    cells = row.split(",")
    cells[header.split(",").index("Mean")] = "123.000"
    edited = copy_of(runs, "summary_means", tmp_path)
    (edited / "summary.csv").write_text(header + "\n" + ",".join(cells) + "\n")
    v = check(edited)["summary.csv"]
    assert v.verdict == "fail" and "column Mean: 123.000 in the file" in v.reason, v.reason


def test_nan_positions_are_matched_not_a_crash(runs, tmp_path):
    text = (runs["nan_positions"] / "results.csv").read_text()
    lines = text.splitlines()
    assert lines[2].endswith(",0,NaN,NaN")                 # ImageJ: particle 2 has no centre of mass
    v = check(runs["nan_positions"])["results.csv"]
    assert v.verdict == "pass", v.reason
    edited = copy_of(runs, "nan_positions", tmp_path)
    (edited / "results.csv").write_text(text.replace(",0,NaN,NaN", ",7,NaN,NaN"))
    v = check(edited)["results.csv"]
    assert v.verdict == "fail" and "row 2, column Mean: 7 in the file, 0 in the reference" in v.reason, v.reason


def test_match_by_position_pairs_nan_rows_in_order():
    from fijirun.check.compare import match_by_position

    nan = float("nan")
    a = np.array([[5.0, 5.0], [nan, nan], [1.0, 1.0], [nan, nan]])
    b = np.array([[1.0, 1.0], [nan, nan], [nan, nan], [5.0, 5.0]])
    assert match_by_position(a, b, 1.01) == [(0, 3), (1, 1), (2, 0), (3, 2)]


def test_show_masks_image_is_compared_as_binary(runs, tmp_path):
    saved = tifffile.imread(runs["masks"] / "mask.tif")
    assert sorted(np.unique(saved).tolist()) == [0, 255]
    v = check(runs["masks"])["mask.tif"]
    assert v.verdict == "pass" and "binary Masks image" in v.reason, v.reason
    edited = copy_of(runs, "masks", tmp_path)
    saved[0, 0] = 255
    tifffile.imwrite(edited / "mask.tif", saved)
    v = check(edited)["mask.tif"]
    assert v.verdict == "fail" and v.details["pixels_differ"] == 1, v.reason


def _edit_row(folder, old, new):
    path = folder / "results.csv"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_missing_snapshot_falls_back_to_the_unchanged_input(runs, tmp_path):
    edited = copy_of(runs, "white", tmp_path)
    shutil.rmtree(edited / "run.analyses")
    report = check(edited)
    assert report["(reference)"].verdict == "warn" and "recorded input" in report["(reference)"].reason
    assert report["results.csv"].verdict == "pass"
    _edit_row(edited, "1,9,0", "1,9,5")
    v = check(edited)["results.csv"]
    assert v.verdict == "fail" and "%Area: 5 in the file, 0 in the reference" in v.reason, v.reason
    assert v.details["changed_since_run"] is True
    assert "changed since the run" in " ".join(f.message for f in v.findings)


def test_missing_snapshot_and_input_gone_fails(runs, tmp_path):
    import json

    edited = copy_of(runs, "white", tmp_path)
    shutil.rmtree(edited / "run.analyses")
    record = json.loads((edited / "run.json").read_text())
    record["inputs"][0]["path"] = str(tmp_path / "gone.tif")
    (edited / "run.json").write_text(json.dumps(record))
    report = check(edited)
    assert report.verdict == "fail"
    assert report["(snapshot)"].verdict == "fail" and "is gone" in report["(snapshot)"].reason


def test_changed_snapshot_fails(runs, tmp_path):
    edited = copy_of(runs, "white", tmp_path)
    with open(edited / "run.analyses" / "analysis-1.tif", "ab") as f:
        f.write(b"x")
    report = check(edited)
    assert report.verdict == "fail"
    assert "changed since the run (SHA-256 differs)" in report["(snapshot)"].reason


@pytest.mark.parametrize("edit, field", [
    (lambda a: a.update(image="x"), "analyses[0].image is \"x\", not an object"),
    (lambda a: a["image"].update(calibration={"pixel_width": "abc"}),
     "analyses[0].image.calibration.pixel_width is \"abc\""),
    (lambda a: a.update(threshold="abc"), "analyses[0].threshold is \"abc\", not two numbers"),
    (lambda a: a.update(decimals="three"), "analyses[0].decimals is \"three\", not an integer"),
    (lambda a: a["snapshot"].update(path="../../../../etc/passwd"),
     "analyses[0].snapshot.path \"../../../../etc/passwd\" is outside the run folder"),
    (lambda a: a["snapshot"].update(path="/etc/passwd"), "analyses[0].snapshot.path \"/etc/passwd\" is outside"),
])
def test_hand_edited_analysis_fields_are_one_line_errors(runs, tmp_path, edit, field):
    import json

    from fijirun.check import CheckError

    from conftest import run_cli_json

    edited = copy_of(runs, "white", tmp_path)
    record = json.loads((edited / "run.json").read_text())
    edit(record["analyses"][0])
    (edited / "run.json").write_text(json.dumps(record))
    with pytest.raises(CheckError, match="run.json: " + re.escape(field)):
        check(edited)
    if "passwd" in field:  # the CLI: exit 2, one JSON object
        code, data, _ = run_cli_json("check", edited)
        assert code == 2 and data["error"]["type"] == "CheckError" and field in data["error"]["message"]


def test_links_out_of_the_folder_are_not_read(runs, tmp_path):
    edited = copy_of(runs, "white", tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "results.csv").write_text((edited / "results.csv").read_text())
    (edited / "secret.csv").symlink_to("/etc/passwd")
    (edited / "sub").symlink_to(outside)
    report = check(edited)
    assert report.verdict == "fail"
    for name, target in (("secret.csv", "/etc/passwd"), ("sub", str(outside))):
        v = report[name]
        assert v.verdict == "fail" and v.reason == f"a link to {target}, outside the run folder: not read"
    assert [o.path for o in report.outputs if o.path.startswith("sub")] == ["sub"]   # not descended into
    assert report["results.csv"].verdict == "pass"


def test_a_folder_that_is_not_a_run_folder_fails(tmp_path):
    from conftest import run_cli_json

    (tmp_path / "a.txt").write_text("hi\n")
    report = check(tmp_path)
    assert report.verdict == "fail"
    assert report["(outputs)"].reason.startswith("not a run folder: no run.json")
    code, data, _ = run_cli_json("check", tmp_path)
    assert code == 1 and data["verdict"] == "fail"


@pytest.mark.parametrize("given, message", [
    (dict(measurements="bogus"), "measurements: unknown measurement 'bogus'"),
    (dict(threshold=(10, 5)), "threshold: expected (LOWER, UPPER)"),
    (dict(threshold="10-5"), "threshold: expected LOWER-UPPER"),
    (dict(options="circularity=2-1"), "options: circularity='2-1' is not a range"),
    (dict(options=5), "options: expected an Analyze Particles option string, got int 5"),
])
def test_api_refuses_what_the_cli_refuses(runs, given, message):
    from fijirun.check import CheckError

    with pytest.raises(CheckError) as info:
        check(runs["white"], **given)
    assert str(info.value).startswith(message)


def test_results_of_a_blank_image_not_written_is_what_imagej_does(tmp_path):
    from conftest import MACROS as FIJI_MACROS
    from conftest import run_cli

    blank = tmp_path / "blank.tif"
    tifffile.imwrite(blank, np.zeros((20, 20), np.uint8))
    out = tmp_path / "out"
    # a fresh JVM, as the review ran it (a warm one may hold a Results window that saves an empty file)
    code, _, err = run_cli("run", FIJI_MACROS / "output_saving.ijm", "--input", blank, "--output", out)
    assert code == 0, err
    assert not (out / "blank_results.csv").exists()     # ImageJ wrote no empty table
    report = check(out)
    assert report.verdict == "pass", [(o.path, o.reason) for o in report.outputs]
    v = report["blank_results.csv"]
    assert v.verdict == "pass" and v.reason.startswith("not written, as ImageJ does for an empty Results")


def test_reordered_roi_set_warns_like_reordered_rows(runs, tmp_path):
    import roifile

    assert check(runs["rois"])["rois.zip"].verdict == "pass"
    edited = copy_of(runs, "rois", tmp_path)
    rois = roifile.roiread(edited / "rois.zip")
    assert len(rois) == 2
    (edited / "rois.zip").unlink()
    roifile.roiwrite(edited / "rois.zip", rois[::-1])
    v = check(edited)["rois.zip"]
    assert v.verdict == "warn" and v.reason.startswith("ROIs in another order than ImageJ's"), v.reason
    lines = (edited / "results.csv").read_text().splitlines()
    (edited / "results.csv").write_text("\n".join([lines[0], lines[2], lines[1]]) + "\n")
    assert check(edited)["results.csv"].verdict == "warn"                  # the table: the same verdict
