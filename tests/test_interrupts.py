"""Ctrl-C: SIGINT stops a running script promptly and leaves nothing behind.

Each test starts a real fijirun process (no DISPLAY: the engine starts its own
Xvfb) with a private temp folder (``TMPDIR``) and working folder, waits until
the script is really running (it writes a marker file, then loops forever),
sends SIGINT — to the process alone (``kill -INT``) or, as a terminal's Ctrl-C
does, to its whole process group — and checks: the exit status, in time; a
short message; no JVM crash log (``hs_err_pid*.log``); no ImageJ home folder
(``fijirun-imagej-*``) left in the temp folder; no Xvfb, worker or JVM process
left among the ones the run started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from batch_helpers import make_good_images
from conftest import DATA

ENDLESS_MACRO = """\
outputDir = FIXME;
File.saveString("started", outputDir + "started.txt");
while (true) {}
"""

SESSION_SCRIPT = """\
import sys
from pathlib import Path

import fijirun

marker = Path(sys.argv[1])
with fijirun.Session(data_dir=sys.argv[2]) as s:
    try:
        s.run_code('File.saveString("started", "%s");\\nwhile (true) {}\\n' % marker.as_posix(), "ijm")
    finally:
        print("FINALLY", flush=True)
print("AFTER THE SESSION", flush=True)
"""

OWN_CODE_SCRIPT = """\
import sys
from pathlib import Path

import fijirun

marker = Path(sys.argv[1])
with fijirun.Session(data_dir=sys.argv[2]) as s:
    try:
        # fijirun's own code (the warm-up's way of running) that never ends
        s.backend.runtime._private_run("ijm", 'File.saveString("started", "%s");\\nwhile (true) {}\\n'
                                       % marker.as_posix())
    finally:
        print("FINALLY", flush=True)
print("AFTER THE SESSION", flush=True)
"""

ENDLESS_JYTHON = """\
#@ File input
#@ File outputDir
# shows its image (a window on the virtual display), then never ends
import os
from ij import IJ
imp = IJ.openImage(input.getAbsolutePath())
imp.show()
f = open(os.path.join(outputDir.getAbsolutePath(), "started.txt"), "w")
f.write("started")
f.close()
n = 0
while True:
    n += 1
"""


class Watched:
    """A process started in a session of its own, and every process it starts."""

    def __init__(self, cmd, folder):
        self.tmp = folder / "tmp"  # private TMPDIR: what is left there is this run's
        self.cwd = folder / "cwd"  # a JVM writes its crash log in its working folder
        self.tmp.mkdir()
        self.cwd.mkdir()
        env = dict(os.environ, TMPDIR=str(self.tmp), FIJIRUN_DATA=str(DATA), PYTHONUNBUFFERED="1")
        env.pop("DISPLAY", None)  # the engine starts its own Xvfb
        src = Path(__file__).resolve().parent.parent / "src"
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.seen = {}  # pid -> (create_time, name) of every descendant seen

    def look(self):
        try:
            children = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return
        for c in children:
            try:
                self.seen[c.pid] = (c.create_time(), c.name())  # the name changes at exec
            except psutil.Error:
                pass

    def wait_for(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.look()
            if condition():
                return
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"the process ended ({self.proc.returncode}) before {what}:\n{out[-2000:]}\n"
                            f"{err[-3000:]}")
            time.sleep(0.1)
        pytest.fail(f"no {what} within {timeout} s")

    def interrupt(self, target, timeout, sig=signal.SIGINT):
        """SIGINT (or ``sig``) to the process or its group; (exit status, seconds, stdout, stderr)."""
        self.look()
        t0 = time.monotonic()
        if target == "group":
            os.killpg(self.proc.pid, sig)
        else:
            os.kill(self.proc.pid, sig)
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            out, err = self.proc.communicate()
            pytest.fail(f"still running {timeout} s after SIGINT (killed):\n{out[-2000:]}\n{err[-3000:]}")
        return self.proc.returncode, time.monotonic() - t0, out, err

    def alive(self, grace=2.0):
        """The descendants seen that still run, after ``grace`` seconds at most."""
        deadline = time.monotonic() + grace
        while True:
            left = []
            for pid, (created, name) in self.seen.items():
                try:
                    p = psutil.Process(pid)
                    if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                        left.append(f"{pid} {name} {' '.join(p.cmdline())[:150]}")
                except psutil.Error:
                    pass
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.1)

    def crash_logs(self, *more):
        return [p for folder in (self.cwd, self.tmp, *more) for p in folder.rglob("hs_err_pid*.log")]

    def temp_leftovers(self):
        return sorted(p.name for p in self.tmp.glob("fijirun-*"))

    def stop(self):
        """End the process group and every descendant seen (only those: by pid)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        for pid, (created, _) in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created:
                    p.kill()
            except psutil.Error:
                pass


