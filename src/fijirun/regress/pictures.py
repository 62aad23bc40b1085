"""The PNG pictures regress writes beside its reports: marked, atomic, never over a person's file.

Two kinds: thumbnails of saved images (``<report>_pictures/``, for the HTML
report) and pictures of changed pixels (``OUTPUT/regress.changes/``, for a
comparison with a baseline). Each carries a PNG text chunk,
:data:`PICTURE_MARK`; only a regular file (not a link) holding it is
fijirun's, and only such a file is replaced or removed.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PICTURE_MARK", "is_picture", "not_a_picture_folder", "picture_folder", "write_picture"]

#: The text chunk of every PNG regress writes.
PICTURE_MARK = ("Software", "fijirun regress picture")


def is_picture(path) -> bool:
    """Whether ``path`` is a regular file (not a link) holding a PNG with :data:`PICTURE_MARK`."""
    from PIL import Image

    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with Image.open(path) as im:
            text = getattr(im, "text", {})  # a PNG's text chunks
            return im.format == "PNG" and text.get(PICTURE_MARK[0]) == PICTURE_MARK[1]
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False


def not_a_picture_folder(folder) -> bool:
    """Whether a link or a file is in the place of the pictures folder ``folder`` (never written through)."""
    folder = Path(folder)
    return folder.is_symlink() or (os.path.lexists(folder) and not folder.is_dir())


def picture_folder(folder) -> Path:
    """``folder``, made when missing; OSError when a link or a file is in its place (never written through)."""
    folder = Path(folder)
    if not_a_picture_folder(folder):
        raise OSError(f"{folder} is not a folder of fijirun's pictures (a link or a file): left as it is")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_picture(dest, rgb) -> Path:
    """Write the RGB array ``rgb`` as a marked PNG at ``dest``, atomically.

    Raises
    ------
    OSError
        A file fijirun did not write is at ``dest`` (it is kept), or its
        folder is a link or a file, or the write fails.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from ..provenance import write_atomic

    dest = Path(dest)
    picture_folder(dest.parent)
    if os.path.lexists(dest) and not is_picture(dest):
        raise OSError(f"{dest} was not written by fijirun: left as it is")
    info = PngInfo()
    info.add_text(*PICTURE_MARK)
    write_atomic(dest, lambda f: Image.fromarray(rgb).save(f, format="PNG", pnginfo=info), binary=True)
    return dest
