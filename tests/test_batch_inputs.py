"""Batch inputs and manifest, without a cluster: names, expansion, resume rules."""

from __future__ import annotations

import json
import os

import pytest

from fijirun.batch import BatchError, collect_inputs, output_name
from fijirun.batch.manifest import MANIFEST, Manifest

from batch_helpers import ACTIVITY, make_good_images


def test_output_names_are_stable_and_distinct(tmp_path):
    a, b = tmp_path / "a" / "img.tif", tmp_path / "b" / "img.tif"
    assert output_name(a) == output_name(a)
    assert output_name(a) != output_name(b)
    assert output_name(a).startswith("img-")
    assert output_name(tmp_path / "x y (1).ome.tif").startswith("x_y_1-")


def test_collect_files_folders_globs(tmp_path):
    images = make_good_images(tmp_path / "in", 3)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    (tmp_path / "in" / ".hidden.tif").write_bytes(b"")
    sub = tmp_path / "in" / "sub"
    sub.mkdir()
    make_good_images(sub, 1, prefix="deep")
    folder = collect_inputs([tmp_path / "in"])
    assert sorted(i.path.name for i in folder) == ["deep_0.tif", "good_0.tif", "good_1.tif", "good_2.tif"]
    globbed = collect_inputs([str(tmp_path / "in" / "good_*.tif")])
    assert [i.path for i in globbed] == sorted(images)
    # explicit files are taken whatever they are; duplicates once
    explicit = collect_inputs([tmp_path / "in" / "notes.txt", tmp_path / "in", str(tmp_path / "in" / "*.tif")])
    assert len(explicit) == 5 and len({i.name for i in explicit}) == 5
    with pytest.raises(BatchError, match="not found"):
        collect_inputs([tmp_path / "missing.tif"])
    with pytest.raises(BatchError, match="no file matches"):
        collect_inputs([str(tmp_path / "*.png")])


def test_pipes_links_to_nothing_and_kept_aside_outputs_are_no_inputs(tmp_path):
    # a pipe named .tif blocked the worker that opened it until the timeout, twice; a loop
    # of links failed with a raw RuntimeError; outputs kept aside were taken as images
    images = make_good_images(tmp_path / "in", 1)
    os.mkfifo(tmp_path / "in" / "pipe.tif")
    (tmp_path / "in" / "loop1.tif").symlink_to(tmp_path / "in" / "loop2.tif")
    (tmp_path / "in" / "loop2.tif").symlink_to(tmp_path / "in" / "loop1.tif")
    (tmp_path / "in" / "gone.tif").symlink_to(tmp_path / "nowhere.tif")
    aside = tmp_path / "in" / "fijirun-unsaved-out-1a2b3c"
    aside.mkdir()
    make_good_images(aside, 1, prefix="kept")
    assert [i.path for i in collect_inputs([tmp_path / "in"])] == sorted(images)
    for name, problem in (("pipe.tif", "is not a regular file"), ("loop1.tif", "loop of links"),
                          ("gone.tif", "link to nothing")):
        with pytest.raises(BatchError, match=problem):
            collect_inputs([tmp_path / "in" / name])


def test_an_input_name_too_long_says_so(tmp_path):
    with pytest.raises(BatchError, match=r"cannot be read \(File name too long\)"):
        collect_inputs([tmp_path / ("x" * 300 + ".tif")])
    with pytest.raises(BatchError, match="input not found"):
        collect_inputs([tmp_path / "nope.tif"])


def test_what_is_at_a_path_one_rule_for_every_layer(tmp_path):
    # the script (run), --input, a batch input, a report's path: the same answer for each kind
    import socket

    from fijirun.files import file_problem

    (tmp_path / "file.tif").write_bytes(b"x")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    (tmp_path / "to-file").symlink_to(tmp_path / "file.tif")
    (tmp_path / "to-nothing").symlink_to(tmp_path / "nowhere")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    expected = {"file.tif": None, "to-file": None, "folder": "is a folder, not a file",
                "pipe": "is not a regular file (a pipe, socket or device)",
                "sock": "is not a regular file (a pipe, socket or device)",
                "to-nothing": "is a symbolic link to nothing", "loop1": "is a symbolic link to nothing (or a loop",
                "missing": "no such file: ", "file.tif/below": "no such file: ", "/dev/null": "is not a regular file"}
    try:
        for name, want in expected.items():
            path = tmp_path / name
            got = file_problem(path)
            if want is None:
                assert got is None, name
            else:
                assert got is not None and want in got and str(path) in got, (name, got)
    finally:
        sock.close()


