"""Each activity of a regression is itself: its own folder, a name that lasts, and never lost.

Found by a hostile review of ``fijirun regress``:

* ``a/b.ijm`` and ``a__b.ijm`` shared the folder ``a__b.ijm``: the second run emptied the
  first's, and the next comparison with the baseline compared one activity with the other's run;
* an activity of the baseline that is gone now was never reported ("no activity changed");
* a Markdown block was named by the line of its fence: a line of text added above it renamed
  it, and its changed code passed as "new: not in the baseline".

Real engine runs of tiny courses (a few seconds each).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from fijirun.regress.folders import ACTIVITY_RECORD, empty_folder, record_folder
from fijirun.regress.run import activity_folder

from conftest import run_cli

RAMP = 'newImage("ramp", "8-bit ramp", 64, 64, 1);\nsetThreshold({}, 255);\nrun("Convert to Mask");\n' \
       'print("mean " + getValue("Mean"));\n'


def _regress(course, out, *extra):
    code, stdout, stderr = run_cli("regress", course, "--output", out, "--json", *extra, timeout=180)
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line, got {stdout!r}; stderr {stderr[-3000:]}"
    return code, json.loads(lines[0])


def _by_path(report):
    return {a["path"]: a for a in report["activities"]}


def _log(folder):
    run = json.loads((folder / "run.json").read_text())
    return (folder / run["state"]["log"]["file"]).read_text()


# ------------------------------------------------------------------ folder names
def test_folder_names_are_unique_readable_and_independent_of_order():
    from fijirun.regress.run import activity_folders

    paths = ["a/b.ijm", "a__b.ijm", "c d.ijm", "c_d.ijm", "Up.ijm", "up.ijm", "module1/blur_threshold.ijm",
             "page.md#2"]
    names = activity_folders(paths)
    assert len({n.casefold() for n in names.values()}) == len(paths)  # also on a case-blind file system
    # a path that collides with no other keeps its readable name (baselines recorded before stay valid)
    assert names["module1/blur_threshold.ijm"] == "module1__blur_threshold.ijm"
    assert names["page.md#2"] == "page.md_2"
    for path in ("a/b.ijm", "a__b.ijm", "c d.ijm", "c_d.ijm", "Up.ijm", "up.ijm"):
        assert names[path].startswith(activity_folder(path) + "-") and len(names[path]) == len(
            activity_folder(path)) + 11
    assert activity_folders(list(reversed(paths))) == names
    assert activity_folders(["a/b.ijm"]) == {"a/b.ijm": "a__b.ijm"}


def test_a_folder_holding_another_activitys_run_is_never_emptied(tmp_path):
    folder = tmp_path / "a__b.ijm"
    empty_folder(folder, "a__b.ijm", run="r1")
    (folder / "result.csv").write_text("1,2\n")
    record_folder(folder, "a__b.ijm", run="r1")
    with pytest.raises(Exception, match=r"holds the run of another activity \(a__b\.ijm\), not of a/b\.ijm") as e:
        empty_folder(folder, "a/b.ijm", run="r1")  # same regression, other activity
    assert type(e.value).__name__ == "OutputExistsError"
    assert (folder / "result.csv").read_text() == "1,2\n"
    assert json.loads((folder / ACTIVITY_RECORD).read_text())["path"] == "a__b.ijm"
    empty_folder(folder, "a__b.ijm", run="r2")  # its own activity, later: emptied
    assert [p.name for p in folder.iterdir()] == [ACTIVITY_RECORD]


def test_activities_whose_readable_names_collide_each_have_their_own_run(tmp_path):
    course = tmp_path / "course"
    (course / "a").mkdir(parents=True)
    (course / "a" / "b.ijm").write_text(RAMP.format(100))
    (course / "a__b.ijm").write_text('newImage("other", "8-bit black", 32, 32, 1);\nprint("the other activity");\n')
    code, base = _regress(course, tmp_path / "base")
    assert code == 0, base
    # nothing edited: nothing changed (it was "a/b.ijm changed: no run record")
    code, today = _regress(course, tmp_path / "today", "--baseline", tmp_path / "base")
    assert {a["path"]: a["class"] for a in today["activities"]} == {
        "a/b.ijm": "passed", "a__b.ijm": "passed"}, today["activities"]
    assert code == 0
    for report, out in ((base, tmp_path / "base"), (today, tmp_path / "today")):
        folders = {a["path"]: a["folder"] for a in report["activities"]}
        assert len(set(folders.values())) == 2
        for path, folder in folders.items():
            assert json.loads((out / folder / ACTIVITY_RECORD).read_text())["path"] == path
        assert "mean 155" in _log(out / folders["a/b.ijm"])
        assert "the other activity" in _log(out / folders["a__b.ijm"])

    (course / "a" / "b.ijm").write_text(RAMP.format(200))  # only a/b.ijm changes
    code, edited = _regress(course, tmp_path / "edited", "--baseline", tmp_path / "base")
    by = _by_path(edited)
    assert code == 1 and by["a/b.ijm"]["class"] == "changed" and by["a__b.ijm"]["class"] == "passed"
    assert "Log line 1: 'mean 155.3906' -> 'mean 55.7812'" in by["a/b.ijm"]["changes"]


def test_a_baseline_recorded_with_shared_folders_is_not_compared_with_the_wrong_run(tmp_path):
    """A baseline written before folder names were unique: its folder ``a__b.ijm`` holds one of
    the two activities' runs; the other is said to be not comparable (changed), never passed."""
    course = tmp_path / "course"
    (course / "a").mkdir(parents=True)
    (course / "a" / "b.ijm").write_text(RAMP.format(100))
    (course / "a__b.ijm").write_text('print("the other activity");\n')
    code, base = _regress(course, tmp_path / "base")
    assert code == 0
    # as the earlier naming left it: one folder a__b.ijm (the last run's), no "folder" in the report
    report = json.loads((tmp_path / "base" / "regress.json").read_text())
    own = {a["path"]: a.pop("folder") for a in report["activities"]}
    (tmp_path / "base" / own["a__b.ijm"]).rename(tmp_path / "base" / "a__b.ijm")
    (tmp_path / "base" / "regress.json").write_text(json.dumps(report))
    code, today = _regress(course, tmp_path / "today", "--baseline", tmp_path / "base")
    by = _by_path(today)
    assert code == 1 and by["a__b.ijm"]["class"] == "passed"
    assert by["a/b.ijm"]["class"] == "changed"
    assert "holds the run of a__b.ijm, not of a/b.ijm" in by["a/b.ijm"]["message"]


