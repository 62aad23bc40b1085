"""Backend ``imagej1``: ImageJ 1.x from the OS packages, in this process (JPype).

Start-up, in order: an Xvfb is launched when no usable display exists (in
parallel with the JVM); the system Java is started with ``ij.jar`` and the
Jython jar on the class path (found by :mod:`fijirun.jars`); ImageJ gets a
private home folder (``plugins.dir``) holding Fiji's Glasbey LUTs; an
``ImageJ`` instance is created without showing its window, so that errors
reach dialogs the runtime can read instead of stdout.

A JVM cannot be restarted in a process: every Session of a process shares it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from ..display import VirtualDisplay, display_is_usable
from ..errors import EngineError
from ..jars import (MAVEN_IJ, MAVEN_JYTHON, downloads_allowed, find_ij_jar, find_java,
                    find_jython_jar)
from ..luts import write_luts
from .base import Backend, register_backend
from .ij1_runtime import IJ1Runtime

__all__ = ["ImageJ1Backend"]

# Process-wide: one JVM, one display, one ImageJ per process.
_PROCESS = {"display": None, "runtime": None, "home": None, "classpath": None}


def _jvm_options(home, memory):
    options = [
        f"-Xmx{memory}",
        f"-Dplugins.dir={home}",
        "-Djava.awt.headless=false",
        # fail fast offline instead of hanging on a URL
        "-Dsun.net.client.defaultConnectTimeout=5000",
        "-Dsun.net.client.defaultReadTimeout=20000",
        "-Dpython.cachedir.skip=true",
        "-Dpython.console.encoding=UTF-8",
        "-Dpython.import.site=false",
    ]
    return options


def _make_home():
    home = Path(tempfile.mkdtemp(prefix="fijirun-imagej-"))
    for sub in ("plugins", "macros"):
        (home / sub).mkdir()
    write_luts(home / "luts")
    return home


def shutdown_process(grace=10.0):
    """End this process's ImageJ: close its windows, stop the JVM, then the display.

    Order matters: an X server that dies under a live JVM makes Java exit the
    whole process with status 1; a JVM with open AWT windows never shuts down.
    Registered with atexit after JPype's own hook, so it runs first.
    """
    import jpype

    if jpype.isJVMStarted():
        runtime = _PROCESS["runtime"]
        if runtime is not None:
            try:
                runtime.uninstall()
                runtime.dispose_windows()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass
        def give_up():
            # a script left a non-daemon Java thread running: do not hang at exit
            sys.stderr.write("fijirun: the JVM did not stop within %.0f s; exiting\n" % grace)
            display = _PROCESS["display"]
            if display is not None:
                display.stop()
            os._exit(1)

        watchdog = threading.Timer(grace, give_up)
        watchdog.daemon = True
        watchdog.start()
        jpype.shutdownJVM()  # JPype insists on the main thread
        watchdog.cancel()
    display, _PROCESS["display"] = _PROCESS["display"], None
    if display is not None:
        display.stop()
    release_process_files()


def release_process_files():
    """Remove the process's private ImageJ home folder."""
    home, _PROCESS["home"] = _PROCESS["home"], None
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


def ensure_display():
    """Start the process's Xvfb if there is no usable display; return it (or None)."""
    if display_is_usable():
        return None
    if _PROCESS["display"] is None:
        _PROCESS["display"] = VirtualDisplay(stop_at_exit=False).launch()
    return _PROCESS["display"]


def finish_display(display):
    if display is not None:
        display.wait_ready()
        os.environ["DISPLAY"] = display.display


def start_jvm(classpath, options, java_home=None):
    """Start the JVM with the system Java, or check that the running one fits."""
    import jpype

    if jpype.isJVMStarted():
        running = str(jpype.java.lang.System.getProperty("java.class.path"))
        missing = [p for p in classpath if str(p) not in running]
        if missing:
            raise EngineError(f"a JVM is already running in this process without {missing}; "
                              "JPype cannot restart it: use a fresh process")
        return
    java = find_java(java_home)
    jpype.startJVM(str(java.libjvm), *options, classpath=[str(p) for p in classpath],
                   convertStrings=False)


