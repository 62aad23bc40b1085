"""No optimising JIT while ImageJ starts; the full JIT for the scripts.

Most of a cold start's CPU goes to HotSpot's optimising compiler (C2), which
compiles the start-up code — the plugin index, class loading, Fiji's services —
that runs once. Measured here on the pinned Fiji: 6.3 CPU-seconds per start,
3.9 without C2; two batch workers starting on two cores wait on each other for
it. The JVM therefore starts with a compiler directive that keeps C2 away from
every method, and :func:`allow_full_compiler` removes it once the engine is up,
before any script or warm-up runs.

HotSpot remembers an excluded method as "not compilable by C2" for good: code
that got hot during start-up (mostly the JDK's String and collections code, and
javassist) keeps C1's code and is not inlined into C2's, everything else —
ImageJ's filters, the macro interpreter's hot paths in a script — gets C2 as
usual. Measured: 15 Gaussian blurs of a 2048² float image 1.86 s with this,
1.84 s without, 3.1 s with C1 only; an interpreter-heavy macro loop (getPixel,
setPixel, strings, arrays) 83 ms instead of 80 ms in steady state. The class
archive is always recorded without the directive (the mark would be archived).

Used by the ``fiji`` backend, whose start it pays for: a Fiji worker's start and
warm-up take 5.7 CPU-seconds with it, 8.2 without. Not by ``imagej1``: ImageJ 1.x
alone starts with 2.1 CPU-seconds either way, and removing the directive (JMX's
platform server) would add 0.1 s to every one-shot run. Not applied when the user
passes a directives file of their own, nor on an OpenJ9 JVM (no such options).
``FIJIRUN_START_COMPILER=full`` turns it off.
"""

from __future__ import annotations

import logging
import os

from ..cache import cache_root

__all__ = ["start_compiler_options", "allow_full_compiler"]

_log = logging.getLogger(__name__)

#: C2 excluded everywhere; C1 compiles as usual.
DIRECTIVES = '[{ match: "*.*", c2: { Exclude: true } }]\n'
_FILE = "jit-start-directives.json"
# options under which the directive is wrong: the user's own directives; no tiered
# compilation (an excluded method would then never be compiled at all); C1 only or
# Graal (nothing to keep out, or another compiler's rules); the interpreter only
_THEIR_OWN_COMPILER = ("-XX:CompilerDirectivesFile", "-XX:-TieredCompilation", "-XX:TieredStopAtLevel",
                       "-XX:+UseJVMCICompiler", "-Xint")
# whether this process's JVM was started with the directive (only then is it removed)
_STATE = {"applied": False}


def _is_openj9(java_home) -> bool:
    try:
        return "openj9" in (java_home / "release").read_text(errors="replace").lower()
    except OSError:
        return False


def start_compiler_options(java, options) -> list[str]:
    """The JVM options that keep C2 out of start-up, or none.

    Parameters
    ----------
    java : fijirun.jars.JavaRuntime
        The Java about to start.
    options : sequence of str
        The JVM options already chosen (the user's included).

    Returns
    -------
    list of str
        ``-XX:+UnlockDiagnosticVMOptions``, ``-XX:-DisplayVMOutput`` and
        ``-XX:CompilerDirectivesFile=…``, to go before the user's options; empty
        when turned off, when the user gave directives of their own, on OpenJ9, or when
        the directives file cannot be written (the start is then only slower).
    """
    from ..provenance import write_atomic

    if os.environ.get("FIJIRUN_START_COMPILER", "").lower() == "full":
        return []
    if any(o.startswith(_THEIR_OWN_COMPILER) for o in options) or _is_openj9(java.home):
        return []
    path = cache_root() / _FILE
    try:
        if not path.is_file() or path.read_text() != DIRECTIVES:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda f: f.write(DIRECTIVES))
    except OSError as exc:
        _log.info("no start-up compiler directive (%s): the start is slower", exc)
        return []
    # HotSpot announces "1 compiler directives added" on its own output, which is this
    # process's stdout (and --json's); -DisplayVMOutput silences that output, not warnings
    # (stderr) nor -Xlog. Not when the user asks the JVM to print something (-XX:+Print...).
    quiet = [] if any(o.startswith("-XX:+Print") for o in options) else ["-XX:-DisplayVMOutput"]
    return ["-XX:+UnlockDiagnosticVMOptions", *quiet, f"-XX:CompilerDirectivesFile={path}"]


def jvm_started_with_directive() -> None:
    """Note that the JVM started with :func:`start_compiler_options`' options: remove them later."""
    _STATE["applied"] = True


def allow_full_compiler() -> None:
    """Remove the start-up directive from the running JVM: C2 compiles again.

    Called once the engine has started, before any warm-up or script. A JVM
    where it cannot be removed stays correct, only slower on heavy pixel
    loops: a warning says so.
    """
    if not _STATE["applied"]:
        return
    _STATE["applied"] = False
    from jpype import JClass

    try:
        server = JClass("java.lang.management.ManagementFactory").getPlatformMBeanServer()
        name = JClass("javax.management.ObjectName")("com.sun.management:type=DiagnosticCommand")
        server.invoke(name, "compilerDirectivesClear", None, None)
    except Exception as exc:  # noqa: BLE001 - a JVM without the diagnostic command
        _log.warning("could not remove the start-up compiler directive (%s): heavy filters run "
                     "without the optimising JIT in this process; FIJIRUN_START_COMPILER=full avoids it", exc)
