"""Errors and hangs become exceptions with ImageJ's message and the script's line."""

import os
import stat
import time

import numpy as np
import pytest

import fijirun

from conftest import ACTIVITIES, MACROS, RANDOMSHAPES, run_cli_json


def test_syntax_error_line_7_via_cli():
    start = time.monotonic()
    code, out, err = run_cli_json("run", ACTIVITIES / "syntax_error_line7.ijm")
    assert code != 0
    assert time.monotonic() - start < 30
    assert out["status"] == "failed"
    assert out["error"]["type"] == "MacroError"
    assert out["error"]["line"] == 7
    assert out["error"]["source"] == "c = (a + ;"
    assert "line 7" in err


def test_unknown_command_names_it_no_hang(ij_session):
    start = time.monotonic()
    with pytest.raises(fijirun.UnrecognizedCommandError) as info:
        ij_session.run(ACTIVITIES / "unknown_command.ijm")
    assert time.monotonic() - start < 10
    assert info.value.command == "Morphological Segmentation Deluxe"
    assert info.value.line == 2
    assert "needs plugin: Morphological Segmentation Deluxe" in str(info.value)
    assert "not reached" not in info.value.log


def test_unknown_command_in_jython(ij_session):
    code = ('from ij import IJ\nimp = IJ.createImage("x", "8-bit black", 8, 8, 1)\n'
            'IJ.run(imp, "No Such Command", "")\nprint("not reached")\n')
    with pytest.raises(fijirun.UnrecognizedCommandError) as info:
        ij_session.run_code(code, "jython")
    assert info.value.command == "No Such Command" and info.value.line == 3
    assert "not reached" not in info.value.log


@pytest.mark.parametrize("name", ["endless.ijm", "endless.py"])
def test_endless_loop_stopped_by_timeout_cli(name):
    start = time.monotonic()
    code, out, _ = run_cli_json("run", ACTIVITIES / name, "--timeout", "5")
    elapsed = time.monotonic() - start
    assert code != 0
    assert out["error"]["type"] == "ScriptTimeout"
    assert elapsed < 30


def test_session_works_after_timeout_and_errors(ij_session, tmp_path):
    with pytest.raises(fijirun.ScriptTimeout):
        ij_session.run(ACTIVITIES / "endless.py", timeout=2)
    with pytest.raises(fijirun.MacroError):
        ij_session.run(ACTIVITIES / "syntax_error_line7.ijm")
    r = ij_session.run(MACROS / "output_saving.ijm", input=RANDOMSHAPES, output_dir=tmp_path)
    assert r.ok and len(r.table) == 6


def test_every_run_starts_clean(ij_session):
    ij_session.run(ACTIVITIES / "leave_state.ijm")
    r = ij_session.run(ACTIVITIES / "state_probe.ijm")
    assert r.log.strip() == "images=0 rois=0 results=0"
    assert "left things behind" not in r.log


def test_jython_exception_with_line(ij_session):
    with pytest.raises(fijirun.JythonError) as info:
        ij_session.run(ACTIVITIES / "java_exception.py")
    assert info.value.line == 4
    assert "IndexOutOfBounds" in info.value.message


def test_missing_input_is_a_clear_error(tmp_path):
    code, out, err = run_cli_json("run", MACROS / "output_saving.ijm", "--input", tmp_path / "nope.tif",
                                  "--output", tmp_path / "out")
    assert code != 0
    assert out["error"]["type"] == "InputError"
    assert "nope.tif" in out["error"]["message"] and "no such file" in out["error"]["message"]


def test_missing_file_opened_by_macro(ij_session, tmp_path):
    code = f'open("{tmp_path}/absent.tif");\nprint("not reached");\n'
    with pytest.raises(fijirun.RunError) as info:
        ij_session.run_code(code, "ijm")
    assert info.value.line == 1
    assert "absent.tif" in info.value.message or "not found" in info.value.message.lower()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; a read-only folder is not")
def test_unwritable_output_dir_before_running_nonroot(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    code, out, _ = run_cli_json("run", MACROS / "output_saving.ijm", "--input", RANDOMSHAPES,
                                "--output", ro)
    assert code != 0 and out["error"]["type"] == "OutputDirError"


def test_unwritable_output_dir_before_running(tmp_path):
    # a path below a regular file can never be created, not even by root
    blocker = tmp_path / "file"
    blocker.write_text("x")
    start = time.monotonic()
    code, out, _ = run_cli_json("run", MACROS / "output_saving.ijm", "--input", RANDOMSHAPES,
                                "--output", blocker / "out")
    assert code != 0
    assert out["error"]["type"] == "OutputDirError"
    assert "cannot create output folder" in out["error"]["message"]
    assert out["imagej_version"] is None  # ImageJ never ran
    assert time.monotonic() - start < 30


def test_zero_particles_reports_what_was_saved(ij_session, tmp_path):
    import tifffile

    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros((64, 64), np.uint8))
    r = ij_session.run(MACROS / "output_saving.ijm", input=empty, output_dir=tmp_path / "out")
    assert r.ok
    names = sorted(p.name for p in r.outputs)
    assert "empty_rois.zip" not in names  # nothing to save: reported as not saved
    assert "empty_labels.tif" in names
    assert r.label_mask.max() == 0
    assert r.summary()["n_rois"] == 0 and r.summary()["n_results_rows"] == 0


