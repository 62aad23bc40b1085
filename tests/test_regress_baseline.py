"""fijirun regress --baseline: what changed, not only what crashed (issue 15).

The fixture course ``tests/baseline_course`` saves nothing: its results are the images left
open, the Results table and the Log. A baseline run, an unchanged re-run, then the course with
a threshold moved by 1, a blur sigma changed and a Log line edited: exactly those activities
are ``changed``, each diff naming the image, the table cell or the Log line.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fijirun.data
from fijirun.regress.baseline import Tolerance, _canonical_labels, compare_runs, sanitize_log
from fijirun.regress.config import ConfigError, load_config
from fijirun.regress.inputs import MissingInput, answer_parameters, resolve_relative_paths

from conftest import run_cli

COURSE = Path(__file__).resolve().parent / "baseline_course"
DATA = Path(fijirun.data.path("xy_8bit_binary_randomshapes.tif")).parent  # the shipped sample data

EXPECTED = {
    "module1/ask_threshold.ijm": "passed",
    "module1/blur_threshold.ijm": "passed",
    "module1/labels.py": "passed",
    "module1/log_only.ijm": "passed",
    "module1/needs_input.ijm": "needs-input",
    "module1/smooth.ijm": "passed",
    "module2/ends_with_exit.ijm": "passed",
    "module2/gpu_only.ijm": "skipped",
    "module2/known_broken.ijm": "xfail",
    "module2/waits_for_a_person.ijm": "xfail",
}


def _regress(course, out, *extra, timeout=300):
    code, stdout, stderr = run_cli("regress", course, "--output", out, "--data-dir", DATA,
                                   "--timeout", "60", "--workers", "2", "--json", *extra, timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got {stdout!r}; stderr {stderr[-3000:]}"
    return code, json.loads(lines[0])


def _classes(report):
    return {a["path"]: a["class"] for a in report["activities"]}


def _by_path(report):
    return {a["path"]: a for a in report["activities"]}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The fixture course's first run (two workers): the baseline of the tests below."""
    out = tmp_path_factory.mktemp("baseline") / "base"
    code, report = _regress(COURSE, out)
    return code, report, out


# ------------------------------------------------------------------ whole runs
def test_baseline_run_classifies_the_course(baseline):
    code, report, _ = baseline
    assert _classes(report) == EXPECTED
    assert code == 0  # needs-input, xfail and skipped do not fail a course
    by = _by_path(report)
    # #@ Integer without a value: Fiji's dialog default, recorded; #@ File from fijirun.toml
    answers = {a["call"]: a for a in by["module1/ask_threshold.ijm"]["answers"]}
    assert answers["#@ Integer thr1"]["value"] == 0
    assert answers["#@ File inputImageFile"]["value"] == str(DATA / "xy_8bit__few_touching_nuclei.tif")
    assert "ownImage" in by["module1/needs_input.ijm"]["message"]
    assert by["module1/needs_input.ijm"]["line"] == 1
    assert "stopped after the 3 s timeout" in by["module2/waits_for_a_person.ijm"]["message"]  # config timeout
    assert by["module2/known_broken.ijm"]["expected"] == "failed"
    assert by["module2/gpu_only.ijm"]["message"] == "skipped: needs a GPU and CLIJ2"
    # relative paths found beside the data folder, as a learner in the course repository has them
    assert by["module1/blur_threshold.ijm"]["paths"][0]["path"] == "images/xy_8bit__few_touching_nuclei.tif"
    # exit("...") ends the macro as ImageJ does; its message is kept in the run's record
    exit_run = json.loads((Path(report["output"]) / "module2__ends_with_exit.ijm" / "run.json").read_text())
    assert any(m.startswith("exit: Analysis Complete.") for m in exit_run["messages"])
    # the final state: the blurred image and the Results table, as ImageJ left them
    state = json.loads((Path(report["output"]) / "module1__blur_threshold.ijm" / "run.json").read_text())["state"]
    assert [i["title"] for i in state["images"]] == ["xy_8bit__few_touching_nuclei.tif"]
    assert state["tables"][0]["title"] == "Results" and state["tables"][0]["rows"] > 0
    assert (Path(report["output"]) / "module1__blur_threshold.ijm" / state["images"][0]["file"]).is_file()


