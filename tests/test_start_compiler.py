"""No optimising JIT while Fiji starts; the full JIT for its scripts (backends.start_compiler)."""

import json
import os
import subprocess
import sys

import pytest

from fijirun.backends import start_compiler
from fijirun.jars import JavaRuntime, find_java

# A fiji session in a fresh process: what the JVM was started with, the directives
# left once it is up, and how many runs of a blur loop until HotSpot's optimising
# compiler (level 4) has compiled ImageJ's Gaussian blur. Prints one JSON line.
PROBE = r"""
import json, sys, time
import fijirun
from jpype import JClass
with fijirun.Session("fiji", fiji_dir=sys.argv[1]) as s:
    s.start()
    server = JClass("java.lang.management.ManagementFactory").getPlatformMBeanServer()
    dcmd = JClass("javax.management.ObjectName")("com.sun.management:type=DiagnosticCommand")
    def command(name):
        return str(server.invoke(dcmd, name, None, None))
    args = [str(a) for a in JClass("java.lang.management.ManagementFactory").getRuntimeMXBean().getInputArguments()]
    directives = command("compilerDirectivesPrint")
    runs, level4, t = 0, False, time.monotonic()
    while not level4 and time.monotonic() - t < 120:
        r = s.run(sys.argv[2], output_dir=f"{sys.argv[3]}/{runs}")
        assert r.ok, r.error
        runs += 1
        level4 = any(line.split()[1] == "4" for line in command("compilerCodelist").splitlines()
                     if "ij.plugin.filter.GaussianBlur.convolveLine" in line)
print(json.dumps({"args": args, "directives": directives.count("Directive:"), "runs": runs, "level4": level4}))
"""

BLUR = 'newImage("a", "32-bit random", 512, 512, 1);\nfor (i = 0; i < 10; i++) run("Gaussian Blur...", "sigma=2");\n'


@pytest.mark.fiji
@pytest.mark.skipif(not os.environ.get("FIJI_HOME"), reason="FIJI_HOME is not set: the fiji backend needs a Fiji.app")
def test_fiji_starts_without_c2_and_its_scripts_get_c2(tmp_path):
    macro = tmp_path / "blur.ijm"
    macro.write_text(BLUR)
    # a cache of its own (the directive file is checked), without building a class archive there
    env = dict(os.environ, FIJIRUN_CACHE=str(tmp_path / "cache"), FIJIRUN_CLASS_ARCHIVE="off")
    proc = subprocess.run([sys.executable, "-c", PROBE, os.environ["FIJI_HOME"], str(macro), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # stdout is the probe's line only: HotSpot's "1 compiler directives added" is not printed
    assert len(proc.stdout.strip().splitlines()) == 1, proc.stdout
    probe = json.loads(proc.stdout)
    file = tmp_path / "cache" / "jit-start-directives.json"
    assert f"-XX:CompilerDirectivesFile={file}" in probe["args"]
    assert file.read_text() == start_compiler.DIRECTIVES
    assert probe["directives"] == 1  # only HotSpot's default is left once Fiji is up
    # a method first run by a script reaches C2 (with the directive left in place it never does)
    assert probe["level4"], probe


@pytest.fixture
def fresh_state(monkeypatch, tmp_path):
    monkeypatch.setitem(start_compiler._STATE, "applied", False)
    monkeypatch.setenv("FIJIRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FIJIRUN_START_COMPILER", raising=False)


def _started_with(monkeypatch, options):
    """The options start_jvm gives the JVM (JPype's start replaced: this process may run one)."""
    import jpype

    from fijirun.backends import process

    seen = []
    monkeypatch.setattr(jpype, "isJVMStarted", lambda: False)
    monkeypatch.setattr(jpype, "startJVM", lambda libjvm, *opts, **kw: seen.extend(opts))
    process.start_jvm([], options, quiet_start_compiler=True)
    return seen


def test_the_directive_goes_before_the_users_options_and_is_removed_later(fresh_state, monkeypatch, tmp_path):
    seen = _started_with(monkeypatch, ["-Xmx1g", "-XX:+DisplayVMOutput"])
    path = tmp_path / "cache" / "jit-start-directives.json"
    ours = ["-XX:+UnlockDiagnosticVMOptions", "-XX:-DisplayVMOutput", f"-XX:CompilerDirectivesFile={path}"]
    assert seen[:3] == ours and seen.index("-XX:+DisplayVMOutput") > 2  # the user's, later, wins
    assert path.read_text() == start_compiler.DIRECTIVES
    assert start_compiler._STATE["applied"]  # allow_full_compiler will remove it


def test_a_user_who_asks_the_jvm_to_print_keeps_its_output(fresh_state, monkeypatch):
    seen = _started_with(monkeypatch, ["-XX:+PrintFlagsFinal"])
    assert "-XX:-DisplayVMOutput" not in seen and any(o.startswith("-XX:CompilerDirectivesFile") for o in seen)


@pytest.mark.parametrize("case", ["user directives", "no tiered compilation", "C1 only", "interpreter only",
                                  "turned off", "openj9", "cache not writable"])
def test_no_directive_where_it_does_not_belong(fresh_state, monkeypatch, tmp_path, case):
    java, options = find_java(), ["-Xmx1g"]
    extra = {"user directives": "-XX:CompilerDirectivesFile=/my/own.json",
             "no tiered compilation": "-XX:-TieredCompilation", "C1 only": "-XX:TieredStopAtLevel=1",
             "interpreter only": "-Xint"}
    if case in extra:
        options.append(extra[case])
    elif case == "turned off":
        monkeypatch.setenv("FIJIRUN_START_COMPILER", "full")
    elif case == "openj9":
        (tmp_path / "release").write_text('IMPLEMENTOR="Eclipse Foundation"\nJVM_VARIANT="Openj9"\n')
        java = JavaRuntime(tmp_path, java.libjvm, java.version)
    else:
        (tmp_path / "file").write_text("")
        monkeypatch.setenv("FIJIRUN_CACHE", str(tmp_path / "file" / "cache"))
    assert start_compiler.start_compiler_options(java, options) == []
    assert not start_compiler._STATE["applied"]  # nothing to remove later either