# ------------------------------------------------------------------ gone, and Markdown names
def test_old_markdown_block_names_map_to_block_numbers():
    from fijirun.regress.discover import renamed_blocks

    assert renamed_blocks(["p.md:30", "x.ijm", "p.md:7", "q/r.MD:4", "notes.txt:3"]) == {
        "p.md:7": "p.md#1", "p.md:30": "p.md#2", "q/r.MD:4": "q/r.MD#1"}


def test_an_activity_gone_since_the_baseline_is_a_change(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "kept.ijm").write_text('print("kept");\n')
    (course / "extra.ijm").write_text('print("extra");\n')
    code, base = _regress(course, tmp_path / "base")
    assert code == 0
    (course / "extra.ijm").unlink()
    code, now = _regress(course, tmp_path / "now", "--baseline", tmp_path / "base", "--junit", tmp_path / "now.xml",
                         "--html", tmp_path / "now.html")
    by = _by_path(now)
    assert by["extra.ijm"]["class"] == "removed" and by["extra.ijm"]["baseline"] == "passed"
    assert by["extra.ijm"]["message"] == "gone: in the baseline (passed), not in the course now"
    assert by["kept.ijm"]["class"] == "passed" and now["counts"]["removed"] == 1 and code == 1
    cases = {c.get("name"): c for c in ET.parse(tmp_path / "now.xml").getroot().iter("testcase")}
    assert cases["extra.ijm"].find("failure").get("type") == "removed"
    page = (tmp_path / "now.html").read_text()
    assert '<div class="path">extra.ijm</div>' in page and '<td class="cls">removed</td>' in page
    # the terminal table and GitHub annotations say it too
    code, stdout, _ = run_cli("regress", course, "--output", tmp_path / "table", "--baseline", tmp_path / "base",
                              "--annotations", "github", timeout=180)
    assert code == 1 and "1 activities of the baseline are gone" in " ".join(stdout.split())  # wrapped
    assert "::error file=extra.ijm,title=fijirun regress%3A removed::gone: in the baseline (passed)" in stdout
    # a baseline's removed activity is no run: once accepted, it is not reported again
    code, _ = _regress(course, tmp_path / "now", "--baseline", tmp_path / "base", "--update-baseline")
    assert code == 1 and "extra.ijm" in (tmp_path / "base" / "regress.json").read_text()
    code, after = _regress(course, tmp_path / "after", "--baseline", tmp_path / "base")
    assert code == 0 and [a["path"] for a in after["activities"]] == ["kept.ijm"]