def test_unchanged_rerun_with_two_workers_changes_nothing(baseline, tmp_path):
    _, _, base = baseline
    code, report = _regress(COURSE, tmp_path / "again", "--baseline", base)
    assert _classes(report) == EXPECTED, [a.get("changes") for a in report["activities"]]
    assert report["counts"]["changed"] == 0 and code == 0
    assert report["baseline"]["folder"] == str(base)


def _mutated_course(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE, course)
    blur = course / "module1" / "blur_threshold.ijm"
    blur.write_text(blur.read_text().replace("setThreshold(60, 255)", "setThreshold(61, 255)"))
    smooth = course / "module1" / "smooth.ijm"
    smooth.write_text(smooth.read_text().replace("sigma=1.5", "sigma=2"))
    log = course / "module1" / "log_only.ijm"
    log.write_text(log.read_text().replace('"the answer is "', '"the answer is: "'))
    return course


def test_changes_are_found_named_and_accepted(baseline, tmp_path):
    _, _, base = baseline
    accepted = tmp_path / "accepted"
    shutil.copytree(base, accepted)
    course = _mutated_course(tmp_path)
    code, report = _regress(course, tmp_path / "changed", "--baseline", accepted)
    classes = _classes(report)
    changed = {p for p, c in classes.items() if c == "changed"}
    assert changed == {"module1/blur_threshold.ijm", "module1/smooth.ijm", "module1/log_only.ijm"}
    assert code == 1
    by = _by_path(report)
    blur = by["module1/blur_threshold.ijm"]["changes"]
    assert any(c.startswith("table 'Results' row ") and ", column Area: " in c for c in blur), blur
    smooth = by["module1/smooth.ijm"]["changes"]
    assert len(smooth) == 1 and smooth[0].startswith(
        "open image 'xy_8bit__mitocheck_incenp_t1.tif': ") and " pixel values differ, by up to " in smooth[0]
    assert by["module1/log_only.ijm"]["changes"] == ["Log line 1: 'the answer is 42' -> 'the answer is: 42'"]
    # the picture of the smoothed image's differing pixels
    pictures = list((tmp_path / "changed" / "regress.changes").glob("*.png"))
    assert any("mitocheck" in p.name for p in pictures), pictures
    # accept, then the same course again: nothing changed
    code, report = _regress(course, tmp_path / "changed", "--baseline", accepted, "--update-baseline")
    assert code == 1 and report["baseline"]["updated"] == str(accepted)
    code, report = _regress(course, tmp_path / "after", "--baseline", accepted)
    assert report["counts"]["changed"] == 0 and code == 0, [a.get("changes") for a in report["activities"]]


def test_update_baseline_never_replaces_a_file_fijirun_did_not_write(baseline, tmp_path):
    _, _, base = baseline
    accepted = tmp_path / "accepted"
    shutil.copytree(base, accepted)
    note = accepted / "module1__log_only.ijm" / "my notes.txt"
    note.write_text("keep me")
    code, stdout, stderr = run_cli("regress", COURSE, "--output", tmp_path / "new", "--data-dir", DATA,
                                   "--baseline", accepted, "--update-baseline", timeout=300)
    assert code == 2 and "my notes.txt was not written by fijirun" in stderr
    assert note.read_text() == "keep me"


def test_github_annotations_name_file_and_line(baseline, tmp_path):
    _, _, base = baseline
    course = _mutated_course(tmp_path)
    code, stdout, stderr = run_cli("regress", course, "--output", tmp_path / "out", "--data-dir", DATA,
                                   "--baseline", base, "--annotations", "github", timeout=300)
    assert code == 1, stderr
    lines = [line for line in stdout.splitlines() if line.startswith("::")]
    assert sorted(line.split(",title=")[0] for line in lines) == [
        "::error file=module1/blur_threshold.ijm", "::error file=module1/log_only.ijm",
        "::error file=module1/smooth.ijm"]
    assert any("Log line 1%3A" not in line and "Log line 1: 'the answer is 42'" in line for line in lines)


