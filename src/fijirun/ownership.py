"""Which files of an output folder fijirun may replace: the ownership rule, in one place.

**fijirun replaces a file only when its current content is what fijirun wrote**
— its SHA-256 is in fijirun's record of the folder. Anything else (a file a
person or another program wrote, a fijirun output edited since) is *foreign*
and is never replaced, moved or deleted: a run that would replace it fails
with :class:`~fijirun.errors.OutputExistsError` naming the file, and keeps its
new outputs aside in ``fijirun-unsaved-*`` (``overwrite=True`` allows it).

The records themselves:

* ``run.json`` / ``run.failed.json`` are fijirun's when they are JSON objects
  with fijirun's keys whose ``digest`` still matches their content. Any other
  file with one of these names makes every run into the folder fail before it
  starts, with nothing created or deleted.
* ``run.log`` / ``run.failed.log`` are fijirun's when their hash is the one
  their record holds.
* The names of the four record files are fijirun's: a script that saves one of
  them fails (its outputs kept aside). So are the folders ``run.analyses/`` (the
  images each particle analysis analysed) and ``run.state/`` (what the run left
  in ImageJ), their files hashed in ``run.json``.

Reports (``fijirun check --html/--junit``, ``fijirun regress --html/--junit``)
never overwrite a run's record or a file a run's record claims, and replace an
existing file only when it is a fijirun report: one that carries
:data:`REPORT_MARK` near its start (:func:`guard_report`, :func:`write_report`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .analyses import snapshot_files
from .backends.final_state import state_files
from .errors import FijirunError, OutputExistsError
from .files import file_problem
from .outputs import sha256
from .provenance import (
    FAILED_LOG,
    FAILED_RECORD,
    RECORD_FILES,
    RUN_LOG,
    RUN_RECORD,
    ForeignRecord,
    load_record,
    write_atomic,
)

__all__ = ["FolderState", "folder_state", "foreign_files", "last_failure", "guard_report",
           "write_report", "junit_text", "not_fijiruns", "own_json", "ReportPathError", "REPORT_MARK"]

#: The comment every HTML and JUnit report of fijirun carries in its first lines:
#: a file at a report's path without it is a person's, never replaced.
REPORT_MARK = "<!-- written by fijirun: its next report may replace this file -->"
_MARK_WINDOW = 4096  # bytes: the mark follows at most a DOCTYPE or an XML declaration


class ReportPathError(FijirunError):
    """A report would overwrite a run's record or one of its outputs."""


@dataclass
class FolderState:
    """What fijirun knows about an output folder from its records.

    Attributes
    ----------
    folder : Path
    records : dict
        Record file name (``run.json``, ``run.failed.json``) → its content, for those present.
    foreign : dict
        Record file name → why it is not fijirun's.
    owned : dict
        Relative path → SHA-256 fijirun wrote there (outputs, earlier outputs, logs).
    outputs : dict
        The part of ``owned`` that are run outputs (not logs).
    """

    folder: Path
    records: dict = field(default_factory=dict)
    foreign: dict = field(default_factory=dict)
    owned: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)

    @property
    def next_sequence(self):
        """The ``sequence`` number of the folder's next record: one more than the highest recorded."""
        return 1 + max((int(r.get("sequence") or 0) for r in self.records.values()), default=0)


def folder_state(folder):
    """Read the records of an output folder (see :class:`FolderState`)."""
    folder = Path(folder)
    state = FolderState(folder)
    for name in (RUN_RECORD, FAILED_RECORD):
        try:
            record = load_record(folder / name)
        except ForeignRecord as exc:
            state.foreign[name] = str(exc)
            continue
        except OSError as exc:
            state.foreign[name] = f"{folder / name} cannot be read ({exc.strerror})"
            continue
        if record is not None:
            state.records[name] = record
    good = state.records.get(RUN_RECORD) or {}
    for key in ("outputs", "earlier_outputs"):
        for o in good.get(key) or []:
            if isinstance(o, dict) and o.get("path") and o.get("sha256"):
                state.outputs[str(o["path"])] = o["sha256"]
    state.outputs.update(snapshot_files(good))  # the images its particle analyses analysed
    state.outputs.update(state_files(good))  # what the run left in ImageJ (run.state/)
    state.owned.update(state.outputs)
    for record in state.records.values():
        log = record.get("log_file")
        if isinstance(log, dict) and log.get("path") and log.get("sha256"):
            state.owned[str(log["path"])] = log["sha256"]
    return state


def foreign_files(state, rels):
    """Those of ``rels`` (paths relative to the folder) that exist and are not fijirun's to replace."""
    foreign = []
    for rel in rels:
        rel = str(rel)
        path = state.folder / rel
        if rel in (RUN_RECORD, FAILED_RECORD):
            if rel in state.foreign:
                foreign.append(rel)
            continue
        if not (path.exists() or path.is_symlink()):
            continue
        recorded = state.owned.get(rel)
        if recorded is None or path.is_symlink() or not path.is_file() or sha256(path) != recorded:
            foreign.append(rel)
    return foreign


def own_json(path, keys):
    """Whether ``path`` is a JSON object with all of ``keys`` (a report or record fijirun wrote)."""
    import json

    path = Path(path)
    if path.is_symlink() or not path.is_file():  # a pipe would block the reader; a link is no record
        return False
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and set(keys) <= set(data)