@register_backend
class ImageJ1Backend(Backend):
    """ImageJ 1.x in-process.

    Parameters
    ----------
    data_dir : fijirun.data.DataDir
    memory : str
        JVM maximum heap, e.g. ``"2g"`` (``-Xmx``).
    ij_jar, jython_jar, fiji_dir, java_home : path-like, optional
        Override the search of :mod:`fijirun.jars`.
    batch_mode : bool
        ImageJ batch mode (no image windows).
    """

    name = "imagej1"

    def __init__(self, data_dir, *, memory="2g", ij_jar=None, jython_jar=None, fiji_dir=None,
                 java_home=None, batch_mode=True):
        self.data_dir = data_dir
        self.memory = memory
        self.ij_jar = ij_jar
        self.jython_jar = jython_jar
        self.fiji_dir = fiji_dir
        self.java_home = java_home
        self.batch_mode = batch_mode
        self.runtime = None
        self.display = None

    def start(self):
        if self.runtime is not None:
            return self
        if _PROCESS["runtime"] is not None:
            self.runtime = _PROCESS["runtime"]
            self.runtime.data_dir = self.data_dir
            self.runtime.batch_mode = self.batch_mode
            return self
        display = ensure_display()
        ij_jar = find_ij_jar(self.ij_jar, self.fiji_dir)
        jython_jar = find_jython_jar(self.jython_jar, self.fiji_dir)
        home = _PROCESS["home"] or _make_home()
        _PROCESS["home"] = home
        options = _jvm_options(home, self.memory)
        classpath = [p for p in (ij_jar, jython_jar) if p is not None]
        if ij_jar is None:
            if not downloads_allowed():
                raise EngineError(
                    "ImageJ not found: install it (apt-get install libij-java), point FIJIRUN_IJ_JAR "
                    "at an ij.jar or FIJI_HOME at a Fiji.app, or allow Maven with FIJIRUN_ALLOW_DOWNLOAD=1")
            self._start_from_maven(options, jython_jar)
        else:
            start_jvm(classpath, options, self.java_home)
        atexit.register(shutdown_process)
        finish_display(display)
        self.display = display
        from jpype import JClass

        ImageJ = JClass("ij.ImageJ")
        if JClass("ij.IJ").getInstance() is None:
            ImageJ(ImageJ.NO_SHOW)
        self.runtime = IJ1Runtime(self.data_dir, batch_mode=self.batch_mode)
        _PROCESS["runtime"] = self.runtime
        return self

    def _start_from_maven(self, options, jython_jar):
        import scyjava

        scyjava.config.set_java_constraints(fetch="never")  # the system Java, never a download
        scyjava.config.endpoints.append(MAVEN_IJ)
        if jython_jar is None:
            scyjava.config.endpoints.append(MAVEN_JYTHON)
        for option in options:
            scyjava.config.add_option(option)
        scyjava.start_jvm()

    @property
    def imagej_version(self):
        from jpype import JClass

        return str(JClass("ij.IJ").getVersion())

    def versions(self):
        from jpype import JClass

        System = JClass("java.lang.System")
        out = {"imagej": self.imagej_version, "imagej_full": str(JClass("ij.IJ").getFullVersion()),
               "java": str(System.getProperty("java.version"))}
        try:
            out["jython"] = str(JClass("org.python.Version").PY_VERSION)
        except Exception:  # noqa: BLE001 - Jython is optional
            pass
        return out

    def run(self, script, *, timeout):
        self.start()
        return self.runtime.run(script, timeout=timeout)

    def close(self):
        # The JVM and display live until the process exits (JPype cannot restart
        # a JVM); atexit stops the display and removes the ImageJ home.
        self.runtime = None
