"""The JVM class archive: built once, used by later starts, never a different result."""

import json
import os
import subprocess
import sys

from fijirun.backends import class_archive

from conftest import MACROS, RANDOMSHAPES

# One start in a fresh process: the output-saving macro, with -Xlog recording where
# ImageJ's classes came from; prints the outputs' hashes and the class sources.
START = r"""
import hashlib, json, sys
from pathlib import Path
import fijirun
out, log = Path(sys.argv[1]), sys.argv[2]
with fijirun.Session("imagej1", jvm_options=[f"-Xlog:class+load=info:file={log}"]) as s:
    r = s.run(sys.argv[3], input=sys.argv[4], output_dir=out)
    assert r.ok, r.error
hashes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())
          if p.suffix in (".csv", ".txt", ".tif", ".png")}
print(json.dumps(hashes))
"""


def _start(tmp_path, cache, name, archive="on"):
    env = dict(os.environ, FIJIRUN_CACHE=str(cache), FIJIRUN_CLASS_ARCHIVE=archive)
    env.pop("DISPLAY", None)
    log = tmp_path / f"{name}.classes.log"
    proc = subprocess.run([sys.executable, "-c", START, str(tmp_path / name), str(log),
                           str(MACROS / "output_saving.ijm"), str(RANDOMSHAPES)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), log.read_text(), proc.stderr


def _source_of(log, cls):
    for line in log.splitlines():
        if f" {cls} source: " in line:
            return line.split(" source: ", 1)[1].strip()
    raise AssertionError(f"{cls} was not loaded")


def test_first_start_builds_the_archive_later_starts_load_imagej_from_it_same_outputs(tmp_path):
    cache = tmp_path / "cache"
    plain, plain_log, _ = _start(tmp_path, cache, "off", archive="off")
    assert not (cache / "class-archives").exists()
    assert _source_of(plain_log, "ij.ImageJ").endswith(".jar")

    first, _, _ = _start(tmp_path, cache, "first")
    archives = sorted((cache / "class-archives").glob("*.jsa"))
    assert len(archives) == 1 and archives[0].stat().st_size > 1_000_000
    assert not list((cache / "class-archives").glob("*.failed"))

    second, second_log, stderr = _start(tmp_path, cache, "second")
    # the dynamic (top) archive holds ImageJ's classes and the JDK classes they pulled in
    assert _source_of(second_log, "ij.ImageJ") == "shared objects file (top)"
    assert _source_of(second_log, "ij.plugin.filter.ParticleAnalyzer") == "shared objects file (top)"
    assert "cds" not in stderr.lower()
    assert plain and plain == first == second  # byte-identical outputs with and without it


def test_an_archive_that_does_not_fit_is_ignored_silently(tmp_path):
    cache = tmp_path / "cache"
    reference, _, _ = _start(tmp_path, cache, "off", archive="off")
    # an archive file for exactly this Java and class path, but not an archive
    from fijirun.jars import find_ij_jar, find_java, find_jython_jar

    env_cache = os.environ.get("FIJIRUN_CACHE")
    os.environ["FIJIRUN_CACHE"] = str(cache)
    try:
        path = class_archive.archive_path(find_java(), [find_ij_jar(), find_jython_jar()])
    finally:
        if env_cache is None:
            del os.environ["FIJIRUN_CACHE"]
        else:
            os.environ["FIJIRUN_CACHE"] = env_cache
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a CDS archive" * 1000)
    got, log, stderr = _start(tmp_path, cache, "bad")
    assert got == reference
    assert _source_of(log, "ij.ImageJ").endswith(".jar")  # read from the jar, as without one
    assert "archive" not in stderr.lower() and "cds" not in stderr.lower()
    assert path.read_bytes().startswith(b"not a CDS archive")  # not rebuilt behind the user's back


def test_a_failed_build_is_remembered_with_its_reason_and_not_retried(tmp_path, monkeypatch):
    monkeypatch.setenv("FIJIRUN_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "cache" / "class-archives" / "x.jsa"
    assert class_archive.build(path, "imagej1", {"ij_jar": str(tmp_path / "no-such-ij.jar")}) is False
    failed = path.with_suffix(".failed")
    reason = failed.read_text()
    assert "no-such-ij.jar" in reason and not path.exists()
    assert not [p for p in path.parent.iterdir() if p.suffix == ".jsa" or p.name.startswith(".x-")]
    stamp = failed.stat().st_mtime_ns
    assert class_archive.build(path, "imagej1", {}) is False  # remembered: no second child
    assert failed.stat().st_mtime_ns == stamp


def test_switched_off_no_options_and_no_build(tmp_path, monkeypatch):
    from fijirun.jars import find_ij_jar, find_java

    monkeypatch.setenv("FIJIRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FIJIRUN_CLASS_ARCHIVE", "off")
    assert class_archive.archive_options(find_java(), [find_ij_jar()], ("imagej1", {})) == []
    assert not (tmp_path / "cache").exists()


def test_the_key_changes_with_any_jar_of_the_class_path(tmp_path):
    from fijirun.jars import find_java

    jar = tmp_path / "a.jar"
    jar.write_bytes(b"1")
    java = find_java()
    before = class_archive.archive_path(java, [jar])
    jar.write_bytes(b"22")
    assert class_archive.archive_path(java, [jar]) != before
    assert class_archive.archive_path(java, [jar, tmp_path / "b.jar"]) != class_archive.archive_path(java, [jar])


def test_parallel_first_starts_build_one_archive_and_all_succeed(tmp_path):
    n = 2
    cache = tmp_path / "cache"
    env = dict(os.environ, FIJIRUN_CACHE=str(cache), FIJIRUN_CLASS_ARCHIVE="on")
    env.pop("DISPLAY", None)
    code = ("import fijirun, sys\nwith fijirun.Session('imagej1') as s:\n"
            "    print(s.run_code('print(6*7);', 'ijm').log.strip())\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * n, [e[-1000:] for _, e in outs]
    assert [o.strip().splitlines()[-1] for o, _ in outs] == ["42"] * n
    assert len(list((cache / "class-archives").glob("*.jsa"))) == 1
    assert not list((cache / "class-archives").glob(".*"))  # no half-written archive left


def test_the_archive_is_recorded_with_the_full_compiler(tmp_path, monkeypatch):
    """The builder child runs without the start-up compiler directive: on Java 17 a method's
    "not compilable by C2" mark would be archived, and every later start would inherit it."""
    seen = {}

    def fake_run(cmd, env=None, **kwargs):
        seen.update(env)
        raise subprocess.TimeoutExpired(cmd, 0)  # nothing is built; the env is what counts

    monkeypatch.setattr(class_archive.subprocess, "run", fake_run)
    monkeypatch.setenv("FIJIRUN_START_COMPILER", "quiet")
    assert class_archive.build(tmp_path / "a.jsa", "fiji", {}) is False
    assert seen["FIJIRUN_START_COMPILER"] == "full" and seen[class_archive._RECORD_ENV]
    assert "no archive within" in (tmp_path / "a.failed").read_text()