def test_dialog_waiting_for_a_person_is_an_error(ij_session):
    with pytest.raises(fijirun.DialogError) as info:
        ij_session.run_code('n = getNumber("How many?", 5);\nprint("not reached " + n);\n', "ijm")
    assert "How many?" in str(info.value) and info.value.line == 1


def test_show_message_is_kept_and_run_goes_on(ij_session):
    r = ij_session.run_code('showMessage("Done", "all good");\nprint("after");\n', "ijm")
    assert r.messages == ["Done: all good"] and r.log.strip() == "after"


def test_exit_with_message_ends_the_macro_as_imagej_does(ij_session):
    # exit("...") is how macros end early: ImageJ's -batch prints the message, no error
    r = ij_session.run_code('print("a");\nif (nImages == 0) exit("Please open an image");\nprint("x");\n', "ijm")
    assert r.ok and r.log.strip() == "a"
    assert r.messages == ["exit: Please open an image"]


def test_failed_run_discards_partial_outputs(ij_session, tmp_path):
    code = ('#@ File (style="directory") outputDir\nnewImage("a", "8-bit black", 8, 8, 1);\n'
            'saveAs("Tiff", outputDir + "/a.tif");\nrun("No Such Thing");\n')
    with pytest.raises(fijirun.UnrecognizedCommandError) as info:
        ij_session.run_code(code, "ijm", output_dir=tmp_path)
    assert info.value.partial_outputs == ["a.tif"]
    assert not (tmp_path / "a.tif").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.failed.json", "run.failed.log"]


def test_never_overwrites_a_foreign_file(ij_session, tmp_path):
    stem = RANDOMSHAPES.stem
    mine = tmp_path / f"{stem}_results.txt"
    mine.write_text("my own notes\n")
    with pytest.raises(fijirun.OutputExistsError) as info:
        ij_session.run(MACROS / "output_saving.ijm", input=RANDOMSHAPES, output_dir=tmp_path)
    assert mine.read_text() == "my own notes\n"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("fijirun-unsaved-")]
    assert len(kept) == 1 and (kept[0] / f"{stem}_results.txt").exists()
    assert str(kept[0]) in str(info.value)
    # its own outputs, on the other hand, are replaced run after run
    out = tmp_path / "again"
    for _ in range(2):
        r = ij_session.run(MACROS / "output_saving.ijm", input=RANDOMSHAPES, output_dir=out)
        assert r.ok and len(r.outputs) == 5


def test_macro_error_dialogs_never_hang_a_run(ij_session):
    # A macro error shows a modal dialog that the guard closes at once. Closed before
    # the macro's thread entered the dialog's event loop, it left that thread waiting
    # for ever (1 run in ~165 on a loaded machine): every run must end with its error.
    cases = [('print("one");\nundefinedVar;\n', fijirun.MacroError, 2),
             ('newImage("a", "8-bit", 8, 8, 1);\nrun("No Such Thing");\n', fijirun.UnrecognizedCommandError, 2)]
    slow = []
    for i in range(400):
        code, kind, line = cases[i % 2]
        t = time.perf_counter()
        r = ij_session.run_code(code, "ijm", timeout=60, raise_on_error=False)
        assert type(r.error) is kind and r.error.line == line, (i, r.error)
        slow.append(time.perf_counter() - t)
    assert max(slow) < 30, max(slow)


def test_a_frame_shown_by_the_script_thread_does_not_take_an_error_dialog_of_another(ij_session):
    # The script thread is held inside Window.show (a Frame whose addNotify is slow, as
    # a macro's print opening the Log window is under load) while a command thread shows
    # ImageJ's "Unrecognized command" error. The dialog belongs to the command thread:
    # its error, not a "dialog waits for a person" blamed on the frame's line.
    code = '''from ij import IJ
from java.awt import Frame
import time
class SlowFrame(Frame):
    def addNotify(self):
        time.sleep(3)
        Frame.addNotify(self)
IJ.doCommand("No Such Command Here")
frame = SlowFrame("slow")
frame.setVisible(True)
frame.dispose()
print("not reached")
'''
    with pytest.raises(fijirun.UnrecognizedCommandError) as info:
        ij_session.run_code(code, "jython")
    assert info.value.command == "No Such Command Here"
    assert info.value.line not in (6, 7, 10), "the dialog was blamed on the frame"
