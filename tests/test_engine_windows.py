"""Windows a script shows, and ImageJ's front window, on fijirun's display (no window manager).

ImageJ makes each new window its front window itself, at once; a macro's
``Table.set`` without a title writes into the front window's table. The window
system's own activation of a window used to arrive later, and could make an
older window the front one again (the Results table got the new table's
values in 7 % of fresh runs on two loaded cores; ``scripts/stress_windows.py``
counts it over many fresh processes). The guard keeps windows from asking for
focus while they are shown.
"""

from __future__ import annotations

import json

import pytest

from conftest import ACTIVITIES

TABLES = ACTIVITIES / "table_set_untitled.ijm"


@pytest.fixture
def table_run(ij_session):
    result = ij_session.run(TABLES)
    assert result.ok, result.error
    return result


def test_shown_windows_never_take_the_window_systems_focus(table_run):
    """What made the front window change behind ImageJ's back: the window system's activation."""
    from jpype import JClass

    focus = JClass("java.awt.KeyboardFocusManager").getCurrentKeyboardFocusManager()
    frames = {str(f.getTitle()): f for f in JClass("ij.WindowManager").getNonImageWindows()}
    assert {"Results", "Counts"} <= set(frames)
    # an image window an earlier run showed may hold it (image windows still ask), no text window
    for window in (focus.getActiveWindow(), focus.getFocusedWindow()):
        assert window is None or not isinstance(window, JClass("ij.text.TextWindow")), window.getTitle()
    # once open, a window asks for focus again when brought to the front (selectWindow)
    assert all(bool(f.isAutoRequestFocus()) for f in frames.values())


def test_a_table_set_without_title_goes_to_the_table_just_created(ij_session, tmp_path):
    out = tmp_path / "out"
    result = ij_session.run(TABLES, output_dir=out)
    assert result.ok, result.error
    state = json.loads((out / "run.json").read_text())["state"]
    tables = {t["title"]: t for t in state["tables"]}
    assert tables["Counts"]["rows"] == 2 and tables["Counts"]["columns"] == ["n"]
    assert "n" not in tables["Results"]["columns"]
    assert (out / tables["Counts"]["file"]).read_text().split()[-2:] == ["5", "7"]


def test_image_windows_still_take_focus_when_shown(ij_session):
    """A macro's show() of an image waits (up to 2 s) for its window's activation: image
    windows must still ask for it, or every image shown outside batch mode costs 2 s."""
    from jpype import JClass

    result = ij_session.run_code('setBatchMode(false);\nnewImage("shown", "8-bit ramp", 32, 32, 1);\n'
                                 'newImage("shown last", "8-bit ramp", 32, 32, 1);\n', "ijm")
    assert result.ok, result.error
    active = JClass("java.awt.KeyboardFocusManager").getCurrentKeyboardFocusManager().getActiveWindow()
    assert active is not None and str(active.getTitle()) == "shown last"
