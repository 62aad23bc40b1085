"""Shared fixtures: the course data, one warm ImageJ session, the CLI.

Also a watch on what the session leaves behind: a JVM crash log
(``hs_err_pid*.log``) written during the test session fails it, whichever
process crashed; so does a ``fijirun-*`` folder the session's processes left in the
temp folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# A suite started in the background of a non-interactive shell (`cmd &`, nohup) inherits
# SIGINT ignored, and so would every fijirun process it starts: the Ctrl-C tests would send
# SIGINT to processes that rightly ignore it. The suite restores Python's own handler, so
# that its children start with SIGINT's default disposition.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from fijirun.tempdirs import owner_pid

ROOT = Path(__file__).resolve().parent.parent
# The course images: the ones fijirun ships (fijirun.data), or FIJIRUN_DATA's
DATA = Path(os.environ.get("FIJIRUN_DATA") or ROOT / "src" / "fijirun" / "data" / "images").resolve()
ACTIVITIES = Path(__file__).resolve().parent / "activities"
MACROS = ROOT / "fiji_macros"
RANDOMSHAPES = DATA / "xy_8bit_binary_randomshapes.tif"

# The pinned Fiji beside the project (shared/fiji) serves the fiji tests unless
# FIJI_HOME names another; set here, before the test modules read it.
PINNED_FIJI = ROOT.parent / "shared" / "fiji" / "Fiji.app"
if not os.environ.get("FIJI_HOME") and PINNED_FIJI.is_dir():
    os.environ["FIJI_HOME"] = str(PINNED_FIJI.resolve())


def _tree_state(folder):
    """Every file and folder under ``folder`` with its size and modification time."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            state[os.path.relpath(path, folder)] = (st.st_size, st.st_mtime_ns)
    return state


def pytest_configure(config):
    if not DATA.is_dir():
        raise pytest.UsageError(f"course data not found at {DATA} (set FIJIRUN_DATA)")


# ---- what a test session leaves behind: JVM crash logs, temp folders

CRASH_LOG_PATTERNS = ("hs_err_pid*.log", "replay_pid*.log")
# A test that crashes a JVM on purpose (tests/test_session_guards.py) puts this file
# in its tmp_path: crash logs below it are expected.
EXPECTED_CRASH_MARKER = ".expected-jvm-crash"


def _crash_log_folders():
    """Where a JVM writes its crash log: its working directory, else the temp folder."""
    return {ROOT, Path.cwd().resolve(), Path(tempfile.gettempdir()).resolve()}


def crash_logs(folders, recursive=False):
    """The JVM crash logs (``hs_err_pid*.log``, ``replay_pid*.log``) in ``folders``."""
    found = set()
    for folder in folders:
        for pattern in CRASH_LOG_PATTERNS:
            found.update(p.resolve() for p in (folder.rglob(pattern) if recursive else folder.glob(pattern))
                         if p.is_file())
    return found


def temp_leftovers():
    """``fijirun-*`` folders in the temp folder (ImageJ homes ``fijirun-imagej-*``...), and
    Dask's default ``dask-scratch-space`` (fijirun gives its workers a private folder)."""
    tmp = Path(tempfile.gettempdir())
    found = {p.resolve() for p in tmp.glob("fijirun-*") if p.is_dir()}
    if (tmp / "dask-scratch-space").is_dir():
        found.add((tmp / "dask-scratch-space").resolve())
    return found


def _descends_from(pid, ancestor):
    """Whether process ``pid`` is ``ancestor`` or one of its descendants (Linux /proc)."""
    for _ in range(64):
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            return False
    return False


def _left_by_the_session(folders):
    """The folders this test session left: its owner is gone, or is this session or its child.

    A folder of a live process that is not ours (a fijirun run beside the tests) is not.
    """
    left = []
    for folder in folders:
        pid = owner_pid(folder.name)  # dask-scratch-space: no owner, made during the session
        if pid is None or not Path(f"/proc/{pid}").exists() or _descends_from(pid, os.getpid()):
            left.append(folder)
    return left