@pytest.mark.parametrize("args, option", [
    (["--update-baseline"], "--update-baseline"),
    (["--annotations", "github", "--json"], "--annotations"),
    (["--config", "no-such.toml"], "--config"),
    (["--baseline", "no-such-folder"], "--baseline"),
])
def test_bad_options_are_one_line_errors(tmp_path, args, option):
    code, stdout, stderr = run_cli("regress", COURSE, "--output", tmp_path / "out", *args, timeout=60)
    assert code == 2 and option in stderr and "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.fiji
@pytest.mark.skipif(not os.environ.get("FIJI_HOME"),
                    reason="FIJI_HOME is not set: the fiji backend needs a Fiji.app")
def test_fiji_against_an_imagej1_baseline(baseline, tmp_path):
    """ImageJ 1.53t's results as the baseline, Fiji's ImageJ 1.53f re-runs the course: every
    activity keeps its class or is ``changed`` with its diff (which ones is printed)."""
    _, _, base = baseline
    code, report = _regress(COURSE, tmp_path / "fiji", "--baseline", base, "--backend", "fiji",
                            "--fiji", os.environ["FIJI_HOME"], timeout=900)
    assert report["backend"] == "fiji" and report["baseline"]["folder"] == str(base)
    for path, cls in _classes(report).items():
        a = _by_path(report)[path]
        if cls == "changed":
            assert a["changes"], path
        else:
            assert cls == EXPECTED[path], (path, a["message"])
    differ = {a["path"]: a["changes"] for a in report["activities"] if a["class"] == "changed"}
    print("\nImageJ 1.53t (baseline) vs Fiji 2.3.0's ImageJ 1.53f: "
          + (json.dumps(differ, indent=1) if differ else "no activity gives different results"))
    assert code == (1 if differ else 0)


# ------------------------------------------------------------------ no engine
def test_configuration_errors_name_file_and_key(tmp_path):
    bad = tmp_path / "fijirun.toml"
    cases = {
        '[activities."a.ijm"]\nxfial = "typo"\n': "activities.'a.ijm'.xfial: unknown key",
        '[regress]\ntimeout = -1\n': "regress.timeout: a timeout is a number of seconds > 0",
        '[regress]\nlog-sanitize = ["(unclosed"]\n': "bad pattern '(unclosed'",
        '[regres]\n': "unknown section 'regres'",
        'timeout = \n': "not valid TOML",
    }
    for text, expected in cases.items():
        bad.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(tmp_path)
        assert str(bad) in str(info.value) and expected in str(info.value), str(info.value)


def test_configuration_globs_merge_in_file_order(tmp_path):
    (tmp_path / "fijirun.toml").write_text(
        '[regress]\ntimeout = 30\n[activities."day2/*"]\ntimeout = 5\nxfail = "all of day 2"\n'
        '[activities."day2/b.ijm"]\ntimeout = 9\n[activities."day2/b.ijm".params]\nx = 1\n')
    config = load_config(tmp_path)
    a, b, c = (config.for_activity(p) for p in ("day2/a.ijm", "day2/b.ijm", "day1/c.ijm"))
    assert (a.timeout, a.xfail, a.params) == (5.0, "all of day 2", {})
    assert (b.timeout, b.xfail, b.params) == (9.0, "all of day 2", {"x": 1})
    assert (c.timeout, c.xfail) == (30.0, None)


