"""Running scripts inside a live ImageJ 1.x, unattended.

This is the part shared by every backend whose ImageJ is ImageJ 1.x in this
process's JVM (``imagej1`` directly, ``fiji`` through pyimagej's legacy layer).
The watching itself is Java (:mod:`fijirun.backends.guard`): each script runs
on a Java thread in a thread group of its own, and the guard attributes every
dialog, exception, printed line, command and ``System.exit`` to the run whose
threads caused it — on the thread that caused it, not whenever the AWT event
thread gets to it. A run is read only once it has settled (its script ended,
the event queue flushed, the threads it started ended). This module turns
those facts into Python exceptions:

* a macro error (with ImageJ's own line), ``IJ.error`` (e.g. "Unrecognized
  command"), an exception reported to ImageJ or printed by the script, a
  dialog waiting for a person, ``System.exit``: the run failed;
* ``showMessage`` and ``exit("message")``: kept as messages, the run goes on
  (or ends, as ImageJ's ``-batch`` does);
* what happens outside any run (late painting on the event thread, windows
  closing) never fails a run: it is logged as a warning;
* a run over its timeout, or interrupted with Ctrl-C, is stopped: the macro
  interpreter is aborted, a Jython thread gets ``Thread.stop``;
* ImageJ's Open Samples are served from the session's data directory.

Runs start clean: images, ROI Manager, results tables and Log are cleared,
ImageJ's static macro state reset and global measurement settings restored
before each one — then checked.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from ..data import DataDir
from ..errors import (
    DamagedImageError,
    DialogError,
    EngineError,
    EngineShutDown,
    JythonError,
    MacroError,
    NeedsDataError,
    RunError,
    ScriptError,
    ScriptTimeout,
    UnrecognizedCommandError,
)
from ..prepare import MACRO
from .base import BackendRun
from .process import process_clock, stop_new_child_processes

__all__ = ["IJ1Runtime"]

#: Seconds a reset keeps trying while a macro ImageJ itself runs (not a run's) registers itself.
_RESET_PATIENCE_S = 10.0


def _java_value(value):
    """A boxed Java value of the guard's records as a Python value."""
    if value is None:
        return None
    kind = str(value.getClass().getSimpleName())
    if kind == "Boolean":
        return bool(value.booleanValue())
    if kind in ("Integer", "Long", "Short", "Byte"):
        return int(value.longValue())
    if kind in ("Double", "Float"):
        return float(value.doubleValue())
    return str(value)


def _pairs_dict(pairs, value):
    """{key, value, key, value, ...} from the guard as a dict of str keys and ``value(v)`` values."""
    return {str(pairs[i]): value(pairs[i + 1]) for i in range(0, len(pairs), 2)}


# Frames of a thread waiting on the network (name lookup, connect, read, TLS).
_NETWORK_FRAMES = ("java.net.", "sun.net.", "sun.nio.ch.", "javax.net.ssl.", "sun.security.ssl.",
                   "jdk.internal.net.")
