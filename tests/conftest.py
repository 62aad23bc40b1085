"""Shared fixtures: the course data, one warm ImageJ session, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("FIJIRUN_DATA", ROOT.parent / "shared" / "data")).resolve()
ACTIVITIES = Path(__file__).resolve().parent / "activities"
MACROS = ROOT / "fiji_macros"
RANDOMSHAPES = DATA / "xy_8bit_binary_randomshapes.tif"


def pytest_configure(config):
    if not DATA.is_dir():
        raise pytest.UsageError(f"course data not found at {DATA} (set FIJIRUN_DATA)")


@pytest.fixture(scope="session")
def data_dir():
    return DATA


@pytest.fixture(scope="session")
def ij_session():
    """One warm ImageJ 1.x for the whole test session (a JVM cannot restart)."""
    import fijirun

    with fijirun.Session(data_dir=DATA, timeout=120) as session:
        yield session


def run_cli(*args, timeout=120, cwd=None):
    """Run ``fijirun`` in a fresh process; return (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "fijirun", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


def run_cli_json(*args, timeout=120):
    code, out, err = run_cli(*args, "--json", timeout=timeout)
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got {out!r} (stderr {err!r})"
    return code, json.loads(lines[0]), err
