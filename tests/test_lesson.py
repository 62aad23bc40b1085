"""fijirun regress on a lesson repository (issue 17): modules, activities, exercises, courses.

The fixture ``tests/lesson_fixture`` is laid out as Jekyll / Carpentries lessons are (NEUBIAS's
training resources among them): ``_modules/`` pages with old-style ``activities`` and new-style
``multiactivities`` front matter, ``_includes/`` with ``.ijm``, ``.py`` and Markdown activity
pages, exercise pages whose solutions are blockquoted fences, and two ``_courses/`` sharing a
module.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_check_report import CHROMIUM, chromium

import fijirun.data
from fijirun.regress.lesson import LessonError, course_modules, lesson_activities
from fijirun.regress.run import course_activities

from conftest import run_cli

LESSON = Path(__file__).resolve().parent / "lesson_fixture"
DATA = Path(fijirun.data.path("xy_8bit_binary_randomshapes.tif")).parent
INC = "_includes/"

EXPECTED = [  # (module, platform, position, path, language)
    ("Output saving", "ImageJ Macro", "activity 1", INC + "output_saving/act1_imagej-macro.md#1", "ijm"),
    ("Output saving", "ImageJ Jython", "activity 1", INC + "output_saving/act1_imagej-jython.py", "jython"),
    ("Output saving", "ImageJ Macro", "activity 2", INC + "output_saving/act2_imagej-macro.ijm", "ijm"),
    ("Output saving", "ImageJ Macro", "exercise 1", INC + "output_saving/exercises/output_saving_imagejmacro.md#1",
     "ijm"),
    ("Output saving", "ImageJ Jython", "exercise 2", INC + "output_saving/exercises/output_saving_jython.md#1",
     "jython"),
    ("Thresholding", "ImageJ GUI", "activity 1", INC + "thresholding/activities/threshold_imagejgui.md", None),
    ("Thresholding", "ImageJ Macro", "activity 2", INC + "thresholding/activities/threshold_imagejmacro.ijm", "ijm"),
    ("Thresholding", "ImageJ Macro", "exercise 1", INC + "thresholding/exercises/threshold_imagejmacro.md#1", "ijm"),
]


def _listing(activities):
    return [(a.module, a.platform, a.position, a.path, a.language) for a in activities]


def test_every_activity_and_solution_found_with_module_platform_and_line():
    found = lesson_activities(LESSON)
    assert _listing(found) == EXPECTED
    assert {a.kind for a in found if a.position.startswith("exercise")} == {"exercise"}
    # a solution's code is read without its '>' markers, at the Markdown file's line numbers
    solution = next(a for a in found if a.path.endswith("output_saving_imagejmacro.md#1"))
    md = (LESSON / INC / "output_saving/exercises/output_saving_imagejmacro.md").read_text().splitlines()
    assert solution.text.splitlines()[4] == "outputDir = FIXME;" and md[4] == ">outputDir = FIXME;"
    # not ImageJ: the napari and MATLAB activities are not listed at all
    assert not any(a.platform in ("skimage napari", "MATLAB") for a in found)


def test_courses_and_modules_select_what_runs():
    assert course_modules(LESSON, "macro-course") == ["thresholding", "output_saving"]
    assert course_modules(LESSON, "Saving, a crash course") == ["output_saving"]  # by title too
    crash = course_activities(LESSON, course_name="saving-crash-course")
    assert {a.module for a in crash} == {"Output saving"} and len(crash) == 5
    one = course_activities(LESSON, modules=["thresholding"])
    assert [a.position for a in one] == ["activity 1", "activity 2", "exercise 1"]
    # the macro course lists thresholding first: its order is the course's
    assert [a.module for a in course_activities(LESSON, course_name="macro-course")][0] == "Thresholding"


@pytest.mark.parametrize("kwargs, message", [
    ({"course_name": "no-such-course"}, "no course 'no-such-course'"),
    ({"modules": ["nope"]}, "no module 'nope'"),
])
def test_unknown_course_or_module_is_an_error_naming_what_exists(kwargs, message):
    with pytest.raises(LessonError, match=message) as info:
        course_activities(LESSON, **kwargs)
    assert "macro-course" in str(info.value) or "output_saving" in str(info.value)


def test_selection_outside_a_lesson_is_an_error(tmp_path):
    (tmp_path / "a.ijm").write_text('print("x");\n')
    code, stdout, stderr = run_cli("regress", tmp_path, "--output", tmp_path / "out", "--module", "x", timeout=60)
    assert code == 2 and "not a lesson repository" in stderr and len(stderr.strip().splitlines()) == 1


def test_bad_front_matter_names_the_page_and_line(tmp_path):
    import shutil

    lesson = tmp_path / "lesson"
    shutil.copytree(LESSON, lesson)
    page = lesson / "_modules" / "thresholding.md"
    page.write_text(page.read_text().replace('  - ["MATLAB",', '  - ["MATLAB"'))
    with pytest.raises(LessonError, match=r"thresholding\.md: line \d+ front matter is not valid YAML"):
        lesson_activities(lesson)


@pytest.mark.parametrize("kind", ["pipe", "link-to-nothing"])
def test_a_lesson_page_that_cannot_be_read_is_one_line(tmp_path, kind):
    # it was an internal error (OSError from reading the page)
    import os
    import shutil

    lesson = tmp_path / "lesson"
    shutil.copytree(LESSON, lesson)
    page = lesson / "_modules" / "z.md"
    if kind == "pipe":
        os.mkfifo(page)
    else:
        page.symlink_to(tmp_path / "nowhere.md")
    code, stdout, stderr = run_cli("regress", lesson, "--output", tmp_path / "out", "--json", timeout=60)
    assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert f"cannot read the lesson page {page}" in stderr
    assert json.loads(stdout)["error"]["type"] == "LessonError" and not (tmp_path / "out").exists()


def test_an_activity_file_that_is_a_pipe_is_named_not_called_missing(tmp_path):
    # it was a no-code activity "which does not exist", and the regression passed
    import os
    import shutil

    lesson = tmp_path / "lesson"
    shutil.copytree(LESSON, lesson)
    act = lesson / "_includes" / "output_saving" / "act2_imagej-macro.ijm"
    act.unlink()
    os.mkfifo(act)
    with pytest.raises(LessonError, match=r"lists output_saving/act2_imagej-macro\.ijm, and .* is not a regular file"):
        lesson_activities(lesson, ["output_saving"])


def test_a_module_without_activities_says_so(tmp_path):
    import shutil

    lesson = tmp_path / "lesson"
    shutil.copytree(LESSON, lesson)
    (lesson / "_modules" / "empty.md").write_text("---\ntitle: Empty\n---\n\nNothing to run.\n")
    code, stdout, stderr = run_cli("regress", lesson, "--output", tmp_path / "out", "--module", "empty", timeout=60)
    assert code == 2 and stderr.strip() == (f"fijirun: regress: no activities found in {lesson}: "
                                            "the modules empty list no ImageJ activity"), stderr


@pytest.fixture(scope="module")
def lesson_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lesson")
    code, stdout, stderr = run_cli("regress", LESSON, "--output", tmp / "out", "--data-dir", DATA, "--json",
                                   "--junit", tmp / "junit.xml", "--html", tmp / "report.html", timeout=300)
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stderr[-3000:]
    return code, json.loads(lines[0]), tmp


def test_lesson_regression_classifies_by_module(lesson_run):
    code, report, _ = lesson_run
    got = [(a["module"], a["platform"], a["position"], a["path"], a["class"]) for a in report["activities"]]
    classes = [c for *_, c in got]
    assert [g[:4] for g in got] == [e[:4] for e in EXPECTED]
    assert classes == ["passed", "passed", "passed", "passed", "passed", "no-code", "passed", "failed"]
    assert code == 1  # the broken exercise
    by = {a["path"]: a for a in report["activities"]}
    broken = by[INC + "thresholding/exercises/threshold_imagejmacro.md#1"]
    assert broken["line"] == 6 and broken["kind"] == "exercise"  # the Markdown file's line
    # exercise solutions with outputDir = FIXME run like activities: their outputs are checked
    saved = by[INC + "output_saving/exercises/output_saving_imagejmacro.md#1"]
    assert saved["outputs"] and saved["outputs"][0].endswith("rois.zip")
    assert by[INC + "thresholding/activities/threshold_imagejgui.md"]["message"] == "a GUI activity: no code to run"
    assert report["modules"]["Output saving"]["passed"] == 5
    assert report["modules"]["Thresholding"] == {**{c: 0 for c in report["counts"]}, "passed": 1, "failed": 1,
                                                "no-code": 1}


def test_junit_has_a_suite_per_module(lesson_run):
    from junitparser import JUnitXml

    _, _, tmp = lesson_run
    suites = {s.name: s for s in JUnitXml.fromfile(str(tmp / "junit.xml"))}
    assert set(suites) == {"Output saving", "Thresholding"}
    assert (suites["Output saving"].tests, suites["Output saving"].failures) == (5, 0)
    assert (suites["Thresholding"].tests, suites["Thresholding"].failures, suites["Thresholding"].skipped) == (3, 1, 1)


def test_html_report_shows_failures_with_their_script_lines(lesson_run):
    _, _, tmp = lesson_run
    text = (tmp / "report.html").read_text()
    assert re.search(r'<pre class="code">[^<]*&gt;   6  &gt; setThreshold\(128, 255\);', text), text[-3000:]
    assert "Output saving — 5 activities" in text and "Thresholding — 3 activities" in text


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_fits_a_laptop_screen(lesson_run, tmp_path):
    """At 1,280 px: nothing wider than the window, the per-module summary on the first screen."""
    _, _, tmp = lesson_run
    probe = tmp / "probe.html"  # beside the report: its relative links resolve
    probe.write_text((tmp / "report.html").read_text().replace(
        "</body>", '<script>window.addEventListener("load", () => {const s = document.querySelector('
        '"table.summary").getBoundingClientRect(); document.body.setAttribute("data-fit", '
        '[document.documentElement.scrollWidth, window.innerWidth, Math.round(s.bottom)].join(","));});'
        '</script></body>'))
    proc = chromium("--virtual-time-budget=5000", "--window-size=1280,800", "--dump-dom", probe.as_uri())
    m = re.search(r'data-fit="(\d+),(\d+),(\d+)"', proc.stdout)
    assert m, f"no result from chromium: {proc.stderr[-2000:]}"
    scroll_width, width, summary_bottom = map(int, m.groups())
    assert width == 1280 and scroll_width <= width, (scroll_width, width)
    assert summary_bottom <= 800  # the summary per module is on the first screen
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,800", (tmp / "report.html").as_uri())
    assert shot.is_file()


def test_a_fence_holding_an_include_is_the_included_file(tmp_path):
    import shutil

    lesson = tmp_path / "lesson"
    shutil.copytree(LESSON, lesson)
    page = lesson / "_includes" / "thresholding" / "activities" / "threshold_imagejgui.md"
    page.write_text("The same as a macro:\n\n```java\n"
                    "{% include thresholding/activities/threshold_imagejmacro.ijm %}\n```\n")
    found = {a.path: a for a in lesson_activities(lesson)}
    block = found[INC + "thresholding/activities/threshold_imagejgui.md#1"]
    included = (lesson / INC / "thresholding/activities/threshold_imagejmacro.ijm").read_text()
    assert block.language == "ijm" and block.text == "\n" * 3 + included


def test_a_file_two_modules_list_is_one_activity(tmp_path):
    """A shared exercise listed by two modules: one activity, under the first module listing
    it (two tasks of one name stopped the whole regression: "two tasks named ...")."""
    import shutil

    lesson = tmp_path / "lesson"
    shutil.copytree(LESSON, lesson)
    page = lesson / "_modules" / "thresholding.md"
    page.write_text(page.read_text().replace(
        '  - ["MATLAB",', '  - ["ImageJ Macro", "output_saving/act2_imagej-macro.ijm"]\n  - ["MATLAB",', 1))
    found = lesson_activities(lesson)
    paths = [a.path for a in found]
    assert len(paths) == len(set(paths))
    shared = [a for a in found if a.path.endswith("output_saving/act2_imagej-macro.ijm")]
    assert [a.module for a in shared] == ["Output saving"]
    only_thresholding = lesson_activities(lesson, ["thresholding"])  # listed there too
    assert [a.module for a in only_thresholding if a.path == shared[0].path] == ["Thresholding"]
