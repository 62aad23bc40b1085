"""fijirun used from threads and forked processes: one engine per process, started once.

Each case runs in a fresh process (the engine is process-wide): its exit status and output
are what is asserted; the engine of the test process is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time


def _python(code, *args, timeout=120, **kwargs):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def test_two_threads_starting_the_engine_at_once_share_one_engine():
    """Both threads booted a JVM: one failed ('JVM is already started'), and its clean-up removed
    the other's ImageJ home (its LUTs: 'Unrecognized command: glasbey_on_dark' ever after)."""
    proc = _python("""
        import threading, fijirun
        results = {}
        def job(i):
            try:
                code = 'newImage("a", "8-bit", 64, 64, 1); run("Measure");'
                results[i] = fijirun.Session().run_code(code, "ijm").status
            except BaseException as exc:
                results[i] = f"{type(exc).__name__}: {exc}"
        threads = [threading.Thread(target=job, args=(i,)) for i in range(3)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(sorted(results.items()))
        lut = fijirun.Session().run_code('newImage("l", "8-bit ramp", 64, 64, 1); run("glasbey_on_dark");', "ijm",
                               raise_on_error=False)
        print(lut.status, lut.error)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[-2] == "[(0, 'ok'), (1, 'ok'), (2, 'ok')]"
    assert lines[-1] == "ok None"


def test_concurrent_runs_into_one_folder_publish_one_after_the_other(tmp_path):
    """A run that waited for the engine with a snapshot of the folder taken before the other
    run published took that run's t.csv for a file fijirun did not write (OutputExistsError)."""
    proc = _python("""
        import sys
        from concurrent.futures import ThreadPoolExecutor
        import fijirun
        code = ('#@ File outputDir\\nrun("Clear Results"); setResult("A", 0, 1); updateResults();'
                'saveAs("Results", outputDir + "/t.csv");')
        session = fijirun.Session()
        with ThreadPoolExecutor(4) as pool:
            runs = [pool.submit(session.run_code, code, "ijm", output_dir=f"{sys.argv[1]}/o{i % 2}",
                                raise_on_error=False) for i in range(6)]
            print([(r.result().status, type(r.result().error).__name__) for r in runs])
    """, tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == str([("ok", "NoneType")] * 6)
    for folder in ("o0", "o1"):
        assert (tmp_path / folder / "t.csv").read_text().splitlines()[-1].endswith("1")
        assert not list((tmp_path / folder).glob("fijirun-unsaved-*"))


def test_a_forked_child_gets_a_clear_error_and_leaves_its_parent_unharmed(tmp_path):
    """A child forked from a process running the engine called into the inherited JVM: it hung
    for ever, and the parent then died with status 1 at its next run. A plain os.fork child
    that only exits hung in the exit hooks."""
    proc = _python("""
        import multiprocessing, os, time, fijirun
        session = fijirun.Session(timeout=20)
        print(session.run_code('print("parent");', "ijm").status, flush=True)
        def child():
            try:
                fijirun.Session(timeout=10).run_code('print("child");', "ijm")
                print("child: ran", flush=True)
            except fijirun.EngineError as exc:
                print("child:", exc, flush=True)
        p = multiprocessing.get_context("fork").Process(target=child)
        p.start(); p.join(60)
        print("child exit", p.exitcode, flush=True)
        pid = os.fork()
        if pid == 0:
            raise SystemExit(0)  # the atexit hooks run in this child
        t0 = time.monotonic()
        print("fork exit", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), round(time.monotonic() - t0) < 10)
        print(session.run_code('print("parent again");', "ijm").status, flush=True)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "ok"
    assert lines[1].startswith("child: this process was forked from process ") and "'spawn'" in lines[1]
    assert lines[2:] == ["child exit 0", "fork exit 0 True", "ok"]


def test_ctrl_c_stops_a_run_waited_for_in_a_worker_thread(tmp_path):
    """Python raises KeyboardInterrupt in the main thread only: the run in the pool's thread ran
    on to its end (or its timeout), the process with it."""
    marker = tmp_path / "after.txt"
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import signal, sys, time
        from concurrent.futures import ThreadPoolExecutor
        import fijirun
        session = fijirun.Session(timeout=300)
        session.start()
        pool = ThreadPoolExecutor(1)
        run = pool.submit(session.run_code, 'print("started"); wait(60000); File.saveString("x", "%s");', "ijm")
        print("ready", flush=True)
        try:
            run.result()
        except KeyboardInterrupt:
            try:
                run.result(timeout=30)
            except BaseException as exc:
                print("worker:", type(exc).__name__, flush=True)
            raise
    """ % marker)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(2.0)  # the script waits in wait(60000)
        os.kill(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=60)
        seconds = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 or proc.returncode == -signal.SIGINT, err[-2000:]
    assert "worker: KeyboardInterrupt" in out
    assert seconds < 30, f"{seconds:.1f} s after Ctrl-C"
    assert not marker.exists()  # the script was stopped, not run to its end


def test_a_run_is_not_refused_while_a_macro_imagej_itself_runs():
    """Fiji runs its start-up macros on a thread of its own: the first one-shot run on Fiji once
    failed 'ImageJ could not be reset before the run: a macro interpreter is still registered'.
    Here ImageJ's own MacroRunner plays that macro; the reset is tried again and the run runs."""
    proc = _python("""
        import time, jpype, fijirun
        session = fijirun.Session().start()
        jpype.JClass("ij.macro.MacroRunner")('wait(1500);')  # a macro on ImageJ's own thread
        time.sleep(0.3)
        result = session.run_code('print("after it");', "ijm")
        print(result.status, "after it" in result.log, flush=True)
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["ok", "True"]
