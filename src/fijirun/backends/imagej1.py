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

from ..errors import EngineError
from ..jars import MAVEN_IJ, MAVEN_JYTHON, downloads_allowed, find_ij_jar, find_jython_jar
from ..luts import write_luts
from ..tempdirs import make_temp_dir, sweep_stale
from .inprocess import InProcessBackend
from .process import COMMON_JVM_OPTIONS, PROCESS, ensure_display, finish_display, start_jvm

__all__ = ["ImageJ1Backend"]


def _jvm_options(home, memory):
    return [f"-Xmx{memory}", f"-Dplugins.dir={home}", *COMMON_JVM_OPTIONS]


def _make_home():
    sweep_stale()
    home = make_temp_dir("imagej")
    for sub in ("plugins", "macros"):
        (home / sub).mkdir()
    write_luts(home / "luts")
    return home


class ImageJ1Backend(InProcessBackend):
    """ImageJ 1.x in-process.

    Parameters
    ----------
    data_dir : fijirun.data.DataDir
    memory : str
        JVM maximum heap, e.g. ``"2g"`` (``-Xmx``).
    ij_jar, jython_jar, fiji_dir, java_home : path-like, optional
        Override the search of :mod:`fijirun.jars`.
    jvm_options : sequence of str, optional
        More JVM options (``-XX:+UseSerialGC``...), after fijirun's own.
    batch_mode : bool
        ImageJ batch mode (no image windows).
    """

    name = "imagej1"

    def __init__(self, data_dir, *, memory="2g", ij_jar=None, jython_jar=None, fiji_dir=None,
                 java_home=None, batch_mode=True, jvm_options=()):
        super().__init__(data_dir, batch_mode=batch_mode, java_home=java_home, memory=memory,
                         jvm_options=jvm_options)
        self.ij_jar = ij_jar
        self.jython_jar = jython_jar
        self.fiji_dir = fiji_dir

    def _boot(self):
        # ImageJ 1.x draws with AWT and Java2D: no GLX, unless the user asks Java2D for OpenGL
        display = ensure_display(opengl=any("opengl=true" in o.lower() for o in self.jvm_options))
        ij_jar = find_ij_jar(self.ij_jar, self.fiji_dir)
        jython_jar = find_jython_jar(self.jython_jar, self.fiji_dir)
        home = PROCESS["home"] or _make_home()
        PROCESS["home"] = home
        options = _jvm_options(home, self.memory) + list(self.jvm_options)
        classpath = [p for p in (ij_jar, jython_jar) if p is not None]
        if ij_jar is None:
            if not downloads_allowed():
                raise EngineError(
                    "ImageJ not found: install it (apt-get install libij-java), point FIJIRUN_IJ_JAR "
                    "at an ij.jar or FIJI_HOME at a Fiji.app, or allow Maven with FIJIRUN_ALLOW_DOWNLOAD=1")
            self._start_from_maven(options, jython_jar)
        else:
            start_jvm(classpath, options, self.java_home, archive_of=(self.name, self._archive_options()))
        finish_display(display)

    def _own_archive_options(self):
        return {key: str(getattr(self, key)) for key in ("ij_jar", "jython_jar", "fiji_dir")
                if getattr(self, key) is not None}

    def _start_from_maven(self, options, jython_jar):
        import scyjava

        scyjava.config.set_java_constraints(fetch="never")  # the system Java, never a download
        scyjava.config.endpoints.append(MAVEN_IJ)
        if jython_jar is None:
            scyjava.config.endpoints.append(MAVEN_JYTHON)
        for option in options:
            scyjava.config.add_option(option)
        scyjava.start_jvm()
