"""Running scripts inside a live ImageJ 1.x, unattended.

This is the part shared by every backend whose ImageJ is ImageJ 1.x in this
process's JVM (``imagej1`` directly, ``fiji`` through pyimagej's legacy layer).
It turns ImageJ's interactive error reporting into Python exceptions:

* every dialog ImageJ opens is seen as it opens (an AWT window listener),
  read, closed and classified by what the script thread was doing at that
  moment (its Java stack): a macro error, ``IJ.error`` (e.g. "Unrecognized
  command"), ``exit("...")``, a dialog waiting for input — or a plain
  ``showMessage``, which is kept as a message and lets the run go on;
* exceptions ImageJ would show in an "Exception" window go to a handler;
* every command ImageJ executes is recorded with its options (run.json);
* a run over its timeout, or interrupted with Ctrl-C, is stopped: the macro
  interpreter is aborted, a Jython thread gets ``Thread.stop``;
* ImageJ's Open Samples are served from the data directory.

Runs start clean: images, ROI Manager, results tables and Log are cleared and
global measurement settings restored before each one.
"""

from __future__ import annotations

import re
import threading
import time

from ..errors import (
    DialogError,
    JythonError,
    MacroError,
    NeedsDataError,
    RunError,
    ScriptError,
    ScriptTimeout,
    UnrecognizedCommandError,
)
from ..prepare import JYTHON, MACRO
from .base import BackendRun

__all__ = ["IJ1Runtime"]

_MACRO_LINE = re.compile(r"^(?P<msg>.*?) in line (?P<line>\d+)\s*$", re.S)
_UNRECOGNIZED = re.compile(r'Unrecognized command: "(?P<cmd>[^"]*)"')
_URL_OPENER = re.compile(r'^ij\.plugin\.URLOpener\("(?P<name>[^"]+)"\)$')
# how long an aborted script may take to notice before its thread is stopped
_ABORT_GRACE = 2.0


class _RunState:
    """The one run in progress: its thread, its interpreter, what went wrong."""

    def __init__(self, script):
        self.script = script
        self.java_thread = None
        self.macro_interp = None
        self.error = None
        self.messages = []
        self.commands = []
        self.return_value = None
        self.output = []  # Jython stdout/stderr

    def fail(self, error):
        # the first error is the cause; later ones are its consequences
        if self.error is None:
            self.error = error


