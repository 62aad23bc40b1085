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
import tempfile
from pathlib import Path

from ..errors import EngineError
from ..jars import MAVEN_IJ, MAVEN_JYTHON, downloads_allowed, find_ij_jar, find_jython_jar
from ..luts import write_luts
from .base import Backend, register_backend
from .ij1_runtime import IJ1Runtime
from .process import (COMMON_JVM_OPTIONS, PROCESS, ensure_display, finish_display, shutdown_process, start_jvm)

__all__ = ["ImageJ1Backend"]

def _jvm_options(home, memory):
    return [f"-Xmx{memory}", f"-Dplugins.dir={home}", *COMMON_JVM_OPTIONS]


def _make_home():
    home = Path(tempfile.mkdtemp(prefix="fijirun-imagej-"))
    for sub in ("plugins", "macros"):
        (home / sub).mkdir()
    write_luts(home / "luts")
    return home


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
        if PROCESS["runtime"] is not None:
            if PROCESS["backend"] != self.name:
                raise EngineError(f"this process already runs the {PROCESS['backend']} backend; "
                                  "a JVM cannot be restarted: use another process")
            self.runtime = PROCESS["runtime"]
            self.runtime.data_dir = self.data_dir
            self.runtime.batch_mode = self.batch_mode
            return self
        display = ensure_display()
        ij_jar = find_ij_jar(self.ij_jar, self.fiji_dir)
        jython_jar = find_jython_jar(self.jython_jar, self.fiji_dir)
        home = PROCESS["home"] or _make_home()
        PROCESS["home"] = home
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
        PROCESS["runtime"], PROCESS["backend"] = self.runtime, self.name
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
