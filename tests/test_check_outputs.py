"""fijirun check on real ImageJ runs: verdicts, reasons, JSON, JUnit, the CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import roifile
import tifffile

from fijirun.check import CheckError, check

from conftest import ACTIVITIES, MACROS, RANDOMSHAPES, run_cli

STEM = RANDOMSHAPES.stem
FORMATS = ACTIVITIES / "check_formats.ijm"


def many_particles(n_rows=15, n_cols=20, seed=0):
    """A binary image with n_rows × n_cols separate rectangles (300 by default)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((n_rows * 19 + 20, n_cols * 20 + 20), np.uint8)
    for r in range(n_rows):
        for c in range(n_cols):
            h, w = rng.integers(3, 10, 2)
            img[10 + r * 19:10 + r * 19 + h, 10 + c * 20:10 + c * 20 + w] = 255
    return img


@pytest.fixture(scope="module")
def activities(ij_session, tmp_path_factory):
    """The fiji_macros activities (macro and Jython) and the course template, run with check=True."""
    out = {}
    for name in ("output_saving.ijm", "output_saving.py"):
        d = tmp_path_factory.mktemp(name.replace(".", "_"))
        out[name] = ij_session.run(MACROS / name, input=RANDOMSHAPES, output_dir=d,
                                   params={"minSize": 0, "maxSize": 1000}, check=True)
    d = tmp_path_factory.mktemp("course")
    out["course"] = ij_session.run(ACTIVITIES / "course_output_saving.ijm",
                                   params={"outputDir": str(d) + "/"}, check=True)
    return out


@pytest.fixture(scope="module")
def p300(tmp_path_factory):
    path = tmp_path_factory.mktemp("p300") / "particles_300.tif"
    tifffile.imwrite(path, many_particles())
    return path


def copy_run(result, tmp_path):
    dest = tmp_path / "copy"
    shutil.copytree(result.output_dir, dest)
    return dest


# --------------------------------------------------------------------------- the activities pass

@pytest.mark.parametrize("name", ["output_saving.ijm", "output_saving.py", "course"])
def test_activity_outputs_pass(activities, name):
    report = activities[name].check
    assert report is not None and report.verdict == "pass", report.to_dict()
    kinds = sorted(o.kind for o in report.outputs)
    if name == "course":
        assert kinds == ["mask", "rois", "table"]
    else:
        assert kinds == ["mask", "mask", "rois", "table", "table"]
    assert all(o.verdict == "pass" for o in report.outputs)
    assert report.recovered["reference_particles"] == 6
    table = report[f"{STEM}_results.txt" if name != "course" else "results.txt"]
    assert "6 rows × " in table.reason and "agree" in table.reason
    assert table.details["n_mismatches"] == 0 and table.details["matched_by"] == "X/Y"
    tif = report[f"{STEM}_labels.tif" if name != "course" else "labels.tif"]
    assert "pixel-exact" in tif.reason and tif.details["bits"] == 16
    rois = report[f"{STEM}_rois.zip" if name != "course" else "rois.zip"]
    assert rois.details["count"] == 6 and rois.details["missing"] == []


def test_the_engine_record_is_what_the_check_uses(activities):
    # what ImageJ analysed, not what the script's text suggests: the binary made by
    # Convert to Mask, analysed as 255s, size 0-1000 pixels
    for name in ("output_saving.ijm", "output_saving.py"):
        rec = activities[name].check.recovered
        assert rec["mode"] == "recorded" and len(rec["analyses"]) == 1
        assert rec["threshold"] == [255, 255] and rec["size_pixels"] == [0, 1000], rec
        assert rec["snapshot"] == "run.analyses/analysis-1.tif"
        assert rec["reference_particles"] == rec["particles_recorded"] == 6
    assert "partial" not in json.dumps(activities["output_saving.ijm"].check.to_dict())


def test_macro_recovered_from_commands_and_script(activities, tmp_path):
    # a run.json without the record (an older fijirun): recovered from commands and script
    copies = {}
    for name in ("output_saving.ijm", "output_saving.py"):
        d = copy_run(activities[name], tmp_path / name)
        record = json.loads((d / "run.json").read_text())
        del record["analyses"]
        (d / "run.json").write_text(json.dumps(record))
        copies[name] = check(d)
    report = copies["output_saving.ijm"]
    assert report.verdict == "warn" and report["(reference)"].reason.startswith("partial check")
    assert all(o.verdict == "pass" for o in report.outputs if o.kind != "run")
    rec = report.recovered
    assert rec["mode"] == "recovered"
    assert rec["size"] == [0.0, 1000.0] and rec["pixel_units"] is True
    assert rec["measurements"] == "area centroid center perimeter bounding"
    assert rec["threshold"] == [1.0, 255.0] and rec["convert_to_mask"] is True
    assert rec["sources"]["threshold"] == "script (literal setThreshold)"
    # Jython: no Analyze Particles command is recorded; size from its parameters
    rec = copies["output_saving.py"].recovered
    assert rec["sources"]["size"] == "run.json parameters" and rec["size"] == [0.0, 1000.0]
    assert rec["sources"]["measurements"].startswith("columns of")


