"""The test session's own guards (tests/conftest.py), run in a nested pytest.

A JVM that crashes during a test session (here a real one: a JVM told to
crash on OutOfMemoryError writes a real ``hs_err_pid*.log``) must fail the
session with the crash log named, wherever the JVM's working folder was (the
session's, or a test's ``tmp_path``); a crash log that was there before does
not count; a ``fijirun-*`` folder the session left in the temp folder fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXPECTED_CRASH_MARKER

TESTS = Path(__file__).resolve().parent

OOM_JAVA = """\
public class Oom {
    public static void main(String[] args) {
        java.util.List<long[]> hog = new java.util.ArrayList<>();
        while (true) hog.add(new long[1 << 20]);
    }
}
"""

CRASHING_TEST = """\
import subprocess
from pathlib import Path

def test_a_jvm_crashes(tmp_path):
    where = {where}
    source = Path(where) / "Oom.java"
    source.write_text({oom!r})
    proc = subprocess.run(["java", "-Xmx64m", "-XX:+CrashOnOutOfMemoryError", "-XX:-CreateCoredumpOnCrash",
                           str(source)], cwd=where, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert list(Path(where).glob("hs_err_pid*.log")), proc.stdout + proc.stderr
"""

LEAKING_TEST = """\
import os
import tempfile

def test_leaves_a_folder():
    tempfile.mkdtemp(prefix=f"fijirun-imagej-{os.getpid()}-")
    # a live process's folder that is not the session's (a fijirun run beside the tests)
    tempfile.mkdtemp(prefix="fijirun-imagej-1-")
"""


def run_nested(folder, test_source):
    """Run ``test_source`` as a pytest session with the project's conftest; (code, output)."""
    (folder / EXPECTED_CRASH_MARKER).touch()  # for the outer session's own guard
    cwd = folder / "cwd"
    tmp = folder / "tmp"
    cwd.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    (cwd / "test_inner.py").write_text(test_source)
    (cwd / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ, TMPDIR=str(tmp),
               PYTHONPATH=os.pathsep.join([str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider",
                           "-p", "no:faulthandler", "-rA", "test_inner.py"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="needs java on PATH")


@needs_java
@pytest.mark.parametrize("where", ["session cwd", "test tmp_path"])
def test_a_jvm_crash_during_the_session_fails_it(tmp_path, where):
    source = CRASHING_TEST.format(where="str(Path.cwd())" if where == "session cwd" else "str(tmp_path)",
                                  oom=OOM_JAVA)
    code, output = run_nested(tmp_path, source)
    assert "1 passed" in output, output
    assert code == 1, output
    assert "JVM crash logs" in output
    logs = list((tmp_path / "cwd").glob("hs_err_pid*.log")) if where == "session cwd" else \
        list((tmp_path / "tmp").rglob("hs_err_pid*.log"))
    assert len(logs) == 1, output
    assert f"FAILED: a JVM crashed during the test session: 1 new crash log(s): {logs[0]}" in output


def test_old_crash_logs_do_not_count_and_temp_leftovers_fail_the_session(tmp_path):
    (tmp_path / EXPECTED_CRASH_MARKER).touch()
    (tmp_path / "cwd").mkdir()
    old = tmp_path / "cwd" / "hs_err_pid12345.log"
    old.write_text("# an old crash\n")
    code, output = run_nested(tmp_path, LEAKING_TEST)
    assert "1 passed" in output, output
    assert code == 1, output
    assert "JVM crash logs" not in output
    left = sorted(p.name for p in (tmp_path / "tmp").glob("fijirun-imagej-*"))
    ours = [n for n in left if not n.startswith("fijirun-imagej-1-")]
    assert len(left) == 2 and len(ours) == 1
    assert f"FAILED: the test session left 1 fijirun folder(s) in {tmp_path / 'tmp'}: {ours[0]}" in output
    assert old.exists()
