"""Course data: fijirun's sample images, and remote data served from local copies.

fijirun ships the small course images its demo, examples and tests use (as
``skimage.data`` does): :func:`path` gives one, :func:`names` lists them
(attribution and licences in ``images/README.md``).

Course scripts open their images by URL (``open("https://github.com/.../image.tif")``)
and ImageJ's Open Samples fetch ``https://imagej.net/images/<name>``. Offline,
fijirun answers both from ``--data-dir``: first by the URL's path below the
directory (longest suffix first), then by file name anywhere under it, since
course repositories keep their data in sub-folders; then from the sample
images, by file name. So the course activity runs with no data folder at all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["DataDir", "URL_PATTERN", "SAMPLES", "path", "names"]

#: The folder of the sample images shipped with fijirun.
SAMPLES = Path(__file__).resolve().parent / "images"
_IMAGE_SUFFIXES = (".tif", ".tiff", ".gif", ".png", ".jpg", ".zip")


def names() -> list[str]:
    """The file names of the sample images, sorted."""
    return sorted(p.name for p in SAMPLES.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def path(name: str) -> Path:
    """The path of the sample image ``name`` (see :func:`names`).

    Parameters
    ----------
    name : str
        A sample image's file name, e.g. ``"blobs.gif"``.

    Returns
    -------
    Path
        The image file, inside fijirun's installed package.

    Raises
    ------
    KeyError
        No sample image of that name.
    """
    found = SAMPLES / name
    if name not in names() or not found.is_file():
        raise KeyError(f"no sample image {name!r}; fijirun ships: {', '.join(names())}")
    return found

# An http(s) URL inside a string literal: stops at quotes, whitespace and brackets.
URL_PATTERN = re.compile(r"""https?://[^\s"'<>\\)]+""")


class DataDir:
    """A folder of local copies of remote data.

    Parameters
    ----------
    root : path-like or None
        The folder. ``None``: only the sample images.
    samples : bool
        Fall back to fijirun's sample images (by file name).

    Raises
    ------
    FileNotFoundError
        ``root`` is not an existing folder.
    """

    def __init__(self, root=None, samples=True):
        self.root = Path(root).resolve() if root else None
        if self.root is not None and not self.root.is_dir():
            raise FileNotFoundError(f"data directory {root} does not exist")
        self.samples = samples
        self._by_name = None

    def _index(self):
        if self._by_name is None:
            self._by_name = {}
            for dirpath, dirnames, filenames in os.walk(self.root):
                dirnames.sort()
                for name in sorted(filenames):
                    self._by_name.setdefault(name, Path(dirpath) / name)
        return self._by_name

    def resolve_name(self, name):
        """The local file called ``name``.

        Parameters
        ----------
        name : str
            A file name (no folders).

        Returns
        -------
        Path or None
            The file of that name under the root (the first in sorted walk
            order), else the sample image of that name, else None.
        """
        if not name:
            return None
        found = self._index().get(name) if self.root is not None else None
        if found is None and self.samples and (SAMPLES / name).is_file() and name in names():
            found = SAMPLES / name
        return found

    def resolve_url(self, url):
        """The local copy of ``url``.

        Parameters
        ----------
        url : str
            An http(s) URL a script opens.

        Returns
        -------
        Path or None
            The file under the root at the URL's path below it (longest suffix
            of the path first), else :meth:`resolve_name` of its file name;
            None when neither the data directory nor the samples have it.
        """
        parts = [unquote(p) for p in urlparse(url).path.split("/") if p]
        if not parts:
            return None
        if self.root is not None:
            for start in range(len(parts)):
                candidate = self.root.joinpath(*parts[start:])
                if candidate.is_file():
                    return candidate
        return self.resolve_name(parts[-1])

    @staticmethod
    def file_name(url):
        """The file name a URL points at (what ``needs data`` reports).

        Parameters
        ----------
        url : str
            An http(s) URL.

        Returns
        -------
        str
            The last segment of the URL's path, percent-decoded; the URL
            itself when its path is empty.
        """
        parts = [p for p in urlparse(url).path.split("/") if p]
        return unquote(parts[-1]) if parts else url
