"""fijirun's per-user cache: what is built once per machine and kept.

The compiled run guard (:mod:`fijirun.backends.guard`), the JVM class
archives (:mod:`fijirun.backends.class_archive`) and the Glasbey LUT files
(:mod:`fijirun.luts`). Everything in it can be deleted at any time; it is
rebuilt when needed. Entries are written to a private name and renamed into
place, so parallel first starts (batch workers) never see half a file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["cache_root", "write_atomically"]


def cache_root() -> Path:
    """The per-user cache folder: ``$FIJIRUN_CACHE``, ``$XDG_CACHE_HOME/fijirun`` or ``~/.cache/fijirun``."""
    value = os.environ.get("FIJIRUN_CACHE")
    if value:
        return Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fijirun"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a private file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
