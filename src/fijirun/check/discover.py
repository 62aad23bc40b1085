"""Finding a run's outputs in its folder, and the outputs it declared.

Files are classified by name (the suffixes of :mod:`fijirun.outputs`):
results tables (``.txt .csv .tsv .xls``), ROI sets (``.zip .roi``) and
images (``.tif .png .jpg .gif .bmp``). An image is checked as a *label mask*
when its name says so (``label``, ``mask``, ``count``, ``seg``, ``objects``)
or when ``run.json`` records that Analyze Particles produced a Count Masks
image and it is the only image saved.

Declared outputs are those ``run.json`` lists under ``outputs`` and the files
named by ``save=`` in its recorded commands (``saveAs("PNG", ...)`` records
``PNG... save=...``): a declared file that is not in the folder is the silent
failure ``fijirun check`` exists to catch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..outputs import IMAGE_SUFFIXES, ROI_SUFFIXES, TABLE_SUFFIXES
from ..provenance import RECORD_FILES, RUN_RECORD

__all__ = ["Discovered", "discover", "declared_outputs", "MASK_NAME"]

#: Words in a file name that mark an image as a label mask.
MASK_NAME = re.compile(r"label|mask|count|seg|objects", re.IGNORECASE)

# fijirun's own folders: staging, kept-aside outputs, the analysed images, the final state
_SKIP_DIRS = (".fijirun-staging-", "fijirun-unsaved-", ".fijirun-replaced-", ".fijirun-state-", "run.analyses",
              "run.state")
_SAVE_OPTION = re.compile(r"(?:^|\s)save=(\[[^\]]*\]|\S+)")


@dataclass
class Discovered:
    """The outputs of a folder, by kind (paths relative to the folder).

    Attributes
    ----------
    tables, rois, masks, images, other : list of Path
        ``images`` are saved images that are not label masks.
    missing : list of str
        Declared in ``run.json`` but absent from the folder.
    outside : list of Path
        Links in the folder to files or folders outside it: not read.
    """

    root: Path
    tables: list = field(default_factory=list)
    rois: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    images: list = field(default_factory=list)
    other: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    outside: list = field(default_factory=list)

    @property
    def found(self):
        """The outputs found, ``other`` files aside: tables, ROI sets, masks, then images."""
        return self.tables + self.rois + self.masks + self.images


def _relative(path, root):
    """``path`` relative to ``root`` when inside it, else None."""
    try:
        return Path(path).resolve().relative_to(root)
    except ValueError:
        return None


def declared_outputs(record, root):
    """Relative paths a run says it wrote: ``outputs`` and ``save=`` options in ``commands``."""
    root = Path(root).resolve()
    names = []
    for o in (record or {}).get("outputs", []) or []:
        p = o.get("path") if isinstance(o, dict) else o
        if p:
            names.append(Path(p))
    for c in (record or {}).get("commands", []) or []:
        m = _SAVE_OPTION.search(str(c.get("options", "")))
        if m:
            target = m.group(1).strip("[]")
            rel = _relative(target, root)
            if rel is not None:
                names.append(rel)
    seen, out = set(), []
    for n in names:
        if str(n) not in seen:
            seen.add(str(n))
            out.append(n)
    return out


def discover(root, record=None, exclude=()):
    """Classify the files of an output folder.

    Parameters
    ----------
    root : path-like
        The output folder.
    record : dict, optional
        Its ``run.json``.
    exclude : iterable of path-like
        Files not to treat as outputs (e.g. the report being written there).

    Returns
    -------
    Discovered
    """
    root = Path(root).resolve()
    skip = {Path(p).resolve() for p in exclude}
    found = Discovered(root)
    files = []
    for dirpath, dirnames, filenames in os.walk(root):  # links to folders are not descended into
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(_SKIP_DIRS) and not d.startswith("."))
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            p = here / name
            rel = p.relative_to(root)
            if name.startswith(".") or str(rel) in RECORD_FILES or p.resolve() in skip:
                continue
            if p.is_symlink() and _relative(p, root) is None:
                # a link out of the folder is never read as an output (it is reported)
                found.outside.append(rel)
                continue
            if p.is_file():
                files.append(rel)
    files.sort()
    found.outside.sort()
    images = []
    for rel in files:
        suffix = rel.suffix.lower()
        if suffix in TABLE_SUFFIXES:
            found.tables.append(rel)
        elif suffix in ROI_SUFFIXES:
            found.rois.append(rel)
        elif suffix in IMAGE_SUFFIXES:
            images.append(rel)
        else:
            found.other.append(rel)
    counted = any("count masks" in str(c.get("options", "")).lower()
                  for c in (record or {}).get("commands", []) or [])
    for rel in images:
        if MASK_NAME.search(rel.stem) or (counted and len(images) == 1):
            found.masks.append(rel)
        else:
            found.images.append(rel)
    present = {str(f) for f in files} | {str(f) for f in found.outside}
    found.missing = [str(p) for p in declared_outputs(record, root) if str(p) not in present
                     and Path(p).name != RUN_RECORD]
    return found
