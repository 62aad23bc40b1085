"""The output-saving activities, run for real in ImageJ 1.x."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import tifffile
from scipy import ndimage

import fijirun

from conftest import ACTIVITIES, MACROS, RANDOMSHAPES


def expected_labels(path, max_size=1000):
    """The image's 8-connected particles, minus those larger than max_size, as a mask."""
    image = tifffile.imread(path)
    labels, n = ndimage.label(image > 0, structure=np.ones((3, 3)))
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    keep = np.flatnonzero(sizes <= max_size) + 1
    return np.isin(labels, keep), n


@pytest.fixture(scope="module")
def activity_results(ij_session, tmp_path_factory):
    results = {}
    for name in ("output_saving.ijm", "output_saving.py"):
        out = tmp_path_factory.mktemp(name.replace(".", "_"))
        results[name] = ij_session.run(MACROS / name, input=RANDOMSHAPES, output_dir=out,
                                       params={"minSize": 0, "maxSize": 1000})
    return results


@pytest.mark.parametrize("name", ["output_saving.ijm", "output_saving.py"])
def test_activity_saves_table_rois_and_mask(activity_results, name):
    r = activity_results[name]
    assert r.status == "ok"
    names = sorted(p.name for p in r.outputs)
    stem = RANDOMSHAPES.stem
    assert names == sorted(f"{stem}_{s}" for s in
                           ("labels.png", "labels.tif", "results.csv", "results.txt", "rois.zip"))
    txt = r.tables[f"{stem}_results.txt"]
    csv = r.tables[f"{stem}_results.csv"]
    assert len(txt) == 6 and len(csv) == 6
    assert list(txt.columns) == ["Area", "X", "Y", "XM", "YM", "Perim.", "BX", "BY", "Width", "Height"]
    pd.testing.assert_frame_equal(txt, csv)
    assert (txt["Area"] <= 1000).all()
    rois = r.rois[f"{stem}_rois.zip"]
    assert len(rois) == 6
    mask = r.images[f"{stem}_labels.tif"]
    assert mask.dtype == np.uint16
    assert sorted(np.unique(mask)) == list(range(7))
    want, n_particles = expected_labels(RANDOMSHAPES)
    assert n_particles == 7  # one of them is larger than 1000 px and left out
    assert np.array_equal(mask > 0, want)
    # each label is exactly one 8-connected particle, with the area the table reports
    for label, area in zip(range(1, 7), txt["Area"]):
        assert (mask == label).sum() == area
        _, pieces = ndimage.label(mask == label, structure=np.ones((3, 3)))
        assert pieces == 1
    png = r.images[f"{stem}_labels.png"]
    assert np.array_equal(png.astype(np.uint16), mask)


def test_macro_and_jython_outputs_identical(activity_results):
    a, b = activity_results["output_saving.ijm"], activity_results["output_saving.py"]
    stem = RANDOMSHAPES.stem
    assert np.array_equal(a.images[f"{stem}_labels.tif"], b.images[f"{stem}_labels.tif"])
    pd.testing.assert_frame_equal(a.tables[f"{stem}_results.txt"], b.tables[f"{stem}_results.txt"])
    ra, rb = a.rois[f"{stem}_rois.zip"], b.rois[f"{stem}_rois.zip"]
    assert [r.name for r in ra] == [r.name for r in rb]
    for x, y in zip(ra, rb):
        assert np.array_equal(x.coordinates(), y.coordinates())
    # the tables are byte-identical (zip and TIFF headers carry dates and titles)
    for name in ("results.txt", "results.csv"):
        assert (a.output_dir / f"{stem}_{name}").read_bytes() == (b.output_dir / f"{stem}_{name}").read_bytes()


def test_run_json_records_commands_parameters_and_hashes(activity_results):
    import json

    r = activity_results["output_saving.ijm"]
    record = json.loads((r.output_dir / "run.json").read_text())
    assert record["status"] == "ok" and record["backend"] == "imagej1"
    assert record["versions"]["imagej"] == r.imagej_version
    assert len(record["script"]["sha256"]) == 64
    assert record["parameters"]["minSize"] == 0 and record["parameters"]["maxSize"] == 1000
    assert record["parameters"]["outputDir"].rstrip("/") == str(r.output_dir)
    commands = {c["command"]: c["options"] for c in record["commands"]}
    assert commands["Analyze Particles..."].startswith("size=0-1000 pixel show=[Count Masks]")
    assert "area centroid center perimeter bounding" in commands["Set Measurements..."]
    assert "staging" not in json.dumps(record["commands"])
    assert {o["path"] for o in record["outputs"]} == {p.name for p in r.outputs}
    assert all(len(o["sha256"]) == 64 for o in record["outputs"])
    assert record["inputs"][0]["path"] == str(RANDOMSHAPES)


