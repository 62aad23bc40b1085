"""No Xvfb or JVM is left behind: normal exit, errors, Ctrl-C, kill -9."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from conftest import ACTIVITIES

CHILD = textwrap.dedent("""
    import sys, fijirun
    s = fijirun.Session()
    s.start()
    print(s.backend.display.pid, flush=True)
    mode = sys.argv[1]
    if mode == "error":
        s.run(sys.argv[2])
    elif mode == "hang":
        s.run(sys.argv[2], timeout=300)
    print("done", flush=True)
""")


def _child(mode, script=""):
    env = dict(os.environ)
    env.pop("DISPLAY", None)  # make the engine start its own Xvfb
    return subprocess.Popen([sys.executable, "-c", CHILD, mode, str(script)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _gone(pid, within=15.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("mode", ["ok", "error"])
def test_exit_leaves_nothing(mode):
    proc = _child(mode, ACTIVITIES / "syntax_error_line7.ijm")
    xvfb = int(proc.stdout.readline())
    assert psutil.Process(xvfb).name() == "Xvfb"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == (0 if mode == "ok" else 1), err
    if mode == "error":
        assert "MacroError" in err and "line 7" in err
    assert _gone(xvfb)
    assert not psutil.pid_exists(proc.pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_run_leaves_nothing(sig):
    proc = _child("hang", ACTIVITIES / "endless.ijm")
    xvfb = int(proc.stdout.readline())
    time.sleep(2.0)  # the endless loop is running
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert _gone(xvfb), f"Xvfb {xvfb} outlived its process after {sig!r}"


def test_virtual_display_survives_its_start():
    """Xvfb writes its display number and the newline apart; a reader that stops after the
    number made the second write fail, which Xvfb treats as fatal (random 'cannot connect')."""
    import time as _time

    from fijirun.display import VirtualDisplay

    for _ in range(20):
        display = VirtualDisplay(stop_at_exit=False).start()
        try:
            _time.sleep(0.05)
            assert display.process.poll() is None, "Xvfb died after reporting its display"
            assert os.path.exists(f"/tmp/.X11-unix/X{display.display[1:]}")
        finally:
            display.stop()


def test_virtual_display_started_by_a_thread_outlives_the_thread():
    """PR_SET_PDEATHSIG fires when the forking *thread* ends: an Xvfb started by a worker
    thread died with it, and the JVM on that display then ended the process (status 1)."""
    import threading

    from fijirun.display import VirtualDisplay

    started = {}
    thread = threading.Thread(target=lambda: started.setdefault("d", VirtualDisplay(stop_at_exit=False).start()))
    thread.start()
    thread.join(30)
    display = started["d"]
    try:
        time.sleep(0.5)  # a SIGTERM from the thread's end would have arrived
        assert display.process.poll() is None, "Xvfb died with the thread that started it"
    finally:
        display.stop()
    # and it still dies with the process (the spawner is one thread of this process)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import threading
        from fijirun.display import VirtualDisplay
        t = threading.Thread(target=lambda: print(VirtualDisplay(stop_at_exit=False).start().pid, flush=True))
        t.start(); t.join()
    """)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert _gone(int(proc.stdout.split()[0])), "Xvfb outlived its process"


def test_a_child_forked_while_the_spawner_lock_is_held_can_start_a_display():
    """A fork copies a held lock as held: the child's first display from a thread waited for ever."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os, threading
        from fijirun import display
        display._spawn_lock.acquire()  # as another thread of the parent would hold it, mid-spawn
        pid = os.fork()
        if pid == 0:
            box = {}
            t = threading.Thread(target=lambda: box.setdefault("d", display.VirtualDisplay(stop_at_exit=False).start()))
            t.start(); t.join(20)
            ok = "d" in box and box["d"].process.poll() is None
            if "d" in box:
                box["d"].stop()
            os._exit(0 if ok else 3)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0"


def test_a_session_started_in_a_thread_that_ended_still_runs():
    """A session started in a short-lived thread (a thread pool's task): the process lived on
    only until that thread ended; then its own Xvfb died and Java ended the process (exit 1)."""
    code = textwrap.dedent("""
        import threading, time, fijirun
        s = fijirun.Session()
        t = threading.Thread(target=s.start); t.start(); t.join()
        time.sleep(1.0)
        r = s.run_code('print("still here");', "ijm")
        print(r.ok, repr(r.log), flush=True)
    """)
    env = dict(os.environ)
    env.pop("DISPLAY", None)  # the session's own Xvfb
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("True") and "still here" in proc.stdout


@pytest.mark.parametrize("opengl", [True, False])
def test_virtual_display_offers_opengl_only_when_asked(opengl):
    """imagej1's Xvfb has no GLX (it starts faster); Fiji's keeps it for the 3D Viewer."""
    from fijirun.display import VirtualDisplay

    xdpyinfo = shutil.which("xdpyinfo")
    if xdpyinfo is None:
        pytest.skip("xdpyinfo (x11-utils) is not installed: cannot list the X server's extensions")
    display = VirtualDisplay(stop_at_exit=False, opengl=opengl).start()
    try:
        info = subprocess.run([xdpyinfo, "-display", display.display], capture_output=True, text=True,
                              timeout=30, check=True).stdout
    finally:
        display.stop()
    assert "RENDER" in info  # what Java2D draws with, either way
    assert ("GLX" in info) == opengl


def test_unreachable_display_falls_back_to_fijiruns_own_xvfb(tmp_path):
    """A DISPLAY nobody answers on (stale, a closed tunnel) must not fail the run."""
    import json

    script = tmp_path / "hello.ijm"
    script.write_text('print("hello");\n')
    env = dict(os.environ, DISPLAY="127.0.0.1:55")
    proc = subprocess.run([sys.executable, "-m", "fijirun", "run", str(script), "--json"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"


def test_a_jvm_that_does_not_start_leaves_nothing(tmp_path):
    """A failed JVM start is an EngineError and removes its ImageJ home folder and Xvfb."""
    code = textwrap.dedent("""
        import os, sys, tempfile, fijirun
        before = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("fijirun-")}
        try:
            fijirun.Session(jvm_options=["-XX:+NoSuchOptionAtAll"]).start()
        except fijirun.EngineError as exc:
            print("EngineError", "did not start" in str(exc))
        after = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("fijirun-")}
        print("left", sorted(after - before))
    """)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # it starts an Xvfb first
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.splitlines()[-2:] == ["EngineError True", "left []"], proc.stdout + proc.stderr


POOL_CHILD = textwrap.dedent("""
    import json, fijirun
    from fijirun.backends.process import _end_imagej_pool, _lingering_threads
    with fijirun.Session(capture_state=False) as s:
        s.warm_up(("ijm",))  # a Gaussian Blur and a particle analysis: ImageJ's thread pool starts
        s.run_code('newImage("a", "32-bit ramp", 1024, 1024, 1); run("Gaussian Blur...", "sigma=4");', "ijm")
        before = [n for n in _lingering_threads() if n.startswith("pool-")]
        _end_imagej_pool()
        print(json.dumps([before, [n for n in _lingering_threads() if n.startswith("pool-")]]))