def test_parameters_without_value_get_fijis_dialog_defaults(tmp_path):
    text = ("#@ Integer thr\n#@ Double (label='s') sigma\n#@ Boolean flag\n#@ String name\n"
            "#@ Integer (value=5) given\n#@ File (label='f') image\n")
    (tmp_path / "im.tif").write_bytes(b"x")
    params, answers = answer_parameters(text, {"image": "im.tif"}, [tmp_path])
    assert params == {"thr": 0, "sigma": 0, "flag": False, "name": "", "image": str(tmp_path / "im.tif")}
    assert [a["line"] for a in answers] == [1, 2, 3, 4, 6]
    with pytest.raises(MissingInput, match=r"'#@ File image' \(line 6\)"):
        answer_parameters(text, {}, [tmp_path])
    # the output folder is the caller's; a file the script saves goes into the activity's folder
    text = '#@ File (style="directory") outputDir\n#@ File (style="save") table\n'
    params, _ = answer_parameters(text, {}, [], output_dir=tmp_path, skip=("outputDir",))
    assert params == {"table": str(tmp_path / "table")}


def test_relative_paths_resolved_in_string_literals_only(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.tif").write_bytes(b"x")
    text = 'open("images/a.tif"); // "images/a.tif"\nopen("images/missing.tif");\nopen("/abs/a.tif");\n'
    new, resolved = resolve_relative_paths(text, "ijm", [None, tmp_path])
    assert new.splitlines()[0] == f'open("{tmp_path}/images/a.tif"); // "images/a.tif"'
    assert new.splitlines()[1:] == text.splitlines()[1:]
    assert resolved == [{"line": 1, "path": "images/a.tif", "resolved": f"{tmp_path}/images/a.tif"}]


def test_log_sanitizers_remove_run_to_run_noise():
    a = "Took 1.5 sec at 12:01:33\n/tmp/pytest-1/out/x.tif saved\nused 512MB\n"
    b = "Took 2.25 sec at 09:00:01\n/tmp/pytest-9/out/x.tif saved\nused 640MB\n"
    assert sanitize_log(a) == sanitize_log(b)
    assert sanitize_log("done: 7", [("done: \\d+", "done")]) == ["done"]


def _run_folder(folder, images=(), tables=(), log=""):
    """A minimal run folder as the session writes one: run.json with a final state."""
    import tifffile

    from fijirun.outputs import sha256

    state_dir = folder / "run.state"
    state_dir.mkdir(parents=True)
    state = {"images": [], "tables": [], "rois": None, "log": None}
    for i, (title, array) in enumerate(images, 1):
        tifffile.imwrite(state_dir / f"image-{i}.tif", array)
        state["images"].append({"title": title, "type": "x", "width": array.shape[-1],
                                "height": array.shape[-2], "file": f"run.state/image-{i}.tif",
                                "sha256": sha256(state_dir / f"image-{i}.tif")})
    for i, (title, text) in enumerate(tables, 1):
        (state_dir / f"table-{i}.csv").write_text(text)
        state["tables"].append({"title": title, "file": f"run.state/table-{i}.csv",
                                "sha256": sha256(state_dir / f"table-{i}.csv")})
    if log:
        (state_dir / "log.txt").write_text(log)
        state["log"] = {"file": "run.state/log.txt"}
    (folder / "run.json").write_text(json.dumps({"outputs": [], "state": state}))
    return folder


labels_2d = st.integers(1, 6).flatmap(lambda n: st.lists(
    st.lists(st.integers(0, n), min_size=6, max_size=6), min_size=5, max_size=5)).map(
    lambda rows: np.array(rows, np.uint16))


@settings(max_examples=60, deadline=None)
@given(labels=labels_2d, seed=st.integers(0, 2**31 - 1))
def test_label_masks_compare_up_to_renumbering(tmp_path_factory, labels, seed):
    rng = np.random.default_rng(seed)
    n = max(int(labels.max()), 1)
    perm = np.concatenate([[0], rng.permutation(np.arange(1, n + 1)) + 10])  # other numbers, same regions
    renumbered = perm[labels].astype(np.uint16)
    tmp = tmp_path_factory.mktemp("labels")
    old = _run_folder(tmp / "old", images=[("labels", labels)])
    new = _run_folder(tmp / "new", images=[("labels", renumbered)])
    assert np.array_equal(_canonical_labels(labels), _canonical_labels(renumbered))
    if n > 1:
        assert compare_runs(old, new) == []
    moved = renumbered.copy()
    moved[0, 0] = 0 if moved[0, 0] else perm[1]  # one pixel joins or leaves a region
    changes = compare_runs(old, _run_folder(tmp / "moved", images=[("labels", moved)]))
    assert len(changes) == 1 and changes[0].startswith("open image 'labels': ")


def test_float_images_within_the_tolerance_are_unchanged(tmp_path):
    a = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    old = _run_folder(tmp_path / "old", images=[("f", a)])
    new = _run_folder(tmp_path / "new", images=[("f", a + np.float32(1e-4))])
    assert compare_runs(old, new, tolerance=Tolerance(atol=1e-3)) == []
    assert compare_runs(old, new)[0] == "open image 'f': 64 of 64 pixel values differ, by up to 0.0001"


def test_table_cells_compared_as_printed(tmp_path):
    old = _run_folder(tmp_path / "old", tables=[("Results", " ,Area,Mean\n1,12,3.500\n2,7,1.000\n")])
    new = _run_folder(tmp_path / "new", tables=[("Results", " ,Area,Mean\n1,12,3.501\n2,7,1.000\n3,1,1\n")])
    assert compare_runs(old, new) == ["table 'Results': 2 rows -> 3",
                                      "table 'Results' row 1, column Mean: 3.500 -> 3.501"]


def test_regress_never_replaces_or_removes_a_persons_files_beside_its_own(tmp_path):
    # found by a hostile review: --baseline removed every .png in OUTPUT/regress.changes (also
    # through a link), regress.json was replaced whatever it was, and a pipe named
    # regress.activity.json hung the regression
    course = tmp_path / "course"
    course.mkdir()
    (course / "a.ijm").write_text('print("the answer is 42");\n')
    code, _ = _regress(course, tmp_path / "base")
    assert code == 0
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "holiday.png").write_bytes(b"holiday")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "regress.changes").symlink_to(photos)
    code, stdout, stderr = run_cli("regress", course, "-o", linked, "--baseline", tmp_path / "base", "--json")
    assert code == 2 and "not fijirun's folder of change pictures" in stderr and len(stderr.splitlines()) == 1
    assert (photos / "holiday.png").read_bytes() == b"holiday" and not (linked / "regress.json").exists()
    # a person's picture in a real regress.changes folder: kept, the regression runs
    mine = tmp_path / "mine"
    (mine / "regress.changes").mkdir(parents=True)
    (mine / "regress.changes" / "notes.png").write_bytes(b"notes")
    code, report = _regress(course, mine, "--baseline", tmp_path / "base")
    assert code == 0 and (mine / "regress.changes" / "notes.png").read_bytes() == b"notes"
    # regress.json that is not fijirun's: refused before anything runs, left as it was
    for kind in ("file", "pipe", "folder", "link"):
        out = tmp_path / f"out-{kind}"
        out.mkdir()
        path = out / "regress.json"
        if kind == "file":
            path.write_text('{"mine": 1}\n')
        elif kind == "pipe":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
        else:
            path.symlink_to(tmp_path / "base" / "regress.json")  # even a link to fijirun's own report
        before = os.lstat(path)
        code, stdout, stderr = run_cli("regress", course, "-o", out, "--json", timeout=60)
        assert code == 2 and "regress.json was not written by fijirun" in stderr, (kind, stderr)
        assert json.loads(stdout)["error"]["type"] == "ReportPathError"
        after = os.lstat(path)
        assert (after.st_ino, after.st_mode, after.st_size) == (before.st_ino, before.st_mode, before.st_size)
        assert sorted(p.name for p in out.iterdir()) == ["regress.json"], kind  # nothing ran
    # a pipe named like an activity's record: the activity fails naming it, no hang
    record = tmp_path / "base" / "a.ijm" / "regress.activity.json"
    record.unlink()
    os.mkfifo(record)
    code, report = _regress(course, tmp_path / "base", timeout=120)
    (activity,) = report["activities"]
    assert code == 1 and activity["class"] == "failed" and "regress.activity.json" in activity["message"]
    assert stat.S_ISFIFO(os.lstat(record).st_mode)