def test_manifest_resume_rules(tmp_path):
    items = collect_inputs(list(make_good_images(tmp_path / "in", 3)))
    out = tmp_path / "out"
    m = Manifest.open(out, ACTIVITY, {"minSize": 1})
    todo, skipped = m.plan(items)
    assert len(todo) == 3 and not skipped
    (out / items[0].name).mkdir()
    (out / items[0].name / "a.csv").write_text("x\n1\n")
    m.record(items[0].name, status="ok", outputs=[{"path": "a.csv", "sha256": "0", "bytes": 4}])
    m.record(items[1].name, status="failed", error={"type": "MacroError", "message": "boom"})
    m.save()
    data = json.loads((out / MANIFEST).read_text())
    assert data["images"][items[0].name]["status"] == "ok"
    assert data["images"][items[2].name]["status"] == "pending"
    # a second batch in the same folder needs --resume
    with pytest.raises(BatchError, match="--resume"):
        Manifest.open(out, ACTIVITY, {"minSize": 1})
    with pytest.raises(BatchError, match="other parameters"):
        Manifest.open(out, ACTIVITY, {"minSize": 2}, resume=True)
    m2 = Manifest.open(out, ACTIVITY, {"minSize": 1}, resume=True)
    todo, skipped = m2.plan(items)
    assert [i.name for i in skipped] == [items[0].name]
    assert {i.name for i in todo} == {items[1].name, items[2].name}
    # an ok image whose outputs vanished runs again
    (out / items[0].name / "a.csv").unlink()
    todo, skipped = Manifest.open(out, ACTIVITY, {"minSize": 1}, resume=True).plan(items)
    assert not skipped and len(todo) == 3


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("images"), lambda d: d.pop("runs"), lambda d: d.update(script="x"),
    lambda d: d.update(images=[1]), lambda d: d.update(runs={}), lambda d: d.update(kind="other"),
    lambda d: d["images"].update(img=5), lambda d: d["images"].update(img={"outputs": ["x"]}),
    lambda d: d.update(combined=[]),
], ids=["no-images", "no-runs", "script-text", "images-list", "runs-object", "other-kind",
        "entry-number", "outputs-text", "combined-list"])
def test_a_damaged_manifest_is_refused_in_one_line(tmp_path, damage):
    # each was a raw KeyError, AttributeError or TypeError ("internal error") on --resume
    items = collect_inputs(list(make_good_images(tmp_path / "in", 1)))
    out = tmp_path / "out"
    m = Manifest.open(out, ACTIVITY, {})
    m.plan(items)
    m.save()
    data = json.loads((out / MANIFEST).read_text())
    damage(data)
    (out / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(BatchError, match="is not a fijirun batch manifest"):
        Manifest.open(out, ACTIVITY, {}, resume=True)


@pytest.mark.parametrize("kind", ["pipe", "folder", "link-to-nothing", "loop"])
@pytest.mark.parametrize("resume", [False, True])
def test_a_manifest_path_that_is_no_file_is_never_replaced(tmp_path, kind, resume):
    # a pipe there was silently replaced by a new manifest (and with --resume a new batch began)
    out = tmp_path / "out"
    out.mkdir()
    path = out / MANIFEST
    if kind == "pipe":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "link-to-nothing":
        path.symlink_to(tmp_path / "nowhere")
    else:
        path.symlink_to(out / "other")
        (out / "other").symlink_to(path)
    before = os.lstat(path)
    with pytest.raises(BatchError, match="a batch keeps its manifest.json there"):
        Manifest.open(out, ACTIVITY, {}, resume=resume)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_a_script_with_no_input_variable_is_refused_before_anything(tmp_path):
    """Each image fills the script's input variable: a script with none is one BatchError up
    front (every image failed with the same error, after a cluster had started)."""
    import fijirun

    script = tmp_path / "no_input.ijm"
    script.write_text('print(getArgument());\n')
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.tif").write_bytes(b"not read")
    with pytest.raises(BatchError, match="no input variable for the images"):
        fijirun.batch(script, [tmp_path / "in"], tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()
