"""Course-style particle analyses, checked exactly from the engine's record of them.

Each activity of ``tests/analysis_corpus`` is written as courses write it
(``&variable`` options, options built by concatenation, ``#@`` parameters,
``--set`` variables, the ParticleAnalyzer API, ``IJ.run(imp, ...)``, a
pre-processing chain, redirect, calibration, exclude + include, two analyses,
images closed before saving, Glasbey masks as TIFF and PNG). Run by the real
engine, each must pass ``fijirun check`` with a full comparison from the
record. Then every output is mutated in the ways a wrong analysis or a wrong
save would change it, and each mutation must fail exactly the mutated output.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import roifile
import tifffile

import fijirun
from fijirun.check import check

from conftest import ACTIVITIES

CORPUS = Path(__file__).resolve().parent / "analysis_corpus"


def many_particles(path, rows=15, cols=20):
    """A binary image with rows × cols separate squares of varying size (300: > 255 labels)."""
    rng = np.random.default_rng(7)
    img = np.zeros((rows * 12 + 4, cols * 12 + 4), np.uint8)
    for r in range(rows):
        for c in range(cols):
            s = int(rng.integers(3, 8))
            img[4 + r * 12:4 + r * 12 + s, 4 + c * 12:4 + c * 12 + s] = 255
    tifffile.imwrite(path, img, imagej=True)
    return path


# name -> (activity file, input, parameters)
# name -> (activity, input, parameters); the corpus opens its course images by URL (served
# from the data directory), as courses do, so that `fijirun regress` runs it as it is
CASES = {
    "amp_variables": ("amp_variables.ijm", None, {}),
    "concatenated_options": ("concatenated_options.ijm", None, {}),
    "script_parameters": ("script_parameters.ijm", None, {"minSize": 20, "maxSize": 800}),
    "set_variables": ("set_variables.ijm", None, {"minSize": 40, "threshold": 120}),
    "particle_analyzer_api": ("particle_analyzer_api.py", None, {}),
    "ij_run_with_image": ("ij_run_with_image.py", None, {}),
    "preprocessing_chain.ijm": ("preprocessing_chain.ijm", None, {}),
    "preprocessing_chain.py": ("preprocessing_chain.py", None, {}),
    "redirect_to_grey": ("redirect_to_grey.ijm", None, {}),
    "calibrated_units": ("calibrated_units.ijm", None, {}),
    "exclude_include": ("exclude_include.ijm", None, {}),
    "two_analyses": ("two_analyses.ijm", None, {}),
    "closed_before_saving": ("closed_before_saving.ijm", None, {}),
    "glasbey_tiff_png": ("glasbey_tiff_png.ijm", None, {}),
    "many_particles": (ACTIVITIES / "count_masks_input.ijm", "many", {}),
}


@pytest.fixture(scope="module")
def corpus(ij_session, tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    many = many_particles(root / "many_particles.tif")
    runs = {}
    for name, (script, image, params) in CASES.items():
        image = many if image == "many" else image
        runs[name] = ij_session.run(CORPUS / script, dict(params), input=image, output_dir=root / name,
                                    raise_on_error=False)
    return runs


@pytest.mark.parametrize("name", list(CASES))
def test_correct_outputs_pass_a_full_check(corpus, name):
    result = corpus[name]
    assert result.ok, result.error
    report = check(result.output_dir)
    d = report.to_dict()
    assert report.verdict == "pass", json.dumps(d, default=str)[:3000]
    assert d["recovered"]["mode"] == "recorded" and "partial" not in json.dumps(d)
    assert not report.assumptions, report.assumptions
    kinds = sorted(o.kind for o in report.outputs)
    assert "table" in kinds and "rois" in kinds and "mask" in kinds, kinds
    expected = 2 if name == "two_analyses" else 1
    assert len(result.analyses) == expected
    for a in result.analyses:
        assert a["snapshot"]["path"].startswith("run.analyses/")
        assert a["particles"] == d["recovered"]["analyses"][a["index"] - 1]["reference_particles"]


def test_the_record_resolves_what_the_script_wrote(corpus):
    amp = corpus["amp_variables"].analyses[0]
    assert amp["size_pixels"] == [50, 2000] and amp["show"] == "Count Masks"
    assert {"display", "clear", "add_to_manager"} <= set(amp["flags"])
    concat = corpus["concatenated_options"].analyses[0]
    assert concat["size_pixels"] == [30, "Infinity"] and concat["circularity"] == [0.5, 1]
    assert concat["measurements"] == "area centroid shape" and concat["decimals"] == 4
    api = corpus["particle_analyzer_api"].analyses[0]
    assert api["size_pixels"] == [10, 1000] and api["threshold"] == [255, 255]
    assert api["measurements"] == "area centroid perimeter feret's"
    assert corpus["set_variables"].analyses[0]["threshold"] == [120, 255]
    # 2-60 µm² at 0.25 µm/pixel: 32-960 pixels
    assert corpus["calibrated_units"].analyses[0]["size_pixels"] == [32, 960]
    assert corpus["exclude_include"].analyses[0]["exclude_edges"] is True
    assert corpus["exclude_include"].analyses[0]["include_holes"] is True
    assert corpus["redirect_to_grey"].analyses[0]["redirect"] == "grey"
    small, large = corpus["two_analyses"].analyses
    assert small["outputs"] == ["small.csv", "small_labels.tif", "small_rois.zip"]
    assert large["outputs"] == ["large.csv", "large_labels.tif", "large_rois.zip"]


# ----------------------------------------------------------------------------- mutations

def _table_lines(path):
    return path.read_text().splitlines()


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")


def delete_row(path):
    lines = _table_lines(path)
    del lines[2]
    _write_lines(path, lines)


def change_value(path):
    """One numeric cell changed by one unit of its printed precision."""
    lines = _table_lines(path)
    cells = lines[1].split(",")
    for i, cell in enumerate(cells[1:], start=1):
        if re.fullmatch(r"-?\d+\.\d+", cell):
            digits = len(cell.split(".")[1])
            cells[i] = f"{float(cell) + 10 ** -digits:.{digits}f}"
            break
    else:
        i = 1
        cells[i] = str(int(float(cells[i])) + 1)
    lines[1] = ",".join(cells)
    _write_lines(path, lines)


def drop_column(path):
    _write_lines(path, [",".join(line.split(",")[:-1]) for line in _table_lines(path)])


def delete_roi(path):
    rois = roifile.roiread(path)
    path.unlink()
    roifile.roiwrite(path, rois[:1] + rois[2:])


def move_vertex(path):
    """One vertex of one ROI moved by 1 px so that the outline changes (not along its own edge)."""
    import copy

    from fijirun.check.compare import roi_iou

    rois = roifile.roiread(path)
    roi = next(r for r in rois if r.n_coordinates > 2)
    for k in range(roi.n_coordinates):
        for axis in (0, 1):
            moved = copy.deepcopy(roi)
            moved.integer_coordinates[k][axis] += 1
            if roi_iou(moved, roi) < 1.0:
                rois[rois.index(roi)] = moved
                path.unlink()
                roifile.roiwrite(path, rois)
                return
    raise AssertionError("no vertex move changes the outline")


def _mask(path):
    return tifffile.imread(path)


def remove_label(path):
    m = _mask(path)
    m[m == 2] = 0
    tifffile.imwrite(path, m)


def swap_labels(path):
    m = _mask(path)
    a, b = m == 1, m == 2
    m[a], m[b] = 2, 1
    tifffile.imwrite(path, m)


def paint_excluded(path, result):
    """A particle the size range excluded (from the analysed image) painted in as a new label."""
    from scipy import ndimage as ndi

    a = next(a for a in result.analyses if path.name in a["outputs"]) if len(result.analyses) > 1 \
        else result.analyses[0]
    snapshot = tifffile.imread(result.output_dir / a["snapshot"]["path"])
    lo, hi = a["threshold"]
    blobs, n = ndi.label((snapshot >= lo) & (snapshot <= hi), structure=np.ones((3, 3)))
    m = _mask(path)
    for k in range(1, n + 1):
        region = blobs == k
        if not m[region].any():
            m[region] = m.max() + 1
            tifffile.imwrite(path, m)
            return True
    return False  # nothing was excluded


def as_jpeg(path):
    from PIL import Image

    m = _mask(path)
    Image.fromarray(np.clip(m, 0, 255).astype(np.uint8)).save(path.with_suffix(".jpg"), quality=75)
    return path.with_suffix(".jpg")


def as_8bit(path):
    m = _mask(path)
    tifffile.imwrite(path, (m % 256).astype(np.uint8))


TABLE = [delete_row, change_value, drop_column]
ROIS = [delete_roi, move_vertex]
MASK = [remove_label, swap_labels, paint_excluded, as_jpeg, as_8bit]


def _outputs(result, kind):
    record = json.loads((result.output_dir / "run.json").read_text())
    suffix = {"table": (".csv",), "rois": (".zip",), "mask": (".tif",)}[kind]
    return [o["path"] for o in record["outputs"] if o["path"].endswith(suffix)]


def _mutations():
    for name in CASES:
        for kind, funcs in (("table", TABLE), ("rois", ROIS), ("mask", MASK)):
            for f in funcs:
                if f is as_8bit and name != "many_particles":
                    continue  # needs more than 255 particles
                yield pytest.param(name, kind, f, id=f"{name}-{f.__name__}")


@pytest.mark.parametrize("name,kind,mutate", list(_mutations()))
def test_every_mutation_fails_exactly_the_mutated_output(corpus, tmp_path, name, kind, mutate):
    result = corpus[name]
    copy = tmp_path / "copy"
    shutil.copytree(result.output_dir, copy)
    copied = type("Copy", (), {"output_dir": copy, "analyses": result.analyses})
    for rel in _outputs(result, kind):
        path = copy / rel
        if mutate is paint_excluded:
            if not paint_excluded(path, copied):
                pytest.skip(f"{name}: the size range excluded no particle")
        else:
            moved = mutate(path)
            rel = moved.name if isinstance(moved, Path) else rel
        report = check(copy)
        failing = sorted(o.path for o in report.outputs if o.verdict == "fail")
        assert failing == [rel], (rel, [(o.path, o.verdict, o.reason) for o in report.outputs])
        break  # one output of the kind per case: the mutated folder is checked once


def test_regress_passes_the_corpus_with_full_checks_and_fails_a_corrupted_output(tmp_path):
    from conftest import DATA

    course = tmp_path / "course"
    shutil.copytree(CORPUS, course)
    # one activity that saves its label mask as JPEG: a corrupted output
    text = (CORPUS / "glasbey_tiff_png.ijm").read_text()
    (course / "glasbey_jpeg.ijm").write_text(text.replace('saveAs("PNG", outputDir + "/labels.png")',
                                                          'saveAs("Jpeg", outputDir + "/labels.jpg")'))
    report = fijirun.regress(course, tmp_path / "out", data_dir=DATA, timeout=120)
    classes = {a["path"]: (a["class"], a["check"], a["message"]) for a in report["activities"]}
    bad = classes.pop("glasbey_jpeg.ijm")
    assert bad[0] == "failed" and bad[1] == "fail" and bad[2].startswith("check failed: labels.jpg: lossy"), bad
    assert len(classes) == len(list(CORPUS.iterdir()))
    assert all(c == ("passed", "pass", None) for c in classes.values()), classes
    assert report["checks"] == {"full": len(classes), "warn": 0, "partial": 0, "error": 0, "none": 0}
