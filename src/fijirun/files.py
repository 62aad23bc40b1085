"""Whether a path a user named is a file fijirun may open: one check for every layer.

Opening a pipe waits for a writer — a hang, not an error — and a link to
nothing or a loop of links is no file either; so anything but a regular file
(links followed) is refused before it is opened, with a message that says
what is there instead.
"""

from __future__ import annotations

import errno
import os
import stat

__all__ = ["file_problem"]


def file_problem(path) -> str | None:
    """Why ``path`` is not a regular file, as a message that names it; None when it is one.

    Examples
    --------
    >>> file_problem("/")
    '/ is a folder, not a file'
    """
    text = os.fspath(path)
    try:
        mode = os.stat(text).st_mode
    except OSError as exc:
        if os.path.islink(text) or exc.errno == errno.ELOOP:
            return f"{text} is a symbolic link to nothing (or a loop of links)"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR) or not text.strip():
            return f"no such file: {text}"
        return f"{text} cannot be read ({exc.strerror})"
    if stat.S_ISDIR(mode):
        return f"{text} is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"{text} is not a regular file (a pipe, socket or device)"
    return None
