"""Fiji's Glasbey lookup tables for plain ImageJ.

Course macros colour label masks with ``run("glasbey")`` / ``run("Glasbey")``
/ ``run("glasbey_on_dark")`` / ``run("glasbey_inverted")``, LUTs that ship
with Fiji, not with ImageJ 1.x, where the command opens a modal
"Unrecognized command" dialog. ImageJ looks up unknown commands as
``<ImageJ dir>/luts/<name>.lut`` (``Executer.loadLut``), so writing the files
there is enough. Colours come from colorcet's Glasbey palettes; index 0 is the
background (white for ``glasbey``, black for the others, as in Fiji). Only the
display changes: label values are never touched by a LUT.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["GLASBEY_LUTS", "glasbey_lut", "write_luts"]

GLASBEY_LUTS = ("glasbey", "glasbey_on_dark", "glasbey_inverted")


def _hex_to_rgb(colors):
    import numpy as np  # only when the cache is cold: a start should not load it

    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.uint8)


def glasbey_lut(name):
    """The 256×3 uint8 table of one of :data:`GLASBEY_LUTS`."""
    import colorcet

    if name == "glasbey_on_dark":
        palette, background = colorcet.palette["glasbey_light"], (0, 0, 0)
    elif name == "glasbey_inverted":
        palette, background = colorcet.palette["glasbey_bw"], (0, 0, 0)
    elif name == "glasbey":
        palette, background = colorcet.palette["glasbey_bw"], (255, 255, 255)
    else:
        raise ValueError(f"unknown Glasbey LUT {name!r}")
    import numpy as np

    table = np.empty((256, 3), dtype=np.uint8)
    table[0] = background
    table[1:] = _hex_to_rgb(palette[:255])
    return table


def _colorcet_stamp():
    """Which colorcet is installed, without importing it or importlib.metadata (≈ 12 ms a start).

    Its ``__init__.py``'s size and modification time: an upgrade or reinstall changes them.
    """
    import importlib.util

    spec = importlib.util.find_spec("colorcet")
    if spec is None or spec.origin is None:
        raise ImportError("colorcet is not installed: fijirun needs it for Fiji's Glasbey LUTs")
    stat = os.stat(spec.origin)
    return f"colorcet-{stat.st_size}-{stat.st_mtime_ns}"


def write_luts(luts_dir):
    """Write the Glasbey LUTs as ImageJ raw .lut files (768 bytes: R, G, B planes).

    The tables are made once per installed colorcet and kept in fijirun's cache:
    importing colorcet (and matplotlib with it) costs a cold start ~0.3 s.
    """
    from .cache import cache_root
    from .provenance import write_atomic

    luts_dir = Path(luts_dir)
    luts_dir.mkdir(parents=True, exist_ok=True)
    cached = cache_root() / f"luts-{_colorcet_stamp()}"
    for name in GLASBEY_LUTS:
        source = cached / f"{name}.lut"
        try:
            data = source.read_bytes()
        except OSError:
            data = b""
        if len(data) != 768:
            data = glasbey_lut(name).T.tobytes()
            try:
                source.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(source, lambda f, data=data: f.write(data), binary=True)
            except OSError:
                pass  # no writable cache: made again next time
        (luts_dir / f"{name}.lut").write_bytes(data)
    return luts_dir
