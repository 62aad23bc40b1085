"""The command line's arguments: checked before anything starts, one line, exit 2.

Each invocation is a fresh ``python -m fijirun`` process with a private
temporary folder (``TMPDIR``) and cache (``FIJIRUN_CACHE``), so that "nothing
was created" can be asserted: no output folder, no manifest, no
``fijirun-<what>-<pid>-*`` folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fijirun import arguments
from fijirun.arguments import UsageError

REPO = Path(__file__).resolve().parents[1]
MACRO = REPO / "fiji_macros" / "output_saving.ijm"
from conftest import DATA  # noqa: E402


def fijirun(tmp_path, *args, timeout=60, env=None):
    """Run ``python -m fijirun ARGS`` with a private TMPDIR and cache; (code, stdout, stderr, seconds)."""
    tmp = tmp_path / "tmpdir"
    tmp.mkdir(exist_ok=True)
    environment = {**os.environ, "TMPDIR": str(tmp), "FIJIRUN_CACHE": str(tmp_path / "cache"),
                   **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "fijirun", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=environment, cwd=tmp_path)
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0


def one_json(stdout):
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    return json.loads(lines[0])


def assert_usage(tmp_path, command, option, fragment, *args):
    """Exit 2 at once, one stderr line naming command and option, one JSON object, nothing made."""
    out = tmp_path / "out"
    code, stdout, stderr, seconds = fijirun(tmp_path, command, *args)
    assert code == 2, (stdout, stderr)
    assert stdout == ""
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"fijirun: {command}: {option}: "), stderr
    assert fragment in stderr
    code, stdout, stderr, seconds = fijirun(tmp_path, command, *args, "--json")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    obj = one_json(stdout)
    assert obj["status"] == "error" and obj["command"] == command and obj["exit_code"] == 2
    assert obj["error"]["type"] in ("UsageError", "InputError", "OutputDirError")
    assert obj["error"]["option"] == option and fragment in obj["error"]["message"]
    assert seconds < 10  # nothing started: no JVM, no cluster (a scheduler connect: 3 s at most)
    assert not out.exists()
    assert list((tmp_path / "tmpdir").iterdir()) == []
    return obj


BAD_TIMEOUTS = ["nan", "inf", "-inf", "-1", "0", "abc", "", "1e400", "1e7"]
BAD_MEMORY = ["２g", "2x", "1m", "-3g", "", "1.5g", "2gb", "2048t", "63m"]


@pytest.mark.parametrize("value", BAD_TIMEOUTS)
def test_run_timeout(tmp_path, value):
    assert_usage(tmp_path, "run", "--timeout", repr(value), MACRO, "-o", tmp_path / "out",
                 f"--timeout={value}")


@pytest.mark.parametrize("value", BAD_MEMORY)
def test_run_memory(tmp_path, value):
    assert_usage(tmp_path, "run", "--memory", repr(value), MACRO, "-o", tmp_path / "out",
                 f"--memory={value}")


def test_run_paths_and_set(tmp_path):
    assert_usage(tmp_path, "run", "SCRIPT", "no such file", tmp_path / "nope.ijm", "-o", tmp_path / "out")
    obj = assert_usage(tmp_path, "run", "--input", "no such file", MACRO, "-o", tmp_path / "out",
                       "--input", tmp_path / "nope.tif")
    assert obj["error"]["type"] == "InputError"  # what the run itself would say
    assert_usage(tmp_path, "run", "--data-dir", "no such folder", MACRO, "-o", tmp_path / "out",
                 "--data-dir", tmp_path / "nodata")
    assert_usage(tmp_path, "run", "--set", "NAME=VALUE", MACRO, "-o", tmp_path / "out", "--set", "maxSize")
    assert_usage(tmp_path, "run", "--set", "not a variable name", MACRO, "-o", tmp_path / "out",
                 "--set", "1x=2")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    obj = assert_usage(tmp_path, "run", "--output", "cannot create output folder", MACRO, "-o", blocker)
    assert obj["error"]["type"] == "OutputDirError"  # as the run itself would say
    assert_usage(tmp_path, "run", "--output", "cannot create output folder", MACRO, "-o", blocker / "out")
    assert_usage(tmp_path, "batch", "--output", "cannot create output folder", MACRO, DATA, "-o", blocker)
    # a pipe as the script hung (opening it waits for a writer); a loop of links was "no such file"
    os.mkfifo(tmp_path / "pipe.ijm")
    assert_usage(tmp_path, "run", "SCRIPT", "is not a regular file", tmp_path / "pipe.ijm", "-o", tmp_path / "out")
    assert_usage(tmp_path, "run", "--input", "is not a regular file", MACRO, "-o", tmp_path / "out",
                 "--input", tmp_path / "pipe.ijm")
    (tmp_path / "a.ijm").symlink_to(tmp_path / "b.ijm")
    (tmp_path / "b.ijm").symlink_to(tmp_path / "a.ijm")
    assert_usage(tmp_path, "run", "SCRIPT", "loop of links", tmp_path / "a.ijm", "-o", tmp_path / "out")


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "abc", "", "nan", "100000"])
def test_batch_and_regress_workers(tmp_path, value):
    assert_usage(tmp_path, "batch", "--workers", repr(value), MACRO, DATA, "-o", tmp_path / "out",
                 f"--workers={value}")
    assert_usage(tmp_path, "regress", "--workers", repr(value), REPO / "tests" / "course_fixture",
                 "-o", tmp_path / "out", f"--workers={value}")


@pytest.mark.parametrize("value", ["nan", "0", "-1", "abc"])
def test_batch_and_regress_timeout_memory(tmp_path, value):
    assert_usage(tmp_path, "batch", "--timeout", repr(value), MACRO, DATA, "-o", tmp_path / "out",
                 f"--timeout={value}")
    assert_usage(tmp_path, "regress", "--timeout", repr(value), REPO / "tests" / "course_fixture",
                 "-o", tmp_path / "out", f"--timeout={value}")
    assert_usage(tmp_path, "batch", "--memory", repr(value), MACRO, DATA, "-o", tmp_path / "out",
                 f"--memory={value}")


@pytest.mark.parametrize("address, fragment", [
    ("tcp://127.0.0.1:9", "no scheduler at tcp://127.0.0.1:9"),
    ("127.0.0.1:9", "no scheduler at tcp://127.0.0.1:9"),
    ("tcp://256.1.1.1:1", "not an IPv4 address"),
    ("tcp://127.0.0.1:0", "not in 1-65535"),
    ("tcp://127.0.0.1:99999", "cannot read the address"),
    ("tcp://127.0.0.1", "expected tcp://HOST:PORT"),
    ("http://127.0.0.1:80", "unsupported protocol"),
    ("", "expected a scheduler address"),
])
def test_batch_scheduler(tmp_path, address, fragment):
    """An unreachable scheduler: seconds, not 30 s and a Dask traceback; no manifest written."""
    assert_usage(tmp_path, "batch", "--scheduler", fragment, MACRO, DATA, "-o", tmp_path / "out",
                 f"--scheduler={address}")


def test_batch_scheduler_unreachable_leaves_no_manifest_to_refuse(tmp_path):
    """The next batch in the same folder is not refused by a manifest of the failed one."""
    out = tmp_path / "out"
    code, _, stderr, _ = fijirun(tmp_path, "batch", MACRO, DATA, "-o", out, "--scheduler", "tcp://127.0.0.1:9")
    assert code == 2 and not out.exists()
    assert not (out / "manifest.json").exists()


def test_check_options(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    obj = assert_usage(tmp_path, "check", "--measurements", "unknown measurement 'bogus'", run,
                       "--measurements", "bogus")
    assert obj["verdict"] == "error"
    assert_usage(tmp_path, "check", "--measurements", "decimal=", run, "--measurements", "area decimal=x")
    assert_usage(tmp_path, "check", "--threshold", "LOWER-UPPER", run, "--threshold", "abc")
    assert_usage(tmp_path, "check", "--threshold", "LOWER-UPPER", run, "--threshold", "9-1")
    assert_usage(tmp_path, "check", "--options", "size=", run, "--options", "size=a-b")
    assert_usage(tmp_path, "check", "--image", "no such file", run, "--image", tmp_path / "no.tif")
    assert_usage(tmp_path, "check", "OUTDIR", "no such output folder", tmp_path / "nope")
    assert_usage(tmp_path, "check", "--html", "no such folder", run, "--html", tmp_path / "a" / "r.html")
    # found by a hostile review: one report silently replaced the other; a loop of links was an
    # internal error (RuntimeError); a trailing '/' wrote the file anyway
    assert_usage(tmp_path, "check", "--junit", "name the same file", run, "--html", tmp_path / "r.x",
                 "--junit", tmp_path / "r.x")
    (tmp_path / "l1.html").symlink_to(tmp_path / "l2.html")
    (tmp_path / "l2.html").symlink_to(tmp_path / "l1.html")
    (tmp_path / "gone.xml").symlink_to(tmp_path / "nowhere.xml")
    assert_usage(tmp_path, "check", "--html", "loop of links", run, "--html", tmp_path / "l1.html")
    assert_usage(tmp_path, "check", "--junit", "link to nothing", run, "--junit", tmp_path / "gone.xml")
    assert_usage(tmp_path, "check", "--html", "names a folder", run, "--html", f"{tmp_path}/new.html/")
    assert not (tmp_path / "new.html").exists()


@pytest.mark.parametrize("command", ["run", "batch", "regress"])
def test_an_output_folder_through_a_loop_or_a_link_to_nothing_is_a_usage_error(tmp_path, command):
    # a loop was an internal error (RuntimeError); a link to nothing was written through
    (tmp_path / "lp1").symlink_to(tmp_path / "lp2")
    (tmp_path / "lp2").symlink_to(tmp_path / "lp1")
    (tmp_path / "dangling").symlink_to(tmp_path / "nothing")
    course = tmp_path / "course"
    course.mkdir()
    (course / "a.ijm").write_text('print("hi");\n')
    first = {"run": [MACRO], "batch": [MACRO, DATA / "blobs.gif"], "regress": [course]}[command]
    for target, fragment in (("lp1", "loop of links"), ("lp1/sub", "loop of links"), ("dangling", "link to nothing")):
        assert_usage(tmp_path, command, "--output", fragment, *first, "--output", tmp_path / target)
    assert not (tmp_path / "nothing").exists()


def test_an_error_message_is_one_line_even_for_a_path_with_a_newline(tmp_path):
    code, stdout, stderr, _ = fijirun(tmp_path, "run", "a\nb.ijm", "-o", tmp_path / "out")
    assert code == 2 and stderr.count("\n") == 1 and "a\\nb.ijm" in stderr, stderr


@pytest.mark.parametrize("record, fragment", [
    ('{"outputs": 5}', "its 'outputs' is a JSON int, not an array"),
    ('{"outputs": "x"}', "its 'outputs' is a JSON str, not an array"),
    ('{"outputs": [{"path": 5}]}', "an entry of its 'outputs' is not an object with a text 'path'"),
    ('{"parameters": [1]}', "its 'parameters' is a JSON list, not an object"),
    ('{"analyses": [3]}', "an entry of its 'analyses' is not an object"),
    ("[]", "holds a JSON list, not a run record"),
    ("{bad", "cannot read"),
])
def test_check_a_run_json_of_the_wrong_shape_cannot_start(tmp_path, record, fragment):
    # a hand-edited record was a TypeError deep in the checker: "internal error", exit 1
    folder = tmp_path / "edited"
    folder.mkdir()
    (folder / "run.json").write_text(record)
    code, out, err, _ = fijirun(tmp_path, "check", folder, "--json")
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("fijirun: check: cannot read") and fragment in err
    assert one_json(out)["error"]["type"] == "CheckError"


def test_regress_paths(tmp_path):
    assert_usage(tmp_path, "regress", "COURSE_DIR", "no such course folder", tmp_path / "nope",
                 "-o", tmp_path / "out")
    assert_usage(tmp_path, "regress", "--data-dir", "no such folder", REPO / "tests" / "course_fixture",
                 "-o", tmp_path / "out", "--data-dir", tmp_path / "nodata")


@pytest.mark.parametrize("command, args, fragment", [
    ("run", ["--bogus"], "required: script"),
    ("run", [MACRO, "--bogus"], "unrecognized arguments: --bogus"),
    ("run", [MACRO, "--timeout"], "expected one argument"),
    ("batch", [], "required"),
    ("regress", ["x", "-o", "y", "--backend", "nope"], "invalid choice"),
])
def test_argparse_errors_are_usage_errors(tmp_path, command, args, fragment):
    code, stdout, stderr, _ = fijirun(tmp_path, command, *args, "--json")
    assert code == 2
    assert len(stderr.strip().splitlines()) == 1 and stderr.startswith(f"fijirun: {command}: ")
    obj = one_json(stdout)
    assert obj["status"] == "error" and obj["error"]["type"] == "UsageError"
    assert fragment in obj["error"]["message"]


def test_no_command(tmp_path):
    code, stdout, stderr, _ = fijirun(tmp_path, "--json")
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert one_json(stdout)["status"] == "error"


def test_internal_error_one_line_and_a_log(tmp_path):
    """An unexpected exception: one line naming the log with the traceback, exit 1, one JSON object."""
    run = tmp_path / "run"
    run.mkdir()
    code = ("import sys, fijirun.cli as c\n"
            "def boom(args):\n    raise RuntimeError('something\\nunexpected')\n"
            "c.cmd_check = boom\n"
            f"sys.exit(c.main(['check', {str(run)!r}] + sys.argv[1:]))\n")
    env = {**os.environ, "FIJIRUN_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "src")] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    for extra in ([], ["--json"]):
        proc = subprocess.run([sys.executable, "-c", code, *extra], capture_output=True, text=True,
                              env=env, timeout=60)
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("fijirun: internal error: RuntimeError: something unexpected (details in ")
        log = Path(lines[0].rsplit("details in ", 1)[1].rstrip(")"))
        assert log.parent == tmp_path / "cache" / "logs"
        assert log.name.startswith("fijirun-check-") and log.name.endswith(".log")
        assert "Traceback" in log.read_text() and "boom" in log.read_text()
        if extra:
            obj = one_json(proc.stdout)
            assert obj["status"] == "error" and obj["exit_code"] == 1
            assert obj["error"]["type"] == "InternalError" and obj["error"]["log"] == str(log)
        else:
            assert proc.stdout == ""


# --------------------------------------------------------------------------- --set keeps text text

def test_set_keeps_a_string_variable_text(tmp_path):
    script = tmp_path / "label.ijm"
    script.write_text('outputDir = FIXME;\nlabel = "abc";\nn = 3;\nflag = false;\nwhat = FIXME;\n'
                      'File.saveString(label + "|" + (n + 1) + "|" + flag + "|" + (what + 1), '
                      'outputDir + "/value.txt");\n')
    out = tmp_path / "out"
    code, stdout, stderr, _ = fijirun(tmp_path, "run", script, "--output", out, "--set", "label=007",
                                      "--set", "n=41", "--set", "flag=true", "--set", "what=1.5",
                                      "--json", timeout=180)
    assert code == 0, stderr
    obj = one_json(stdout)
    assert obj["status"] == "ok"
    # text stays text; a number literal's variable a number; FIXME: a number when it reads as one
    assert (out / "value.txt").read_text() == "007|42|1|2.5"  # ImageJ prints true as 1
    record = json.loads((out / "run.json").read_text())
    assert record["parameters"]["label"] == "007" and record["parameters"]["n"] == 41


def test_set_jython_string_literal_and_parameter(tmp_path):
    script = tmp_path / "label.py"
    script.write_text('#@ String tag\noutputDir = "FIXME"\nlabel = u"x"\nn = 2\n'
                      'import os\nf = open(os.path.join(outputDir, "value.txt"), "w")\n'
                      'f.write("%s|%s|%r" % (tag, label, n + 1))\nf.close()\n')
    out = tmp_path / "out"
    code, stdout, stderr, _ = fijirun(tmp_path, "run", script, "--output", out, "--set", "label=007",
                                      "--set", "tag=010", "--set", "n=5", "--json", timeout=180)
    assert code == 0, (stdout, stderr)
    assert (out / "value.txt").read_text() == "010|007|6"


# --------------------------------------------------------------------------- units

def test_units():
    assert arguments.positive_seconds("1.5") == 1.5
    assert arguments.jvm_memory("1500M") == "1500M"
    assert arguments.memory_bytes("2G") == 2 * 2**30
    assert arguments.worker_count("3") == 3
    assert arguments.set_values(["a=b=c", "x="]) == {"a": "b=c", "x": ""}
    assert arguments.scheduler_address("10.0.0.5:8786", connect=False) == "tcp://10.0.0.5:8786"
    arguments.measurement_keys("area mean centroid perimeter feret's display redirect=None decimal=3")
    for bad in ("nan", "inf", "-1", "0", "abc"):
        with pytest.raises(UsageError):
            arguments.positive_seconds(bad)
    with pytest.raises(UsageError, match="at most|maximum"):
        arguments.worker_count("9", limit=8)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run fijirun as another user (setpriv)")
@pytest.mark.parametrize("command", ["batch", "regress"])
def test_an_output_folder_that_cannot_be_written_is_a_usage_error(tmp_path, command):
    """Root may write anywhere: the check is made as 'nobody' (setpriv). A read-only parent was
    an internal error (PermissionError, exit 1) instead of a usage error naming --output."""
    import shutil
    import tempfile

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot run fijirun as another user")
    base = Path(tempfile.mkdtemp(prefix="fijirun-test-ro-"))
    try:
        base.chmod(0o755)
        readonly = base / "ro"
        readonly.mkdir(mode=0o555)
        readonly.chmod(0o555)
        course = base / "course"
        course.mkdir()
        shutil.copy(MACRO, course / "a.ijm")
        image = next(DATA.glob("*.tif"))
        shutil.copy(image, base / "img.tif")
        first = [MACRO, base / "img.tif"] if command == "batch" else [course]
        for output in (readonly / "out", readonly):
            proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                   sys.executable, "-m", "fijirun", command, *map(str, first), "-o", str(output),
                                   "--json"], capture_output=True, text=True, timeout=60, cwd=base,
                                  env={**os.environ, "PYTHONPATH": str(REPO / "src"), "HOME": str(base),
                                       "FIJIRUN_CACHE": str(base / "cache"), "TMPDIR": str(base)})
            assert proc.returncode == 2, (proc.stdout, proc.stderr)
            assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
            assert proc.stderr.startswith(f"fijirun: {command}: --output: cannot create output folder")
            assert "not writable" in proc.stderr
            error = one_json(proc.stdout)["error"]
            assert error["option"] == "--output"
        assert list(readonly.iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)
