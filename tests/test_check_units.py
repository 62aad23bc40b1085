"""fijirun.check pieces without ImageJ: option parsing, format lint, mask comparison."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tifffile
from PIL import Image

from fijirun.check import CheckError, OutputVerdict
from fijirun.check.compare import compare_mask, label_mapping, match_by_position
from fijirun.check.discover import discover
from fijirun.check.lint import lint_mask, lint_table, read_stored_image
from fijirun.check.recover import parse_options, parse_size, recover


def test_parse_imagej_options():
    o = parse_options("size=0-1000 pixel circularity=0.50-1.00 show=[Count Masks] display exclude")
    assert o == {"size": "0-1000", "pixel": True, "circularity": "0.50-1.00", "show": "Count Masks",
                 "display": True, "exclude": True}
    assert parse_size("50-Infinity") == (50.0, math.inf)
    assert parse_size("10") == (10.0, math.inf)
    with pytest.raises(CheckError, match="size range"):
        parse_size("a-b")


def test_recover_from_commands():
    record = {"commands": [
        {"command": "Properties...", "options": "unit=um pixel_width=0.5 pixel_height=0.5"},
        {"command": "Set Measurements...", "options": "area mean feret's limit redirect=None decimal=4"},
        {"command": "Analyze Particles...", "options": "size=5-Infinity circularity=0.2-1.0 exclude include"},
    ]}
    spec = recover(record)
    assert spec.size == (5.0, math.inf) and spec.pixel_units is False
    assert spec.circularity == (0.2, 1.0) and spec.exclude_edges and spec.include_holes
    assert spec.measurements == "area mean feret's" and spec.decimals == 4
    assert spec.calibration.pixel_width == 0.5 and spec.calibration.unit == "um"
    spec = recover({"commands": [{"command": "Watershed", "options": ""},
                                 {"command": "Analyze Particles...", "options": "size=0-Infinity"}]})
    assert spec.unsupported == ["Watershed"]


def test_table_lint(tmp_path):
    tsv = tmp_path / "r.txt"
    tsv.write_text(" \tArea\n1\t3\n")
    xls = tmp_path / "r.xls"
    xls.write_text(" \tArea\n1\t3\n")
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert lint_table(OutputVerdict("r.txt", "table"), tsv) == "\t"
    v = OutputVerdict("r.xls", "table")
    lint_table(v, xls)
    assert v.verdict == "warn" and "Excel" in v.reason
    v = OutputVerdict("e.csv", "table")
    lint_table(v, empty)
    assert v.verdict == "fail" and "empty" in v.reason


def test_mask_formats(tmp_path):
    labels = np.zeros((40, 40), np.uint8)
    labels[5:15, 5:15] = 1
    labels[20:35, 22:30] = 2
    Image.fromarray(labels).save(tmp_path / "m.jpg", quality=75)
    Image.fromarray(labels).save(tmp_path / "m.png")
    Image.fromarray(labels).convert("RGB").save(tmp_path / "rgb.png")
    tifffile.imwrite(tmp_path / "m.tif", labels.astype(np.uint16))

    jpg = read_stored_image(tmp_path / "m.jpg")
    v = OutputVerdict("m.jpg", "mask")
    lint_mask(v, jpg)
    compare_mask(v, jpg.values, labels.astype(np.uint16), bits=jpg.bits, lossy=jpg.lossy)
    assert v.verdict == "fail" and v.reason.startswith("lossy")

    png = read_stored_image(tmp_path / "m.png")
    v = OutputVerdict("m.png", "mask")
    assert lint_mask(v, png)
    compare_mask(v, png.values, labels.astype(np.uint16), bits=png.bits)
    assert v.verdict == "pass" and "pixel-exact" in v.reason

    v = OutputVerdict("rgb.png", "mask")
    assert not lint_mask(v, read_stored_image(tmp_path / "rgb.png"))
    assert v.verdict == "fail" and "RGB" in v.reason

    tif = read_stored_image(tmp_path / "m.tif")
    assert tif.bits == 16 and not tif.lossy

    with pytest.raises(CheckError, match="bad.png"):
        (tmp_path / "bad.png").write_bytes(b"not a png")
        read_stored_image(tmp_path / "bad.png")


def test_overflow_and_renumbering():
    ref = np.zeros((20, 40), np.uint16)
    for k in range(1, 301):
        ref.flat[k * 2] = k
    v = OutputVerdict("m.png", "mask")
    compare_mask(v, (ref % 256).astype(np.uint8), ref, bits=8)
    assert v.verdict == "fail" and v.reason.startswith("overflow: 300 labels")
    perm = np.r_[0, np.arange(300, 0, -1)].astype(np.uint16)
    assert label_mapping(perm[ref], ref) is not None
    v = OutputVerdict("m.tif", "mask")
    compare_mask(v, perm[ref], ref, bits=16)
    assert v.verdict == "warn" and "renumbered" in v.reason


def test_match_by_position_resolves_ties_by_row_order():
    a = np.array([[5.0, 5.0], [5.0, 5.0], [20.0, 1.0]])
    b = np.array([[20.0, 1.0], [5.0, 5.0], [5.0, 5.0]])
    assert match_by_position(a, b, 1.0) == [(0, 1), (1, 2), (2, 0)]
    assert match_by_position(a, np.empty((0, 2)), 1.0) == []


def test_discover_skips_staging_and_reports(tmp_path):
    (tmp_path / "labels.tif").write_bytes(b"")
    (tmp_path / "picture.png").write_bytes(b"")
    (tmp_path / "results.csv").write_text("a\n")
    (tmp_path / "report.html").write_text("")
    (tmp_path / ".fijirun-staging-x").mkdir()
    (tmp_path / ".fijirun-staging-x" / "t.csv").write_text("")
    found = discover(tmp_path, {"outputs": [{"path": "rois.zip"}]})
    assert [str(p) for p in found.masks] == ["labels.tif"]
    assert [str(p) for p in found.images] == ["picture.png"]
    assert [str(p) for p in found.tables] == ["results.csv"]
    assert found.missing == ["rois.zip"]
