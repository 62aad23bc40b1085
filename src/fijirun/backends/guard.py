"""fijirun's Java side: the run guard, compiled once per machine.

The guard (``java/fijirun/guard/*.java``) must be Java: it is called
on the AWT event thread, by ImageJ's exception handler and through
System.out/err, on threads Python does not own and at any time — including
while the JVM shuts down, when a call into Python crashes the process.

It is compiled with the JDK's ``javac`` against the ImageJ jar in use, into
a per-user cache keyed by the sources' hash and the jar, the first time a backend
starts (about 2 s, once); ``scripts/setup.sh`` does it ahead. Compiling into
a private folder and renaming it into place makes parallel first starts
(batch workers) safe.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..cache import cache_root
from ..errors import EngineError
from ..jars import find_java

__all__ = ["GUARD_SOURCES", "guard_classes", "load_guard"]

GUARD_DIR = Path(__file__).resolve().parent.parent / "java" / "fijirun" / "guard"
#: The guard's Java sources: RunGuard (attribution) and RecordingParticleAnalyzer.
GUARD_SOURCES = tuple(sorted(GUARD_DIR.glob("*.java")))
_CLASS = Path("fijirun") / "guard" / "RunGuard.class"


def _javac(java_home=None) -> str:
    java = find_java(java_home)
    candidate = java.home / "bin" / "javac"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("javac")
    if found:
        return found
    raise EngineError("fijirun needs a JDK's javac once, to build its ImageJ guard "
                      "(apt-get install default-jdk-headless, or conda install openjdk)")


def guard_classes(ij_jar, java_home=None) -> Path:
    """The folder holding the compiled guard (built on first use)."""
    # keyed by the sources and the ImageJ jar compiled against (Fiji's and Debian's differ)
    h = hashlib.sha256()
    for source in GUARD_SOURCES:
        h.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    jar = Path(ij_jar)
    h.update(f"{jar.name}:{jar.stat().st_size if jar.is_file() else 0}".encode())
    key = h.hexdigest()[:16]
    root = cache_root()
    target = root / f"guard-{key}"
    if (target / _CLASS).is_file():
        return target
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create fijirun's cache folder {root}: {exc.strerror} "
                          "(set FIJIRUN_CACHE to a writable folder)") from None
    work = Path(tempfile.mkdtemp(prefix=f".guard-{key}-", dir=root))
    try:
        proc = subprocess.run(
            [_javac(java_home), "--release", "11", "-nowarn", "-Xlint:none", "-encoding", "UTF-8",
             "-cp", str(ij_jar), "-d", str(work), *map(str, GUARD_SOURCES)],
            capture_output=True, text=True, timeout=300)
        if proc.returncode != 0 or not (work / _CLASS).is_file():
            raise EngineError(f"building fijirun's ImageJ guard failed: {proc.stderr.strip()[-2000:]}")
        try:
            work.rename(target)  # atomic; loses to a parallel build that got there first
        except OSError:
            if not (target / _CLASS).is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _ij_jar():
    """The jar ImageJ 1.x was loaded from (its code source, else the class path)."""
    from jpype import JClass

    IJ = JClass("ij.IJ")
    source = IJ.class_.getProtectionDomain().getCodeSource()
    if source is not None and source.getLocation() is not None:
        path = Path(str(JClass("java.io.File")(source.getLocation().toURI()).getPath()))
        if path.is_file():
            return path
    for entry in str(JClass("java.lang.System").getProperty("java.class.path")).split(os.pathsep):
        name = Path(entry).name
        if name == "ij.jar" or re.fullmatch(r"ij-\d.*\.jar", name):
            return Path(entry)
    raise EngineError("cannot tell which jar ImageJ 1.x was loaded from (needed to build fijirun's guard)")


def load_guard(java_home=None):
    """The guard class in the running JVM, loaded beside ImageJ's own classes."""
    from jpype import JArray, JClass

    IJ = JClass("ij.IJ")
    folder = guard_classes(_ij_jar(), java_home)
    URL = JClass("java.net.URL")
    urls = JArray(URL)([JClass("java.io.File")(str(folder)).toURI().toURL()])
    loader = JClass("java.net.URLClassLoader")(urls, IJ.class_.getClassLoader())
    return JClass("fijirun.guard.RunGuard", loader=loader)
