"""One test per way a run used to get the wrong verdict (issue: trustworthy verdicts).

Each asserts the verdict, the error's type, message and line, and what the
run left (run.json); the differential tests over a whole corpus are in
test_verdicts.py.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import fijirun

from conftest import DATA, RANDOMSHAPES, run_cli_json


def test_system_exit_is_a_failed_run_with_its_record(tmp_path):
    script = tmp_path / "quits.py"
    script.write_text("from ij import IJ\nIJ.log('before')\nfrom java.lang import System\nSystem.exit(3)\n")
    code, obj, err = run_cli_json("run", script, "-o", tmp_path / "out")
    assert code == 1, err
    assert obj["status"] == "failed"
    assert obj["error"]["type"] == "RunError"
    assert obj["error"]["message"].endswith("the script called System.exit(3)")
    assert obj["error"]["line"] == 4
    record = json.loads((tmp_path / "out" / "run.failed.json").read_text())  # beside a good run's run.json
    assert record["status"] == "failed" and "System.exit(3)" in record["error"]["message"]
    assert not (tmp_path / "out" / "run.json").exists()


@pytest.mark.parametrize("call, says", [("System.exit(0)", "System.exit(0)"),
                                        ("Runtime.getRuntime().halt(2)", "Runtime.halt(2)")])
def test_the_session_survives_system_exit(ij_session, call, says):
    failed = ij_session.run_code(f"from java.lang import System, Runtime\n{call}\n", "jython",
                                 raise_on_error=False)
    assert type(failed.error) is fijirun.RunError
    assert failed.error.message.endswith(f"the script called {says}") and failed.error.line == 2
    after = ij_session.run_code('print("still here");', "ijm")
    assert after.log.strip() == "still here"


def test_wait_for_user_in_a_macro_is_a_dialog_error_at_once(ij_session):
    result = ij_session.run_code('print("a");\nwaitForUser("Draw a ROI, then OK");\nprint("b");\n', "ijm",
                                 timeout=60, raise_on_error=False)
    assert type(result.error) is fijirun.DialogError
    assert result.error.line == 2 and "Draw a ROI" in result.error.message
    assert result.seconds < 30  # not the 60 s timeout: the dialog was answered by an error


def test_truncated_tiff_fails_instead_of_a_partial_analysis(ij_session, tmp_path):
    whole = RANDOMSHAPES.read_bytes()
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(whole[: len(whole) * 2 // 3])
    macro = 'open("{}");\nrun("Analyze Particles...", "display clear");\nprint(nResults);\n'
    good = ij_session.run_code(macro.format(RANDOMSHAPES), "ijm")
    assert int(good.log.strip()) > 0
    bad = ij_session.run_code(macro.format(truncated), "ijm", raise_on_error=False)
    assert type(bad.error) is fijirun.DamagedImageError
    assert str(truncated) in bad.error.message and "truncated" in bad.error.message


def test_a_runtime_error_in_a_function_names_the_failing_statement(ij_session):
    code = ("function outer(x) {\n"        # 1
            "  return inner(x) + 1;\n"     # 2
            "}\n"                          # 3
            "function inner(y) {\n"        # 4
            "  a = 1;\n"                   # 5
            "  b = y + undefinedThing;\n"  # 6
            "  return b;\n"                # 7
            "}\n"                          # 8
            "print(outer(2));\n")          # 9
    result = ij_session.run_code(code, "ijm", raise_on_error=False)
    assert type(result.error) is fijirun.MacroError
    assert result.error.line == 6
    assert result.error.source.strip() == "b = y + undefinedThing;"


def test_an_undefined_variable_first_is_an_error_on_line_1(ij_session):
    result = ij_session.run_code("number1;\nprint(2);\n", "ijm", raise_on_error=False)
    assert type(result.error) is fijirun.MacroError
    assert result.error.line == 1 and "Undefined" in result.error.message


def test_two_sessions_in_one_process_keep_their_own_data_dir(tmp_path):
    from PIL import Image

    # the second session's data folder has a blobs.gif of its own (10x7): a session serves
    # Open Samples from its folder first (the shipped samples only when it lacks the file)
    other = tmp_path / "other-data"
    other.mkdir()
    Image.fromarray(np.zeros((7, 10), np.uint8)).save(other / "blobs.gif")
    first = fijirun.Session(data_dir=DATA, timeout=60)
    second = fijirun.Session(data_dir=other, timeout=60)
    first.start()
    second.start()  # used to overwrite the first session's data directory
    ok = first.run_code('run("Blobs (25K)");\nprint(getWidth());\n', "ijm")
    assert ok.log.strip() == "256"
    theirs = second.run_code('run("Blobs (25K)");\nprint(getWidth() + "x" + getHeight());\n', "ijm")
    assert theirs.log.strip() == "10x7"
    again = first.run_code('run("Blobs (25K)");\nprint(getHeight());\n', "ijm")
    assert again.log.strip() == "254"


def test_late_events_of_a_finished_run_fail_no_other_run(ij_session):
    # a thread the script leaves behind reports an error and prints an exception
    # after the script ended; the next runs must not take the blame
    leaves_thread = (
        "from java.lang import Thread, Runnable\n"
        "from ij import IJ\n"
        "class Late(Runnable):\n"
        "    def run(self):\n"
        "        Thread.sleep(2500)\n"
        "        IJ.error('late error from a finished run')\n"
        "        from java.lang import RuntimeException\n"
        "        RuntimeException('late exception').printStackTrace()\n"
        "t = Thread(Late())\n"
        "t.setDaemon(True)\n"
        "t.start()\n"
    )
    first = ij_session.run_code(leaves_thread, "jython", timeout=60, raise_on_error=False)
    if first.ok:
        assert "still running" in first.log  # the settled run names the thread it left
    else:
        # on a loaded machine the settling waits longer (2 s × the load per processor) than
        # the thread sleeps: its error then arrives while the run settles, and is the run's own
        assert "late error from a finished run" in str(first.error), first.error
    for _ in range(4):  # spans the late events
        later = ij_session.run_code('wait(1000);\nprint("fine");\n', "ijm")
        assert later.ok and later.log.splitlines()[0] == "fine"


def test_each_run_starts_clean_after_one_that_left_state(ij_session):
    ij_session.run_code('setBatchMode(true);\nnewImage("a", "8-bit", 10, 10, 1);\n'
                        'newImage("b", "8-bit", 10, 10, 1);\nsetOption("BlackBackground", false);\n', "ijm")
    ij_session.run_code("from ij import IJ\nIJ.createImage('w', '8-bit', 20, 20, 1).show()\n", "jython")
    result = ij_session.run_code("from ij import Prefs, WindowManager\n"
                                 "print(WindowManager.getImageCount(), Prefs.blackBackground)\n", "jython")
    assert result.log.strip() == "(0, True)"  # no image left, ImageJ's default binary option back


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf"])
def test_bom_is_ignored_with_lines_kept(tmp_path, bom):
    script = tmp_path / "bom.ijm"
    script.write_bytes(bom + b'print("one");\nundefinedVar;\n')
    code, obj, err = run_cli_json("run", script)
    assert code == 1
    assert obj["error"]["type"] == "MacroError" and obj["error"]["line"] == 2


def test_copy_of_course_image_is_not_damaged(ij_session, tmp_path):
    copy = tmp_path / "copy.tif"
    shutil.copy(RANDOMSHAPES, copy)
    result = ij_session.run_code(f'open("{copy}");\nprint(getWidth());\n', "ijm")
    assert result.ok and result.log.strip() == "200"


def test_a_jython_thread_that_survives_its_timeout_is_reported(ij_session):
    from fijirun.backends.process import script_still_running

    # catches the ThreadDeath Thread.stop throws into it, and carries on
    code = ("from java.lang import Thread\nwhile True:\n    try:\n        Thread.sleep(50)\n"
            "    except:\n        pass\n")
    result = ij_session.run_code(code, "jython", timeout=3, raise_on_error=False)
    assert type(result.error) is fijirun.ScriptTimeout
    assert "could not be stopped" in result.log and "fijirun-jython" in result.log
    assert script_still_running()  # what batch and regress workers ask: replace this JVM
    after = ij_session.run_code('print("next");', "ijm")  # the session itself goes on
    assert after.log.splitlines()[0] == "next"
