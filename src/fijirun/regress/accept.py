"""Accepting a regression as the new baseline (``--update-baseline``).

The baseline folder is replaced by a copy of this run's output folder — but
only when everything in it is fijirun's: its ``regress.json``, the activity
folders' records, outputs and final states (the ownership rule,
:mod:`fijirun.ownership`), and fijirun's own pictures of changes. A file a
person put there, or edited since, stops the update with an error naming it,
and the baseline stays as it was. The new copy is made beside the baseline
and swapped in by two renames, so a failure half-way leaves the old baseline
whole.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..ownership import own_json
from .baseline import BaselineError
from .folders import LOCKS
from .folders import foreign_files as activity_foreign_files

__all__ = ["CHANGES_DIR", "check_replaceable", "replace_baseline"]

#: fijirun's pictures of changed images, in a regress output folder.
CHANGES_DIR = "regress.changes"
_REPORT_KEYS = ("activities", "counts")
# fijirun's folders that hold files of one kind: its pictures of changes, its folder locks
_ONE_KIND = {CHANGES_DIR: ".png", LOCKS: ".lock"}


def _foreign(folder: Path) -> list:
    """What in a regress output folder is not fijirun's (relative paths)."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name == "regress.json":
            if not own_json(entry, _REPORT_KEYS):
                foreign.append(name)
        elif name in _ONE_KIND and entry.is_dir() and not entry.is_symlink():
            foreign += [f"{name}/{p.relative_to(entry)}" for p in entry.rglob("*")
                        if not (p.is_file() and p.name.endswith(_ONE_KIND[name]))]
        elif entry.is_dir() and not entry.is_symlink():
            foreign += [f"{name}/{rel}" for rel in activity_foreign_files(entry) if rel != "."]
        else:
            foreign.append(name)
    return foreign


def check_replaceable(baseline) -> None:
    """Refuse (``BaselineError``) a baseline that holds a file fijirun did not write (named).

    :func:`regress` asks before any activity runs; :func:`replace_baseline`
    asks again when it replaces it.
    """
    baseline = Path(baseline).resolve()
    try:
        foreign = _foreign(baseline)
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {baseline} to update it: {exc}") from None
    if foreign:
        raise BaselineError(f"{baseline / foreign[0]} was not written by fijirun (or was changed since)"
                            + (f", and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                            + ": the baseline is left as it is; move it away to update the baseline")


def replace_baseline(run_folder, baseline) -> Path:
    """Make ``baseline`` a copy of ``run_folder``; return the baseline's path.

    Raises
    ------
    BaselineError
        The baseline holds a file fijirun did not write (named), or the copy
        cannot be made (nothing changed then).
    """
    run_folder, baseline = Path(run_folder).resolve(), Path(baseline).resolve()
    check_replaceable(baseline)
    token = uuid.uuid4().hex[:8]
    new = baseline.parent / f".{baseline.name}.fijirun-new-{token}"
    old = baseline.parent / f".{baseline.name}.fijirun-old-{token}"
    try:
        shutil.copytree(run_folder, new, symlinks=True)
    except OSError as exc:
        shutil.rmtree(new, ignore_errors=True)
        raise BaselineError(f"cannot copy {run_folder} to update the baseline: {exc}") from None
    os.rename(baseline, old)
    try:
        os.rename(new, baseline)
    except OSError as exc:
        os.rename(old, baseline)
        shutil.rmtree(new, ignore_errors=True)
        raise BaselineError(f"cannot update the baseline {baseline}: {exc}") from None
    shutil.rmtree(old, ignore_errors=True)
    return baseline