def not_fijiruns(folder, records=None, owned=None):
    """The files below ``folder`` that fijirun may not replace (relative paths, sorted).

    Parameters
    ----------
    folder : path-like
        A run's output folder (its own records say what is fijirun's).
    records : dict, optional
        Other file names of fijirun's JSON records in the folder → the keys
        such a record has (``{"batch.json": {"name", "status", "outputs"}}``).
    owned : dict, optional
        More files fijirun wrote there, as another record of the caller's
        lists them: relative path (``/``-separated) → SHA-256.

    Returns
    -------
    list of str
        ``["."]`` when ``folder`` is a symbolic link or not a folder.
    """
    import os

    folder = Path(folder)
    records = records or {}
    if folder.is_symlink() or not folder.is_dir():
        return ["."]
    state = folder_state(folder)
    for rel, digest in (owned or {}).items():
        state.owned.setdefault(str(Path(rel)), digest)
    rels, foreign = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.relpath(os.path.join(dirpath, name), folder)
            if rel in records:
                if not own_json(folder / rel, records[rel]):
                    foreign.append(rel)
            else:
                rels.append(rel)
    foreign += foreign_files(state, rels)
    return sorted(set(foreign))


def check_records(state):
    """Raise OutputExistsError when a record file of the folder is not fijirun's (nothing is touched)."""
    problems = [state.foreign[n] for n in (RUN_RECORD, FAILED_RECORD) if n in state.foreign]
    for rel in foreign_files(state, [RUN_LOG, FAILED_LOG]):
        problems.append(f"{state.folder / rel} was not written by fijirun (or was changed since)")
    if problems:
        raise OutputExistsError(
            "; ".join(problems) + f". fijirun keeps its run records under the names "
            f"{', '.join(RECORD_FILES)} and never replaces a file it did not write: move "
            "it away, or choose another output folder (overwrite=True / --overwrite replaces it)")


def last_failure(state):
    """(record file name, record) of the folder's last run when that run failed, else None.

    The last run is the record with the highest ``sequence``; a ``run.json``
    whose status is not ``ok`` (written by an older fijirun) is a failure too.
    """
    good, failed = state.records.get(RUN_RECORD), state.records.get(FAILED_RECORD)
    if failed is not None and (good is None or int(failed.get("sequence") or 0) >= int(good.get("sequence") or 0)):
        return FAILED_RECORD, failed
    if good is not None and good.get("status") != "ok":
        return RUN_RECORD, good
    return None


def _is_report(path):
    """Whether the file at ``path`` carries :data:`REPORT_MARK` near its start."""
    try:
        with open(path, "rb") as f:
            head = f.read(_MARK_WINDOW)
    except OSError:
        return False
    return REPORT_MARK.encode() in head


def guard_report(path, what="report", *, marked=True):
    """Refuse to write a report over a run's record, Log or output, or over a person's file.

    Parameters
    ----------
    path : str or Path
    what : str
        What the report is, for the message ("HTML report").
    marked : bool
        The report carries :data:`REPORT_MARK` (HTML, JUnit): an existing file
        at ``path`` without it is not fijirun's and is refused.

    Raises
    ------
    ReportPathError
        ``path`` has the name of a run record file, a run record in one of
        its parent folders claims it, or (``marked``) a file that is not a
        fijirun report is there.
    """
    given = Path(path).absolute()
    try:
        path = given.resolve()
    except (RuntimeError, OSError) as exc:  # a loop of links (Python 3.11 raises RuntimeError)
        raise ReportPathError(f"the {what} {given} cannot be written: {exc}") from None
    if path.name in RECORD_FILES:
        raise ReportPathError(f"the {what} {path} would overwrite a run record: "
                              f"{', '.join(RECORD_FILES)} are fijirun's; write the {what} elsewhere")
    for folder in path.parents:
        if not ((folder / RUN_RECORD).is_file() or (folder / FAILED_RECORD).is_file()):
            continue
        state = folder_state(folder)
        rel = str(path.relative_to(folder))
        if rel in state.owned:
            raise ReportPathError(f"the {what} {path} would overwrite {rel}, an output of the run "
                                  f"recorded in {folder}; write the {what} elsewhere")
    if not marked:
        return
    if given.is_symlink() or (os.path.lexists(given) and file_problem(given)):
        raise ReportPathError(f"the {what} {given} exists and is not a regular file; "
                              f"write the {what} elsewhere")  # a link: its target is not ours to replace
    if given.exists() and not _is_report(given):
        raise ReportPathError(f"the {what} {given} would replace a file fijirun did not write; "
                              f"remove it or write the {what} elsewhere")


def write_report(path, text, what="report"):
    """Write a report (HTML, JUnit XML) atomically, after :func:`guard_report`; return its path.

    ``text`` must carry :data:`REPORT_MARK` in its first lines, so that the
    next report may replace it.

    Raises
    ------
    ReportPathError
        See :func:`guard_report`; also when the file cannot be written.
    """
    if REPORT_MARK.encode() not in text.encode("utf-8")[:_MARK_WINDOW]:
        raise ValueError(f"a report must carry fijirun's mark in its first {_MARK_WINDOW} bytes")
    guard_report(path, what)
    path = Path(path)
    try:
        write_atomic(path, lambda f: f.write(text))
    except OSError as exc:
        raise ReportPathError(f"cannot write the {what} {path}: {exc.strerror or exc}") from None
    return path


def junit_text(root):
    """A JUnit XML document (an ElementTree element) as text, with :data:`REPORT_MARK` after its declaration."""
    import xml.etree.ElementTree as ET

    return (f'<?xml version="1.0" encoding="utf-8"?>\n{REPORT_MARK}\n'
            f'{ET.tostring(root, encoding="unicode")}\n')
