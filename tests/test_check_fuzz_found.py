"""fijirun check: wrong verdicts found by differential fuzzing (``scripts/fuzz_check.py``).

Each macro is the minimised example of one defect, run by the real engine; every test asserts
what ImageJ wrote and the verdict on it. The last test keeps the fuzzing loop itself in CI: a
few seeded random examples, checked unmodified (no false failure) and mutated (no false pass).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys

import numpy as np
import pytest
import tifffile

from fijirun.check import check
from fijirun.check.compare import _same

from conftest import ROOT, run_each_macro

HEAD = """#@ File input
#@ File outputDir
open(input);
setOption("BlackBackground", true);
"""
FOOT = """run("Set Measurements...", "area mean min centroid redirect=None decimal=3");
"""
MACROS = {
    # Invert Y coordinates: Y, YM and BY measured from the bottom (the reference ignored it)
    "invert": ("two", """run("Set Measurements...", "area centroid center bounding invert redirect=None decimal=3");
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
"""),
    # show=Ellipses: ImageJ adds ELLIPSE to the particles' statistics, not to its Results table
    # (the Summary then averages Major, Minor and Angle as NaN)
    "ellipses": ("two", """run("Set Measurements...", "area centroid redirect=None decimal=3");
run("Analyze Particles...", "show=Ellipses display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
"""),
    "ellipses_summary": ("two", """run("Set Measurements...", "area redirect=None decimal=3");
run("Analyze Particles...", "show=Ellipses summarize");
saveAs("Results", outputDir + File.separator + "summary.csv");
"""),
    # the Summary's means leave out NaN values (Skew of a 1-pixel particle), as FloatStatistics does
    "skew_summary": ("grey", """run("Set Measurements...", "area skewness redirect=None decimal=3");
setThreshold(100, 255);
run("Analyze Particles...", "summarize");
saveAs("Results", outputDir + File.separator + "summary.csv");
"""),
    # 9 decimals and 16-bit sums: a change in the last printed digit passed (relative tolerance 1e-9)
    "precise": ("grey16", """run("Set Measurements...", "area mean integrated redirect=None decimal=9");
setThreshold(1000, 65535);
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
"""),
    # a table named .xls (tab-delimited text): a format warning, and its values still compared
    "xls": ("two", """run("Set Measurements...", "area centroid redirect=None decimal=3");
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.xls");
"""),
    # Scientific notation: ImageJ prints every value as 4.126E1
    "scientific": ("grey", """run("Set Measurements...", "area mean centroid scientific redirect=None decimal=3");
setThreshold(100, 255);
run("Analyze Particles...", "display clear");
saveAs("Results", outputDir + File.separator + "results.csv");
"""),
}


def _images(folder):
    two = np.zeros((20, 20), np.uint8)
    two[2:5, 2:5] = 255
    two[10:14, 8:15] = 255
    grey = np.zeros((12, 12), np.uint8)
    grey[2, 2] = 200                                    # a 1-pixel particle: Skew NaN
    grey[6:9, 5:9] = [[120, 130, 140, 255], [101, 180, 190, 200], [110, 111, 250, 249]]
    grey16 = np.zeros((10, 10), np.uint16)
    grey16[1:8, 1:9] = 60000 + np.arange(56, dtype=np.uint16).reshape(7, 8) * 7
    grey16[3, 3] = 1234                                 # means with many digits, IntDen ≥ 1e6
    paths = {}
    for name, arr in (("two", two), ("grey", grey), ("grey16", grey16)):
        paths[name] = folder / f"{name}.tif"
        tifffile.imwrite(paths[name], arr)
    return paths


@pytest.fixture(scope="module")
def runs(ij_session, tmp_path_factory):
    """Each macro of MACROS run once by the real engine; name -> output folder."""
    base = tmp_path_factory.mktemp("fuzzfound")
    macros = {name: (image, HEAD + body + FOOT) for name, (image, body) in MACROS.items()}
    return run_each_macro(ij_session, base, macros, _images(base))


def _edited(runs, name, tmp_path, file, old, new):
    dest = tmp_path / name
    shutil.copytree(runs[name], dest)
    text = (dest / file).read_text()
    assert old in text, text
    (dest / file).write_text(text.replace(old, new, 1))
    return dest


def test_invert_y_coordinates_pass(runs, tmp_path):
    lines = (runs["invert"] / "results.csv").read_text().splitlines()
    # particle 1 covers rows 2-4 of a 20-row image: Y = 20 - 3.5 - 1, BY = 20 - 2 - 1
    assert lines[0].split(",")[1:] == ["Area", "X", "Y", "XM", "YM", "BX", "BY", "Width", "Height"]
    assert lines[1].split(",")[1:] == ["9", "3.500", "15.500", "3.500", "15.500", "2", "17", "3", "3"]
    v = check(runs["invert"])["results.csv"]
    assert v.verdict == "pass", v.reason
    edited = _edited(runs, "invert", tmp_path, "results.csv", ",3.500,15.500,", ",3.500,3.500,")
    v = check(edited)["results.csv"]
    assert v.verdict == "fail", v.reason


def test_show_ellipses_table_and_summary_pass(runs, tmp_path):
    header = (runs["ellipses"] / "results.csv").read_text().splitlines()[0]
    assert header.split(",")[1:] == ["Area", "X", "Y"]             # no Major, Minor, Angle
    v = check(runs["ellipses"])["results.csv"]
    assert v.verdict == "pass", v.reason
    text = (runs["ellipses_summary"] / "summary.csv").read_text()
    head, row = text.splitlines()[:2]
    assert head.split(",")[-3:] == ["Major", "Minor", "Angle"] and row.endswith(",NaN,NaN,NaN")
    v = check(runs["ellipses_summary"])["summary.csv"]
    assert v.verdict == "pass", v.reason
    edited = _edited(runs, "ellipses_summary", tmp_path, "summary.csv", ",NaN,NaN,NaN", ",3.000,NaN,NaN")
    assert check(edited)["summary.csv"].verdict == "fail"


def test_summary_mean_leaves_out_nan(runs, tmp_path):
    results = runs["skew_summary"]
    head, row = (results / "summary.csv").read_text().splitlines()[:2]
    cells = dict(zip(head.split(","), row.split(",")))
    assert cells["Count"] == "2" and cells["Skew"] not in ("NaN", "")  # the 1-pixel particle's NaN left out
    v = check(results)["summary.csv"]
    assert v.verdict == "pass", v.reason


def test_last_printed_digit_fails_at_9_decimals_and_large_values(runs, tmp_path):
    text = (runs["precise"] / "results.csv").read_text()
    header, row = text.splitlines()[:2]
    cells = row.split(",")
    names = header.split(",")
    intden = cells[names.index("IntDen")]
    assert float(intden) > 1e6 and len(cells[names.index("Mean")].split(".")[1]) == 9
    assert check(runs["precise"])["results.csv"].verdict == "pass"
    for name in ("Mean", "IntDen"):
        value = cells[names.index(name)]
        last = value[-1]
        changed = value[:-1] + ("1" if last == "0" else str(int(last) - 1))
        edited = _edited(runs, "precise", tmp_path / name, "results.csv", value, changed)
        v = check(edited)["results.csv"]
        assert v.verdict == "fail" and f"column {name}: {changed} in the file" in v.reason, v.reason


def test_a_table_with_a_format_warning_says_its_values_were_compared(runs, tmp_path):
    """A .xls table warns about its name; the report must still say its values agree (the
    "rows × columns agree" finding was left out beside any warning: it looked not compared)."""
    v = check(runs["xls"])["results.xls"]
    assert v.verdict == "warn", v.reason
    said = [(f.verdict, f.message) for f in v.findings]
    assert ("pass", "2 rows × 3 columns agree with the reference at 3 decimals") in said, said
    edited = _edited(runs, "xls", tmp_path, "results.xls", "\t9\t", "\t8\t")
    v = check(edited)["results.xls"]
    assert v.verdict == "fail" and "column Area: 8 in the file, 9 in the reference" in v.reason, v.reason


def test_same_allows_only_noise_at_a_tie():
    assert _same(1234567.891, 1234567.891) and not _same(1234567.892, 1234567.891, 1234567.8912)
    assert not _same(6.324555321, 6.324555320, 6.3245553203)
    assert not _same(2.0, 3.0, 2.5)                        # an exact tie is printed by the rule
    assert _same(2.0, 3.0, 2.5 + 4e-16)                    # noise at a tie: either printing
    assert _same(float("nan"), float("nan")) and not _same(1.0, float("nan"))


def test_scientific_notation_table_passes(runs, tmp_path):
    text = (runs["scientific"] / "results.csv").read_text()
    assert "E" in text.splitlines()[1]                    # ImageJ wrote 4.126E1-like values
    v = check(runs["scientific"])["results.csv"]
    assert v.verdict == "pass", v.reason
    cells = text.splitlines()[1].split(",")
    area = cells[1]
    assert area.endswith("E0") or area.endswith("E1"), area
    mant, exp = area.split("E")
    changed = f"{float(mant) + 0.001:.3f}E{exp}"
    edited = _edited(runs, "scientific", tmp_path, "results.csv", f"1,{area},", f"1,{changed},")
    assert check(edited)["results.csv"].verdict == "fail"


# --------------------------------------------------------------------------- the fuzzing loop, bounded

def _fuzzer():
    spec = importlib.util.spec_from_file_location("fuzz_check", ROOT / "scripts" / "fuzz_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_fuzz_loop_seeded(ij_session, tmp_path):
    fuzz = _fuzzer()
    results = fuzz.fuzz(ij_session, 12, 7, tmp_path, log=None)
    assert sum(r["outputs"] for r in results) >= 12 and sum(r["mutations"] for r in results) >= 8
    assert [r["run_error"] for r in results if r["run_error"]] == []
    for key in ("false_failures", "crashes"):
        assert [(r["seed"], r[key]) for r in results if r[key]] == []
    # a ROI vertex moved with the same pixels enclosed is "encoded differently" by design (a warning)
    assert [(r["seed"], r["false_passes"]) for r in results if r["false_passes"]] == []
    assert all("same pixels" in p for r in results for p in r["same_pixels"])
