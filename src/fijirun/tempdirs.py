"""fijirun's temporary folders: named after their process, removed on every exit path.

Every temporary folder fijirun makes is called ``fijirun-<what>-<pid>-<random>``
so that one left behind by a process that could not clean up (kill -9, a
worker killed by its nanny) is recognised and removed by the next fijirun
start (:func:`sweep_stale`). A command that starts worker processes gives
them a private parent folder (:func:`private_tmp`, passed on through
``FIJIRUN_TMP``) and removes it whole when it ends, however it ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

__all__ = ["make_temp_dir", "private_tmp", "sweep_stale", "owner_pid", "ENV"]

ENV = "FIJIRUN_TMP"
_OWNED = re.compile(r"^fijirun-[a-z]+-(?P<pid>\d+)-")


def _parent() -> str | None:
    value = os.environ.get(ENV)
    return value if value and os.path.isdir(value) else None


def make_temp_dir(what: str) -> Path:
    """A new folder ``fijirun-<what>-<pid>-*`` (in ``$FIJIRUN_TMP`` when set)."""
    return Path(tempfile.mkdtemp(prefix=f"fijirun-{what}-{os.getpid()}-", dir=_parent()))


def owner_pid(name: str) -> int | None:
    """The process that made the folder called ``name`` (``fijirun-<what>-<pid>-*``), else None."""
    m = _OWNED.match(name)
    return int(m.group("pid")) if m else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: str | os.PathLike | None = None) -> list[Path]:
    """Remove fijirun's temporary folders whose process is gone; return them."""
    root = Path(folder or tempfile.gettempdir())
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        pid = owner_pid(entry.name)
        if pid is not None and entry.is_dir(follow_symlinks=False) and not _alive(pid):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


@contextlib.contextmanager
def private_tmp(what: str = "workers"):
    """A private temporary folder for this command and the processes it starts.

    Sets ``FIJIRUN_TMP``, which worker processes started meanwhile inherit:
    their ImageJ home folders and Dask's scratch space go there. Removed
    whole on exit, also on Ctrl-C, whatever became of the workers.
    """
    folder = make_temp_dir(what)
    saved = os.environ.get(ENV)
    os.environ[ENV] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = saved
        shutil.rmtree(folder, ignore_errors=True)
