"""fijirun's per-user cache: what is built once per machine and kept.

The compiled run guard (:mod:`fijirun.backends.guard`), the JVM class
archives (:mod:`fijirun.backends.class_archive`) and the Glasbey LUT files
(:mod:`fijirun.luts`). Everything in it can be deleted at any time; it is
rebuilt when needed. Entries are written to a private name and renamed into
place (:func:`fijirun.provenance.write_atomic`), so parallel first starts
(batch workers) never see half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The per-user cache folder: ``$FIJIRUN_CACHE``, ``$XDG_CACHE_HOME/fijirun`` or ``~/.cache/fijirun``."""
    value = os.environ.get("FIJIRUN_CACHE")
    if value:
        return Path(value)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "fijirun"
