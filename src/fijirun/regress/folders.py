"""The activity folders of a regression: one writer at a time, and nothing of anyone else's lost.

Each activity runs in a fresh folder of the regress output (``<output>/<activity>``).
Two rules keep that safe:

* **One writer.** An activity whose worker died or is being replaced runs
  again elsewhere, possibly while the first attempt's process is still alive
  and writing into the folder (a worker restart kills it, but not at once).
  Every attempt holds the folder's lock (:func:`sole_writer`, ``flock`` on a
  file in ``<output>/.fijirun-locks/``); the system releases it when the
  process ends, so a rerun empties the folder only once the first attempt is
  gone.
* **Nothing lost.** A folder is emptied only when all it holds is fijirun's
  (the ownership rule, :mod:`fijirun.ownership`): the run's records, what they
  list, and what the regression itself recorded it found there after the run
  (:data:`ACTIVITY_RECORD`: a script may save beside its outputs, e.g. into
  the folder a ``getDirectory`` dialog was answered with). A file a person put
  there, or changed since, stays: the activity does not run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ACTIVITY_RECORD", "LOCKS", "LOCK_WAIT", "empty_folder", "foreign_files", "record_folder",
           "sole_writer"]

#: The regression's record of every file an activity's folder held after its run (path → SHA-256).
ACTIVITY_RECORD = "regress.activity.json"
_ACTIVITY_KEYS = ("path", "files")
#: Lock files of the activity folders being written (removed when the regression ends).
LOCKS = ".fijirun-locks"
#: Seconds a rerun waits for the process of its earlier attempt to end (a worker restart kills it).
LOCK_WAIT = 150.0
# what a killed attempt leaves: the session's private staging and state folders
_PRIVATE = (".fijirun-staging-", ".fijirun-state-")


@contextlib.contextmanager
def sole_writer(lock: Path, wait: float = LOCK_WAIT) -> Iterator[str | None]:
    """Hold the lock of an activity folder: yields None, or the holder's pid after ``wait`` s."""
    try:
        import fcntl
    except ImportError:  # Windows: no rerun guard
        yield None
        return
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as f:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    yield f.read().strip() or "unknown"
                    return
                time.sleep(0.05)
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield None
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _recorded(folder: Path) -> dict:
    try:
        with open(folder / ACTIVITY_RECORD, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def foreign_files(folder: Path) -> list[str]:
    """What in an activity folder is not fijirun's (relative paths; ``["."]``: not a folder)."""
    from ..ownership import not_fijiruns

    if not (folder.exists() or folder.is_symlink()):
        return []
    foreign = not_fijiruns(folder, {ACTIVITY_RECORD: _ACTIVITY_KEYS}, owned=_recorded(folder))
    return [rel for rel in foreign if not rel.startswith(_PRIVATE)]


def empty_folder(folder: Path) -> None:
    """Make ``folder`` a fresh, empty folder, if all it holds is fijirun's.

    Raises
    ------
    OutputExistsError
        It holds a file fijirun did not write, or changed since (named); nothing was removed.
    OSError
        It cannot be removed or made.
    """
    from ..errors import OutputExistsError

    foreign = foreign_files(folder)
    if foreign:
        where = folder if foreign == ["."] else folder / foreign[0]
        raise OutputExistsError(f"{where} was not written by fijirun (or was changed since)"
                                + (f", and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                                + ": the activity's folder is left as it is and the activity did not run")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)


def record_folder(folder: Path, path: str) -> None:
    """Write the activity record: every file ``folder`` holds now, with its SHA-256."""
    from ..outputs import sha256
    from ..provenance import write_json_atomic

    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and not p.is_symlink() and rel != ACTIVITY_RECORD:
            files[rel] = sha256(p)
    write_json_atomic(folder / ACTIVITY_RECORD, {"path": path, "files": files})
