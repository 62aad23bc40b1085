"""What a process holds once: one JVM, one display, one ImageJ.

JPype cannot restart a JVM inside a process, so every backend of a process
shares these; the first backend started decides which ImageJ it is.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import sys
import threading
import time
from typing import NoReturn

from ..display import VirtualDisplay, display_is_usable
from ..errors import EngineError, EngineShutDown
from ..jars import find_java

__all__ = ["PROCESS", "START_LOCK", "check_engine_usable", "ensure_display", "finish_display", "start_jvm",
           "shutdown_process", "release_process_files", "exit_now", "script_still_running", "COMMON_JVM_OPTIONS"]

# fail fast offline instead of hanging on a URL; Jython without its site scan
# -Xrs: the JVM installs no SIGINT/SIGTERM handlers, so Ctrl-C is Python's
# (KeyboardInterrupt; fijirun stops the script and cleans up). The guard
# refuses System.exit in scripts through a SecurityManager, which Java 17
# allows quietly only when asked to.
COMMON_JVM_OPTIONS = [
    "-Xrs",
    # with -Xrs the JVM opens its attach socket (/tmp/.java_pid<pid>) at start, and a
    # process that leaves without the JVM's own shutdown leaves that file behind
    "-XX:+DisableAttachMechanism",
    "-Djava.security.manager=allow",
    "-Djava.awt.headless=false",
    "-Dsun.net.client.defaultConnectTimeout=5000",
    "-Dsun.net.client.defaultReadTimeout=20000",
    "-Dpython.cachedir.skip=true",
    "-Dpython.console.encoding=UTF-8",
    "-Dpython.import.site=false",
]

# Process-wide: one JVM, one display, one ImageJ per process. "pid": the process
# that started them (a forked child inherits this dict, not the JVM's threads).
PROCESS = {"display": None, "runtime": None, "home": None, "backend": None, "closed": False, "pid": None}
#: Held while the process's engine starts: two threads starting it at once both booted a
#: JVM, and the loser's clean-up removed the winner's ImageJ home and display.
START_LOCK = threading.RLock()


def _forked_child():
    """In a child forked from a process that runs the engine: leave the JVM alone at exit.

    JPype's own exit hook would shut down the inherited JVM, whose threads
    did not survive the fork: the child hung at exit.
    """
    if PROCESS["pid"] is not None and "jpype" in sys.modules:
        import jpype.config

        jpype.config.onexit = False
        _drop_jpype_gc_hooks()  # they would call into the JVM at the child's last collection


os.register_at_fork(after_in_child=_forked_child)


def check_engine_usable():
    """Raise unless this process may use (or start) its engine.

    Raises
    ------
    EngineError
        This process was forked from the one whose JVM it inherited: a JVM
        does not survive ``fork`` (its threads stay behind), and a call into
        it hangs or breaks the parent's X connection.
    EngineShutDown
        The engine was shut down at exit: no script can start.
    """
    owner = PROCESS["pid"]
    if owner is not None and owner != os.getpid():
        raise EngineError(f"this process was forked from process {owner}, which runs fijirun's ImageJ: "
                          "a JVM does not survive a fork; use fijirun in a fresh process "
                          "(multiprocessing's 'spawn' or 'forkserver' start method)")
    if PROCESS["closed"]:
        raise EngineShutDown("fijirun's engine was shut down (the process is ending): no script can start")


def _lingering_threads():
    """Non-daemon Java threads a destroyed JVM would wait for (besides the caller's)."""
    import jpype

    Thread = jpype.JClass("java.lang.Thread")
    current = Thread.currentThread()
    return [str(t.getName()) for t in Thread.getAllStackTraces().keySet()
            if not t.isDaemon() and t != current and t.isAlive() and str(t.getName()) != "DestroyJavaVM"]


def shutdown_process(wait_for_awt=True):
    """Leave cleanly at exit: no hang, no orphan, the right exit status.

    Fiji's services are disposed, fijirun's hooks removed and the windows
    closed (on the event thread); then the JVM is shut down and only then the
    Xvfb stopped — an X server that dies under a live JVM makes Java exit the
    process with status 1. Plugins may leave non-daemon thread pools running
    (Fiji's Auto Local Threshold does), which a JVM shutdown would wait for
    forever: then the JVM is left to end with the process, and the Xvfb with
    it (``PR_SET_PDEATHSIG``). Registered with atexit after JPype's own hook,
    so it runs first; later calls do nothing.

    Parameters
    ----------
    wait_for_awt : bool
        A JVM shutdown waits about 1 s for AWT's event thread to notice
        that no window is left. A process about to exit anyway passes False
        (the atexit hook, a batch worker closing): the JVM then ends with the
        process. True only where the JVM's own shutdown matters (it writes
        the class archive: :mod:`~fijirun.backends.class_archive`).
    """
    import jpype
    import jpype.config

    if PROCESS["closed"] or PROCESS["pid"] not in (None, os.getpid()):
        return  # done already, or a forked child: the JVM and the Xvfb are its parent's
    PROCESS["closed"] = True
    if jpype.isJVMStarted():
        gateway = PROCESS.get("gateway")
        if gateway is not None:
            try:
                gateway.dispose()  # stops SciJava's thread pools
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        runtime = PROCESS["runtime"]
        if runtime is not None:
            try:
                runtime.uninstall()
                runtime.dispose_windows()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        _end_imagej_pool()
        time.sleep(0.05)  # let disposed windows' event threads wind down
        # AWT's own threads end by themselves once no window is left
        lingering = [n for n in _lingering_threads() if not (wait_for_awt and n.startswith("AWT-"))]
        # before the JVM's shutdown: a shutdown hook may end the process there
        # (Jython's, after a script tried System.exit), and the folder would stay
        release_process_files()
        if lingering:
            _stop_jpype_reference_queue()
            jpype.config.destroy_jvm = False
            # The JVM lives on until the process ends. A Java thread that runs Python's
            # garbage collector meanwhile (JPype links the two collectors) is killed by
            # Python's finalization with pthread_exit, which aborts the process: "FATAL:
            # exception not rethrown", exit status 134. No automatic collection now.
            gc.disable()
            return
        jpype.shutdownJVM()  # JPype insists on the main thread
        _drop_jpype_gc_hooks()
    display, PROCESS["display"] = PROCESS["display"], None
    if display is not None:
        display.stop()
    release_process_files()


def _stop_jpype_reference_queue():
    """Stop JPype's reference-queue thread, for a JVM left to end with the process.

    The thread releases Python objects that Java let go of, taking the GIL to
    do so. Only the JVM's own shutdown stops it, and a JVM left running has
    none: when it reached for the GIL during Python's finalization, Python
    ended it with ``pthread_exit``, which the JVM's frames turned into an
    abort ("FATAL: exception not rethrown", exit status 134; 1 exit in ~30
    after a script error under load). ``stop()`` waits for the thread (JPype
    releases the GIL during the call) and then releases what it still held.
    """
    import jpype

    try:
        jpype.JClass("org.jpype.ref.JPypeReferenceQueue").getInstance().stop()
    except Exception:  # noqa: BLE001 - another JPype: nothing of this kind to stop
        pass


def _end_imagej_pool():
    """Shut down ImageJ's own worker pool (``ij.util.ThreadUtil``), whose threads are not daemons.

    Multithreaded filters (Gaussian Blur, RankFilters...) start it; its idle
    threads would keep the JVM from shutting down, so the process would exit
    with a live JVM (see :func:`shutdown_process`).
    """
    import jpype

    try:
        pool = jpype.JClass("ij.util.ThreadUtil").threadPoolExecutor
        if pool is not None:
            pool.shutdown()
            if pool.awaitTermination(1000, jpype.JClass("java.util.concurrent.TimeUnit").MILLISECONDS):
                _join_ending_pool_threads()
    except Exception:  # noqa: BLE001 - an ImageJ without it, or a JVM going away: nothing to end
        pass


def _join_ending_pool_threads(seconds=0.5):
    """Wait for a terminated pool's threads to be gone, not only done.

    ``awaitTermination`` returns once every worker has left its loop; the threads
    themselves are still alive for a moment after (even parked, on the pool's lock),
    and would count as lingering (seen 1 exit in 6 on a loaded machine). An
    executor's default threads are named ``pool-N-thread-M``; a worker of another
    pool that waits for a task (``getTask`` on its stack) is left alone.
    """
    import jpype

    Thread = jpype.JClass("java.lang.Thread")
    deadline = time.monotonic() + seconds
    for entry in Thread.getAllStackTraces().entrySet():
        thread, stack = entry.getKey(), entry.getValue()
        if not str(thread.getName()).startswith("pool-") or any(str(f.getMethodName()) == "getTask" for f in stack):
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        thread.join(max(1, int(remaining * 1000)))


def _drop_jpype_gc_hooks():
    """Forget JPype's garbage-collection hooks once the JVM is shut down.

    Python's last collection at exit still calls them, and with Java objects
    left to free (the guard's class loader, the runtime's maps) they try to
    enter the JVM that is gone: a C++ exception, ``std::terminate``, exit 134
    (1 exit in 5 here).
    """
    import gc

    gc.callbacks[:] = [cb for cb in gc.callbacks if getattr(cb, "__module__", None) != "_jpype"]


def script_still_running():
    """Whether this process's last script outlived its stop: its JVM should be replaced.

    A batch or regression worker asks after every task.
    """
    runtime = PROCESS["runtime"]
    return runtime is not None and runtime.script_still_running()


def process_clock() -> float:
    """Now, on the clock of processes' creation times (psutil's): boot time + /proc/uptime.

    Creation times count clock ticks since boot; against ``time.time()`` they are off by up
    to a second (the boot time is whole seconds), against this clock by one tick (10 ms).
    A file read, not a scan of every process: it runs before every run.
    """
    import psutil

    with open("/proc/uptime", encoding="ascii") as f:
        return psutil.boot_time() + float(f.read().split()[0])


def stop_new_child_processes(since: float) -> list[int]:
    """Kill this process's children created at ``since`` (:func:`process_clock`) or later, with theirs.

    A script stopped at its timeout (or by Ctrl-C) may have started a program with ImageJ's
    ``exec()`` that runs on: it would outlive the run, and the process. The virtual display
    is never one of them. Returns the pids killed.
    """
    import psutil

    xvfb = getattr(PROCESS["display"], "process", None)
    victims = []
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return []
    for child in children:
        try:
            if (xvfb is None or child.pid != xvfb.pid) and child.create_time() >= since - 0.01:
                victims += [child, *child.children(recursive=True)]
        except psutil.Error:
            continue
    for victim in victims:
        with contextlib.suppress(psutil.Error):
            victim.kill()
    psutil.wait_procs(victims, timeout=5)
    return [v.pid for v in victims]


def private_home():
    """The process's private ImageJ home folder (made when the backend has none): its preferences."""
    if PROCESS["home"] is None:
        from ..tempdirs import make_temp_dir

        PROCESS["home"] = make_temp_dir("imagej")
    return PROCESS["home"]


def release_process_files():
    """Remove the process's private ImageJ home folder."""
    home, PROCESS["home"] = PROCESS["home"], None
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


def exit_now(code: int = 0) -> NoReturn:
    """End the process at once, without the JVM's slow shutdown, leaving nothing behind.

    For a process whose work is done and written (a command, a test driver):
    stdout and stderr are flushed and the ImageJ home folder removed (``os._exit``
    skips the atexit hook that would remove it); the Xvfb the process started dies
    with it (``PR_SET_PDEATHSIG``).
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        release_process_files()
    except BaseException:  # noqa: BLE001 - leaving anyway (a closed pipe, a late signal)
        pass
    os._exit(code if isinstance(code, int) and 0 <= code <= 255 else 1)


def ensure_display(opengl=True):
    """Start the process's Xvfb if there is no usable display; return it (or None).

    ``opengl=False``: an Xvfb without GLX, for an engine that never draws with OpenGL.
    """
    if display_is_usable():
        return None
    if PROCESS["display"] is None:
        PROCESS["display"] = VirtualDisplay(stop_at_exit=False, opengl=opengl).launch()
    return PROCESS["display"]


def finish_display(display):
    """Wait for ``display`` (from :func:`ensure_display`) and make it this process's ``DISPLAY``; None: nothing."""
    if display is not None:
        display.wait_ready()
        os.environ["DISPLAY"] = display.display


def start_jvm(classpath, options, java_home=None, archive_of=None, quiet_start_compiler=False):
    """Start the JVM with the system Java, or check that the running one fits.

    ``archive_of``, the backend's name and options, lets a missing class
    archive be built first (:mod:`~fijirun.backends.class_archive`).
    ``quiet_start_compiler`` keeps the optimising JIT out of the start-up
    (:mod:`~fijirun.backends.start_compiler`).
    """
    import jpype

    from .class_archive import archive_options
    from .start_compiler import jvm_started_with_directive, start_compiler_options

    if jpype.isJVMStarted():
        running = str(jpype.java.lang.System.getProperty("java.class.path"))
        missing = [p for p in classpath if str(p) not in running]
        if missing:
            raise EngineError(f"a JVM is already running in this process without {missing}; "
                              "JPype cannot restart it: use a fresh process")
        return
    java = find_java(java_home)
    # the start-up compiler's options first: the user's own (later) win over them
    quiet = start_compiler_options(java, options) if quiet_start_compiler else []
    options = [*quiet, *options, *archive_options(java, classpath, archive_of)]
    try:
        jpype.startJVM(str(java.libjvm), *options, classpath=[str(p) for p in classpath],
                       convertStrings=False, interrupt=False)
    except (RuntimeError, OSError) as exc:
        raise EngineError(f"the JVM ({java.home}) did not start: {exc}; check the JVM options "
                          f"({' '.join(o for o in options if o.startswith('-X'))})") from None
    if quiet:
        jvm_started_with_directive()


