"""fijirun regress: a course's activities discovered, run unattended, classified, reported."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fijirun
from fijirun.regress import NoActivityError, discover
from fijirun.regress.answers import answer_interactive
from fijirun.regress.discover import markdown_blocks
from fijirun.regress.run import update_site

from conftest import DATA, run_cli

COURSE = Path(__file__).resolve().parent / "course_fixture"

EXPECTED = {
    "day1/output_saving.ijm": "passed",
    "day1/output_saving.py": "passed",
    "day1/ask_threshold.ijm": "passed",
    "day1/ask_size.py": "passed",
    "day2/missing_local.ijm": "needs-data",
    "day2/morpholibj_labels.ijm": "needs-plugin",
    "day2/missing_data.ijm": "needs-data",
    "day2/syntax_error.ijm": "failed",
    "day2/endless.ijm": "timeout",
}


def _regress(course, out, *extra, timeout=240):
    code, stdout, stderr = run_cli("regress", course, "--output", out, "--data-dir", DATA,
                                   "--timeout", "5", "--json", *extra, timeout=timeout)
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got {stdout!r}; stderr {stderr[-3000:]}"
    return code, json.loads(lines[0])


def _classes(report):
    return {a["path"]: a["class"] for a in report["activities"]}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("regress")
    code, report = _regress(COURSE, tmp / "out", "--junit", tmp / "junit.xml", "--html", tmp / "report.html")
    return code, report, tmp


# ------------------------------------------------------------------ no engine
def test_discovery_keeps_imagej_and_leaves_cpython_out():
    paths = {a.path: a.language for a in discover(COURSE)}
    assert paths == {p: ("jython" if p.endswith(".py") else "ijm") for p in EXPECTED}
    assert "helpers/plot_results.py" not in paths


def test_discovery_of_markdown_fences():
    blocks = [a for a in discover(COURSE, markdown=True) if a.path.startswith("day1/solutions.md")]
    assert [(a.path, a.language, a.line) for a in blocks] == [("day1/solutions.md#1", "ijm", 5),
                                                              ("day1/solutions.md#2", "jython", 20)]
    # padded: the code's line numbers are the Markdown file's
    md = (COURSE / "day1" / "solutions.md").read_text().splitlines()
    assert blocks[0].text.splitlines()[5] == md[5]


_CODE_LINE = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="`>"),
                     max_size=30)


@settings(max_examples=80, deadline=None)
@given(lines=st.lists(_CODE_LINE, min_size=1, max_size=6), depth=st.integers(1, 3),
       fence=st.sampled_from(["java", "ijm", "javascript"]))
def test_a_blockquoted_solution_is_the_same_block_unquoted(lines, depth, fence):
    """Lesson pages write exercise solutions inside blockquotes (``> ```java``); the block
    found there is the one found when the same Markdown is not quoted."""
    plain = "# Exercise\n\n```" + fence + "\n" + "\n".join(lines) + "\n```\n"
    quote = "> " * depth
    quoted = "\n".join(quote + line if line else quote.rstrip() for line in plain.splitlines()) + "\n{: .solution}\n"
    assert markdown_blocks(quoted) == markdown_blocks(plain)
    assert [b[:2] for b in markdown_blocks(plain)] == [(3, "ijm")]


def test_java_fences_holding_java_are_not_macros():
    md = "```java\nimport ij.IJ;\npublic class Hello {}\n```\n```java\nrun(\"Blobs (25K)\");\n```\n"
    assert [(line, lang) for line, lang, _ in markdown_blocks(md)] == [(5, "ijm")]


def test_answers_keep_lines_and_record_defaults():
    text = ('t = getNumber("Threshold", 128);\nwaitForUser("click",\n "OK");\n'
            'Dialog.create("o");\nDialog.addNumber("size", 50);\nDialog.addString("name", "cells");\n'
            'Dialog.addCheckbox("holes", true);\nDialog.addChoice("m", newArray("Otsu", "Huang"));\n'
            'Dialog.show();\na = Dialog.getNumber(); b = Dialog.getString();\n'
            'c = Dialog.getCheckbox(); d = Dialog.getChoice(); // getNumber("no", 1)\n'
            's = getString("p", "x");\ng = getBoolean("sure?");\n')
    out, answers = answer_interactive(text, "ijm")
    assert out.count("\n") == text.count("\n")
    assert "getNumber(\"no\", 1)" in out  # comments untouched
    values = [(a["line"], a["call"], a["value"]) for a in answers]
    assert (1, "getNumber", 128) in values and (2, "waitForUser", "continue") in values
    assert [v for _, c, v in values if c.startswith("Dialog.get")] == [50, "cells", True, "Otsu"]
    assert (12, "getString", "x") in values and (13, "getBoolean", True) in values
    assert "Dialog." not in out and "waitForUser" not in out


def test_jython_dialogs_answered():
    text = ('from ij.gui import GenericDialog, WaitForUserDialog\ngd = GenericDialog("o")\n'
            'gd.addNumericField("size", 50, 0)\ngd.addChoice("m", ["Otsu", "Huang"], "Huang")\n'
            'gd.showDialog()\nif gd.wasCanceled():\n    raise SystemExit\n'
            'size = gd.getNextNumber()\nm = gd.getNextChoice()\n'
            'WaitForUserDialog("look",\n "OK").show()\nt = IJ.getNumber("t", 3)\n')
    out, answers = answer_interactive(text, "jython")
    assert out.count("\n") == text.count("\n")
    assert "showDialog" not in out and "wasCanceled" not in out and ".show()" not in out
    assert [(a["line"], a["value"]) for a in answers] == [(5, "OK"), (8, 50), (9, "Huang"),
                                                          (10, "continue"), (12, 3)]


def test_update_sites():
    assert update_site("Connected Components Labeling") == "IJPB-plugins"
    assert update_site("Distance Transform Watershed") == "IJPB-plugins"
    assert update_site("Some Unknown Plugin") is None


# ------------------------------------------------------------------ real runs
def test_each_activity_classified(first_run):
    code, report, tmp = first_run
    assert _classes(report) == EXPECTED
    assert code == 1  # a failed and a timeout activity
    assert report["counts"] == {"passed": 4, "changed": 0, "removed": 0, "failed": 1, "timeout": 1, "needs-plugin": 1,
                                "needs-data": 2, "needs-input": 0, "xfail": 0, "xpass": 0, "skipped": 0,
                                "no-code": 0}
    by = {a["path"]: a for a in report["activities"]}
    # passed: outputs saved into a fresh folder of its own, and checked
    for path in ("day1/output_saving.ijm", "day1/output_saving.py"):
        names = {Path(o).name for o in by[path]["outputs"]}
        assert {"labels.tif", "results.txt", "rois.zip"} <= names
        assert by[path]["check"] in ("pass", "warn")
        assert all((tmp / "out" / o).is_file() for o in by[path]["outputs"])
    assert not (COURSE / "day1" / "labels.tif").exists()  # nothing written into the course
    plugin = by["day2/morpholibj_labels.ijm"]
    assert plugin["plugin"] == "Connected Components Labeling" and plugin["update_site"] == "IJPB-plugins"
    assert "IJPB-plugins" in plugin["message"] and plugin["line"] == 5
    assert "not_in_any_data_dir.tif" in by["day2/missing_data.ijm"]["message"]
    assert by["day2/missing_local.ijm"]["data"] == "cells_from_the_microscope.tif"
    assert by["day2/syntax_error.ijm"]["line"] == 4 and by["day2/syntax_error.ijm"]["message"]
    asked = by["day1/ask_threshold.ijm"]
    assert {"line": 3, "call": "getNumber", "value": 100} in asked["answers"]
    assert any(a["call"] == "waitForUser" for a in asked["answers"])
    jy = [(a["line"], a["call"], a["value"]) for a in by["day1/ask_size.py"]["answers"]]
    assert (13, "gd.getNextNumber", 20) in jy and (14, "gd.getNextBoolean", False) in jy
    assert (20, "WaitForUserDialog", "continue") in jy
    for a in report["activities"]:
        assert set(a) >= {"path", "class", "message", "line", "seconds", "outputs", "answers"}
    assert json.loads((tmp / "out" / "regress.json").read_text())["counts"] == report["counts"]
    # one folder per activity that ran, the report; not the folders' locks (gone with the workers)
    ran = {p.replace("/", "__") for p, c in EXPECTED.items()}
    assert {p.name for p in (tmp / "out").iterdir()} == ran | {"regress.json"}


def test_junit_read_by_junitparser(first_run):
    from junitparser import Error, Failure, JUnitXml, Skipped

    _, _, tmp = first_run
    xml = JUnitXml.fromfile(str(tmp / "junit.xml"))
    cases = {c.name: c for suite in xml for c in suite}
    assert set(cases) == set(EXPECTED)
    kinds = {name: type(c.result[0]) if c.result else None for name, c in cases.items()}
    assert kinds["day1/output_saving.ijm"] is None
    assert kinds["day2/syntax_error.ijm"] is Failure
    assert kinds["day2/endless.ijm"] is Error
    assert kinds["day2/morpholibj_labels.ijm"] is Skipped and kinds["day2/missing_data.ijm"] is Skipped
    assert kinds["day2/missing_local.ijm"] is Skipped


def test_html_matrix_links_outputs_and_pictures(first_run):
    _, _, tmp = first_run
    page = (tmp / "report.html").read_text()
    for path in EXPECTED:
        assert path in page
    assert 'href="out/day1__output_saving.ijm/labels.tif"' in page
    pictures = list((tmp / "report_pictures").glob("*.png"))
    assert len(pictures) == 2 and all(f'src="report_pictures/{p.name}"' in page for p in pictures)


def test_thumbnails_replace_only_their_own_files(first_run, tmp_path):
    # the HTML's thumbnails replaced a person's file there, and wrote through a link
    from fijirun.regress.report import write_html

    _, report, tmp = first_run
    page = tmp_path / "r.html"
    write_html(report, page)
    thumbs = sorted((tmp_path / "r_pictures").glob("*.png"))
    assert len(thumbs) == 2
    write_html(report, page)  # its own thumbnails: replaced
    assert sorted((tmp_path / "r_pictures").glob("*.png")) == thumbs
    mine, linked = thumbs
    mine.write_bytes(b"my notes\n")
    precious = tmp_path / "precious.txt"
    precious.write_text("precious\n")
    linked.unlink()
    linked.symlink_to(precious)
    write_html(report, page)
    assert mine.read_bytes() == b"my notes\n" and precious.read_text() == "precious\n" and linked.is_symlink()
    text = page.read_text()
    assert f"r_pictures/{mine.name}" not in text and f"r_pictures/{linked.name}" not in text  # no thumbnail
    assert not [p for p in (tmp_path / "r_pictures").iterdir() if p.name.startswith(".")]  # no temporary left


def test_second_run_and_two_workers_agree(first_run, tmp_path):
    _, report, _ = first_run
    code, again = _regress(COURSE, tmp_path / "again")
    assert code == 1 and _classes(again) == _classes(report)
    code, two = _regress(COURSE, tmp_path / "two", "--workers", "2")
    assert code == 1 and _classes(two) == _classes(report)
    assert two["workers"] == 2


def test_exit_zero_without_failures(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(COURSE / "day1" / "ask_threshold.ijm", course)
    shutil.copy(COURSE / "day2" / "morpholibj_labels.ijm", course)
    code, stdout, stderr = run_cli("regress", course, "--output", tmp_path / "out", timeout=180)
    assert code == 0, stderr
    assert "ask_threshold.ijm" in stdout and "needs-plugin" in stdout


def test_a_course_with_no_activity_is_an_error(tmp_path):
    """Nothing to run is no verdict: exit 2 (cannot start), one line on stderr, nothing written."""
    course = tmp_path / "course"
    course.mkdir()
    code, stdout, stderr = run_cli("regress", course, "--output", tmp_path / "out")
    assert code == 2, (stdout, stderr)
    assert stderr.strip().splitlines() == [
        f"fijirun: regress: no activities found in {course}: no .ijm files, no ImageJ Jython .py files "
        "(--markdown: also .md code blocks)"]
    assert "passed" not in stdout
    assert not (tmp_path / "out").exists()  # no folder, no regress.json with an empty verdict

    # a CPython script is not an activity, nor is a Markdown block without --markdown
    (course / "plot.py").write_text("import numpy as np\nprint(np.zeros(3))\n")
    (course / "README.md").write_text('# Day 1\n\n```ijm\nprint("hello");\n```\n')
    code, stdout, stderr = run_cli("regress", course, "--output", tmp_path / "out2", "--json")
    assert code == 2, (stdout, stderr)
    assert len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"fijirun: regress: no activities found in {course}")
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    error = json.loads(lines[0])
    assert error["status"] == "error" and error["exit_code"] == 2
    assert error["error"]["type"] == "NoActivityError"
    assert error["error"]["message"] == stderr.strip().removeprefix("fijirun: regress: ")
    assert not (tmp_path / "out2").exists()
    with pytest.raises(NoActivityError, match="no activities found"):
        fijirun.regress(course, tmp_path / "out3")
    assert not (tmp_path / "out3").exists()


def test_a_report_that_cannot_be_written_is_one_line_not_an_internal_error(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "a.ijm").write_text('print("hi");\n')
    out = tmp_path / "out"
    code, _, stderr = run_cli("regress", course, "-o", out)
    assert code == 0 and (out / "a.ijm").is_dir(), stderr
    # inside an activity's folder: the next regress found a file it did not write there, and failed it
    code, stdout, stderr = run_cli("regress", course, "-o", out, "--html", out / "a.ijm" / "report.html")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "inside an activity's folder" in stderr
    assert not (out / "a.ijm" / "report.html").exists()
    # a report that fails after the activities ran: exit 2, one line, one JSON object
    code, stdout, stderr = run_cli("regress", course, "-o", out, "--junit", "/proc/r.xml", "--json")
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("fijirun: regress: cannot write the JUnit report /proc/r.xml")
    error = json.loads(stdout)
    assert error["error"]["type"] == "ReportPathError" and (out / "regress.json").is_file()


def test_a_crashing_activity_does_not_stop_the_others(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    # System.exit and Runtime.halt are refused (a failed run, not a dead worker): kill -9 itself
    (course / "crash.py").write_text('from java.lang import ProcessHandle, Runtime\n'
                                     'pid = ProcessHandle.current().pid()\n'
                                     'Runtime.getRuntime().exec(["kill", "-9", str(pid)]).waitFor()\n')
    shutil.copy(COURSE / "day1" / "ask_threshold.ijm", course)
    code, report = _regress(course, tmp_path / "out")
    assert code == 1
    assert _classes(report) == {"crash.py": "failed", "ask_threshold.ijm": "passed"}
    assert "worker died" in {a["path"]: a for a in report["activities"]}["crash.py"]["message"]


@pytest.mark.skipif(not os.environ.get("FIJI_HOME"),
                    reason="FIJI_HOME is not set: the fiji backend needs a Fiji.app")
def test_course_on_fiji_classified_as_on_imagej1(tmp_path):
    """``--backend fiji``: every activity lands in the same class as on plain ImageJ (Fiji's
    Opener words a missing file differently: 'not in a supported format ... or not found')."""
    code, report = _regress(COURSE, tmp_path / "out", "--backend", "fiji", "--fiji",
                            os.environ["FIJI_HOME"], "--timeout", "20", timeout=600)
    assert _classes(report) == EXPECTED
    assert report["backend"] == "fiji" and code == 1
    by = {a["path"]: a for a in report["activities"]}
    assert by["day2/missing_local.ijm"]["data"] == "cells_from_the_microscope.tif"


def test_fiji_opener_message_for_a_missing_file(tmp_path):
    """The message Fiji 2.3.0's Opener gives (as read from its dialog, in the fiji test above):
    a path that does not exist is missing data; an existing file in an unknown format fails."""
    from fijirun.errors import ScriptError
    from fijirun.regress.run import _classify_error

    def message(path):
        return ("Opener: File is not in a supported format, a reader\n"
                f"plugin is not available, or it was not found.\n\n{path}")

    missing = tmp_path / "images" / "cells.tif"
    cls, text, extra = _classify_error(ScriptError(message(missing)))
    assert (cls, extra) == ("needs-data", {"data": "cells.tif"}) and str(missing) in text
    unknown = tmp_path / "notes.xyz"
    unknown.write_text("not an image")
    cls, text, _ = _classify_error(ScriptError(message(unknown)))
    assert cls == "failed" and "not in a supported format" in text


# ------------------------------------------------------------------ reruns
# One attempt at an activity in its own process, as a regress worker runs it: READY once
# its engine is warm, then the attempt (whose first step is taking the folder's lock).
_ATTEMPT = """
import json, sys
from fijirun.cluster.worker import get_session
from fijirun.regress.run import activity_tasks, run_activity
course, out = sys.argv[1:3]
task, = activity_tasks(course, out, data_dir=None, backend="imagej1", timeout=60.0)
task["run"] = "one-regression"  # both attempts belong to the same regression
get_session(task["options"]).warm_up([task["language"]])
print("READY", flush=True)
print("RECORD " + json.dumps(run_activity(task)), flush=True)
"""

# saves its output once the test says so
_WAITING_SAVER = """outputDir = FIXME
newImage("ramp", "8-bit ramp", 64, 48, 1);
saveAs("Tiff", getDirectory("Where?") + "early.tif");
while (!File.exists("MARKER")) wait(20);
saveAs("Tiff", outputDir + "late.tif");
"""


def _attempt(course, out):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _ATTEMPT, str(course), str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _ready(proc):
    line = proc.stdout.readline()
    assert line.strip() == "READY", (line, proc.poll())


def _record(proc):
    stdout, stderr = proc.communicate(timeout=180)
    lines = [line for line in stdout.splitlines() if line.startswith("RECORD ")]
    assert lines, f"no record (exit {proc.returncode}): {stderr[-3000:]}"
    return json.loads(lines[-1][len("RECORD "):])


def _wait_for_script(folder, proc):
    """Until the attempt's script runs (its private staging folder exists)."""
    import time

    deadline = time.monotonic() + 120
    while not list(folder.glob(".fijirun-staging-*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the first attempt never started its script"
        time.sleep(0.02)


@pytest.mark.parametrize("first_ends", ["finishes", "is killed"])
def test_a_rerun_waits_for_the_earlier_attempts_process(tmp_path, first_ends):
    """A rerun of an activity (its worker died or is being replaced) starts while the first
    attempt's process still runs the script: the rerun empties the folder only once that process
    ended, so neither attempt deletes or mixes into the other's outputs (without the folder's
    lock, the first attempt's save fails: "finishes"). A killed process's lock dies with it: the
    rerun goes on at once, and takes over the file the killed attempt saved into the folder
    outside its staging (a getDirectory answer), as fijirun's ("is killed")."""
    import signal
    import time

    from fijirun.tempdirs import sweep_stale

    course, out, marker = tmp_path / "course", tmp_path / "out", tmp_path / "go"
    course.mkdir()
    (course / "slow.ijm").write_text(_WAITING_SAVER.replace("MARKER", marker.as_posix()))
    folder = out / "slow.ijm"
    first = _attempt(course, out)
    _ready(first)
    _wait_for_script(folder, first)
    second = _attempt(course, out)
    _ready(second)
    time.sleep(0.5)  # the rerun reached the folder's lock
    assert second.poll() is None
    if first_ends == "is killed":
        assert (folder / "early.tif").is_file()  # the first attempt's file outside its staging
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
        marker.touch()
        sweep_stale()  # the killed process's ImageJ home (a later fijirun start would remove it)
    else:
        marker.touch()
        one = _record(first)
        assert one["class"] == "passed", one
        assert one["outputs"] == ["slow.ijm/early.tif", "slow.ijm/late.tif"]
    two = _record(second)
    assert two["class"] == "passed", two
    assert two["outputs"] == ["slow.ijm/early.tif", "slow.ijm/late.tif"]
    assert sorted(p.name for p in folder.iterdir()) == ["early.tif", "late.tif", "regress.activity.json", "run.json",
                                                        "run.log", "run.state"]
    assert json.loads((folder / "run.json").read_text())["outputs"][0]["path"] == "late.tif"


# ------------------------------------------------------------------ ownership
def test_a_file_fijirun_did_not_write_is_never_removed(tmp_path):
    """A run empties an activity's folder only when all it holds is fijirun's: what the run's
    records list, and what the regression found there after its run (a file saved beside the
    outputs, into the folder a getDirectory dialog was answered with). A person's file, or a file
    changed since, stays, and the activity does not run (the others do)."""
    course, out = tmp_path / "course", tmp_path / "out"
    course.mkdir()
    (course / "one.ijm").write_text('outputDir = FIXME\nnewImage("a", "8-bit ramp", 32, 24, 1);\n'
                                    'saveAs("Tiff", outputDir + "a.tif");\n')
    (course / "beside.ijm").write_text('dir = getDirectory("Where to save?");\n'
                                       'newImage("b", "8-bit ramp", 16, 8, 1);\nsaveAs("Tiff", dir + "b.tif");\n')
    for _ in range(2):  # the second run replaces only fijirun's files
        code, report = _regress(course, out)
        assert _classes(report) == {"one.ijm": "passed", "beside.ijm": "passed"}, report
    assert (out / "beside.ijm" / "b.tif").is_file()
    notes = out / "one.ijm" / "notes.txt"
    notes.write_text("my notes\n")
    changed = out / "beside.ijm" / "b.tif"
    changed.write_bytes(b"edited by hand")
    code, report = _regress(course, out)
    by = {a["path"]: a for a in report["activities"]}
    assert code == 1
    assert by["one.ijm"]["class"] == "failed"
    assert by["one.ijm"]["message"].startswith(f"{notes} was not written by fijirun")
    assert by["beside.ijm"]["class"] == "failed"
    assert by["beside.ijm"]["message"].startswith(f"{changed} was not written by fijirun")
    assert notes.read_text() == "my notes\n" and changed.read_bytes() == b"edited by hand"
    assert (out / "one.ijm" / "a.tif").is_file()  # the folder is left as it was


def test_answers_reach_the_macro_as_what_they_are(tmp_path):
    """The answered dialogs hand the macro strings as strings and numbers as numbers (ImageJ's
    macro language reads a parenthesised string as NaN: a folder answer once became "NaN" and the
    activity saved NaNb.tif into the working folder)."""
    course, out = tmp_path / "course", tmp_path / "out"
    course.mkdir()
    (course / "asks.ijm").write_text(
        's = getString("name", "cells");\nn = getNumber("size", 10 + 5) * 2;\n'
        'Dialog.create("o");\nDialog.addString("t", "nuclei");\nDialog.addChoice("m", newArray("Otsu", "Huang"));\n'
        'Dialog.addNumber("k", 3);\nDialog.addCheckbox("invert", 3 > 5);\nDialog.show();\n'
        't = Dialog.getString();\nm = Dialog.getChoice();\nk = Dialog.getNumber() + 1;\nc = !Dialog.getCheckbox();\n'
        'd = getDirectory("Where to save?");\nprint(s + "|" + n + "|" + t + "|" + m + "|" + k + "|" + c + "|" + d);\n'
        'newImage("b", "8-bit ramp", 16, 8, 1);\nsaveAs("Tiff", d + "b.tif");\n')
    code, report = _regress(course, out)
    (record,) = report["activities"]
    assert record["class"] == "passed", record
    assert record["outputs"] == ["asks.ijm/b.tif"]
    log = (out / "asks.ijm" / "run.log").read_text().strip().splitlines()
    assert log == [f"cells|30|nuclei|Otsu|4|1|{out / 'asks.ijm'}/"]


def test_a_file_saved_outside_the_activitys_folder_is_said(tmp_path):
    """A relative save lands in the folder regress was started from, as ImageJ resolves it: the
    activity still passes, and its record and message name the file."""
    course, out, cwd = tmp_path / "course", tmp_path / "out", tmp_path / "cwd"
    course.mkdir()
    cwd.mkdir()
    (course / "relative.ijm").write_text('outputDir = FIXME\nnewImage("a", "8-bit ramp", 8, 8, 1);\n'
                                         'saveAs("Tiff", outputDir + "inside.tif");\nsaveAs("Tiff", "beside.tif");\n')
    code, stdout, stderr = run_cli("regress", course, "--output", out, "--data-dir", DATA, "--timeout", "20",
                                   "--json", timeout=240, cwd=cwd)
    (record,) = json.loads(stdout)["activities"]
    assert record["class"] == "passed", (record, stderr[-2000:])
    assert record["outputs"] == ["relative.ijm/inside.tif"]
    assert record["saved_elsewhere"] == [str(cwd / "beside.tif")]
    assert record["message"].endswith(f"saved outside its folder: {cwd / 'beside.tif'}")
    assert (cwd / "beside.tif").is_file()


def test_a_thread_an_activity_left_running_is_in_its_record(tmp_path):
    """The activity passes; its record's warnings name the thread (not its message: whether a
    thread outlives the 2 s grace can depend on the machine's load)."""
    course, out = tmp_path / "course", tmp_path / "out"
    course.mkdir()
    (course / "leaves.py").write_text(
        "from ij import IJ\nfrom java.lang import Thread, Runnable\n"
        "class Sleeper(Runnable):\n    def run(self):\n        Thread.sleep(20000)\n"
        "t = Thread(Sleeper(), 'fijirun-test-course-thread')\nt.setDaemon(True)\nt.start()\n"
        "IJ.log('left one')\n")
    code, report = _regress(course, out)
    (record,) = report["activities"]
    assert record["class"] == "passed", record
    assert record["warnings"] == [
        "thread 'fijirun-test-course-thread' started by the script was still running when it ended"]
    assert "fijirun-test-course-thread" not in (record["message"] or "")
