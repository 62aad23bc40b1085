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
    env = dict(os.environ, FIJIRUN_CACHE=str(tmp_path / "cache"))
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


def test_options_go_before_the_users_and_name_the_written_directives(fresh_state, tmp_path):
    options = start_compiler.start_compiler_options(find_java(), ["-Xmx1g"])
    path = tmp_path / "cache" / "jit-start-directives.json"
    assert options == ["-XX:+UnlockDiagnosticVMOptions", "-XX:-DisplayVMOutput", f"-XX:CompilerDirectivesFile={path}"]
    assert path.read_text() == start_compiler.DIRECTIVES
    assert start_compiler._STATE["applied"]


@pytest.mark.parametrize("case", ["user directives", "turned off", "openj9", "cache not writable"])
def test_no_directive_where_it_does_not_belong(fresh_state, monkeypatch, tmp_path, case):
    java, options = find_java(), ["-Xmx1g"]
    if case == "user directives":
        options.append("-XX:CompilerDirectivesFile=/my/own.json")
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