_FRAME_MODULE = re.compile(r"^[\w.@-]*/+")
_MACRO_LINE = re.compile(r"^(?P<msg>.*?) in line (?P<line>\d+)\s*$")
_UNRECOGNIZED = re.compile(r'Unrecognized command: "(?P<cmd>[^"]*)"')
_TRACEBACK_LINE = re.compile(r'File "(?P<file>[^"]*)", line (?P<line>\d+)')
# how long a stopped script may take to end before its thread is stopped harder
_ABORT_GRACE_MS = 2000
# how often the waiting Python thread looks up (Ctrl-C is noticed between slices)
_WAIT_SLICE_MS = 200
# fijirun's own code (warm-up, Jython's first start) is stopped after this long
_PRIVATE_TIMEOUT_S = 120
_WARNING = "[fijirun] warning: "


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null for a moment (output the JVM writes past System.err)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class IJ1Runtime:
    """Hooks into a started ImageJ 1.x and runs scripts in it.

    One per process (the JVM's); the settings of a run (data directory,
    batch mode, timeout) are the caller's, passed with each run, so that two
    sessions in one process never see each other's.

    Parameters
    ----------
    RunGuard : JClass
        The guard's class (:func:`~fijirun.backends.guard.load_guard`) in a JVM
        whose ImageJ has started.
    """

    def __init__(self, RunGuard):
        from jpype import JClass

        self._lock = threading.Lock()
        self.RunGuard = RunGuard
        self.IJ = JClass("ij.IJ")
        self.HashMap = JClass("java.util.HashMap")
        with _stderr_silenced():
            # Java 17 warns on the real stderr that SecurityManagers are deprecated:
            # not news for a user who runs a macro
            self.guard = self.RunGuard.install()
        self._jython_ready = False
        self._ending = False  # set at exit, before the runs' threads are stopped
        self._ctrl_c = 0  # Ctrl-C presses seen (relay_ctrl_c): a run waited for in any thread stops
        self._last_run = None
        self._samples = {}  # data dir root -> java.util.HashMap of sample name -> local path
        self.reset()

    def guard_class(self, name):
        """The class ``name`` of the guard's package (``FinalState``...), loaded beside ``RunGuard``."""
        from jpype import JClass

        return JClass(f"fijirun.guard.{name}", loader=self.RunGuard.class_.getClassLoader())

    def uninstall(self):
        """At exit: stop the threads runs left running, remove the hooks (System.exit allowed again).

        A run still waited for (another thread's) then raises EngineShutDown:
        its script was stopped by the exit, not finished.
        """
        self._ending = True
        self.RunGuard.stopRunThreads()
        self.guard.uninstall()

    def dispose_windows(self):
        """Dispose every AWT window on the event thread."""
        self.RunGuard.disposeAllWindows()

    def script_still_running(self):
        """Whether the last run's script thread survived being stopped (replace this ImageJ)."""
        run = self._last_run
        return run is not None and bool(run.scriptThreadAlive())

    @property
    def exit_guarded(self):
        """Whether ``System.exit`` in a script is refused (Java <= 23)."""
        return bool(self.guard.exitGuarded())

    # ------------------------------------------------------------ running
    def run(self, script, *, timeout, data_dir, batch_mode=True, analysis_dir=None, state_dir=None):
        """Run a prepared script; return a :class:`BackendRun` (error set, not raised).

        With ``state_dir`` (an empty folder), what a run that ended well left
        in ImageJ is written there and described in ``BackendRun.state``
        (:mod:`fijirun.backends.final_state`).

        Raises KeyboardInterrupt (after stopping the script) when interrupted.
        """
        with self._lock:
            if self._ending:  # never start a script the exit is stopping
                raise EngineShutDown("fijirun's engine was shut down (the process is ending): "
                                     "no script can start")
            if script.language != MACRO and not self._jython_ready:
                self._warm_jython()
            self.reset()
            from jpype import JClass

            values = self.HashMap()
            for name, value in script.values.items():
                values.put(name, JClass("java.io.File")(str(value)) if name in script.file_params else value)
            run = self.guard.newRun(script.language, script.text, script.path, script.arg or "",
                                    bool(batch_mode and script.language == MACRO), values,
                                    self._sample_map(data_dir))
            if analysis_dir is not None:
                run.analysisFolder = str(analysis_dir)
            start = time.perf_counter()
            settled, where, settling = self._start_and_wait(run, timeout)
            seconds = time.perf_counter() - start
            return self._outcome(run, script, data_dir, timeout, not settled, seconds, where, settling,
                                 state_dir=state_dir)

    def _start_and_wait(self, run, timeout):
        """Start ``run``, wait until it settles or ``timeout`` seconds pass, then finish it.

        The wait is sliced so that Python sees Ctrl-C within a slice: the run
        is then stopped and finished, and KeyboardInterrupt raised. Returns
        (settled, where, settling); a run not settled in time is stopped, and
        ``where`` is its thread dump, ``settling`` whether its script had ended.
        """
        deadline = time.perf_counter() + timeout
        started = process_clock()  # the programs the run started are stopped with it
        settled, where, settling = True, "", False
        ctrl_c = self._ctrl_c
        run.limitSettling(int(timeout * 1000))  # the wait for its threads ends before this one does
        self.guard.start(run)
        try:
            while not run.waitSettled(_WAIT_SLICE_MS):
                if self._ctrl_c != ctrl_c:  # Ctrl-C while this thread (not the main one) waits
                    raise KeyboardInterrupt
                if time.perf_counter() >= deadline:
                    settled = False
                    where = str(self.RunGuard.threadDump(run))
                    settling = bool(run.scriptEnded)
                    self.guard.terminate(run, _ABORT_GRACE_MS)
                    stop_new_child_processes(started)  # exec()'s program would run on
                    break
        except KeyboardInterrupt:
            self.guard.terminate(run, _ABORT_GRACE_MS)
            stop_new_child_processes(started)
            raise
        finally:
            if not self._ending:
                self.guard.finish(run)
            self._last_run = run
        if self._ending:  # the process is ending (a worker closing, Ctrl-C): never an "ok"
            raise EngineShutDown("the engine shut down while the script ran (the process is ending): "
                                 "the run did not finish")
        return settled, where, settling

    def ctrl_c_pressed(self):
        """Count a Ctrl-C: a run waited for in a thread other than the main one stops too."""
        self._ctrl_c += 1

    _WARM_UP_MACRO = (
        'newImage("fijirun-warm-up", "8-bit ramp", 64, 64, 1);\n'
        'run("Gaussian Blur...", "sigma=1");\n'
        'setAutoThreshold("Default dark");\n'
        'run("Set Measurements...", "area mean centroid redirect=None decimal=3");\n'
        'run("Analyze Particles...", "display clear add");\n'
        'showMessage("fijirun", "warm-up");\n'
        'close("*");\n'
        # a GenericDialog (ImageJ's macro-error and parameter dialogs are ones): the
        # guard closes it and stops this macro, as it would a script's
        'Dialog.create("fijirun warm-up");\n'
        'Dialog.addNumber("n", 1);\n'
        'Dialog.show();\n'
    )

    def warm_up(self, languages=("ijm", "jython")):
        """Do ImageJ's first-time work now, outside any run and its timeout.

        The first window, dialog, particle analysis and Jython script of a JVM
        load classes and set up AWT: seconds on a loaded two-core machine, which
        a short timeout must not count against the first script.
        """
        with self._lock:
            if "jython" in languages and not self._jython_ready:
                self._warm_jython()
            if "ijm" in languages:
                self.reset()
                self._private_run("ijm", self._WARM_UP_MACRO)
                self.guard.drainStray()
                self.reset()

    def _private_run(self, language, code):
        """Run fijirun's own code through the guard, outside any user's run; (run, settled)."""
        run = self.guard.newRun(language, code, "<fijirun warm-up>", "", False, self.HashMap(), self.HashMap())
        settled, _, _ = self._start_and_wait(run, _PRIVATE_TIMEOUT_S)
        return run, settled

    def _warm_jython(self):
        """Initialise Jython's classes once, outside any user's run.

        A script stopped at its timeout (``Thread.stop``) while Jython
        initialises a class (the first traceback, the first import) would leave
        that class broken for every later run of this JVM.
        """
        code = "import sys\ntry:\n    raise ValueError('warm-up')\nexcept ValueError:\n    sys.exc_info()\n"
        run, settled = self._private_run("jython", code)
        if not settled or run.failure is not None:
            raise EngineError(f"Jython does not start in this ImageJ: {run.failure}")
        self._jython_ready = True

    def _outcome(self, run, script, data_dir, timeout, timed_out, seconds, where="", settling=False,
                 state_dir=None):
        messages, warnings = [], []
        error = None
        for event in run.eventArray():
            kind = str(event.kind)
            if kind == "message":
                messages.append(f"{event.title}: {str(event.text).strip()}")
            elif kind == "exit-message":
                messages.append(f"exit: {str(event.text).strip()}")
            elif error is None:
                error = self._event_error(event, script, data_dir)
        printed = str(run.console())
        jython_output = str(run.jythonOutput())
        if error is None and run.failure is not None:
            error = self._failure_error(run.failure, script)
        elif error is not None and run.failure is not None and script.language != MACRO and not error.line:
            line = self._traceback_line(str(run.failure.toString()), script.path)
            if line:
                error.line, error.source = line, script.line_text(line)
                error.args = (error._format(),)
        if error is None:
            error = self._printed_exception(script, printed)
        if error is None:
            error = self._damaged_input(run, script)
        alive = bool(run.scriptThreadAlive())
        if timed_out:
            note = " (its script had ended; the run was settling)" if settling else ""
            error = self._stopped_downloading(where, script, timeout) or ScriptTimeout(
                f"stopped after the {timeout:g} s timeout{note}", path=script.path)
            warnings.append("where the script's threads and the event thread were at the timeout:\n" + where)
        for name in run.survivorArray():
            warnings.append(f"thread '{name}' started by the script was still running when it ended")
        if alive:
            warnings.append("the script's thread could not be stopped: this ImageJ should be replaced")
        stray = str(self.guard.drainStray())
        if stray.strip():
            warnings.extend(f"outside the script: {line}" for line in stray.strip().splitlines()[:50])
        log = self._log()
        if jython_output:
            log = (log + "\n" if log else "") + jython_output
        if printed.strip():
            log = (log + "\n" if log else "") + printed
        state = None
        if state_dir is not None and error is None:
            from .final_state import capture_state

            state = capture_state(self, Path(state_dir), log)
        if warnings:
            log = (log + "\n" if log else "") + "\n".join(_WARNING + w for w in warnings)
        if error is not None and not error.log:
            error.log = log
        commands = [{"command": str(c[0]), "options": str(c[1])} for c in run.commandArray()]
        value = run.returnValue
        analyses = [_pairs_dict(pairs, _java_value) for pairs in run.analysisArray()]
        writes = _pairs_dict(run.writeArray(), int)
        return BackendRun(log=log, commands=commands, messages=messages, error=error, seconds=seconds,
                          return_value=str(value) if value is not None else None,
                          warnings=warnings, runaway=alive, analyses=analyses, writes=writes,
                          state=state)

    # ------------------------------------------------------------ classification
    def _event_error(self, event, script, data_dir):
        kind, title, text = str(event.kind), str(event.title), str(event.text)
        stack = str(event.stack)
        line = int(event.line) or None
        where = dict(path=script.path)
        if kind == "error-dialog":
            if "ij.macro.Interpreter.showError(" in stack or title == "Macro Error":
                first = text.split("\n")[0].strip()
                m = _MACRO_LINE.match(first)
                if m and script.language == MACRO:
                    message, line = m.group("msg"), int(m.group("line"))
                elif m:  # a macro a Jython script ran (IJ.runMacro): the script's line is Jython's
                    message = f"{m.group('msg')} (line {m.group('line')} of the macro it ran)"
                else:
                    message = first
                return (self._unrecognized(message, script, line)
                        or self._needs_data(message, script, data_dir, line)
                        or MacroError(message, line=line, source=script.line_text(line), **where))
            return (self._unrecognized(text, script, line) or self._needs_data(text, script, data_dir, line)
                    or ScriptError(f"{title}: {text.strip()}", line=line, source=script.line_text(line), **where))
        if kind in ("dialog", "wait-dialog"):
            # ImageJ's own message, however it was shown (Fiji may not go through IJ.error)
            return self._unrecognized(text, script, line) or DialogError(
                f"the script opened a dialog that waits for a person: '{title}'"
                + (f": {text.strip()}" if text.strip() else ""), line=line, source=script.line_text(line),
                **where)
        if kind == "exception":
            err_cls = MacroError if script.language == MACRO else JythonError
            return err_cls(f"Java exception: {text}", line=line, source=script.line_text(line), log=stack,
                           **where)
        if kind == "exit":
            return RunError(f"the script called {title}({text})", line=line,
                            source=script.line_text(line), **where)
        if kind == "needs-data":
            from jpype import JClass

            url = str(JClass("ij.Prefs").getImagesURL() or "https://imagej.net/images/") + title
            return NeedsDataError(title, url=url, **where)
        return RunError(f"{kind}: {title}: {text}", line=line, **where)

    @staticmethod
    def _unrecognized(text, script, line):
        """ImageJ's "Unrecognized command" in ``text`` as an UnrecognizedCommandError, else None."""
        u = _UNRECOGNIZED.search(text)
        if u is None:
            return None
        return UnrecognizedCommandError(u.group("cmd"), line=line, source=script.line_text(line), path=script.path)

    @staticmethod
    def _damaged_input(run, script):
        """A run that read a truncated or corrupt image failed (ImageJ reads it as if whole)."""
        from ..integrity import image_damage

        for path in run.readArray():
            damage = image_damage(str(path))
            if damage:
                return DamagedImageError(f"the image {path} is {damage}", path=script.path)
        return None

    def _needs_data(self, message, script, data_dir, line=None):
        """A failed open of a URL that the data directory does not have."""
        for url, local in script.urls.items():
            if local is None:
                name = data_dir.file_name(url)
                if url in message or name in message or "URL" in message or "url" in message:
                    return NeedsDataError(name, url=url, path=script.path, line=line,
                                          source=script.line_text(line))
        return None

    @staticmethod
    def _stopped_downloading(where, script, timeout):
        """A timeout that caught the script fetching a URL the data directory lacks.

        Offline, such an ``open(url)`` fails at once when the name server answers
        and waits seconds when it drops a query: the same script would be
        ``needs-data`` or ``timeout`` by the network's timing. It needs data either way.
        """
        missing = [url for url, local in script.urls.items() if local is None]
        if not missing:
            return None
        for block in where.split('\n"'):
            name = block.lstrip('"').split('"', 1)[0]
            if name.startswith("AWT-EventQueue"):
                continue
            # "at java.base@17.0.15/sun.nio.ch.Net.poll(...)", "at app//ij.io.Opener...": drop the module
            frames = [_FRAME_MODULE.sub("", f.strip()[3:]) for f in block.splitlines()[1:13]
                      if f.strip().startswith("at ")]
            if any(f.startswith(_NETWORK_FRAMES) for f in frames):
                url = missing[0]
                return NeedsDataError(DataDir.file_name(url), url=url, path=script.path,
                                      reason=f"its download did not finish within the {timeout:g} s timeout")
        return None

    def _failure_error(self, failure, script):
        """The error of an exception the script's thread ended with (None: not an error)."""
        name = str(failure.getClass().getName())
        text = str(failure.toString())
        message = str(failure.getMessage() or "")
        if name == "java.lang.ThreadDeath" or "Macro canceled" in message or "Macro canceled" in text:
            return None  # exit, abort, or an error already reported through its dialog
        if name.startswith("org.python"):
            if "SystemExit" in text and re.search(r"SystemExit(?::\s*(?:0|None))?\s*$", text.strip()):
                return None  # sys.exit() / sys.exit(0): the script ended early, as Python does
            line = self._traceback_line(text, script.path)
            last = [s for s in text.strip().splitlines() if s.strip()]
            summary = last[-1].strip() if last else text
            if "SyntaxError" in text and "SyntaxError" not in summary:
                summary = "SyntaxError: " + summary
            return JythonError(summary, line=line, source=script.line_text(line), path=script.path, log=text)
        err_cls = MacroError if script.language == MACRO else JythonError
        return err_cls(f"{name}: {message}", path=script.path)

    @staticmethod
    def _traceback_line(text, path):
        """The innermost line of ``path`` in a Jython traceback (or a SyntaxError's line)."""
        line = None
        for m in _TRACEBACK_LINE.finditer(text):
            if m.group("file") == path:
                line = int(m.group("line"))
        if line is None:
            m = re.search(r"line (\d+)", text)
            line = int(m.group(1)) if m else None
        return line

    _PRINTED_EXCEPTION = re.compile(
        r"^(?:Exception in thread .*?)?(?P<exc>(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))"
        r"(?::(?P<msg>[^\n]*))?\n\s+at ", re.M)

    def _printed_exception(self, script, printed):
        """A run whose own threads printed a Java exception failed."""
        m = self._PRINTED_EXCEPTION.search(printed) if printed else None
        if m is None:
            return None
        err_cls = MacroError if script.language == MACRO else JythonError
        message = f"Java exception printed: {m.group('exc')}" + (f":{m.group('msg')}" if m.group("msg") else "")
        return err_cls(message.strip(), path=script.path, log=printed)

    # ------------------------------------------------------------ state
    def _sample_map(self, data_dir):
        """File > Open Samples names → local copies in ``data_dir`` (as a Java map, per data dir)."""
        key = str(getattr(data_dir, "root", data_dir))
        cached = self._samples.get(key)
        if cached is not None:
            return cached
        samples = self.HashMap()
        for name in self.RunGuard.sampleNames():
            local = data_dir.resolve_name(str(name))
            samples.put(name, str(local) if local is not None else "")
        self._samples[key] = samples
        return samples

    def _log(self):
        text = self.IJ.getLog()
        return str(text) if text is not None else ""

    def reset(self):
        """Bring ImageJ to the state every run starts from, and check that it is there."""
        self.RunGuard.resetState()
        unclean = list(self.RunGuard.uncleanState())
        if unclean:
            self.dispose_windows()
            # A macro ImageJ runs on a thread of its own (Fiji's start-up runs its own
            # macros so) registers its interpreter again after the reset removed it: seen
            # once, the first one-shot run on Fiji failed "a macro interpreter is still
            # registered". The reset is tried again until the state is clean.
            deadline = time.perf_counter() + _RESET_PATIENCE_S
            while True:
                self.RunGuard.resetState()
                unclean = list(self.RunGuard.uncleanState())
                if not unclean or time.perf_counter() >= deadline:
                    break
                time.sleep(0.05)
            if unclean:
                raise EngineError("ImageJ could not be reset before the run: " + "; ".join(map(str, unclean)))
        self.guard.drainStray()  # what the previous run's windows did while closing


def relay_ctrl_c(runtime):
    """Let Ctrl-C stop a run waited for in any thread, not only in the main one.

    Python raises KeyboardInterrupt in the main thread only: a run waited for
    in a worker thread (a ``ThreadPoolExecutor`` task) ran on to its end or
    its timeout, and the process with it. When Ctrl-C is Python's default
    (``signal.default_int_handler``), the handler installed here first tells
    ``runtime`` (every waiting run stops and raises KeyboardInterrupt in its
    own thread), then raises KeyboardInterrupt as before. A handler of the
    application's own (an event loop's, Dask's) is left alone, and so is the
    process when the engine starts in a thread other than the main one.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def on_ctrl_c(signum, frame):
        runtime.ctrl_c_pressed()
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_ctrl_c)
