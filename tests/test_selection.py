"""Analyze Particles inside a selection: the reference against real ImageJ.

Random binary and thresholded grey images × random rectangle, oval and polygon selections (1×1 ones, ones
touching the image's edge, ones cutting particles), with and without exclude edges and
include holes, are analysed by ImageJ through the engine; ``fijirun check`` recomputes each
analysis from the engine's record (the snapshot and the selection) and must find every
output equal: count masks pixel-identical, ROI vertices identical, measurements equal at
the printed precision.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fijirun.check import check

MACRO = """#@ File input
#@ File (style="directory") outputDir
open(input);
{threshold}{selection}
run("Set Measurements...", "area mean centroid perimeter bounding shape decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear add{flags}");
if (nResults > 0) saveAs("Results", outputDir + "/results.csv");
if (roiManager("count") > 0) roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
"""


@st.composite
def cases(draw):
    h, w = draw(st.integers(8, 40)), draw(st.integers(8, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        img = (rng.random((h, w)) < draw(st.floats(0.2, 0.6))).astype(np.uint8) * 255
        threshold = ""
    else:  # grey levels, thresholded (the grey values are measured)
        img = rng.integers(0, 256, (h, w)).astype(np.uint8)
        threshold = f"setThreshold({draw(st.integers(60, 200))}, 255);\n"
    kind = draw(st.sampled_from(["rect", "rect", "oval", "polygon"]))
    x, y = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
    sw, sh = draw(st.integers(1, w - x)), draw(st.integers(1, h - y))
    if kind == "rect":
        selection = f"makeRectangle({x}, {y}, {sw}, {sh});"
    elif kind == "oval":
        selection = f"makeOval({x}, {y}, {max(sw, 3)}, {max(sh, 3)});" if x + 3 <= w and y + 3 <= h \
            else f"makeRectangle({x}, {y}, {sw}, {sh});"
    else:
        pts = draw(st.lists(st.tuples(st.integers(0, w), st.integers(0, h)), min_size=3, max_size=6))
        selection = "makePolygon(" + ", ".join(f"{px}, {py}" for px, py in pts) + ");"
    exclude = draw(st.booleans())
    include = draw(st.booleans())
    flags = (" exclude" if exclude else "") + (" include" if include else "")
    return img, threshold + selection, flags


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cases())
def test_selection_analyses_match_imagej(ij_session, tmp_path_factory, case):
    img, selection, flags = case
    event(("thresholded " if "setThreshold" in selection else "binary ")
          + selection.rpartition("\n")[2].split("(")[0] + flags)
    root = tmp_path_factory.mktemp("sel")
    image = root / "image.tif"
    tifffile.imwrite(image, img, imagej=True)
    script = root / "analyse.ijm"
    threshold, _, selection = selection.rpartition("\n")
    script.write_text(MACRO.format(threshold=threshold + "\n" if threshold else "", selection=selection,
                                   flags=flags))
    r = ij_session.run(script, input=image, output_dir=root / "out", raise_on_error=False)
    assert r.ok, r.error
    report = check(root / "out")
    entries = [(o.path, o.verdict, o.reason) for o in report.outputs]
    assert report.recovered["mode"] == "recorded", report.recovered
    assert report.recovered["reference_error"] is None, (selection, flags, report.recovered)
    failing = [e for e in entries if e[1] != "pass" and e[0] != "(selection)"]
    assert not failing, (selection, flags, entries)
    event("particles" if r.analyses[0]["particles"] else "no particle")


def test_a_selection_saved_in_the_tiff_is_analysed_and_said(ij_session, tmp_path):
    # ImageJ restores a selection saved in a TIFF when it opens it: Analyze Particles then
    # measures inside it only; the check passes and says how many particles the whole image has
    img = np.zeros((40, 60), np.uint8)
    for i, (yy, xx) in enumerate([(5, 5), (5, 30), (25, 10), (25, 45)]):
        img[yy:yy + 6 + i, xx:xx + 6] = 255
    made = tmp_path / "make.ijm"
    made.write_text('#@ File (style="directory") outputDir\n'
                    'newImage("sel", "8-bit black", 60, 40, 1);\n'
                    + "".join(f"setPixel({x}, {y}, 255);\n" for y, x in zip(*np.nonzero(img)))
                    + 'makeRectangle(0, 0, 40, 40);\nsaveAs("Tiff", outputDir + "/with_selection.tif");\n')
    made_run = ij_session.run(made, output_dir=tmp_path / "made")
    saved = made_run.outputs[0]
    script = tmp_path / "open.ijm"
    script.write_text(MACRO.format(threshold="", selection="", flags=""))
    r = ij_session.run(script, input=saved, output_dir=tmp_path / "out")
    report = check(tmp_path / "out")
    assert report.verdict == "warn", report.to_dict()
    sel = report["(selection)"]
    assert sel.verdict == "warn" and "inside a selection (0, 0, 40, 40): 3 of 4 particles" in sel.reason
    assert all(o.verdict == "pass" for o in report.outputs if o.path != "(selection)")
    assert r.analyses[0]["particles"] == 3
    # the reference on the TIFF path restores its selection as ImageJ's opener does
    from fijirun.reference import analyze_particles, read_selection

    assert read_selection(saved) == ((0, 0, 40, 40), None)
    assert len(analyze_particles(saved).table) == 3
    assert len(analyze_particles(saved, stored_selection=False).table) == 4


@pytest.mark.parametrize("selection", ["makeRectangle(3, 2, 20, 15);",
                                       "makePolygon(2, 1, 30, 4, 25, 28, 4, 20);",
                                       "makePolygon(0, 0, 36, 0, 18, 31);"])
def test_a_stored_selection_read_from_the_file_matches_imagej(ij_session, tmp_path, selection):
    rng = np.random.default_rng(3)
    img = (rng.random((32, 36)) < 0.45).astype(np.uint8) * 255
    tifffile.imwrite(tmp_path / "plain.tif", img, imagej=True)
    saver = tmp_path / "save.ijm"
    saver.write_text('#@ File input\n#@ File (style="directory") outputDir\nopen(input);\n'
                     f'{selection}\nsaveAs("Tiff", outputDir + "/stored.tif");\n')
    stored = ij_session.run(saver, input=tmp_path / "plain.tif", output_dir=tmp_path / "s").outputs[0]
    script = tmp_path / "open.ijm"
    script.write_text(MACRO.format(threshold="", selection="", flags=""))
    r = ij_session.run(script, input=stored, output_dir=tmp_path / "out")
    from fijirun.reference import analyze_particles

    ref = analyze_particles(stored, measurements="area mean centroid perimeter bounding shape")
    labels = tifffile.imread(r.output_dir / "labels.tif")
    assert np.array_equal(ref.count_mask, labels), selection
    assert len(ref.table) == r.analyses[0]["particles"] > 0


def test_a_stored_oval_is_said_not_rebuilt(ij_session, tmp_path):
    from fijirun.reference import read_selection

    saver = tmp_path / "save.ijm"
    saver.write_text('#@ File (style="directory") outputDir\nnewImage("o", "8-bit black", 20, 20, 1);\n'
                     'makeOval(2, 3, 10, 12);\nsaveAs("Tiff", outputDir + "/oval.tif");\n')
    stored = ij_session.run(saver, output_dir=tmp_path / "s").outputs[0]
    with pytest.raises(NotImplementedError, match="oval"):
        read_selection(stored)


@pytest.mark.parametrize("flags", ["", " exclude", " include", " exclude include"])
def test_a_composite_selection_matches_imagej(ij_session, tmp_path, flags):
    rng = np.random.default_rng(11)
    img = (rng.random((40, 48)) < 0.4).astype(np.uint8) * 255
    image = tmp_path / "image.tif"
    tifffile.imwrite(image, img, imagej=True)
    composite = ('makeOval(2, 3, 14, 14);\nsetKeyDown("shift");\nmakeRectangle(24, 12, 20, 20);\n'
                 'setKeyDown("none");\n')
    script = tmp_path / "composite.ijm"
    script.write_text(MACRO.format(threshold="", selection=composite, flags=flags))
    r = ij_session.run(script, input=image, output_dir=tmp_path / "out")
    assert r.analyses[0]["image"]["selection"]["type"] == "Composite"
    report = check(tmp_path / "out")
    assert report.recovered["reference_error"] is None, report.recovered
    assert [o.path for o in report.outputs if o.verdict != "pass"] == ["(selection)"], \
        [(o.path, o.verdict, o.reason) for o in report.outputs]
