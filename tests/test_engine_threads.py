"""Threads a script starts: what they do within the guard's grace (2 s) is the run's.

ImageJ's ``doCommand`` runs its command on a thread of its own, and scripts start
threads themselves. A run is read once those threads ended, or 2 s after its script
ended (those still running are named in the Log). A thread that reports an error
later than that is not waited for: an open limit (see the README's Limits).
"""

import json
import os
import subprocess
import sys

import pytest

import fijirun

from conftest import run_cli

# A thread that computes for `seconds` of wall time, then reports an error the way
# ImageJ's commands do (IJ.error: a dialog the guard reads).
_WORKS_THEN_FAILS = """
from ij import IJ
from java.lang import Thread, Runnable, System

class Worker(Runnable):
    def run(self):
        end = System.currentTimeMillis() + int({seconds} * 1000)
        n = 0
        while System.currentTimeMillis() < end:
            n += 1
        IJ.error("Late measurement", "the background measurement failed")

t = Thread(Worker(), "fijirun-test-worker")
t.start()
print("started the worker")
"""


def test_an_error_of_a_thread_within_the_grace_is_the_runs(ij_session):
    with pytest.raises(fijirun.ScriptError) as info:
        ij_session.run_code(_WORKS_THEN_FAILS.format(seconds=0.2), "jython", timeout=60)
    assert "Late measurement: the background measurement failed" in str(info.value)
    assert "started the worker" in info.value.log


def test_a_thread_that_idles_is_left_running_and_named(ij_session):
    code = ("from java.lang import Thread, Runnable\n"
            "class Sleeper(Runnable):\n"
            "    def run(self):\n"
            "        Thread.sleep(20000)\n"
            "t = Thread(Sleeper(), 'fijirun-test-sleeper')\n"
            "t.setDaemon(True)\n"
            "t.start()\n"
            "print('left a sleeper')\n")
    result = ij_session.run_code(code, "jython", timeout=30)
    assert result.ok
    assert "left a sleeper" in result.log
    named = "thread 'fijirun-test-sleeper' started by the script was still running when it ended"
    # fijirun's warnings end the log, and are the result's (and --json's) own list
    assert named in result.log
    assert result.warnings == [named]
    assert result.summary()["warnings"] == [named]


def test_a_run_whose_threads_all_ended_has_no_warnings(ij_session):
    code = ("from java.lang import Thread, Runnable\n"
            "class Quick(Runnable):\n"
            "    def run(self):\n"
            "        Thread.sleep(50)\n"
            "t = Thread(Quick(), 'fijirun-test-quick')\n"
            "t.start()\n")
    result = ij_session.run_code(code, "jython", timeout=30)
    assert result.ok
    assert result.warnings == []
    assert "[fijirun] warning" not in result.log


def test_the_command_line_shows_a_runs_warnings_and_records_them(tmp_path):
    # `fijirun run` said "ok ... saved nothing" and nothing else: the thread the
    # script left running was named only at the end of the Log
    script = tmp_path / "leaves_a_thread.py"
    script.write_text("from java.lang import Thread, Runnable\n"
                      "class Sleeper(Runnable):\n"
                      "    def run(self):\n"
                      "        Thread.sleep(20000)\n"
                      "t = Thread(Sleeper(), 'fijirun-test-left')\n"
                      "t.setDaemon(True)\n"
                      "t.start()\n")
    named = "thread 'fijirun-test-left' started by the script was still running when it ended"
    code, out, err = run_cli("run", script, "--output", tmp_path / "out", timeout=180)
    assert code == 0, err
    assert f"  warning: {named}\n" in out
    assert json.loads((tmp_path / "out" / "run.json").read_text())["warnings"] == [named]
    code, out, err = run_cli("run", script, "--output", tmp_path / "out2", "--json", timeout=180)
    assert code == 0, err
    assert json.loads(out)["warnings"] == [named]


def test_a_script_that_ends_interrupted_still_has_its_threads_waited_for(ij_session):
    # The script thread's interrupt flag, left set at its end, cut every wait of the
    # settling short (InterruptedException at once): the doCommand thread's error was
    # never seen and the run passed.
    code = ("from ij import IJ\n"
            "from java.lang import Thread\n"
            "IJ.createImage('shapes', '8-bit black', 64, 64, 1).show()\n"
            "IJ.doCommand('Connected Components Labeling')\n"
            "Thread.currentThread().interrupt()\n")
    with pytest.raises(fijirun.UnrecognizedCommandError) as info:
        ij_session.run_code(code, "jython", timeout=60)
    assert info.value.command == "Connected Components Labeling"


_POOL = """
from java.util.concurrent import Executors, Callable
from java.lang import Thread

class Task(Callable):
    def __init__(self, millis):
        self.millis = millis
    def call(self):
        Thread.sleep(self.millis)
        return self.millis

pool = Executors.newFixedThreadPool(2)
print(pool.submit(Task(10)).get())
pool.submit(Task({left_busy}))
"""


def test_idle_workers_of_a_pool_the_script_started_are_not_waited_for_nor_named(ij_session):
    # ImageJ's multithreaded filters start a pool of worker threads in the run that first
    # uses one: the run waited the whole grace (2 s) for its idle workers and named them
    # as threads the script had left running
    result = ij_session.run_code(_POOL.format(left_busy=0), "jython", timeout=60)
    assert result.ok
    assert result.warnings == []


def test_a_pool_worker_still_busy_with_the_scripts_task_is_named(ij_session):
    result = ij_session.run_code(_POOL.format(left_busy=20000), "jython", timeout=60)
    assert result.ok
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("thread 'pool-") and "still running" in result.warnings[0]


def test_imagejs_own_filter_pool_is_not_named_in_a_fresh_engine():
    # the first multithreaded filter of a JVM starts ImageJ's pool (ij.util.ThreadUtil)
    code = ("import json, fijirun\n"
            "with fijirun.Session() as s:\n"
            "    r = s.run_code('newImage(\"a\", \"32-bit ramp\", 512, 512, 1); "
            "run(\"Gaussian Blur...\", \"sigma=3\"); close();', 'ijm', timeout=60)\n"
            "print(json.dumps([r.status, r.warnings]))\n")
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["ok", []]
