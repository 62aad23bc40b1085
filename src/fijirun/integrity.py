"""Is an image file whole? What ImageJ does not ask when it opens one.

ImageJ's TIFF reader fills what a truncated file lacks with zeros and says
nothing; a run that analysed such a file must fail. The engine records the
files a script's threads read (:mod:`fijirun.backends.guard`) and checks the
images among them here, after the run and before its outputs are published.
TIFF files are checked through tifffile: every page's pixel data must lie
inside the file.
"""

from __future__ import annotations

import functools
import os

__all__ = ["image_damage"]

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def image_damage(path: str | os.PathLike) -> str | None:
    """What is wrong with the image file at ``path``, or None when whole or not an image we check."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _damage(os.fspath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _damage(path: str, size: int, mtime_ns: int) -> str | None:  # noqa: ARG001 - mtime_ns keys the cache
    """:func:`image_damage` of a file of ``size`` bytes; ``mtime_ns`` is never read.

    It is part of the cache's key: a file rewritten since it was examined is read again.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError:
        return None
    if magic not in _TIFF_MAGIC:
        return None
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            for index, page in enumerate(tif.pages):
                offsets = getattr(page, "dataoffsets", ()) or ()
                counts = getattr(page, "databytecounts", ()) or ()
                for offset, count in zip(offsets, counts):
                    if offset + count > size:
                        return (f"truncated: page {index + 1}'s pixel data ends at byte {offset + count}, "
                                f"the file has {size} bytes")
    except Exception as exc:  # noqa: BLE001 - any reader failure means the file is not whole
        return f"corrupt: {type(exc).__name__}: {exc}"
    return None
