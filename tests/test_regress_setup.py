"""fijirun regress refuses a set-up it cannot honour before any activity runs, in one line.

Found by a hostile review: a baseline inside the output folder got nested copies of itself
and the next ``--update-baseline`` refused only after the whole course ran; a person's note
in the baseline was found only after the full run.
"""

from __future__ import annotations

import json

from conftest import run_cli


def _course(tmp_path):
    course = tmp_path / "course"
    course.mkdir()
    (course / "a.ijm").write_text('print("a");\n')
    return course


def _refused(args, *expect):
    code, stdout, stderr = run_cli("regress", *args, "--json", timeout=120)
    assert code == 2, (stdout, stderr)
    error = json.loads(stdout)["error"]
    assert error["type"] == "BaselineError" and all(e in error["message"] for e in expect), error
    assert stderr.strip().splitlines() == [f"fijirun: regress: {error['message']}"]
    return error


def test_a_baseline_and_an_output_folder_inside_one_another_are_refused_before_running(tmp_path):
    course = _course(tmp_path)
    nest = tmp_path / "nest"
    code, _, stderr = run_cli("regress", course, "-o", nest / "base", timeout=120)
    assert code == 0, stderr
    before = sorted(p.relative_to(nest).as_posix() for p in nest.rglob("*"))
    for _ in range(2):  # was: a nested copy nest/base/base, then exit 2 after the whole course ran
        _refused([course, "-o", nest, "--baseline", nest / "base", "--update-baseline"],
                 f"the baseline {nest / 'base'} is inside this run's output folder {nest}")
    _refused([course, "-o", nest, "--baseline", nest / "base"], "is inside this run's output folder")
    _refused([course, "-o", nest / "base" / "today", "--baseline", nest / "base"],
             f"this run's output folder {nest / 'base' / 'today'} is inside the baseline {nest / 'base'}")
    assert sorted(p.relative_to(nest).as_posix() for p in nest.rglob("*")) == before  # nothing written
    assert not (nest / "base" / "base").exists() and not (nest / "regress.json").exists()


def test_a_baseline_that_cannot_be_updated_is_refused_before_running(tmp_path):
    course = _course(tmp_path)
    base = tmp_path / "base"
    code, _, stderr = run_cli("regress", course, "-o", base, timeout=120)
    assert code == 0, stderr
    note = base / "a.ijm" / "my notes.txt"
    note.write_text("keep me")
    _refused([course, "-o", tmp_path / "today", "--baseline", base, "--update-baseline"],
             f"{note} was not written by fijirun")
    assert not (tmp_path / "today").exists()  # no activity ran
    assert note.read_text() == "keep me"


def test_a_configuration_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    course = _course(tmp_path)
    config = course / "fijirun.toml"
    for text in (b"\xff\xfe[regress]\n", b'[regress]\ntimeout = "\xe9"\n'):
        config.write_bytes(text)
        code, stdout, stderr = run_cli("regress", course, "-o", tmp_path / "out", "--json", timeout=120)
        error = json.loads(stdout)["error"]
        assert code == 2 and error["type"] == "ConfigError", (stdout, stderr)
        assert error["message"].startswith(f"{config}: not valid TOML: not UTF-8 text (byte 0x")
        assert stderr.strip().splitlines() == [f"fijirun: regress: {error['message']}"]
        assert not (tmp_path / "out").exists()


def test_a_large_script_runs_without_dasks_large_graph_warning(tmp_path):
    """An 11 MB macro (one long comment): Dask printed its "Sending large graph" warning; the
    script now reaches its worker in a file, and runs as written."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "big.ijm").write_text('print("big é");\n// ' + "x" * (11 << 20) + "\n", encoding="utf-8")
    (course / "small.ijm").write_text('print("small");\n')
    code, stdout, stderr = run_cli("regress", course, "-o", tmp_path / "out", "--json", timeout=180)
    report = json.loads(stdout)
    assert code == 0 and [a["class"] for a in report["activities"]] == ["passed", "passed"], report
    assert "large graph" not in stderr and "warning" not in stderr, stderr
    run = json.loads((tmp_path / "out" / "big.ijm" / "run.json").read_text())
    assert (tmp_path / "out" / "big.ijm" / run["state"]["log"]["file"]).read_text().strip() == "big é"


def test_parameters_without_a_default_get_what_fijis_dialog_starts_from():
    """A ``#@`` parameter with no default and no configured value: the first choice, the
    number 0 moved into min..max (the run now refuses values outside them, so the old
    answers "" and 0 failed such activities)."""
    from fijirun.regress.inputs import answer_parameters

    text = ('#@ String (choices={"b","a"}) mode\n#@ Integer (min=5, max=9) n\n'
            '#@ Double (min=-3, max=-1.5) x\n#@ Integer (min=2.5) m\n#@ Integer k\nprint(mode);\n')
    params, answers = answer_parameters(text, {}, [])
    assert params == {"mode": "b", "n": 5, "x": -1.5, "m": 3, "k": 0}
    assert {a["source"] for a in answers} == {"Fiji's dialog default"}