""")


def test_a_script_that_ran_multithreaded_filters_exits_cleanly():
    # ImageJ's ThreadUtil pool (non-daemon threads) kept the JVM from shutting down; the
    # process then ended with a live JVM and, 1 exit in 4 to 12, aborted (exit 134,
    # "FATAL: exception not rethrown") when a Java thread ran Python's collector
    for report in _clean_exits(POOL_CHILD, 6):
        before, after = report
        assert before and not after  # the pool ran, and ends at exit


def _clean_exits(child, times):
    """Run the Python code ``child`` ``times`` times in a fresh process with its own Xvfb;
    each must exit 0 without an abort. Yields the JSON each printed last."""
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    for _ in range(times):
        proc = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "FATAL" not in proc.stderr and "Fatal Python error" not in proc.stderr
        yield json.loads(proc.stdout.strip().splitlines()[-1])


LEFT_THREAD_CHILD = textwrap.dedent("""
    import json, fijirun
    code = '''
    from java.lang import Thread, Runnable
    class Spin(Runnable):
        def run(self):
            n = 0
            while True:
                n += 1
    t = Thread(Spin(), "fijirun-test-spinner")
    t.start()
    '''
    with fijirun.Session() as s:
        r = s.run_code(code, "jython", timeout=60)
    print(json.dumps([r.status, r.warnings]), flush=True)
""")


def test_a_thread_a_script_left_running_does_not_abort_the_exit():
    # A Jython thread still looping when Python and the JVM went down aborted the
    # process, 1 exit in 2: "FATAL: exception not rethrown", exit status 134. The
    # threads runs leave are stopped at exit, before the JVM's shutdown.
    for status, warnings in _clean_exits(LEFT_THREAD_CHILD, 4):
        assert status == "ok"
        assert warnings == ["thread 'fijirun-test-spinner' started by the script was still running when it ended"]


def test_a_jvm_left_running_at_exit_has_no_thread_that_reaches_for_python():
    """A JVM left to end with the process (a non-daemon thread still alive) kept JPype's
    reference-queue thread: when it took the GIL during Python's finalization the process
    aborted ('FATAL: exception not rethrown', status 134; 1 exit in ~30 after a script error
    under load). The exit stops it first."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import jpype, jpype.config, fijirun
        from fijirun.backends.process import shutdown_process
        fijirun.Session().run_code('print("x");', "ijm")
        pool = jpype.JClass("java.util.concurrent.Executors").newSingleThreadExecutor()
        pool.execute(jpype.JClass("java.lang.Thread")())  # a non-daemon thread that stays, idle
        queue = jpype.JClass("org.jpype.ref.JPypeReferenceQueue").getInstance()
        print(queue.isRunning(), flush=True)
        shutdown_process(wait_for_awt=False)
        print(jpype.config.destroy_jvm, queue.isRunning(), flush=True)
    """)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the queue ran; the JVM was left running (destroy_jvm False), its queue stopped
    assert proc.stdout.split() == ["True", "False", "False"]


def test_a_program_a_timed_out_script_started_is_stopped_with_it(ij_session):
    """``exec()`` of a program that runs on: at the script's timeout the program is killed too
    (it outlived the run, and the process: a review found it with init as its parent)."""

    def sleepers():
        return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", "987.25"]]

    assert sleepers() == []
    result = ij_session.run_code('exec("sleep", "987.25");\n', "ijm", timeout=3, raise_on_error=False)
    assert type(result.error).__name__ == "ScriptTimeout"
    assert sleepers() == []
    assert ij_session.run_code('print("after");\n', "ijm").log == "after\n"  # the engine and its display live on
