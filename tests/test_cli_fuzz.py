"""Fuzzing the command line: whatever the options, no traceback, no hang, one JSON object.

Each example is a fresh ``python -m fijirun`` process for ``run``, ``check``,
``batch`` or ``regress`` with option values drawn from what users mistype
(negative, zero, nan, inf, huge, non-numeric, unknown units, empty strings,
unreachable scheduler addresses, random text) mixed with valid ones. Every
invocation must end within 30 s with exit 0, 1 or 2, print no "Traceback",
print exactly one JSON object on stdout with ``--json``, and leave no
``fijirun-*`` folder in its temporary folder. Derandomized: the same examples
every time (≈ 1 minute; most invalid invocations end in well under 1 s since
nothing starts).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
LIMIT = 30

# printable text without NUL (not passable in argv) or surrogates
TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)

NUMBERS = st.sampled_from(["-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e400", "1e308", "abc", "",
                           "1,5", "0x10", " 5", "5s", "99999999999999999999", "1e-300", "-1e-9"])
SECONDS = st.one_of(NUMBERS, st.sampled_from(["20", "0.5", "30"]), TEXT)
WORKERS = st.one_of(NUMBERS, st.sampled_from(["1", "2", "1.0", "+1", "1000000", "257"]), TEXT)
MEMORY = st.one_of(NUMBERS, st.sampled_from(["512m", "2g", "2G", "1500M", "2x", "1m", "-3g", "63m",
                                              "1.5g", "2gb", "g", "9999999t", "64M", "65536k"]), TEXT)
SCHEDULER = st.one_of(st.sampled_from(["tcp://127.0.0.1:9", "tcp://256.1.1.1:1", "127.0.0.1:9",
                                       "tcp://127.0.0.1:0", "tcp://127.0.0.1:70000", "tcp://:1",
                                       "tcp://[::1]:9", "inproc://x", "", "tcp://127.0.0.1"]), TEXT)
MEASUREMENTS = st.one_of(st.sampled_from(["bogus", "area mean", "area decimal=3", "decimal=x", "",
                                          "feret's redirect=None", "area=1", "AREA"]), TEXT)
THRESHOLD = st.one_of(st.sampled_from(["1-255", "255-1", "nan-1", "a-b", "", "-5--1", "1"]), TEXT)
OPTIONS = st.one_of(st.sampled_from(["size=0-Infinity pixel", "size=a-b", "size=10-1", "circularity=0-1",
                                     "", "exclude include"]), TEXT)
SETS = st.one_of(st.sampled_from(["x=1", "label=007", "=1", "x", "1x=2", "unknown=3", "x="]), TEXT)


def _place(kind, root):
    """A positional or path value: valid, missing, empty, a file where a folder goes..."""
    return {
        "script": root / "ok.ijm", "missing": root / "missing" / "nope.ijm", "empty": "",
        "image": root / "img.tif", "folder": root / "course", "file": root / "ok.ijm",
        "run": root / "run", "text": "über ☃ -- x",
    }[kind]


PLACES = st.sampled_from(["script", "missing", "empty", "image", "folder", "file", "run", "text"])


@st.composite
def invocations(draw):
    command = draw(st.sampled_from(["run", "check", "batch", "regress"]))
    args, opts = [], []

    def maybe(option, strategy):
        if draw(st.booleans()):
            value = draw(strategy)
            # "--opt=value": a value starting with '-' is a value, not an option
            opts.append(f"{option}={value}")

    if command == "run":
        args.append(draw(st.one_of(st.just("script"), PLACES)))
        opts.append(("-o", "out"))
        maybe("--timeout", SECONDS)
        maybe("--memory", MEMORY)
        maybe("--set", SETS)
        if draw(st.booleans()):
            opts.append(("--input", draw(PLACES)))
        if draw(st.booleans()):
            opts.append(("--data-dir", draw(PLACES)))
    elif command == "check":
        args.append(draw(st.one_of(st.just("run"), PLACES)))
        maybe("--measurements", MEASUREMENTS)
        maybe("--threshold", THRESHOLD)
        maybe("--options", OPTIONS)
        if draw(st.booleans()):
            opts.append(("--image", draw(PLACES)))
    elif command == "batch":
        args.append(draw(st.one_of(st.just("script"), PLACES)))
        args.append(draw(st.one_of(st.just("image"), PLACES)))
        opts.append(("-o", "out"))
        maybe("--workers", WORKERS)
        maybe("--timeout", SECONDS)
        maybe("--memory", MEMORY)
        maybe("--scheduler", SCHEDULER)
        maybe("--set", SETS)
    else:
        args.append(draw(st.one_of(st.just("folder"), PLACES)))
        opts.append(("-o", "out"))
        maybe("--workers", WORKERS)
        maybe("--timeout", SECONDS)
        maybe("--memory", MEMORY)
    as_json = draw(st.booleans())
    return command, args, opts, as_json


def _fixture(root):
    (root / "ok.ijm").write_text('x = 1;\nlabel = "a";\nprint("ok " + x + label);\n')
    import tifffile

    image = np.zeros((16, 16), np.uint8)
    image[4:8, 4:8] = 255
    tifffile.imwrite(root / "img.tif", image)
    (root / "course").mkdir()
    (root / "course" / "hello.ijm").write_text('print("hello");\n')
    (root / "run").mkdir()


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(invocations())
def test_cli_never_crashes(invocation):
    command, args, opts, as_json = invocation
    root = Path(tempfile.mkdtemp(prefix="cli-fuzz-"))
    try:
        _fixture(root)
        tmp = root / "tmp"
        tmp.mkdir()
        argv = [command] + [str(_place(a, root)) for a in args]
        for opt in opts:
            if isinstance(opt, tuple):
                name, value = opt
                value = root / "out" if value == "out" else _place(value, root)
                argv.append(f"{name}={value}")
            else:
                argv.append(opt)
        if as_json:
            argv.append("--json")
        env = {**os.environ, "TMPDIR": str(tmp), "FIJIRUN_CACHE": str(root / "cache"),
               "PYTHONPATH": os.pathsep.join([str(REPO / "src")]
                                             + [p for p in [os.environ.get("PYTHONPATH")] if p])}
        try:
            proc = subprocess.run([sys.executable, "-m", "fijirun", *argv], capture_output=True,
                                  text=True, timeout=LIMIT, env=env, cwd=root)
        except subprocess.TimeoutExpired:
            pytest.fail(f"fijirun {argv} did not end within {LIMIT} s")
        event(f"{command} exit {proc.returncode}")
        where = f"fijirun {argv}: exit {proc.returncode}\nstdout {proc.stdout!r}\nstderr {proc.stderr!r}"
        assert proc.returncode in (0, 1, 2), where
        assert "Traceback" not in proc.stderr, where
        assert "internal error" not in proc.stderr, where
        if as_json:
            lines = [line for line in proc.stdout.splitlines() if line.strip()]
            assert len(lines) == 1, where
            assert isinstance(json.loads(lines[0]), dict), where
        if proc.returncode == 2:
            assert proc.stderr.strip(), where
            assert not (root / "out" / "manifest.json").exists(), where
        left = [p.name for p in tmp.iterdir() if p.name.startswith("fijirun-")]
        assert not left, (where, left)
    finally:
        shutil.rmtree(root, ignore_errors=True)
