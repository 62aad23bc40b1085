"""What a run left in ImageJ when it ended: open images, tables, ROI Manager, Log.

Teaching macros often save nothing: their results are the images left open,
the Results table and the Log. To regression-check them (``fijirun regress
--baseline``) the session captures that final state after every run, before
ImageJ is reset for the next one, into a folder the session publishes as
``run.state/`` beside the outputs:

* each open image: title, type, dimensions, calibration, a SHA-256 of its
  pixels and summary statistics, and the pixels themselves (lossless TIFF,
  ``image-N.tif``) up to :data:`STATE_IMAGE_LIMIT` bytes;
* each non-empty results table (the Results table and other table windows),
  saved by ImageJ itself as CSV at its printed precision (``table-N.csv``);
* the ROI Manager's ROIs (``rois.zip``);
* the Log and the script's printed output (``log.txt``).

Runs in the thread that ran the script's run (the runtime's lock is held).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["STATE_DIR", "STATE_IMAGE_LIMIT", "capture_state", "state_files"]

#: The folder of a run's final state, beside its outputs.
STATE_DIR = "run.state"
#: Images with more pixel bytes than this are described and hashed, not saved.
STATE_IMAGE_LIMIT = int(os.environ.get("FIJIRUN_STATE_LIMIT", 32 * 1024 * 1024))

_TYPES = {8: "8-bit", 16: "16-bit", 24: "RGB", 32: "32-bit"}


def _pixels(image: Any) -> np.ndarray:
    """The image's pixels as (planes, height, width[, 3]) in ImageJ's stack order."""
    import numpy as np  # here: most runs leave no image open, and a one-shot run should not load it

    h, w, depth = int(image.height), int(image.width), int(image.bitDepth)
    planes = []
    for java_plane in image.planes:
        raw = np.array(java_plane)  # a copy of the Java array
        if depth == 8:
            plane = raw.view(np.uint8)
        elif depth == 16:
            plane = raw.view(np.uint16)
        elif depth == 24:  # packed 0xRRGGBB ints
            v = raw.view(np.uint32)
            plane = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8)
        else:
            plane = raw.astype(np.float32, copy=False)
        planes.append(plane.reshape((h, w) + plane.shape[1:]))
    return np.stack(planes) if planes else np.zeros((0, h, w), np.uint8)


def _image_entry(image: Any, folder: Path, index: int) -> dict:
    import numpy as np

    pixels = _pixels(image)
    finite = pixels[np.isfinite(pixels)] if pixels.dtype.kind == "f" else pixels
    entry = {
        "title": str(image.title),
        "type": _TYPES.get(int(image.bitDepth), str(image.bitDepth)),
        "width": int(image.width), "height": int(image.height),
        "channels": int(image.channels), "slices": int(image.slices), "frames": int(image.frames),
        "calibration": {"pixel_width": float(image.pixelWidth), "pixel_height": float(image.pixelHeight),
                        "pixel_depth": float(image.pixelDepth), "unit": str(image.unit)},
        "sha256": hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest(),
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "mean": float(finite.mean(dtype=np.float64)) if finite.size else None,
        "file": None,
    }
    if pixels.nbytes <= STATE_IMAGE_LIMIT:
        import tifffile

        name = f"image-{index}.tif"
        tifffile.imwrite(folder / name, pixels, photometric="rgb" if pixels.ndim == 4 else "minisblack")
        entry["file"] = name
    else:
        entry["note"] = f"pixels not kept: more than {STATE_IMAGE_LIMIT} bytes; hashed only"
    return entry


def _read(state: dict, what: str, call: Any) -> Any:
    """``call()``; on failure nothing, and the reason in ``state["errors"]``.

    What a run left is described, never the run's failure.
    """
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - Java errors too
        state["errors"].append(f"{what}: {type(exc).__name__}: {exc}")
        return []


def capture_state(rt: Any, folder: Path, log: str) -> dict:
    """Write the final state of the run that just ended into ``folder``; describe it.

    ImageJ's side is read by the guard's ``FinalState`` (Java), in one call per kind.

    Parameters
    ----------
    rt : fijirun.backends.ij1_runtime.IJ1Runtime
        The runtime whose ImageJ ran the script.
    folder : Path
        An existing empty folder.
    log : str
        The Log and the script's printed output.

    Returns
    -------
    dict
        ``images`` (list of dict), ``tables`` (``title``, ``file``, ``rows``,
        ``columns``), ``rois`` (``file``, ``count``) and ``log`` (``file``,
        ``lines``); files relative to ``folder``. What could not be read is
        said under ``errors``.
    """
    FinalState = rt.guard_class("FinalState")
    state: dict = {"images": [], "tables": [], "rois": None, "log": None, "errors": []}
    images = _read(state, "images", FinalState.images)
    tables = _read(state, "tables", lambda: FinalState.saveTables(str(folder)))
    for index, image in enumerate(images, start=1):
        if image.error is not None:
            state["errors"].append(f"image {image.title}: {image.error}")
            continue
        try:
            state["images"].append(_image_entry(image, folder, index))
        except Exception as exc:  # noqa: BLE001 - one unreadable image does not lose the others
            state["errors"].append(f"image {image.title}: {type(exc).__name__}: {exc}")
    for table in tables:
        if table.error is not None:
            state["errors"].append(f"table {table.title}: {table.error}")
            continue
        state["tables"].append({"title": str(table.title), "file": str(table.file), "rows": int(table.rows),
                                "columns": [str(c) for c in table.columns]})
    try:
        count = int(FinalState.saveRois(str(folder / "rois.zip")))
        if count > 0 and (folder / "rois.zip").is_file():
            state["rois"] = {"file": "rois.zip", "count": count}
    except Exception as exc:  # noqa: BLE001
        state["errors"].append(f"ROI Manager: {type(exc).__name__}: {exc}")
    if log.strip():
        (folder / "log.txt").write_text(log, encoding="utf-8")
        state["log"] = {"file": "log.txt", "lines": len(log.splitlines())}
    return state


def state_files(record: dict) -> dict:
    """Relative path → SHA-256 of the final-state files a run record claims (``run.state/...``)."""
    state = record.get("state")
    found: dict = {}
    if not isinstance(state, dict):
        return found
    entries = list(state.get("images") or []) + list(state.get("tables") or [])
    entries += [state.get("rois"), state.get("log")]
    for e in entries:
        if isinstance(e, dict) and e.get("file") and e.get("sha256"):
            found[str(e["file"])] = e["sha256"]
    return found