@pytest.fixture
def watched(tmp_path):
    started = []

    def start(cmd):
        w = Watched(cmd, tmp_path)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def _names(w):
    return {name for _, name in w.seen.values()}


def _check(conditions):
    """The messages of the conditions that do not hold (every one is reported, not the first)."""
    return [message for ok, message in conditions if not ok]


def _leftovers(w, *folders):
    """What an interrupted run must not leave: crash logs, temp folders, processes."""
    return _check([
        (not (logs := w.crash_logs(*folders)), f"JVM crash logs: {logs}"),
        (not (left := w.temp_leftovers()), f"left in the temp folder: {left}"),
        (not (alive := w.alive()), f"processes left running: {alive}"),
    ])


@pytest.mark.parametrize("target", ["process", "group"])
def test_ctrl_c_stops_fijirun_run(watched, tmp_path, target):
    script = tmp_path / "endless.ijm"
    script.write_text(ENDLESS_MACRO)
    out = tmp_path / "out"
    w = watched([sys.executable, "-m", "fijirun", "run", script, "--output", out, "--data-dir", DATA])
    w.wait_for(lambda: list(out.glob(".fijirun-staging-*/started.txt")), 90, "macro running")
    time.sleep(0.5)
    assert "Xvfb" in _names(w), w.seen  # the run owns a display, which must go with it
    code, seconds, stdout, stderr = w.interrupt(target, timeout=10)
    lines = stderr.strip().splitlines()
    problems = _leftovers(w, out) + _check([
        (code == 130, f"exit status {code}, not 130"),
        (seconds < 10, f"{seconds:.1f} s after SIGINT"),
        (len(lines) == 1 and "interrupt" in lines[0].lower(),
         f"stderr is not one line saying 'interrupted': {stderr[-2000:]!r}"),
        (not list(out.glob(".fijirun-staging-*")), "the staging folder is left in the output folder"),
    ])
    assert not problems, f"stdout {stdout[-1000:]!r}; stderr {stderr[-2000:]!r}"


def test_sigterm_stops_fijirun_run_and_cleans_up(watched, tmp_path):
    script = tmp_path / "endless.ijm"
    script.write_text(ENDLESS_MACRO)
    out = tmp_path / "out"
    w = watched([sys.executable, "-m", "fijirun", "run", script, "--output", out, "--data-dir", DATA])
    w.wait_for(lambda: list(out.glob(".fijirun-staging-*/started.txt")), 90, "macro running")
    code, seconds, stdout, stderr = w.interrupt("process", timeout=10, sig=signal.SIGTERM)
    problems = _leftovers(w, out) + _check([
        (code == 143, f"exit status {code}, not 143"),
        ("SIGTERM" in stderr, f"stderr does not say SIGTERM: {stderr[-2000:]!r}"),
        (not list(out.glob(".fijirun-staging-*")), "the staging folder is left in the output folder"),
    ])
    assert not problems, f"stdout {stdout[-1000:]!r}; stderr {stderr[-2000:]!r}"