def test_a_markdown_block_keeps_its_name_when_text_moves_around_it(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    page = course / "lesson.md"
    page.write_text(f"# T\n\n```ijm\n{RAMP.format(100)}```\n")
    code, base = _regress(course, tmp_path / "base", "--markdown")
    assert code == 0
    # a line of text above the block, and its threshold changed: the same block, changed
    page.write_text(f"# T\n\nTry another threshold.\n\n```ijm\n{RAMP.format(200)}```\n")
    code, now = _regress(course, tmp_path / "now", "--markdown", "--baseline", tmp_path / "base")
    (block,) = now["activities"]
    assert block["class"] == "changed" and block["baseline"] == "passed", block
    assert code == 1
    assert block["path"] == "lesson.md#1" and block["block_line"] == 5
    assert "Log line 1: 'mean 155.3906' -> 'mean 55.7812'" in block["changes"]
    code, stdout, _ = run_cli("regress", course, "--output", tmp_path / "table", "--markdown",
                              "--baseline", tmp_path / "base", "--annotations", "github", timeout=180)
    assert code == 1 and "::error file=lesson.md,line=5,title=fijirun regress%3A changed::" in stdout
    # text moved, code as in the baseline: unchanged
    page.write_text(f"# T\n\nTry another threshold.\n\n```ijm\n{RAMP.format(100)}```\n\nThe end.\n")
    code, moved = _regress(course, tmp_path / "moved", "--markdown", "--baseline", tmp_path / "base")
    assert code == 0 and [(a["path"], a["class"]) for a in moved["activities"]] == [("lesson.md#1", "passed")]
    # without --markdown, the blocks are not run: gone, and said why
    (course / "x.ijm").write_text("print(1);\n")
    code, plain = _regress(course, tmp_path / "plain", "--baseline", tmp_path / "base")
    assert code == 1 and _by_path(plain)["lesson.md#1"]["message"] == (
        "gone: in the baseline (passed), not in the course now (Markdown code blocks run with --markdown)")


def test_a_baseline_with_markdown_blocks_named_by_line_still_compares(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "lesson.md").write_text(f"# T\n\n```ijm\n{RAMP.format(100)}```\n\ntext\n\n```ijm\nprint(2);\n```\n")
    code, base = _regress(course, tmp_path / "base", "--markdown")
    assert code == 0
    # as blocks were named before: page.md:LINE, folder page.md_LLINE, no "folder" in the report
    report = json.loads((tmp_path / "base" / "regress.json").read_text())
    for a, line in zip(report["activities"], (3, 11)):
        old = f"lesson.md:{line}"
        (tmp_path / "base" / a.pop("folder")).rename(tmp_path / "base" / activity_folder(old))
        record = tmp_path / "base" / activity_folder(old) / ACTIVITY_RECORD
        record.write_text(json.dumps(dict(json.loads(record.read_text()), path=old)))
        a["path"] = old
    (tmp_path / "base" / "regress.json").write_text(json.dumps(report))
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["lesson.md_L11", "lesson.md_L3", "regress.json"]
    code, now = _regress(course, tmp_path / "now", "--markdown", "--baseline", tmp_path / "base")
    assert code == 0 and {a["path"]: (a["class"], a["baseline"]) for a in now["activities"]} == {
        "lesson.md#1": ("passed", "passed"), "lesson.md#2": ("passed", "passed")}
    (course / "lesson.md").write_text(f"# T\n\n```ijm\n{RAMP.format(200)}```\n\ntext\n\n```ijm\nprint(2);\n```\n")
    code, now = _regress(course, tmp_path / "now2", "--markdown", "--baseline", tmp_path / "base")
    assert code == 1 and [a["class"] for a in now["activities"]] == ["changed", "passed"]


def test_a_configuration_naming_a_markdown_block_by_line_is_refused(tmp_path):
    """A setting for ``lesson.md:5`` would match nothing now: refused, never silently lost."""
    from fijirun.regress.config import ConfigError, load_config

    config = tmp_path / "fijirun.toml"
    config.write_text('[activities."day1/lesson.md:5"]\nskip = "needs a GPU"\n')
    with pytest.raises(ConfigError, match=r"activities\.'day1/lesson\.md:5': Markdown blocks are named by number "
                                          r"now, not by line: 'day1/lesson\.md#1' is the page's first"):
        load_config(tmp_path, config)
    config.write_text('[activities."day1/lesson.md#2"]\nskip = "needs a GPU"\n[activities."day2/*.md"]\n'
                      'xfail = "broken"\n')
    settings = load_config(tmp_path, config)
    assert settings.for_activity("day1/lesson.md#2").skip == "needs a GPU"
    assert settings.for_activity("day1/lesson.md#1").skip is None
    assert settings.for_activity("day2/page.md#3").xfail == "broken"


def test_an_activity_that_passed_and_now_cannot_run_is_a_change(tmp_path):
    """It passed in the baseline and now a plugin it calls is missing: a change (exit 1), unless xfail."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "kept.ijm").write_text('print("kept");\n')
    (course / "plugin.ijm").write_text('print("no plugin yet");\n')
    (course / "known.ijm").write_text('print("known");\n')
    code, base = _regress(course, tmp_path / "base")
    assert code == 0 and {a["class"] for a in base["activities"]} == {"passed"}
    (course / "plugin.ijm").write_text('run("Morphological Filters", "operation=Opening element=Disk radius=2");\n')
    (course / "known.ijm").write_text('run("Morphological Filters", "operation=Opening element=Disk radius=2");\n')
    (course / "fijirun.toml").write_text('[activities."known.ijm"]\nxfail = "needs MorphoLibJ"\n')
    code, now = _regress(course, tmp_path / "now", "--baseline", tmp_path / "base")
    by = _by_path(now)
    assert by["plugin.ijm"]["class"] == "changed" and by["plugin.ijm"]["baseline"] == "passed"
    assert by["plugin.ijm"]["changes"] == ["class: passed -> needs-plugin"]
    assert by["plugin.ijm"]["message"].startswith("needs-plugin now, passed in the baseline: ")
    assert by["plugin.ijm"]["plugin"] == "Morphological Filters"
    # the user's own word (xfail) stands: a known failure, not a change
    assert by["known.ijm"]["class"] == "xfail" and by["known.ijm"]["expected"] == "needs-plugin"
    assert by["kept.ijm"]["class"] == "passed" and now["counts"]["changed"] == 1 and code == 1