# --------------------------------------------------------------------------- format failures

def test_jpeg_label_mask_fails_lossy(ij_session, tmp_path):
    r = ij_session.run(FORMATS, input=RANDOMSHAPES, output_dir=tmp_path / "out",
                       params={"maskFormat": "Jpeg"}, check=True)
    report = r.check
    assert report.verdict == "fail"
    jpg = report["labels.jpg"]
    assert jpg.kind == "mask" and jpg.verdict == "fail"
    assert jpg.reason.startswith("lossy")
    assert jpg.details["lossy"] is True and jpg.details["pixels_differ"] > 0
    assert jpg.details["values_outside_label_set"] > 0
    # the TIFF saved by the same run is intact
    assert report["labels.tif"].verdict == "pass"
    assert report["results.txt"].verdict == "pass" and report["rois.zip"].verdict == "pass"


def test_300_particles_8bit_png_fails_overflow(ij_session, tmp_path, p300):
    r = ij_session.run(FORMATS, input=p300, output_dir=tmp_path / "out",
                       params={"maskFormat": "8-bit PNG"}, check=True)
    report = r.check
    assert report.recovered["reference_particles"] == 300
    png = report["labels.png"]
    assert png.verdict == "fail" and png.details["bits"] == 8
    assert "overflow" in png.reason and "300 labels" in png.reason
    tif = report["labels.tif"]
    assert tif.verdict == "pass" and tif.details["reference_labels"] == 300
    assert report["rois.zip"].details["count"] == 300 and report["rois.zip"].verdict == "pass"
    assert report["results.txt"].verdict == "pass"


def test_300_particles_16bit_png_passes(ij_session, tmp_path, p300):
    r = ij_session.run(FORMATS, input=p300, output_dir=tmp_path / "out",
                       params={"maskFormat": "PNG"}, check=True)
    assert r.check.verdict == "pass"
    png = r.check["labels.png"]
    assert png.details["bits"] == 16 and "pixel-exact: 300 labels" in png.reason
    assert png.details["agreement_with_rois.zip"] == 1.0


# --------------------------------------------------------------------------- altered outputs