@pytest.mark.parametrize("target", ["process", "group"])
@pytest.mark.parametrize("running", ["script", "own"], ids=["a-script", "fijiruns-own-code"])
def test_ctrl_c_in_a_python_session_runs_finally(watched, tmp_path, target, running):
    # "own": fijirun's warm-up and Jython's first start wait as a script's run does (in slices)
    script = tmp_path / "session_script.py"
    script.write_text(SESSION_SCRIPT if running == "script" else OWN_CODE_SCRIPT)
    marker = tmp_path / "started.txt"
    w = watched([sys.executable, script, marker, DATA])
    w.wait_for(marker.exists, 90, "macro running")
    time.sleep(0.5)
    assert "Xvfb" in _names(w), w.seen
    code, seconds, stdout, stderr = w.interrupt(target, timeout=10)
    problems = _leftovers(w) + _check([
        ("FINALLY" in stdout.splitlines(), "the finally block did not run"),
        ("AFTER THE SESSION" not in stdout, "the script went on after the interrupted run"),
        (code != 0, "exit status 0"),
        ("KeyboardInterrupt" in stderr, "no KeyboardInterrupt"),
        (seconds < 10, f"{seconds:.1f} s after SIGINT"),
    ])
    assert not problems, f"exit status {code}; stdout {stdout[-1000:]!r}; stderr {stderr[-2000:]!r}"


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_ctrl_c_stops_a_batch_of_jython_scripts_showing_images(watched, tmp_path, attempt):
    """The JVM used to crash natively here (3 tries in 6): no crash log, ever."""
    make_good_images(tmp_path / "in", 3)
    script = tmp_path / "endless_show.py"
    script.write_text(ENDLESS_JYTHON)
    out = tmp_path / "out"
    w = watched([sys.executable, "-m", "fijirun", "batch", script, tmp_path / "in", "--output", out,
                 "--workers", "2", "--data-dir", DATA])
    w.wait_for(lambda: len(list(out.rglob("started.txt"))) >= 2, 120, "both workers' scripts running")
    time.sleep(0.5)
    assert "Xvfb" in _names(w), w.seen
    code, seconds, stdout, stderr = w.interrupt("group", timeout=20)
    problems = _leftovers(w, out) + _check([
        (code == 130, f"exit status {code}, not 130"),
        (seconds < 20, f"{seconds:.1f} s after SIGINT"),
    ])
    assert not problems, f"stdout {stdout[-1000:]!r}; stderr {stderr[-3000:]!r}"


WAITING_MACRO = """\
#@ File input
#@ File outputDir
File.saveString("started", outputDir + "/started.txt");
wait(60000);
newImage("x", "8-bit", 8, 8, 1);
saveAs("Tiff", outputDir + "/x.tif");
"""


def _claims_ok(folder):
    """The records under ``folder`` that call a run or an image ``ok``."""
    found = []
    for path in list(folder.rglob("run.json")) + list(folder.rglob("batch.json")):
        try:
            if json.loads(path.read_text()).get("status") in ("ok", "passed"):
                found.append(str(path.relative_to(folder)))
        except (OSError, ValueError):
            pass
    return found


@pytest.mark.parametrize("command", ["batch", "regress"])
def test_ctrl_c_to_the_group_records_no_interrupted_run_as_ok(watched, tmp_path, command):
    # the workers got the terminal's SIGINT too: Dask printed their tracebacks, and the
    # closing engine's stopped script was recorded "ok" (run.json, batch.json), no outputs
    out = tmp_path / "out"
    if command == "batch":
        make_good_images(tmp_path / "in", 2)
        script = tmp_path / "waiting.ijm"
        script.write_text(WAITING_MACRO)
        cmd = [sys.executable, "-m", "fijirun", "batch", script, tmp_path / "in", "--output", out,
               "--workers", "2", "--json"]
    else:
        course = tmp_path / "course"
        course.mkdir()
        (course / "waiting.ijm").write_text(f'File.saveString("started", "{tmp_path.as_posix()}/started.txt");\n'
                                            'wait(60000);\n')
        cmd = [sys.executable, "-m", "fijirun", "regress", course, "--output", out, "--json"]
    w = watched(cmd)
    w.wait_for(lambda: list(out.rglob("started.txt")) or (tmp_path / "started.txt").exists(), 120,
               "a script running")
    time.sleep(0.5)
    code, seconds, stdout, stderr = w.interrupt("group", timeout=30)
    lines = [line for line in stdout.splitlines() if line.strip()]
    problems = _leftovers(w, out) + _check([
        (code == 130, f"exit status {code}, not 130"),
        ("Traceback" not in stderr, "a traceback on stderr"),
        (len(lines) == 1 and json.loads(lines[0]).get("exit_code") == 130, "not one JSON object saying 130"),
        (not (ok := _claims_ok(out)), f"records calling the interrupted work ok: {ok}"),
    ])
    assert not problems, f"stdout {stdout[-1000:]!r}; stderr {stderr[-3000:]!r}"