class IJ1Runtime:
    """Hooks into a started ImageJ 1.x and runs scripts in it.

    Parameters
    ----------
    data_dir : fijirun.data.DataDir
        Where sample images are looked up.
    batch_mode : bool
        Run macros with ImageJ's batch mode on (no image windows: faster, as
        with ``-batch``). Jython scripts always run with windows, on the display.
    """

    def __init__(self, data_dir, batch_mode=True):
        from jpype import JClass

        self.data_dir = data_dir
        self.batch_mode = batch_mode
        self._current = None
        self._lock = threading.Lock()
        J = JClass
        self.IJ = J("ij.IJ")
        self.WindowManager = J("ij.WindowManager")
        self.Interpreter = J("ij.macro.Interpreter")
        self.Macro = J("ij.Macro")
        self.Menus = J("ij.Menus")
        self.Prefs = J("ij.Prefs")
        self.Analyzer = J("ij.plugin.filter.Analyzer")
        self.ResultsTable = J("ij.measure.ResultsTable")
        self.RoiManager = J("ij.plugin.frame.RoiManager")
        self.ParticleAnalyzer = J("ij.plugin.filter.ParticleAnalyzer")
        self.TextWindow = J("ij.text.TextWindow")
        self.Thread = J("java.lang.Thread")
        self.Dialog = J("java.awt.Dialog")
        self.WindowEvent = J("java.awt.event.WindowEvent")
        self._jython_class = None
        self._install_hooks()
        self._defaults = self._snapshot_settings()
        self.reset()

    # ------------------------------------------------------------ hooks
    def _install_hooks(self):
        from jpype import JClass, JImplements, JOverride

        runtime = self

        @JImplements("ij.CommandListener")
        class CommandRecorder:
            @JOverride
            def commandExecuting(self, command):
                return runtime._on_command(command)

        @JImplements("ij.IJ$ExceptionHandler")
        class ExceptionRecorder:
            @JOverride
            def handle(self, throwable):
                runtime._on_exception(throwable)

        @JImplements("java.awt.event.AWTEventListener")
        class DialogWatcher:
            @JOverride
            def eventDispatched(self, event):
                if event.getID() == runtime.WindowEvent.WINDOW_OPENED:
                    window = event.getWindow()
                    if isinstance(window, runtime.Dialog):
                        runtime._on_dialog(window)

        # keep references: the JVM only holds weak proxies
        self._hooks = (CommandRecorder(), ExceptionRecorder(), DialogWatcher())
        JClass("ij.Executer").addCommandListener(self._hooks[0])
        self.IJ.setExceptionHandler(self._hooks[1])
        AWTEvent = JClass("java.awt.AWTEvent")
        JClass("java.awt.Toolkit").getDefaultToolkit().addAWTEventListener(
            self._hooks[2], AWTEvent.WINDOW_EVENT_MASK)

    def uninstall(self):
        """Remove the hooks (before the JVM shuts down: no calls into Python then)."""
        from jpype import JClass

        JClass("ij.Executer").removeCommandListener(self._hooks[0])
        self.IJ.setExceptionHandler(None)
        JClass("java.awt.Toolkit").getDefaultToolkit().removeAWTEventListener(self._hooks[2])

    def dispose_windows(self):
        """Dispose every AWT window on the event thread (AWT is not thread-safe)."""
        from jpype import JClass, JImplements, JOverride

        Window = JClass("java.awt.Window")

        @JImplements("java.lang.Runnable")
        class DisposeAll:
            @JOverride
            def run(self):
                for window in Window.getWindows():
                    window.dispose()

        JClass("java.awt.EventQueue").invokeAndWait(DisposeAll())

    def _on_command(self, command):
        state = self._current
        cmd = str(command)
        options = self.Macro.getOptions()
        if state is not None:
            state.commands.append({"command": cmd, "options": str(options).strip() if options else ""})
        target = self.Menus.getCommands().get(command)
        m = _URL_OPENER.match(str(target)) if target is not None else None
        if m and m.group("name") not in ("cache",) and not m.group("name").endswith(".txt"):
            return self._open_sample(m.group("name"), state)
        return command

    def _open_sample(self, name, state):
        """File > Open Samples, served from the data directory."""
        local = self.data_dir.resolve_name(name)
        if local is None:
            if state is not None:
                url = str(self.Prefs.getImagesURL() or "https://imagej.net/images/") + name
                state.fail(NeedsDataError(name, url=url, path=state.script.path))
                self._abort(state)
            return None
        imp = self.IJ.openImage(str(local))
        if imp is not None:
            imp.show()
        return None  # handled: ImageJ must not fetch it

    def _on_exception(self, throwable):
        state = self._current
        from jpype import JClass

        writer = JClass("java.io.StringWriter")()
        throwable.printStackTrace(JClass("java.io.PrintWriter")(writer))
        text = str(writer.toString())
        if state is None:
            return
        err_cls = MacroError if state.script.language == MACRO else JythonError
        line = self._macro_line(state) if state.script.language == MACRO else None
        state.fail(err_cls(f"Java exception: {throwable}", line=line,
                           source=state.script.line_text(line), path=state.script.path,
                           log=text))
        self._abort(state)

    # ------------------------------------------------------------ dialogs
    @staticmethod
    def _dialog_text(window):
        """All the text a dialog shows, top to bottom."""
        from jpype import JClass

        Label = JClass("java.awt.Label")
        TextComponent = JClass("java.awt.TextComponent")
        Container = JClass("java.awt.Container")
        MultiLineLabel = JClass("ij.gui.MultiLineLabel")
        lines_field = MultiLineLabel.class_.getDeclaredField("lines")
        lines_field.setAccessible(True)
        out = []

        def walk(component):
            if isinstance(component, MultiLineLabel):
                out.extend(str(s) for s in lines_field.get(component))
            elif isinstance(component, Label):
                out.append(str(component.getText()))
            elif isinstance(component, TextComponent):
                out.append(str(component.getText()))
            elif hasattr(component, "getText") and "JLabel" in str(component.getClass().getName()):
                out.append(str(component.getText()))
            if isinstance(component, Container):
                for child in component.getComponents():
                    walk(child)

        walk(window)
        return "\n".join(s for s in out if s is not None)

    def _script_stack(self, state):
        if state is None or state.java_thread is None:
            return ""
        return " ".join(f"{f.getClassName()}.{f.getMethodName()}" for f in state.java_thread.getStackTrace())

    def _on_dialog(self, window):
        title = str(window.getTitle() or "")
        text = self._dialog_text(window)
        state = self._current
        stack = self._script_stack(state)
        window.dispose()  # a modal dialog returns to its caller
        if state is None:
            return
        script = state.script
        where = dict(path=script.path)
        if "ij.macro.Interpreter.showError" in stack or title == "Macro Error":
            m = _MACRO_LINE.match(text.split("\n \n")[0].strip())
            message, line = (m.group("msg"), int(m.group("line"))) if m else (text.strip(), None)
            line = line or self._macro_line(state)
            message = message.split("\n")[0].strip()
            u = _UNRECOGNIZED.search(message)
            if u:
                state.fail(UnrecognizedCommandError(u.group("cmd"), line=line,
                                                    source=script.line_text(line), **where))
            else:
                err = self._needs_data(message, state) or MacroError(
                    message, line=line, source=script.line_text(line), **where)
                state.fail(err)
            return  # the interpreter stops by itself after showError
        line = self._macro_line(state) if script.language == MACRO else None
        src = script.line_text(line)
        if "ij.IJ.error" in stack:
            u = _UNRECOGNIZED.search(text)
            if u:
                state.fail(UnrecognizedCommandError(u.group("cmd"), line=line, source=src, **where))
            else:
                state.fail(self._needs_data(text, state)
                           or ScriptError(f"{title}: {text.strip()}", line=line, source=src, **where))
        elif "ij.macro.Functions.exit" in stack:
            state.fail(MacroError(f"exit: {text.strip()}", line=line, source=src, **where))
        elif "showMessage" in stack and "WaitForUser" not in stack:
            state.messages.append(f"{title}: {text.strip()}")
            return  # information only: the script goes on
        else:
            state.fail(DialogError(
                f"the script opened a dialog that waits for a person: '{title}'"
                + (f": {text.strip()}" if text.strip() else ""), line=line, source=src, **where))
        self._abort(state)

    def _needs_data(self, message, state):
        """A failed open of a URL that the data directory does not have."""
        for url, local in state.script.urls.items():
            if local is None:
                name = self.data_dir.file_name(url)
                if url in message or name in message or "URL" in message or "url" in message:
                    return NeedsDataError(name, url=url, path=state.script.path)
        return None

    def _macro_line(self, state):
        interp = state.macro_interp if state else None
        try:
            return int(interp.getLineNumber()) or None if interp is not None else None
        except Exception:  # noqa: BLE001 - the interpreter may be gone
            return None

    # ------------------------------------------------------------ running
    def _abort(self, state):
        """Ask the running script to stop (asynchronously)."""
        if state.macro_interp is not None:
            state.macro_interp.abortMacro()
        elif state.java_thread is not None and state.script.language == JYTHON:
            # Jython has no cooperative abort; Thread.stop raises ThreadDeath in it.
            # Give ImageJ's own abort (IJ.error -> "Macro canceled") a moment: an
            # exception raised in the script carries the right traceback line.
            threading.Timer(0.5, self._stop_thread, args=(state,)).start()

    def _stop_thread(self, state):
        thread = state.java_thread
        if thread is not None and thread.isAlive():
            try:
                thread.stop()
            except Exception:  # noqa: BLE001 - Java >= 20 refuses Thread.stop
                thread.interrupt()

    def run(self, script, *, timeout):
        """Run a prepared script; return a :class:`BackendRun` (error set, not raised)."""
        with self._lock:
            self.reset()
            state = _RunState(script)
            worker = threading.Thread(target=self._execute, args=(state,), daemon=True,
                                      name=f"fijirun-{script.language}")
            start = time.perf_counter()
            self._current = state
            console = self._capture_console()
            try:
                worker.start()
                worker.join(timeout)
                if worker.is_alive():
                    state.error = None  # the timeout is the cause, whatever the script reported
                    state.fail(ScriptTimeout(f"stopped after the {timeout:g} s timeout",
                                             path=script.path))
                    self._terminate(state, worker)
            except KeyboardInterrupt:
                state.fail(RunError("interrupted (Ctrl-C)", path=script.path))
                self._terminate(state, worker)
                raise
            finally:
                seconds = time.perf_counter() - start
                self._current = None
                printed = self._release_console(console)
                self._check_console(state, printed)
                log = self._log()
                if state.output:
                    log = (log + "\n" if log else "") + "".join(state.output)
                if printed.strip():
                    log = (log + "\n" if log else "") + printed
                if state.error is not None and not state.error.log:
                    state.error.log = log
                if self.batch_mode:
                    self.Interpreter.batchMode = False
            return BackendRun(log=log, commands=state.commands, messages=state.messages,
                              error=state.error, seconds=seconds, return_value=state.return_value)

    def _capture_console(self):
        """Send Java's System.out/err to a buffer for the run.

        Headless ImageJ reports some errors only there (IJ.error without an
        ImageJ window, plugins' printStackTrace): they must not be lost.
        """
        from jpype import JClass

        System = JClass("java.lang.System")
        buffer = JClass("java.io.ByteArrayOutputStream")()
        stream = JClass("java.io.PrintStream")(buffer, True, "UTF-8")
        saved = (System.out, System.err)
        System.setOut(stream)
        System.setErr(stream)
        return buffer, saved

    def _release_console(self, console):
        from jpype import JClass

        buffer, (out, err) = console
        System = JClass("java.lang.System")
        System.setOut(out)
        System.setErr(err)
        return str(buffer.toString("UTF-8"))

    _PRINTED_EXCEPTION = re.compile(
        r"^(?:Exception in thread .*?)?(?P<exc>(?:[a-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))(?::(?P<msg>[^\n]*))?\n\s+at ",
        re.M)

    def _check_console(self, state, printed):
        """A run that printed a Java exception is a failed run."""
        if state.error is not None or not printed:
            return
        m = self._PRINTED_EXCEPTION.search(printed)
        if m:
            script = state.script
            err_cls = MacroError if script.language == MACRO else JythonError
            message = f"Java exception printed: {m.group('exc')}" + (f":{m.group('msg')}" if m.group("msg") else "")
            state.fail(err_cls(message.strip(), path=script.path, log=printed))

    def _terminate(self, state, worker):
        self._abort(state)
        worker.join(_ABORT_GRACE)
        if worker.is_alive():
            self._stop_thread(state)
            worker.join(_ABORT_GRACE)

    def _execute(self, state):
        from jpype import JException

        self.Thread.attachAsDaemon()  # never keep the JVM alive at exit
        state.java_thread = self.Thread.currentThread()
        script = state.script
        try:
            # Batch mode for macros only: ImageJ's batch mode swaps in a hidden ROI
            # Manager, which Jython scripts holding their own RoiManager() never see.
            if self.batch_mode and script.language == MACRO:
                self.Interpreter.batchMode = True
            if script.language == MACRO:
                self._execute_macro(state)
            else:
                self._execute_jython(state)
        except JException as exc:
            self._classify_exception(state, exc)
        except Exception as exc:  # noqa: BLE001 - reported, never swallowed
            state.fail(RunError(f"{type(exc).__name__}: {exc}", path=script.path))
        finally:
            # a Python thread that ends while attached leaves a dead Java thread
            # behind; thousands of them crash the JVM at shutdown
            self.Thread.detach()

    def _execute_macro(self, state):
        interp = self.Interpreter()
        state.macro_interp = interp
        value = interp.run(state.script.text, state.script.arg)
        state.return_value = str(value) if value is not None else None

    def _jython(self):
        if self._jython_class is None:
            from jpype import JClass

            try:
                self._jython_class = JClass("org.python.util.PythonInterpreter")
            except Exception as exc:  # noqa: BLE001
                raise RunError("Jython is not on the class path: install it "
                               "(apt-get install jython) or set FIJIRUN_JYTHON_JAR") from exc
        return self._jython_class

    def _execute_jython(self, state):
        from jpype import JClass

        script = state.script
        PythonInterpreter = self._jython()
        interp = PythonInterpreter()
        StringWriter = JClass("java.io.StringWriter")
        out = StringWriter()
        interp.setOut(out)
        interp.setErr(out)
        File = JClass("java.io.File")
        for name, value in script.values.items():
            if name in script.file_params:
                interp.set(name, File(str(value)))
            else:
                interp.set(name, value)
        try:
            code = interp.compile(script.text, script.path)
            interp.exec_(code)
        finally:
            state.output.append(str(out.toString()))
            interp.cleanup()

    def _classify_exception(self, state, exc):
        script = state.script
        name = str(exc.getClass().getName())
        text = str(exc.toString())
        line = self._traceback_line(text, script.path) if name.startswith("org.python") else None
        if state.error is not None:
            # we stopped it, or its cause is already recorded; Jython's traceback
            # knows the line better than the Java stack did
            if line and isinstance(state.error, RunError) and not isinstance(state.error, ScriptTimeout):
                state.error.line, state.error.source = line, script.line_text(line)
                state.error.args = (state.error._format(),)
            return
        message = str(exc.getMessage() or "")
        if name == "java.lang.ThreadDeath" or "Macro canceled" in message or "Macro canceled" in text:
            return  # exit, abort, or an error already reported through its dialog
        if name.startswith("org.python"):
            last = [s for s in text.strip().splitlines() if s.strip()]
            summary = last[-1].strip() if last else text
            if "SyntaxError" in text and "SyntaxError" not in summary:
                summary = "SyntaxError: " + summary
            state.fail(JythonError(summary, line=line, source=script.line_text(line),
                                   path=script.path, log=text))
            return
        line = self._macro_line(state) if script.language == MACRO else None
        err_cls = MacroError if script.language == MACRO else JythonError
        state.fail(err_cls(f"{name}: {message}", line=line, source=script.line_text(line), path=script.path))

    @staticmethod
    def _traceback_line(text, path):
        """The innermost line of ``path`` in a Jython traceback (or a SyntaxError's line)."""
        line = None
        for m in re.finditer(r'File "(?P<file>[^"]*)", line (?P<line>\d+)', text):
            if m.group("file") == path:
                line = int(m.group("line"))
        if line is None:
            m = re.search(r"line (\d+)", text)
            line = int(m.group(1)) if m else None
        return line

    # ------------------------------------------------------------ state
    def _snapshot_settings(self):
        """The settings every run starts with: ImageJ's defaults, not the user's IJ_Prefs.

        Results must not depend on what someone clicked in their ImageJ last
        week, nor differ between backends: Set Measurements starts at Area,
        Mean, Min & Max with 3 decimals, and binary images are white on black
        (Process > Binary > Options > Black background, on in current Fiji).
        """
        from jpype import JClass

        Measurements = JClass("ij.measure.Measurements")
        return {
            "measurements": int(Measurements.AREA | Measurements.MEAN | Measurements.MIN_MAX),
            "precision": 3,
            "black_background": True,
        }

    def _log(self):
        text = self.IJ.getLog()
        return str(text) if text is not None else ""

    def reset(self):
        """Close every image and table, empty the ROI Manager and Log, restore settings."""
        # batch-mode images are only listed while batch mode is on
        self.Interpreter.batchMode = True
        ids = self.WindowManager.getIDList()
        if ids is not None:
            for image_id in ids:
                imp = self.WindowManager.getImage(image_id)
                if imp is not None:
                    imp.changes = False
                    imp.close()
        self.Interpreter.batchMode = False
        self.WindowManager.setTempCurrentImage(None)
        manager = self.RoiManager.getInstance()
        if manager is not None:
            manager.reset()
            manager.close()  # a script's RoiManager() must find no leftover window
        # ParticleAnalyzer keeps static targets that a script may have set
        self.ParticleAnalyzer.setRoiManager(None)
        self.ParticleAnalyzer.setResultsTable(None)
        self.ParticleAnalyzer.setSummaryTable(None)
        # The system Results table is emptied, its window kept: closing and
        # re-creating it costs more than a whole small analysis.
        results = self.ResultsTable.getResultsTable()
        if results.size() > 0 or results.getLastColumn() >= 0:
            results.reset()
            if self.WindowManager.getWindow("Results") is not None:
                results.show("Results")  # the window's text is what saveAs("Results") saves
        for frame in list(self.WindowManager.getNonImageWindows() or []):
            if isinstance(frame, self.TextWindow) and str(frame.getTitle()) not in ("Log", "Results"):
                frame.close(False)
        log = self.IJ.getLog()
        if log is not None and len(log) > 0:
            self.IJ.log("\\Clear")
        self.IJ.getErrorMessage()  # clears ImageJ's last error
        self.IJ.resetEscape()
        d = self._defaults
        self.Analyzer.setMeasurements(d["measurements"])
        self.Analyzer.setPrecision(d["precision"])
        self.Prefs.blackBackground = d["black_background"]
        self.Analyzer.setRedirectImage(None)