def test_altered_table_value_fails_naming_row_and_column(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    path = d / f"{STEM}_results.txt"
    lines = path.read_text().splitlines()
    cells = lines[4].split("\t")            # row 4 (header is line 0)
    assert cells[0] == "4"
    cells[6] = "123.456"                    # Perim.
    lines[4] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n")
    report = check(d)
    v = report[f"{STEM}_results.txt"]
    assert v.verdict == "fail"
    assert v.reason.startswith("row 4, column Perim.: 123.456 in the file")
    assert v.details["mismatches"] == [{"row": 4, "column": "Perim.", "file": "123.456",
                                        "reference": "180.125"}]
    assert report[f"{STEM}_results.csv"].verdict == "pass"
    assert report.verdict == "fail"


def test_shuffled_table_rows_are_matched_by_position(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    path = d / f"{STEM}_results.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    v = check(d)[f"{STEM}_results.csv"]
    assert v.details["n_mismatches"] == 0 and v.details["missing_particles"] == []
    assert v.verdict == "warn" and "order" in v.reason


def test_deleted_table_row_is_named(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    path = d / f"{STEM}_results.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + lines[4:]) + "\n")     # drop row 3
    v = check(d)[f"{STEM}_results.csv"]
    assert v.verdict == "fail" and v.details["missing_particles"] == [3]
    assert "reference particles 3" in v.reason


def test_deleted_roi_fails(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    path = d / f"{STEM}_rois.zip"
    rois = roifile.roiread(path)
    path.unlink()
    roifile.roiwrite(path, rois[:2] + rois[3:])
    v = check(d)[f"{STEM}_rois.zip"]
    assert v.verdict == "fail"
    assert "5 ROIs in the file, 6 particles in the reference" in v.reason
    assert v.details["missing"] == [rois[2].name]


def test_renumbered_mask_fails_when_recorded_warns_when_recovered(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    path = d / f"{STEM}_labels.tif"
    mask = tifffile.imread(path)
    perm = np.array([0, 6, 5, 4, 3, 2, 1], np.uint16)
    tifffile.imwrite(path, perm[mask])
    # the engine recorded a Count Masks analysis: label k is row k of the table
    v = check(d)[f"{STEM}_labels.tif"]
    assert v.verdict == "fail" and v.reason.startswith("renumbered: 6 of 6")
    assert v.details["renumbered"] is True
    # without the record the mask may come from elsewhere: other numbers only warn
    record = json.loads((d / "run.json").read_text())
    del record["analyses"]
    (d / "run.json").write_text(json.dumps(record))
    v = check(d)[f"{STEM}_labels.tif"]
    assert v.verdict == "warn" and v.reason.startswith("renumbered")


def test_rgb_rendered_mask_fails(activities, tmp_path):
    from PIL import Image

    d = copy_run(activities["output_saving.ijm"], tmp_path)
    with Image.open(d / f"{STEM}_labels.png") as im:
        im.convert("RGB").save(d / f"{STEM}_labels_rgb.png")
    v = check(d)[f"{STEM}_labels_rgb.png"]
    assert v.verdict == "fail" and "RGB" in v.reason and "lost" in v.reason
    assert v.details["particles_distinguishable"] is True


def test_missing_declared_output_fails(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    (d / f"{STEM}_results.csv").unlink()
    v = check(d)[f"{STEM}_results.csv"]
    assert v.verdict == "fail" and v.reason.startswith("missing")


def test_empty_output_dir_fails_missing(tmp_path):
    report = check(tmp_path)
    assert report.verdict == "fail"
    assert [o.kind for o in report.outputs] == ["missing"]
    assert report.outputs[0].reason.startswith("missing")


@pytest.mark.parametrize("content", [b"", b"not an image at all"])
def test_an_image_given_by_name_that_cannot_be_read_is_an_error(activities, tmp_path, content):
    # it was silently replaced by the saved mask's foreground: verdict warn, exit 0
    bad = tmp_path / "given.tif"
    bad.write_bytes(content)
    with pytest.raises(CheckError, match=f"cannot read the image {bad}"):
        check(activities["output_saving.ijm"].output_dir, image=bad)


def test_no_run_json_uses_image_and_options(activities, tmp_path):
    d = copy_run(activities["output_saving.ijm"], tmp_path)
    (d / "run.json").unlink()
    report = check(d, image=RANDOMSHAPES, options="size=0-1000 pixel",
                   measurements="area centroid center perimeter bounding decimal=3")
    # all outputs agree; without the record the check is partial: at best warn
    assert report.verdict == "warn", report.to_dict()
    assert [o.verdict for o in report.outputs if o.kind != "run"] == ["pass"] * 5
    assert "with the options given" in report["(reference)"].reason
    # without the size option the big particle is expected too: the table misses it
    report = check(d, image=RANDOMSHAPES)
    v = report[f"{STEM}_results.txt"]
    assert v.verdict == "fail" and v.details["missing_particles"] == [7]


# --------------------------------------------------------------------------- CLI, JSON, JUnit

def test_cli_check_json_and_exit_codes(activities, tmp_path):
    good = activities["output_saving.ijm"].output_dir
    code, out, err = run_cli("check", good, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["verdict"] == "pass"
    records = ("run.json", "run.log", "run.analyses", "run.state")
    assert {o["path"] for o in data["outputs"]} == {p.name for p in good.iterdir() if p.name not in records}
    assert all({"path", "kind", "verdict", "reason"} <= set(o) for o in data["outputs"])

    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run_cli("check", empty, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["verdict"] == "fail" and data["outputs"][0]["reason"].startswith("missing")

    code, out, err = run_cli("check", tmp_path / "nope")
    assert code == 2 and "no such output folder" in err

    code, out, err = run_cli("check", good)        # the rich table
    assert code == 0 and out.splitlines()[-1] == "pass: 5 pass, 0 warn, 0 fail"


def test_junit_one_testcase_per_output(activities, tmp_path):
    from junitparser import Failure, JUnitXml

    d = copy_run(activities["output_saving.ijm"], tmp_path)
    (d / f"{STEM}_results.csv").unlink()
    xml = tmp_path / "check.xml"
    code, out, err = run_cli("check", d, "--junit", xml)
    assert code == 1
    suites = JUnitXml.fromfile(str(xml))
    cases = [case for suite in suites for case in suite]
    assert sorted(c.name for c in cases) == sorted(
        f"{STEM}_{s}" for s in ("labels.png", "labels.tif", "results.csv", "results.txt", "rois.zip"))
    failed = {c.name: c for c in cases if any(isinstance(r, Failure) for r in c.result)}
    assert list(failed) == [f"{STEM}_results.csv"]
    assert failed[f"{STEM}_results.csv"].result[0].message.startswith("missing")