def test_course_style_macro_offline(ij_session, tmp_path):
    """FIXME template, no semicolons, data by URL, Fiji's glasbey_on_dark LUT."""
    r = ij_session.run(ACTIVITIES / "course_output_saving.ijm", params={"outputDir": tmp_path})
    assert sorted(p.name for p in r.outputs) == ["labels.tif", "results.txt", "rois.zip"]
    want, _ = expected_labels(RANDOMSHAPES)
    mask = r.images["labels.tif"]
    assert mask.dtype == np.uint16 and mask.max() == 6
    assert np.array_equal(mask > 0, want)
    assert len(r.tables["results.txt"]) == 6 and len(r.rois["rois.zip"]) == 6
    assert any(c["command"] == "glasbey_on_dark" for c in r.commands)
    assert r.record["inputs"][0]["url"].startswith("https://github.com/NEUBIAS/")


def test_course_style_jython_offline(ij_session, tmp_path):
    """RoiManager(), WindowManager.getImage("Count Masks of ..."), IJ.run(imp, "Glasbey", "")."""
    r = ij_session.run(ACTIVITIES / "course_output_saving.py", params={"outputDir": tmp_path})
    assert sorted(p.name for p in r.outputs) == ["labels.tif", "results.txt", "rois.zip"]
    want, _ = expected_labels(RANDOMSHAPES)
    assert np.array_equal(r.images["labels.tif"] > 0, want)
    assert r.images["labels.tif"].max() == 6
    assert len(r.rois["rois.zip"]) == 6
    assert "6 particles" in r.log


def test_unresolved_fixme_is_an_error_before_running(ij_session, tmp_path):
    with pytest.raises(fijirun.ParameterError, match="'outputDir' is FIXME") as info:
        ij_session.run(ACTIVITIES / "course_output_saving.ijm")
    assert info.value.name == "outputDir" and info.value.line == 3


def test_glasbey_luts_keep_label_values(ij_session):
    code = """
newImage("labels", "16-bit black", 32, 32, 1);
setPixel(3, 3, 7); setPixel(10, 10, 300);
for (i = 0; i < 4; i++) {
  names = newArray("glasbey", "Glasbey", "glasbey_on_dark", "glasbey_inverted");
  run(names[i]);
}
print(getPixel(3, 3) + " " + getPixel(10, 10) + " " + bitDepth());
"""
    r = ij_session.run_code(code, "ijm")
    assert r.log.strip() == "7 300 16"
    assert [c["command"] for c in r.commands][-4:] == ["glasbey", "Glasbey", "glasbey_on_dark",
                                                      "glasbey_inverted"]


@pytest.mark.parametrize("language", ["ijm", "jython"])
def test_a_file_saved_outside_the_output_folder_is_said(ij_session, tmp_path, language):
    """A run's file outside its output folder is no output (not checked, not published): the
    result and run.json name it; a run that saves only into its folder names none."""
    elsewhere = tmp_path / f"elsewhere_{language}.tif"
    code = {"ijm": f'outputDir = FIXME;\nnewImage("a", "8-bit ramp", 8, 8, 1);\n'
                   f'saveAs("Tiff", outputDir + "inside.tif");\nsaveAs("Tiff", "{elsewhere}");\n',
            "jython": f'#@ File (style="directory") outputDir\nfrom ij import IJ\n'
                      f'imp = IJ.createImage("a", "8-bit ramp", 8, 8, 1)\n'
                      f'IJ.saveAs(imp, "Tiff", str(outputDir) + "/inside.tif")\n'
                      f'IJ.saveAs(imp, "Tiff", "{elsewhere}")\n'}
    result = ij_session.run_code(code[language], language, output_dir=tmp_path / "out")
    assert [p.name for p in result.outputs] == ["inside.tif"]
    assert result.saved_elsewhere == [str(elsewhere)]
    assert elsewhere.is_file()
    assert json.loads((tmp_path / "out" / "run.json").read_text())["saved_elsewhere"] == [str(elsewhere)]
    only_inside = code[language].splitlines()[:-1]
    again = ij_session.run_code("\n".join(only_inside) + "\n", language, output_dir=tmp_path / "out2")
    assert again.saved_elsewhere == [] and [p.name for p in again.outputs] == ["inside.tif"]


def test_a_relative_path_written_is_the_jvms_working_folders(ij_session, tmp_path, monkeypatch):
    """ImageJ resolves a relative path against the JVM's working folder: a file saved that
    way outside the output folder is said as that absolute path; one inside is not."""
    from jpype import JClass

    from fijirun.session import _saved_elsewhere

    cwd = str(JClass("java.lang.System").getProperty("user.dir"))
    monkeypatch.chdir(tmp_path)  # Python's working folder is not the JVM's: the JVM's counts
    outside, inside = tmp_path / "outside.tif", tmp_path / "out" / "inside.tif"
    inside.parent.mkdir()
    outside.write_bytes(b"x")
    inside.write_bytes(b"x")
    writes = [os.path.relpath(outside, cwd), os.path.relpath(inside, cwd), str(outside)]
    assert not os.path.isabs(writes[0])
    assert _saved_elsewhere(writes, tmp_path / "out") == [os.path.realpath(outside)]
    assert _saved_elsewhere([str(inside)], tmp_path / "out") == []
