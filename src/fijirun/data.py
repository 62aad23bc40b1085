"""Serving remote course data from a local data directory.

Course scripts open their images by URL (``open("https://github.com/.../image.tif")``)
and ImageJ's Open Samples fetch ``https://imagej.net/images/<name>``. Offline,
fijirun answers both from ``--data-dir``: first by the URL's path below the
directory (longest suffix first), then by file name anywhere under it, since
course repositories keep their data in sub-folders.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

__all__ = ["DataDir", "URL_PATTERN"]

# An http(s) URL inside a string literal: stops at quotes, whitespace and brackets.
URL_PATTERN = re.compile(r"""https?://[^\s"'<>\\)]+""")


class DataDir:
    """A folder of local copies of remote data.

    Parameters
    ----------
    root : path-like or None
        The folder. ``None`` resolves nothing.
    """

    def __init__(self, root=None):
        self.root = Path(root).resolve() if root else None
        if self.root is not None and not self.root.is_dir():
            raise FileNotFoundError(f"data directory {root} does not exist")
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
        """The file called ``name`` anywhere under the root, or None."""
        if self.root is None or not name:
            return None
        return self._index().get(name)

    def resolve_url(self, url):
        """The local copy of ``url``, or None when the data directory lacks it."""
        if self.root is None:
            return None
        parts = [unquote(p) for p in urlparse(url).path.split("/") if p]
        if not parts:
            return None
        for start in range(len(parts)):
            candidate = self.root.joinpath(*parts[start:])
            if candidate.is_file():
                return candidate
        return self.resolve_name(parts[-1])

    @staticmethod
    def file_name(url):
        """The file name a URL points at (what ``needs data`` reports)."""
        parts = [p for p in urlparse(url).path.split("/") if p]
        return unquote(parts[-1]) if parts else url
