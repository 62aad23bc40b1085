"""What the in-process ImageJ 1.x backends share (``imagej1`` and ``fiji``).

Both start a JVM in this process, create an ImageJ 1.x instance without
showing it, and run scripts with :class:`~fijirun.backends.ij1_runtime.IJ1Runtime`.
They differ only in how the JVM and ImageJ come to be: :meth:`_boot`.
"""

from __future__ import annotations

import atexit
import os

from ..errors import EngineError
from .base import Backend
from .ij1_runtime import IJ1Runtime, relay_ctrl_c
from .process import (
    PROCESS,
    START_LOCK,
    check_engine_usable,
    private_home,
    release_process_files,
    shutdown_process,
)
from .start_compiler import allow_full_compiler

__all__ = ["InProcessBackend"]


class InProcessBackend(Backend):
    """A backend whose ImageJ 1.x lives in this process's JVM."""

    def __init__(self, data_dir, *, batch_mode=True, java_home=None, memory="2g", jvm_options=()):
        self.data_dir = data_dir
        self.batch_mode = batch_mode
        self.java_home = java_home
        self.memory = memory
        if isinstance(jvm_options, str):
            jvm_options = jvm_options.split()
        self.jvm_options = tuple(jvm_options or ())
        self.runtime = None

    def start(self):
        """Start the JVM and ImageJ, or take over those this process already runs.

        Returns
        -------
        InProcessBackend
            This backend, started.

        Raises
        ------
        EngineError
            This process already runs the other backend (a JVM cannot be
            restarted), ImageJ or Java cannot be found, or the JVM does not
            start; the process was forked from one running the engine.
        EngineShutDown
            The engine was shut down at exit.
        """
        check_engine_usable()
        if self.runtime is not None:
            return self
        with START_LOCK:
            return self._start_once()

    def _start_once(self):
        if self.runtime is not None:
            return self
        if PROCESS["runtime"] is not None:
            if PROCESS["backend"] != self.name:
                raise EngineError(f"this process already runs the {PROCESS['backend']} backend; "
                                  "a JVM cannot be restarted: use another process")
            self.runtime = PROCESS["runtime"]
            self._reuse()
            return self
        PROCESS["pid"] = os.getpid()  # what a forked child must not use (check_engine_usable)
        try:
            self._boot()
        except BaseException:
            import jpype

            if not jpype.isJVMStarted():
                PROCESS["pid"] = None
            # a JVM that did not start leaves nothing behind: no home folder, no Xvfb
            release_process_files()
            display, PROCESS["display"] = PROCESS["display"], None
            if display is not None:
                display.stop()
            raise
        # at exit the process ends: no second of waiting for AWT's threads to wind down
        atexit.register(shutdown_process, wait_for_awt=False)
        from .guard import load_guard

        try:
            RunGuard = load_guard(self.java_home)
            # ImageJ's preferences file is a private, empty one (imagej1: before ImageJ reads
            # it; fiji: Fiji has read the user's, only its writes go there): a script's
            # run("Quit") never rewrites the user's ~/.imagej/IJ_Prefs.txt
            RunGuard.usePrefsDir(str(private_home()))
            if self._wants_imagej_instance():
                RunGuard.startImageJ()  # errors reach dialogs the runtime reads, not stdout
            self.runtime = IJ1Runtime(RunGuard)
        finally:
            # start-up is over (or failed with the JVM up): scripts get the optimising JIT
            allow_full_compiler()
        PROCESS["runtime"], PROCESS["backend"] = self.runtime, self.name
        relay_ctrl_c(self.runtime)
        return self

    def _boot(self):
        """Start the JVM (and the display) with this backend's ImageJ."""
        raise NotImplementedError

    def _archive_options(self):
        """The options a child needs to start this same engine (it builds the class archive).

        The options every in-process backend has, and :meth:`_own_archive_options`.
        """
        options = {"memory": self.memory, "jvm_options": list(self.jvm_options)}
        if self.java_home is not None:
            options["java_home"] = str(self.java_home)
        return options | self._own_archive_options()

    def _own_archive_options(self):
        """The backend's own part of :meth:`_archive_options` (paths as strings)."""
        return {}

    def _reuse(self):
        """Pick up what an earlier backend object of this kind started in this process."""

    def _wants_imagej_instance(self):
        return True

    @property
    def display(self):
        """The Xvfb this process started (None when a real display was used)."""
        return PROCESS["display"]

    @property
    def imagej_version(self):
        """ImageJ's version string, e.g. ``"1.53t"``."""
        from jpype import JClass

        return str(JClass("ij.IJ").getVersion())

    def versions(self):
        """ImageJ's short and full versions, Java's and (when present) Jython's, for run.json."""
        imagej, imagej_full, java, jython = (str(v) if v is not None else None
                                             for v in self.start().runtime.RunGuard.versions())
        out = {"imagej": imagej, "imagej_full": imagej_full, "java": java}
        if jython is not None:
            out["jython"] = jython
        return out

    def run(self, script, *, timeout, analysis_dir=None, state_dir=None):
        """Run a prepared script in this process's ImageJ, starting it first if needed.

        See :meth:`Backend.run <fijirun.backends.base.Backend.run>`.
        """
        self.start()
        return self.runtime.run(script, timeout=timeout, data_dir=self.data_dir, batch_mode=self.batch_mode,
                                analysis_dir=analysis_dir, state_dir=state_dir)

    def warm_up(self, languages=("ijm", "jython")):
        """Start ImageJ and do its first-time work for ``languages`` now, outside any run's timeout.

        Parameters
        ----------
        languages : iterable of {"ijm", "jython"}
            The script languages to warm up.
        """
        self.start()
        self.runtime.warm_up(languages)

    def close(self):
        """Let go of this process's ImageJ.

        The JVM and the display live until the process exits (JPype cannot
        restart a JVM); :func:`~fijirun.backends.process.shutdown_process`
        ends them at exit.
        """
        self.runtime = None
