"""A class-data-sharing archive of the classes a backend loads: a faster JVM start.

Most of a cold start is the JVM reading, verifying and linking ImageJ's
classes (and Fiji's, and Jython's). Java 13 and later can write the classes a
run loaded into an archive (``-XX:ArchiveClassesAtExit``) that later JVMs map
instead (``-XX:SharedArchiveFile``): a cold ``ImageJ()`` and first macro take
about half as long.

The archive belongs to one Java and one class path: it is kept in the per-user
cache under a key made of both (paths, sizes and modification times of
libjvm and every jar). The first start with a class path that has no archive
builds it, once, in a child process that starts the same backend, runs
fijirun's warm-up and the course's output-saving macro on the sample image,
and shuts its JVM down cleanly (the dump happens there); then the start goes
on with the archive. An archive that does not fit the JVM (another Java, a jar
replaced since) is ignored by the JVM itself, silently (``-Xshare:auto``): it
can make a start slower, never wrong. A build that fails is remembered (a
``.failed`` file naming the reason) and not retried for that key.

``FIJIRUN_CLASS_ARCHIVE=off`` turns all of this off.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..cache import cache_root
from ..jars import JavaRuntime

__all__ = ["archive_options", "archive_path", "SWITCH_ENV"]

#: ``off`` (or ``0``, ``no``): never build or use an archive.
SWITCH_ENV = "FIJIRUN_CLASS_ARCHIVE"
# set for the child that builds an archive: where its JVM writes the archive at exit
_RECORD_ENV = "FIJIRUN_CLASS_ARCHIVE_RECORD"
# the JVM's own CDS messages (an archive it cannot use, classes it cannot archive) are not the user's
_QUIET = "-Xlog:cds=off,cds+dynamic=off"
# a build takes 5-20 s (imagej1 / the pinned Fiji) on an idle machine; it holds up the
# first start, so a hung builder must not hold it long (the start then goes on without),
# yet a loaded machine must not turn the archive off for good (a timeout is remembered)
_BUILD_TIMEOUT = 180.0
_DETAIL_LINES = 200  # of the builder's stderr, kept in the .failed record
# what the archive is made of: fijirun's warm-up, then the output-saving steps
# (threshold, Analyze Particles with Count Masks, a LUT, saving TIFF, PNG, CSV, ROI set)
_WORKLOAD = """#@ File input
#@ File (style="directory") outputDir
open(input);
setOption("BlackBackground", true);
setThreshold(1, 255);
run("Convert to Mask");
run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3");
run("Analyze Particles...", "pixel show=[Count Masks] display clear add");
run("glasbey_on_dark");
saveAs("Tiff", outputDir + "/labels.tif");
saveAs("PNG", outputDir + "/labels.png");
saveAs("Results", outputDir + "/results.csv");
roiManager("save", outputDir + "/rois.zip");
"""


def _stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def archive_path(java: JavaRuntime, classpath: Sequence[os.PathLike | str]) -> Path:
    """Where the archive of this Java and class path is (or would be) kept."""
    import jpype

    from .guard import GUARD_SOURCES

    h = hashlib.sha256()
    # "format 2": archives recorded since the start-up compiler directive exists, always
    # without it (an earlier one may have been recorded with it: see build)
    # JPype's own jar is on the class path the archive records: another virtualenv's
    # (a second clone of the project) made it an archive the JVM silently refused
    jpype_jar = Path(jpype.__file__).resolve().parent.parent / "org.jpype.jar"
    for part in ("format 2", _stamp(java.libjvm), f"jpype:{jpype.__version__}", _stamp(jpype_jar),
                 *(_stamp(Path(p)) for p in classpath)):
        h.update(part.encode() + b"\0")
    # the guard decides which of ImageJ's classes a start loads (Settings loads them all):
    # a changed guard records a new archive
    for source in GUARD_SOURCES:
        h.update(source.read_bytes() + b"\0")
    return cache_root() / "class-archives" / f"{h.hexdigest()[:20]}.jsa"


def _enabled(java: JavaRuntime) -> bool:
    if os.environ.get(SWITCH_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return False
    return java.version >= 13  # -XX:ArchiveClassesAtExit came with Java 13


def archive_options(java: JavaRuntime, classpath: Sequence[os.PathLike | str],
                    build_spec: tuple[str, dict] | None) -> list[str]:
    """The JVM options that use (or, in the builder, record) this class path's archive.

    Parameters
    ----------
    java : fijirun.jars.JavaRuntime
        The Java about to start.
    classpath : sequence of path-like
        Its class path, in order.
    build_spec : (str, dict) or None
        The backend's name and options, to build a missing archive with
        (:func:`build`); None: use an archive only if one exists.

    Returns
    -------
    list of str
        Options to add to the JVM's (empty when there is no archive to use).
    """
    record = os.environ.get(_RECORD_ENV)
    if record:
        return [f"-XX:ArchiveClassesAtExit={record}", _QUIET]
    if not _enabled(java):
        return []
    path = archive_path(java, classpath)
    if not path.is_file() and build_spec is not None:
        build(path, *build_spec)
    if path.is_file():
        return [f"-XX:SharedArchiveFile={path}", "-Xshare:auto", _QUIET]
    return []


def build(path: Path, backend: str, options: dict) -> bool:
    """Build the archive at ``path`` in a child process; whether it now exists.

    One process builds an archive at a time (a lock file beside it); a
    process that finds the lock taken goes on without waiting. Failures
    are written to ``<path>.failed`` and not retried.
    """
    failed = path.with_suffix(".failed")
    if failed.exists():
        return False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.with_suffix(".lock"), "w")  # noqa: SIM115 - held for the whole build
    except OSError:
        return False  # no writable cache: start without an archive
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # another process builds it now
        if path.is_file():
            return True
        fd, record = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".jsa", dir=path.parent)
        os.close(fd)
        os.unlink(record)  # the JVM creates it
        # Recorded with the full JIT: on Java 17 a method's "not compilable by C2" mark, which
        # the start-up directive leaves on start-up code, is archived with the method, and
        # every later start would inherit it (backends/start_compiler.py).
        env = dict(os.environ, **{_RECORD_ENV: record, "FIJIRUN_START_COMPILER": "full"})
        try:
            proc = subprocess.run([sys.executable, "-m", __name__, backend, json.dumps(options)],
                                  env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=_BUILD_TIMEOUT)
            if proc.returncode == 0 and os.path.isfile(record):
                os.replace(record, path)
                return True
            reason = f"exit {proc.returncode}"
            detail = proc.stderr
        except subprocess.TimeoutExpired as exc:
            reason = f"no archive within {_BUILD_TIMEOUT:.0f} s"
            detail = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        finally:
            if os.path.exists(record):
                os.unlink(record)
        # the first line says why; the builder's last words say where (for whoever looks)
        lines = (detail or "").strip().splitlines()
        errors = [line for line in lines if line.startswith("fijirun.errors.")]  # a traceback's last line
        if errors:
            reason += f": {errors[-1]}"
        tail = "\n".join(lines[-_DETAIL_LINES:])
        failed.write_text(f"building the class archive failed: {reason}\n{tail}\n")
        return False


def _record(backend: str, options: dict) -> None:
    """In the builder child: run what a session loads, then shut the JVM down (it writes the archive)."""
    from .. import data
    from ..session import Session
    from ..tempdirs import make_temp_dir
    from .process import shutdown_process

    out = make_temp_dir("archive")
    try:
        with Session(backend, capture_state=True, **options) as session:
            session.warm_up()
            session.run_code(_WORKLOAD, "ijm", input=data.path("xy_8bit_binary_randomshapes.tif"),
                             output_dir=out / "run")
    finally:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    shutdown_process()  # the JVM writes the archive as it shuts down
    import jpype.config

    if not jpype.config.destroy_jvm:
        # ImageJ left non-daemon threads (a thread pool), so the JVM was left to end with
        # the process: end it through Java, which writes the archive on the way out
        jpype.JClass("java.lang.System").exit(0)


if __name__ == "__main__":
    _record(sys.argv[1], json.loads(sys.argv[2]))
