"""Batch inputs: files, folders and glob patterns → images with stable names.

Every image of a batch gets its own output folder, named from its path so
that the same input always lands in the same folder (``--resume`` depends on
it): the file name without extension, made safe for any file system, then
eight hex digits of the SHA-1 of the absolute path, so that ``a/img.tif`` and
``b/img.tif`` never share a folder.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import FijirunError
from ..files import file_problem

__all__ = ["BatchError", "BatchInput", "IMAGE_EXTENSIONS", "collect_inputs", "output_name"]

#: File name endings taken from folders (explicit files and globs take any file).
IMAGE_EXTENSIONS = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".pgm", ".dcm",
                    ".fits", ".lsm", ".czi", ".nd2", ".ome.tif", ".ome.tiff")

_GLOB_CHARS = re.compile(r"[*?\[]")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class BatchError(FijirunError):
    """A batch cannot start: no inputs, an unreadable manifest, a mismatched resume."""


@dataclass(frozen=True)
class BatchInput:
    """One image of a batch.

    Attributes
    ----------
    path : Path
        The image file, absolute.
    name : str
        Its output folder's name (stable: derived from ``path``).
    """

    path: Path
    name: str


def output_name(path):
    """The stable output folder name of an input file.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str
        ``<safe file stem>-<8 hex digits of sha1(absolute path)>``.

    Examples
    --------
    >>> output_name("/data/plate 1/img.tif")
    'img-62e0487b'
    """
    path = Path(os.path.abspath(path))
    stem = path.name
    for ext in sorted(IMAGE_EXTENSIONS, key=len, reverse=True):
        if stem.lower().endswith(ext) and len(stem) > len(ext):
            stem = stem[: -len(ext)]
            break
    else:
        stem = path.stem or path.name
    safe = _UNSAFE.sub("_", stem).strip("._") or "image"
    digest = hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{safe[:80]}-{digest}"


def _is_hidden(path, root):
    return any(part.startswith(".") for part in Path(path).relative_to(root).parts)


def _folder_images(folder, extensions):
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        # a fijirun-unsaved-* folder holds a run's outputs kept aside (a clash with a
        # person's files), not images to analyse
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and not d.startswith("fijirun-unsaved-"))
        for f in filenames:
            # regular files only (links followed): a pipe named .tif blocks the worker
            # that opens it until the timeout; a broken or looping link is no image either
            if (not f.startswith(".") and f.lower().endswith(extensions)
                    and file_problem(os.path.join(dirpath, f)) is None):
                found.append(Path(dirpath) / f)
    return found


def collect_inputs(inputs, extensions=IMAGE_EXTENSIONS, *, output=None):
    """Expand files, folders and glob patterns into the images of a batch.

    Parameters
    ----------
    inputs : path-like or iterable of path-like
        Files (taken whatever their type: a file that is not an image fails
        its run and is recorded), folders (searched recursively for regular
        files ending in ``extensions``; hidden files and folders, pipes,
        links to nothing and fijirun's ``fijirun-unsaved-*`` folders skipped) and glob
        patterns (``*``, ``?``, ``[...]``, ``**``; every matching file).
    extensions : tuple of str
        File name endings taken from folders (lower case).
    output : path-like, optional
        The batch's output folder. Folders and patterns never take a file
        inside it (a batch must not take its own outputs as inputs, e.g. on
        ``--resume`` with the output folder inside an input folder); a file
        inside it named explicitly is an error.

    Returns
    -------
    list of BatchInput
        Sorted by path, each file once.

    Raises
    ------
    BatchError
        A path that does not exist, a pattern that matches nothing, no
        images at all, or an input file inside ``output``.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    extensions = tuple(e.lower() for e in extensions)
    out = Path(os.path.realpath(output)) if output is not None else None

    def outside(path):
        return out is None or not Path(os.path.realpath(path)).is_relative_to(out)

    files = []
    for item in inputs:
        text = os.fspath(item)
        if os.path.isdir(text):
            if not outside(text):
                raise BatchError(f"input folder {text} is inside the output folder {output}")
            files.extend(f for f in _folder_images(text, extensions) if outside(f))
        elif os.path.isfile(text):
            if not outside(text):
                raise BatchError(f"input {text} is inside the output folder {output}: "
                                 "a batch does not take its own outputs as inputs")
            files.append(Path(text))
        elif os.path.lexists(text) and not _GLOB_CHARS.search(text):
            raise BatchError(f"input {file_problem(text)}")
        elif _GLOB_CHARS.search(text):
            matches = [Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True)
                       if os.path.isfile(m) and outside(m)]
            if not matches:
                raise BatchError(f"no file matches {text}"
                                 + (f" outside the output folder {output}" if out is not None else ""))
            files.extend(matches)
        else:  # "no such file", or why it cannot be looked at (a name too long, a file as a folder)
            problem = file_problem(text) or f"no such file: {text}"
            raise BatchError(f"input not found: {text}" if problem.startswith("no such file")
                             else f"input {problem}")
    unique = {}
    for f in files:
        path = Path(os.path.abspath(f))
        unique.setdefault(path, BatchInput(path, output_name(path)))
    if not unique:
        raise BatchError("no input images (folders are searched for "
                         + ", ".join(extensions[:7]) + ", ...)")
    items = sorted(unique.values(), key=lambda i: str(i.path))
    names = {}
    for i in items:
        if i.name in names:  # a SHA-1 prefix collision: vanishingly rare, never silent
            raise BatchError(f"{i.path} and {names[i.name]} would share output folder {i.name}")
        names[i.name] = i.path
    return items
