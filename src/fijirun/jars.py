"""Finding Java and the ImageJ / Jython jars.

The search order is documented in the README ("Where ImageJ comes from"):

1. an explicit argument (``Session(ij_jar=...)``) or environment variable
   (``FIJIRUN_IJ_JAR``, ``FIJIRUN_JYTHON_JAR``);
2. a Fiji.app given by argument or ``FIJI_HOME``: ``jars/ij-*.jar``,
   ``jars/jython*.jar``;
3. the OS packages: ``/usr/share/java/ij.jar`` (Debian ``libij-java``) and
   ``/usr/share/java/jython.jar`` (Debian ``jython``);
4. Maven Central through scyjava endpoints, only when downloads are allowed
   (``FIJIRUN_ALLOW_DOWNLOAD=1``); never a JDK.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import EngineError

__all__ = ["JavaRuntime", "find_java", "find_ij_jar", "find_jython_jar", "MAVEN_IJ", "MAVEN_JYTHON"]

OS_IJ_JAR = Path("/usr/share/java/ij.jar")
OS_JYTHON_JAR = Path("/usr/share/java/jython.jar")
MAVEN_IJ = "net.imagej:ij:1.54f"
MAVEN_JYTHON = "org.python:jython-slim:2.7.3"


@dataclass(frozen=True)
class JavaRuntime:
    """A Java installation: its home, its libjvm and its major version."""

    home: Path
    libjvm: Path
    version: int


def _java_version(home):
    release = home / "release"
    if release.exists():
        m = re.search(r'JAVA_VERSION="(\d+)(?:\.(\d+))?', release.read_text(errors="replace"))
        if m:
            major = int(m.group(1))
            return int(m.group(2)) if major == 1 and m.group(2) else major
    m = re.search(r"(?:java|jdk|jre)-?(\d+)", str(home))
    return int(m.group(1)) if m else 0


def _libjvm(home):
    for rel in ("lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so", "lib/server/libjvm.dylib",
                "jre/lib/server/libjvm.so"):
        p = home / rel
        if p.exists():
            return p
    return None


def find_java(java_home=None, min_version=11):
    """Return the system Java: ``java_home``, ``$JAVA_HOME``, or ``java`` on PATH.

    Never downloads anything.
    """
    candidates = []
    for value in (java_home, os.environ.get("FIJIRUN_JAVA_HOME"), os.environ.get("JAVA_HOME")):
        if value:
            candidates.append(Path(value))
    exe = shutil.which("java")
    if exe:
        candidates.append(Path(os.path.realpath(exe)).parent.parent)
    for home in candidates:
        lib = _libjvm(home)
        if lib is None:
            continue
        version = _java_version(home)
        if version and version < min_version:
            continue
        return JavaRuntime(home, lib, version)
    raise EngineError(
        f"no Java >= {min_version} found (looked at {', '.join(map(str, candidates)) or 'PATH'}); "
        "install one: apt-get install default-jre-headless, or set JAVA_HOME"
    )


def _fiji_jar(fiji_dir, pattern):
    if not fiji_dir:
        return None
    hits = sorted(glob.glob(os.path.join(str(fiji_dir), "jars", pattern)))
    # Fiji ships placeholder jars (jython-shaded-0.0.0-STUB.jar) beside the real ones
    hits = [h for h in hits if "STUB" not in os.path.basename(h) and "shaded" not in os.path.basename(h)]
    return Path(hits[-1]) if hits else None


def _first_existing(label, explicit, env, fiji_dir, fiji_pattern, os_jar):
    for origin, value in ((f"argument {label}", explicit), (env, os.environ.get(env))):
        if value:
            p = Path(value)
            if not p.is_file():
                raise EngineError(f"{origin} points at {p}, which is not a file")
            return p
    fiji_dir = fiji_dir or os.environ.get("FIJI_HOME")
    hit = _fiji_jar(fiji_dir, fiji_pattern)
    if hit:
        return hit
    if os_jar.is_file():
        return os_jar
    return None


def find_ij_jar(explicit=None, fiji_dir=None):
    """Return the path of ImageJ 1.x's ``ij.jar``, or None when only Maven is left."""
    return _first_existing("ij_jar", explicit, "FIJIRUN_IJ_JAR", fiji_dir, "ij-*.jar", OS_IJ_JAR)


def find_jython_jar(explicit=None, fiji_dir=None):
    """Return the path of a Jython jar, or None when only Maven is left."""
    return _first_existing("jython_jar", explicit, "FIJIRUN_JYTHON_JAR", fiji_dir, "jython*.jar",
                           OS_JYTHON_JAR)


def downloads_allowed():
    """Maven look-ups only when the user says so: offline machines must not wait on them."""
    return os.environ.get("FIJIRUN_ALLOW_DOWNLOAD", "") not in ("", "0", "false", "no")
