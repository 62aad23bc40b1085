"""Backend ``fiji``: the user's Fiji.app, through pyimagej, offline.

pyimagej is the standard bridge, but as shipped it cannot start a local Fiji
offline and unattended (measured with pyimagej 1.8.0 and Fiji 2.3.0):
``fetch="never"`` crashes in its Java version guess, importing it registers a
Maven endpoint for imglyb that triggers a download, and in headless mode
ImageJ 1.x's GUI-bound classes fail with messages printed to the console
only. So this backend:

* imports pyimagej *before* the JVM exists and drops every Maven endpoint,
  then starts the system Java itself (JPype) with the Fiji.app's jars and
  plugins on the class path — no download is ever attempted; imglyb's Java
  side is used only when its jar is in the Fiji.app;
* lets pyimagej create the ImageJ2 gateway in *interactive* mode on the
  engine's virtual display (ROI Manager and image windows work), with
  SciJava's non-strict context so that one broken plugin service does not
  stop Fiji from starting;
* runs scripts with the same runtime as ``imagej1``
  (:class:`~fijirun.backends.ij1_runtime.IJ1Runtime`): same errors, dialogs
  caught, timeouts, clean state, run.json.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from ..errors import EngineError
from .inprocess import InProcessBackend
from .process import COMMON_JVM_OPTIONS, PROCESS, ensure_display, finish_display, start_jvm

__all__ = ["FijiBackend", "fiji_classpath"]

_log = logging.getLogger(__name__)
_OTHER_PLATFORMS = ("linux32", "win32", "win64", "macosx", "macos")


def find_fiji(fiji_dir=None):
    """The Fiji.app folder: argument, else ``FIJI_HOME``; checked to hold ImageJ2 and ImageJ 1.x."""
    value = fiji_dir or os.environ.get("FIJI_HOME")
    if not value:
        raise EngineError("the fiji backend needs a Fiji.app: --fiji PATH or FIJI_HOME")
    path = Path(value).expanduser().resolve()
    if not (path / "jars").is_dir():
        raise EngineError(f"{path} is not a Fiji.app (no jars/ folder)")
    if not glob.glob(str(path / "jars" / "ij-*.jar")):
        raise EngineError(f"{path} has no jars/ij-*.jar (ImageJ 1.x)")
    if not glob.glob(str(path / "jars" / "imagej-2*.jar")) and not glob.glob(str(path / "jars" / "imagej-legacy*.jar")):
        raise EngineError(f"{path} has no ImageJ2 jars (imagej-*.jar, imagej-legacy-*.jar)")
    return path


def _manifest_class_path(jar):
    """The jars a jar's manifest names in ``Class-Path`` (OS-packaged jars do this)."""
    import zipfile

    try:
        with zipfile.ZipFile(jar) as z:
            manifest = z.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return []
    # manifest lines are folded at 72 bytes: a leading space continues the previous line
    text = manifest.replace("\r\n", "\n").replace("\n ", "")
    for line in text.splitlines():
        if line.startswith("Class-Path:"):
            return [Path(p) for p in line.split(":", 1)[1].split() if Path(p).is_file()]
    return []


def fiji_classpath(fiji_dir):
    """Every jar of ``jars/`` and ``plugins/``, without other platforms' native bundles.

    A Jython jar from the OS packages (put in ``jars/`` because Fiji's
    jython-slim is missing) needs its own versions of ANTLR, ASM & co, which
    Fiji also ships in older versions: the jars its manifest names go first.
    """
    jars = []
    for sub in ("jars", "plugins"):
        for path in sorted(Path(fiji_dir, sub).rglob("*.jar")):
            if not any(part in _OTHER_PLATFORMS for part in path.relative_to(fiji_dir).parts):
                jars.append(path)
    first = []
    for path in jars:
        if path.name.startswith("jython"):
            first.extend(p for p in _manifest_class_path(path) if p not in first)
    return first + [p for p in jars if p not in first]


class FijiBackend(InProcessBackend):
    """A Fiji.app in this process, through pyimagej.

    Parameters
    ----------
    data_dir : fijirun.data.DataDir
    fiji_dir : path-like, optional
        The Fiji.app (default ``FIJI_HOME``).
    memory : str
        JVM maximum heap.
    headless : bool
        Start Java headless (no display at all). GUI-bound ImageJ classes
        (ROI Manager, image windows) then fail — with an error, not silently.
        Default False: interactive mode on a virtual display.
    batch_mode : bool
        ImageJ batch mode for macros.
    jvm_options : sequence of str, optional
        More JVM options, after fijirun's own.
    java_home : path-like, optional
        The Java to start (default: ``FIJIRUN_JAVA_HOME``, ``JAVA_HOME`` or ``java`` on PATH).
    **unused
        The imagej1 backend's own options (``ij_jar``, ``jython_jar``): accepted,
        so that the same :class:`~fijirun.session.Session` options work with
        either backend, and ignored.
    """

    name = "fiji"

    def __init__(self, data_dir, *, fiji_dir=None, memory="2g", java_home=None, headless=False,
                 batch_mode=True, jvm_options=(), **unused):  # noqa: ARG002 - imagej1's options, accepted and ignored
        super().__init__(data_dir, batch_mode=batch_mode, java_home=java_home, memory=memory,
                         jvm_options=jvm_options)
        self.fiji_dir = fiji_dir
        self.headless = headless
        self.gateway = None
        self.imglyb = False

    def _reuse(self):
        self.gateway = PROCESS.get("gateway")

    def _wants_imagej_instance(self):
        return not self.headless

    def _boot(self):
        fiji = find_fiji(self.fiji_dir)
        self.fiji_dir = fiji
        display = None if self.headless else ensure_display()
        try:
            import imagej
            import scyjava
        except ImportError as exc:
            raise EngineError("the fiji backend needs pyimagej: pip install 'fijirun[fiji]'") from exc
        # imglyb (imported by pyimagej) registered a Maven endpoint: never resolve it
        scyjava.config.endpoints.clear()
        classpath = fiji_classpath(fiji)
        self.imglyb = any("imglib2-imglyb" in p.name for p in classpath)
        options = [f"-Xmx{self.memory}", f"-Dplugins.dir={fiji / 'plugins'}",
                   "--add-opens=java.base/java.lang=ALL-UNNAMED",  # the legacy layer patches ij.*
                   "-Dscijava.context.strict=false",  # one broken plugin service must not stop Fiji
                   *COMMON_JVM_OPTIONS]
        if self.headless:
            options = [o for o in options if not o.startswith("-Djava.awt.headless")]
            options.append("-Djava.awt.headless=true")
        options += self.jvm_options
        start_jvm(classpath, options, self.java_home, archive_of=(self.name, self._archive_options()),
                  quiet_start_compiler=True)
        finish_display(display)
        self.gateway = imagej.init(str(fiji), mode="headless" if self.headless else "interactive")
        PROCESS["gateway"] = self.gateway
        if not self.imglyb:
            _log.info("imglyb's jar is not in %s: ij.py image conversions are unavailable", fiji)

    def _own_archive_options(self):
        return {"fiji_dir": str(self.fiji_dir), "headless": self.headless}

    def versions(self):
        """The ImageJ 1.x versions, Fiji's folder and (once started) ImageJ2's version, for run.json."""
        out = super().versions()
        out["fiji_dir"] = str(self.fiji_dir)
        if self.gateway is not None:
            out["imagej2"] = str(self.gateway.getVersion())
        return out