def _own_imagej_home():
    """This process's ImageJ home: removed at exit, after the session finishes."""
    process = sys.modules.get("fijirun.backends.process")
    home = getattr(process, "PROCESS", {}).get("home") if process else None
    return {Path(home).resolve()} if home else set()


def pytest_sessionstart(session):
    session.config._fijirun_before = (crash_logs(_crash_log_folders()), temp_leftovers())
    fiji = os.environ.get("FIJI_HOME")
    session.config._fijirun_fiji = (fiji, _tree_state(fiji)) if fiji and os.path.isdir(fiji) else None


@pytest.hookimpl(tryfirst=True)  # before pytest removes its temp folders
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if not hasattr(config, "_fijirun_before"):
        return
    logs_before, temp_before = config._fijirun_before
    folders = _crash_log_folders()
    logs = crash_logs(folders) - logs_before
    # tests run processes in their tmp_path: look in the whole base temp folder too
    basetemp = getattr(config, "_tmp_path_factory", None)
    basetemp = getattr(basetemp, "_basetemp", None)
    if basetemp is not None and Path(basetemp).is_dir():
        expected = [m.parent for m in Path(basetemp).rglob(EXPECTED_CRASH_MARKER)]
        logs |= {p for p in crash_logs([Path(basetemp)], recursive=True) - logs_before
                 if not any(p.is_relative_to(e) for e in expected)}
    left = _left_by_the_session(temp_leftovers() - temp_before - _own_imagej_home())
    config._fijirun_fiji_changed = []
    if config._fijirun_fiji is not None:  # read-only where CI runs it: nothing may be written there
        fiji, before = config._fijirun_fiji
        after = _tree_state(fiji)
        config._fijirun_fiji_changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        if config._fijirun_fiji_changed:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    config._fijirun_crash_logs = sorted(logs)
    config._fijirun_temp_leftovers = sorted(left)
    if (logs or left) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    logs = getattr(config, "_fijirun_crash_logs", [])
    left = getattr(config, "_fijirun_temp_leftovers", [])
    if logs:
        terminalreporter.section("JVM crash logs", sep="=", red=True, bold=True)
        terminalreporter.write_line(f"FAILED: a JVM crashed during the test session: {len(logs)} new crash "
                                    f"log(s): {', '.join(map(str, logs))}", red=True)
    changed = getattr(config, "_fijirun_fiji_changed", [])
    if changed:
        terminalreporter.section("Fiji.app written to", sep="=", red=True, bold=True)
        terminalreporter.write_line(f"FAILED: the test session changed {len(changed)} path(s) in FIJI_HOME "
                                    f"(read-only in CI): {', '.join(changed[:20])}", red=True)
    if left:
        terminalreporter.section("temp folders left behind", sep="=", red=True, bold=True)
        terminalreporter.write_line(f"FAILED: the test session left {len(left)} fijirun folder(s) in "
                                    f"{tempfile.gettempdir()}: {', '.join(p.name for p in left)}",
                                    red=True)


@pytest.fixture(scope="session")
def data_dir():
    return DATA


@pytest.fixture(scope="session")
def ij_session():
    """One warm ImageJ 1.x for the whole test session (a JVM cannot restart)."""
    import fijirun

    with fijirun.Session(data_dir=DATA, timeout=120) as session:
        yield session


def run_each_macro(session, folder, macros, images):
    """Run each macro once on its image: ``{name: (image key, macro text)}`` -> ``{name: output folder}``."""
    out = {}
    for name, (image, text) in macros.items():
        macro = folder / f"{name}.ijm"
        macro.write_text(text)
        out[name] = session.run(macro, input=images[image], output_dir=folder / name).output_dir
    return out


def run_cli(*args, timeout=120, cwd=None):
    """Run ``fijirun`` in a fresh process; return (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "fijirun", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def run_cli_json(*args, timeout=120):
    code, out, err = run_cli(*args, "--json", timeout=timeout)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got {out!r} (stderr {err!r})"
    return code, json.loads(lines[0]), err
