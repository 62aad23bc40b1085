"""ImageJ's settings: every run starts from the same ones, and the user's preferences file is never touched.

ImageJ 1.x keeps its settings in static fields (colours, line width, binary options,
conversions, the global scale, paste mode, JPEG quality) and in ``Prefs``' table: what one
script set, the next script of the same JVM saw (a hostile review: after a run that set a
global scale, the output-saving activity reported areas 100 times too small and ``check``
passed them). The guard keeps every such value before the first run and writes it back
before each run (``Settings.java``). ImageJ also read, and at ``run("Quit")`` rewrote, the
user's ``~/.imagej/IJ_Prefs.txt``; it now uses a private, empty one.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fijirun

from conftest import run_cli

PROBE = Path(__file__).parent / "activities" / "settings_probe.ijm"

# each changes one of ImageJ's settings in a way the probe sees
CHANGERS = {
    "global scale": 'newImage("x", "8-bit black", 10, 10, 1); '
                    'run("Set Scale...", "distance=10 known=1 unit=um global");',
    "colours": 'run("Colors...", "foreground=blue background=red selection=green");',
    "line width": 'run("Line Width...", "line=15");',
    "Prefs table": 'call("ij.Prefs.set", "fijirun.test.key", "v");',
    "conversions": 'setOption("ScaleConversions", false);',
    "JPEG quality": 'run("Input/Output...", "jpeg=5");',
    "paste mode": 'setPasteMode("Max");',
    "binary options": 'run("Options...", "iterations=5 count=1 black");',
}


def _probe(session):
    result = session.run(PROBE, timeout=60)
    assert result.ok, result.error
    return result.log


def test_a_setting_one_run_changed_is_not_seen_by_the_next(ij_session):
    """Probe, then each changer, then the probe again: the same Log as before any change
    (on the old guard every changer but the binary options changed the probe's Log)."""
    before = _probe(ij_session)
    assert "scale=pixels 1" in before and "jpeg=85" in before  # ImageJ's defaults, not the user's
    for what, code in CHANGERS.items():
        changed = ij_session.run_code(code + "\n" + PROBE.read_text(), "ijm", timeout=60)
        assert changed.ok, changed.error
        assert changed.log != before, f"the probe does not see {what}"
        assert _probe(ij_session) == before, f"{what} leaked into the next run"
    for code in CHANGERS.values():  # all at once
        assert ij_session.run_code(code, "ijm", timeout=60).ok
    assert _probe(ij_session) == before


def test_the_output_saving_activity_after_each_change_gives_what_it_gave_first(ij_session, tmp_path):
    """The review's case (a global scale: areas 100 times too small) and the results table
    that lost its header row after ``run("Input/Output...", "jpeg=5")`` (the system Results
    table kept the setting through its reset)."""
    image = fijirun.data.path("xy_8bit_binary_randomshapes.tif")
    activity = Path(__file__).parent.parent / "fiji_macros" / "output_saving.ijm"
    first = ij_session.run(activity, input=image, output_dir=tmp_path / "first")
    assert first.table["Area"].iloc[0] == 865  # pixels, not µm²
    for i, (what, code) in enumerate(CHANGERS.items()):
        assert ij_session.run_code(code, "ijm").ok
        again = ij_session.run(activity, input=image, output_dir=tmp_path / str(i))
        assert again.table.equals(first.table), what
        saved = sorted(p.name for p in again.outputs)
        assert [(tmp_path / str(i) / n).read_bytes() for n in saved if n.endswith((".csv", ".txt"))] == \
            [(tmp_path / "first" / n).read_bytes() for n in saved if n.endswith((".csv", ".txt"))], what


_USER_PREFS = """
import json, sys
import fijirun
probe, home = sys.argv[1:3]
with fijirun.Session(jvm_options=["-Duser.home=" + home]) as s:
    seen = s.run(probe, timeout=60).log
    quit = s.run_code('run("Colors...", "foreground=green background=white selection=yellow"); run("Quit");', "ijm")
    print(json.dumps({"seen": seen, "quit_ok": quit.ok}))
"""


def test_the_users_preferences_are_neither_read_nor_written(tmp_path):
    """A user's IJ_Prefs.txt with a blue foreground: the probe sees ImageJ's default white,
    and a script's run("Quit") (which saves ImageJ's preferences) leaves the file as it was
    (the old code read it, and rewrote it with the course's colours)."""
    home = tmp_path / "home"
    prefs = home / ".imagej" / "IJ_Prefs.txt"
    prefs.parent.mkdir(parents=True)
    prefs.write_text("fcolor=0000ff\nbcolor=ff0000\njpeg=10\n")
    before = prefs.read_bytes(), prefs.stat().st_mtime_ns
    legacy = home / "IJ_Prefs.txt"  # ImageJ reads this one when its own is missing, then deletes it
    legacy.write_text("jpeg=20\n")
    proc = subprocess.run([sys.executable, "-c", _USER_PREFS, str(PROBE), str(home)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "fg=java.awt.Color[r=255,g=255,b=255]" in seen["seen"] and "jpeg=85" in seen["seen"], seen
    assert (prefs.read_bytes(), prefs.stat().st_mtime_ns) == before
    assert legacy.read_text() == "jpeg=20\n"
    assert [p.name for p in prefs.parent.iterdir()] == ["IJ_Prefs.txt"]


def test_every_setting_of_imagej_is_kept(ij_session):
    """The guard keeps the static settings of every class of ImageJ's jar; none of their
    classes failed to initialise (a class that did would be broken for every run)."""
    kept = [str(x) for x in ij_session.backend.runtime.RunGuard.settingsKept()]
    assert int(kept[0]) > 500, kept[0]
    assert kept[1:] == []


@pytest.mark.parametrize("language", ["ijm"])
def test_settings_are_restored_when_a_run_fails(ij_session, language):
    """A run that changed a setting and then failed: the next run still starts anew."""
    before = _probe(ij_session)
    failed = ij_session.run_code(CHANGERS["colours"] + "\nthis_is_not_a_function();", language, timeout=60,
                                 raise_on_error=False)
    assert not failed.ok
    assert _probe(ij_session) == before


_JYTHON_PROBE = """
import sys, __builtin__
print('helper_mod' in sys.modules, sys.path[0], sys.getrecursionlimit(), hasattr(__builtin__, 'leaked'))
try:
    import helper_mod
    print('imported ' + helper_mod.WHO)
except ImportError:
    print('no helper_mod')
"""


def test_a_jython_run_does_not_leave_its_path_modules_or_builtins_to_the_next(ij_session, tmp_path):
    """Jython's one system state is shared by every run: a script's sys.path entry, the module
    it imported from there (another activity's ``import helper_mod`` got it), a name added to
    __builtin__ and the recursion limit reached the next script. They are put back."""
    (tmp_path / "helper_mod.py").write_text('WHO = "the first activity"\n')
    before = ij_session.run_code(_JYTHON_PROBE, "jython").log
    assert "no helper_mod" in before
    leaking = (f"import sys, __builtin__\nsys.path.insert(0, {str(tmp_path)!r})\nimport helper_mod\n"
               "__builtin__.leaked = 1\nsys.setrecursionlimit(50)\nimport os, re\nprint(helper_mod.WHO)\n")
    assert ij_session.run_code(leaking, "jython").log == "the first activity\n"
    assert ij_session.run_code(_JYTHON_PROBE, "jython").log == before


_KEPT = """
import fijirun
with fijirun.Session() as s:
    print(list(map(str, s.backend.runtime.RunGuard.settingsKept())))
"""


def test_a_start_that_reads_the_list_of_settings_classes_keeps_the_same_settings(tmp_path):
    """The first start scans every class of ImageJ's jar and lists those with settings beside
    the compiled guard; later starts load only those (a third): the same fields are kept."""
    env = dict(os.environ, FIJIRUN_CACHE=str(tmp_path / "cache"), FIJIRUN_CLASS_ARCHIVE="off")

    def kept():
        proc = subprocess.run([sys.executable, "-c", _KEPT], capture_output=True, text=True, env=env,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout.strip().splitlines()[-1]

    scanned = kept()
    lists = list((tmp_path / "cache").glob("guard-*/settings-classes-*.txt"))
    assert len(lists) == 1 and 100 < len(lists[0].read_text().splitlines()) < 400
    assert kept() == scanned and int(ast.literal_eval(scanned)[0]) > 500


# ------------------------------------------------------------------ text windows
FRONT_TABLE = """#@ File outputDir
newImage("b", "8-bit black", 64, 64, 1);
makeRectangle(5, 5, 10, 10); run("Set...", "value=255");
makeRectangle(30, 30, 8, 8); run("Set...", "value=255");
run("Select None");
setThreshold(128, 255);
run("Analyze Particles...", "display clear summarize");
print("analysed: " + nResults + " particles");
saveAs("Results", outputDir + File.separator + "results.csv");
selectWindow("Summary");
saveAs("Results", outputDir + File.separator + "summary.csv");
"""


def test_text_windows_start_as_in_a_fresh_imagej(ij_session, tmp_path):
    """saveAs("Results") saves the front text window's table, and the front window is the last
    one made: a Results or Log window kept open from an earlier run made the new Summary the
    front window, so a warm run saved the Summary as results.csv and then failed "No window
    with the title Summary" where a fresh process saved the Results table and passed."""
    script = tmp_path / "front_table.ijm"
    script.write_text(FRONT_TABLE)
    code, stdout, stderr = run_cli("run", script, "--output", tmp_path / "fresh")
    assert code == 0, stdout + stderr
    fresh = {name: (tmp_path / "fresh" / name).read_bytes() for name in ("results.csv", "summary.csv")}
    assert fresh["results.csv"].startswith(b" ,Area,Mean,Min,Max\n1,100,")
    assert fresh["summary.csv"].startswith(b"Slice,Count,Total Area")
    ij_session.run_code('print("an earlier run printed");\nnewImage("x", "8-bit black", 9, 9, 1);\n'
                        'run("Measure");', "ijm", timeout=60)
    for i in range(3):
        out = tmp_path / f"warm{i}"
        ij_session.run(script, output_dir=out)
        assert {name: (out / name).read_bytes() for name in fresh} == fresh, f"warm run {i}"
