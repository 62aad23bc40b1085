"""The activity folders of a regression: one writer at a time, and nothing of anyone else's lost.

Each activity runs in a fresh folder of the regress output (``<output>/<activity>``).
Two rules keep that safe:

* **One writer.** An activity whose worker died or is being replaced runs
  again elsewhere, possibly while the first attempt's process is still alive
  and writing into the folder (a worker restart kills it, but not at once).
  Every attempt holds the folder's lock (:func:`sole_writer`, ``flock`` on a
  file in ``<output>/.fijirun-locks/``); the system releases it when the
  process ends, so a rerun empties the folder only once the first attempt is
  gone. An attempt whose script could not be stopped keeps the lock until its
  process ends (its worker is replaced).
* **Nothing lost.** A folder is emptied only when all it holds is fijirun's
  (the ownership rule, :mod:`fijirun.ownership`): the run's records and what
  they list, and what the regression itself recorded it found there after the
  run (:data:`ACTIVITY_RECORD`: a script may save beside its outputs, e.g.
  into the folder a ``getDirectory`` dialog was answered with). The record is
  first written, unfinished, when the folder is made: a rerun in the same
  regression takes over what an attempt that never finished left, and the
  regression records such folders once its workers are gone. A file a person
  put there, or changed since, stays: the activity does not run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ACTIVITY_RECORD", "LOCKS", "LOCK_WAIT", "empty_folder", "finish_unfinished", "foreign_files",
           "record_folder", "recorded_path", "remove_locks", "sole_writer"]

#: The regression's record of every file an activity's folder held after its run (path → SHA-256).
ACTIVITY_RECORD = "regress.activity.json"
_ACTIVITY_KEYS = ("path", "files")
#: Lock files of the activity folders being written (removed when the regression ends).
LOCKS = ".fijirun-locks"
#: Seconds a rerun waits for the process of its earlier attempt to end (a worker restart kills it).
LOCK_WAIT = 150.0
# what a killed attempt leaves: the session's private folders, records being written
_PRIVATE = re.compile(r"^\.fijirun-(?:staging-[0-9a-f]{12}(?:-analyses)?|state-[0-9a-f]{12}|replaced-[0-9a-f]{12})$"
                      r"|^\.(?:run\.json|run\.log|run\.failed\.json|run\.failed\.log|"
                      + re.escape(ACTIVITY_RECORD) + r")\.[a-z0-9_]{8}\.tmp$")
_KEPT: list = []  # locks held until this process ends: their attempt's script could not be stopped


class FolderLock:
    """An activity folder's lock, held (see :func:`sole_writer`)."""

    def __init__(self, file):
        self._file = file
        self.kept = False

    def keep(self) -> None:
        """Hold the lock until this process ends (its script still runs: the worker is replaced)."""
        self.kept = True


@contextlib.contextmanager
def sole_writer(lock: Path, wait: float = LOCK_WAIT) -> Iterator[FolderLock | str]:
    """Hold the lock of an activity folder.

    Yields a :class:`FolderLock`, or (a string) why it could not be taken:
    another process held it for ``wait`` s, or the lock file cannot be made.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no rerun guard
        yield FolderLock(None)
        return
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        f = open(lock, "a+")  # noqa: SIM115 - held past this block when kept
    except OSError as exc:
        yield f"its lock file {lock} cannot be made: {exc.strerror or exc}"
        return
    held = None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.seek(0)
                    yield (f"an earlier attempt at it (process {f.read().strip() or 'unknown'}) still "
                           f"wrote into its folder after {wait:g} s")
                    return
                time.sleep(0.05)
            except OSError as exc:  # no locks on this file system
                yield f"its lock file {lock} cannot be locked: {exc.strerror or exc}"
                return
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        held = FolderLock(f)
        yield held
    finally:
        if held is not None and held.kept:
            _KEPT.append(f)  # released by the system when this process ends
        else:
            f.close()  # releases the lock


def remove_locks(root: Path) -> None:
    """Remove the lock files no process holds (another regression into ``root`` may hold some)."""
    try:
        import fcntl
    except ImportError:
        return
    folder = root / LOCKS
    for lock in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        with contextlib.suppress(OSError), open(lock, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            lock.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def _record(folder: Path) -> dict:
    path = folder / ACTIVITY_RECORD
    if path.is_symlink() or not path.is_file():  # a pipe would block the reader
        return {}
    try:
        with open(folder / ACTIVITY_RECORD, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {}


def recorded_path(folder: Path) -> str | None:
    """The activity path an activity folder's record names, or None (no readable record)."""
    path = _record(folder).get("path")
    return path if isinstance(path, str) else None


