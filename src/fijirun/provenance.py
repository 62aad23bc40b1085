"""Run records: what a run executed, with which settings, on which files.

The course asks learners to keep the settings they used; fijirun keeps them
for every run: script and hash, effective parameters, every ImageJ command
with its options, input and output files with hashes, versions, backend.

A successful run's record is ``run.json``, its whole Log ``run.log``; a failed
run's record is ``run.failed.json`` (its Log ``run.failed.log``), beside the
last good run's, never over it. Each record carries a ``digest`` (SHA-256 of its
own canonical JSON without that key), so that a record edited by hand is told
apart from one fijirun wrote (:mod:`fijirun.ownership` decides what may be
replaced).

Every file fijirun writes goes through :func:`write_temp` / :func:`write_atomic`:
a temporary file in the same folder renamed into place (readers see the old
file or the new one, never half of one), created with the user's umask.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .files import file_problem

__all__ = ["RUN_RECORD", "RUN_LOG", "FAILED_RECORD", "FAILED_LOG", "RECORD_FILES", "LOG_CAP",
           "write_atomic", "write_temp", "write_json_atomic", "fix_mode", "read_run_record",
           "load_record", "record_digest", "ForeignRecord", "write_log_temp", "cap_log", "json_writer"]

RUN_RECORD = "run.json"
RUN_LOG = "run.log"
FAILED_RECORD = "run.failed.json"
FAILED_LOG = "run.failed.log"
#: Names fijirun keeps for its records in an output folder (a script may not save these).
RECORD_FILES = (RUN_RECORD, RUN_LOG, FAILED_RECORD, FAILED_LOG)
#: Characters of the Log kept inside a record; the whole Log is in the record's log file.
LOG_CAP = 64 * 1024
#: Keys every fijirun run record has.
RECORD_KEYS = ("fijirun", "status", "script", "outputs")

_CHUNK = 1 << 20


def _umask():
    """The process's umask, without changing it (Linux reads it from /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fix_mode(target):
    """Give a file made by ``mkstemp`` (mode 0600) the mode ``open()`` would: 0666 & ~umask.

    ``target``: a path or an open file descriptor.
    """
    mode = 0o666 & ~_umask()
    if isinstance(target, int):
        os.fchmod(target, mode)
    else:
        os.chmod(target, mode)


def _fdopen(fd, mode, **kwargs):  # one place: tests simulate a full disk here
    return os.fdopen(fd, mode, **kwargs)


def write_temp(folder, name, write, *, binary=False):
    """Write a new file ``.<name>.*.tmp`` in ``folder`` with ``write(f)``; return (its path, write's result).

    The caller renames it into place (``os.replace``) or removes it. On any
    error nothing is left behind and the error is raised.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with _fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            value = write(f)
            f.flush()
            fix_mode(f.fileno())
    except BaseException:
        _discard(tmp)
        raise
    return Path(tmp), value


def _discard(path):
    """Remove a temporary file of ours that may already be gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_atomic(path, write, *, binary=False):
    """Replace ``path`` atomically by what ``write(f)`` writes; return write's result."""
    path = Path(path)
    tmp, value = write_temp(path.parent, path.name, write, binary=binary)
    try:
        os.replace(tmp, path)
    except BaseException:
        _discard(tmp)
        raise
    return value


def json_writer(data, compact=False):
    """A ``write(f)`` for :func:`write_temp` that writes ``data`` as JSON."""
    def write(f):
        if compact:
            json.dump(data, f, separators=(",", ":"), default=str)
        else:
            json.dump(data, f, indent=2, default=str)
        f.write("\n")
    return write


def write_json_atomic(path, data, *, compact=False):
    """Write JSON so that readers see the old file or the new one, never half of one.

    ``compact`` writes one line (a manifest of thousands of images stays cheap).
    """
    write_atomic(path, json_writer(data, compact))


def write_log_temp(folder, name, log):
    """Write a Log to a temporary file in ``folder`` (UTF-8, in 1 MB pieces: never a second whole copy).

    Returns (temporary path, ``{"sha256", "bytes", "characters"}``).
    """
    def write(f):
        h, n = hashlib.sha256(), 0
        for i in range(0, len(log), _CHUNK):
            piece = log[i:i + _CHUNK].encode("utf-8", "replace")
            h.update(piece)
            f.write(piece)
            n += len(piece)
        return {"sha256": h.hexdigest(), "bytes": n, "characters": len(log)}
    return write_temp(folder, name, write, binary=True)


def cap_log(log, log_name):
    """The Log as kept in a record: at most :data:`LOG_CAP` characters, with a note when cut."""
    if len(log) <= LOG_CAP:
        return log, False
    return (log[:LOG_CAP] + f"\n[fijirun] Log truncated here: {len(log)} characters in all; "
            f"the whole Log is in {log_name}\n"), True


def record_digest(record):
    """SHA-256 of a record's canonical JSON, without its ``digest`` key."""
    body = {k: v for k, v in record.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ForeignRecord(ValueError):
    """A file with a record's name that fijirun did not write (or that was changed since)."""


def load_record(path):
    """The fijirun record at ``path``; None when there is no such file.

    Raises
    ------
    ForeignRecord
        The file is not JSON, not a JSON object with fijirun's keys, or its
        content no longer has the digest fijirun wrote.
    OSError
        It cannot be read.
    """
    path = Path(path)
    if os.path.lexists(path) and (problem := file_problem(path)) is not None:
        # a pipe would block the reader; a link to nothing is no record to replace either
        raise ForeignRecord(problem)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ForeignRecord(f"{path} is not JSON ({exc})") from None
    if not isinstance(data, dict) or not all(k in data for k in RECORD_KEYS) \
            or not isinstance(data.get("outputs"), list):
        raise ForeignRecord(f"{path} is not a fijirun run record (not a JSON object with the keys "
                            f"{', '.join(RECORD_KEYS)})")
    if "digest" in data and data["digest"] != record_digest(data):
        raise ForeignRecord(f"{path} was changed since fijirun wrote it")
    return data


def read_run_record(output_dir, name=RUN_RECORD):
    """The ``run.json`` of a folder as a dict, or None when there is none.

    Raises ValueError when it is not JSON or not a JSON object, OSError when unreadable.
    """
    path = Path(output_dir) / name
    if not path.is_file():  # follows links: a pipe, a folder or a link to nothing is no record
        return None
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not a run record")
    return data
