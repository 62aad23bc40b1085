"""The package's metadata: environment.yml in sync with pyproject.toml, version, sample data."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import fijirun

ROOT = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$")


def _requirements(items):
    """name -> version spec ('' when none); 'dask[distributed]' counts as dask and distributed."""
    out = {}
    for item in items:
        m = _NAME.match(item.strip())
        name, extras, spec = m.group(1).lower().replace("_", "-"), m.group(2), m.group(3).strip()
        out[name] = spec
        for extra in (extras or "").strip("[]").split(","):
            if extra.strip():
                out.setdefault(extra.strip().lower(), "")
    return out


def _conda_environment():
    names = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^(\s*)- (.+)$", line)
        if not m:
            continue
        item = m.group(2).strip()
        if item == "pip:" or item.startswith("-e ") or item == "pip":
            continue
        names.update(_requirements([item]))
    return names


def test_environment_yml_has_every_dependency_with_the_same_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirements(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_requirements(extra))
    conda = _conda_environment()
    missing = sorted(set(wanted) - set(conda))
    assert not missing, f"in pyproject.toml, not in environment.yml: {missing}"
    differ = {n: (wanted[n], conda[n]) for n in wanted if conda[n] and wanted[n] and conda[n] != wanted[n]}
    assert not differ, f"other version bounds (pyproject, environment.yml): {differ}"


def test_version_is_written_once_and_is_the_package_metadata():
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "fijirun._version.__version__"}
    assert fijirun.__version__ == version("fijirun")


def test_import_fijirun_loads_no_engine_numpy_or_pandas():
    """``import fijirun`` (and so every command's start) loads what it uses, not the whole API."""
    code = ("import sys, fijirun; heavy = [m for m in ('numpy', 'pandas', 'dask', 'jpype', 'fijirun.session',"
            " 'importlib.metadata') if m in sys.modules]; print(heavy); "
            "assert fijirun.Session.__module__ == 'fijirun.session' and callable(fijirun.batch); "
            "import fijirun.batch.run, fijirun.check.core, fijirun.regress.run; "
            "assert callable(fijirun.batch) and callable(fijirun.check) and callable(fijirun.regress)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_sample_images_ship_with_their_attribution():
    names = fijirun.data.names()
    assert "xy_8bit_binary_randomshapes.tif" in names and "blobs.gif" in names
    assert all(fijirun.data.path(n).stat().st_size > 0 for n in names)
    readme = (fijirun.data.SAMPLES / "README.md").read_text()
    assert all(n.split(".")[0].split("__")[0] in readme for n in names) and "CC BY 4.0" in readme
    with pytest.raises(KeyError, match="blobs.gif"):
        fijirun.data.path("nope.tif")
    # served by default: a course URL and Open Samples' URL resolve with no data folder
    d = fijirun.data.DataDir()
    url = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif"
    assert d.resolve_url(url) == fijirun.data.path("xy_8bit_binary_randomshapes.tif")
    assert d.resolve_name("blobs.gif") == fijirun.data.path("blobs.gif")
    assert fijirun.data.DataDir(samples=False).resolve_url(url) is None