def foreign_files(folder: Path, run: str | None = None) -> list[str]:
    """What in an activity folder is not fijirun's (relative paths; ``["."]``: not a folder).

    ``run``, the regression's token: what an unfinished attempt of this same
    regression left is fijirun's (the caller holds the folder's lock).
    """
    from ..ownership import not_fijiruns

    if not (folder.exists() or folder.is_symlink()):
        return []
    if folder.is_symlink() or not folder.is_dir():
        return ["."]
    record = _record(folder)
    if run is not None and record.get("finished") is False and record.get("run") == run:
        return []
    files = {str(k): str(v) for k, v in record.get("files", {}).items()}
    links = {k: v[len("symlink:"):] for k, v in files.items() if v.startswith("symlink:")}
    foreign = not_fijiruns(folder, {ACTIVITY_RECORD: _ACTIVITY_KEYS}, owned=files)
    return [rel for rel in foreign
            if not _PRIVATE.match(Path(rel).parts[0])
            and not (Path(rel).as_posix() in links and (folder / rel).is_symlink()
                     and os.readlink(folder / rel) == links[Path(rel).as_posix()])]


def empty_folder(folder: Path, path: str, run: str | None = None) -> None:
    """Make ``folder`` a fresh folder holding only an unfinished activity record, if all it held was fijirun's.

    Raises
    ------
    OutputExistsError
        It holds a file fijirun did not write, or changed since (named), or
        the run of another activity (its record names another path); nothing
        was removed.
    OSError
        It cannot be removed or made.
    """
    from ..errors import OutputExistsError
    from ..provenance import write_json_atomic

    owner = recorded_path(folder) if folder.is_dir() and not folder.is_symlink() else None
    if owner is not None and owner != path:
        raise OutputExistsError(f"{folder} holds the run of another activity ({owner}), not of {path}: "
                                "the folder is left as it is and the activity did not run (remove the "
                                "folder, or use another output folder, to run it)")
    foreign = foreign_files(folder, run)
    if foreign:
        where = folder if foreign == ["."] else folder / foreign[0]
        raise OutputExistsError(f"{where} was not written by fijirun (or was changed since)"
                                + (f", and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                                + ": the activity's folder is left as it is and the activity did not run "
                                  "(move the file away, or remove the folder, to run it)")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    write_json_atomic(folder / ACTIVITY_RECORD, {"path": path, "files": {}, "finished": False, "run": run})


def record_folder(folder: Path, path: str, run: str | None = None, finished: bool = True) -> None:
    """Write the activity record: every file ``folder`` holds now, with its SHA-256.

    A symbolic link is recorded by its target; a file that cannot be read is
    left out (it stays foreign). ``finished=False``: its script still runs.
    """
    from ..outputs import sha256
    from ..provenance import write_json_atomic

    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel == ACTIVITY_RECORD or _PRIVATE.match(p.relative_to(folder).parts[0]):
            continue
        with contextlib.suppress(OSError):
            if p.is_symlink():
                files[rel] = "symlink:" + os.readlink(p)
            elif p.is_file():
                files[rel] = sha256(p)
    write_json_atomic(folder / ACTIVITY_RECORD, {"path": path, "files": files, "finished": finished, "run": run})


def finish_unfinished(folder: Path, run: str) -> None:
    """Once no process writes any more: record a folder an attempt of ``run`` left unfinished."""
    record = _record(folder)
    if record.get("finished") is False and record.get("run") == run:
        with contextlib.suppress(OSError):
            record_folder(folder, str(record.get("path")), run)
