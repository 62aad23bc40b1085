"""What Analyze Particles really analysed: the engine's record of each particle analysis.

The engine runs ImageJ's own ``ParticleAnalyzer`` through a recording subclass
(``java/fijirun/guard/RecordingParticleAnalyzer.java``), for the command
``Analyze Particles...`` (IJ Macro ``run``, Jython ``IJ.run``) and for
``ParticleAnalyzer(...)`` built by Jython scripts. For every analysis it
records, at the moment it runs:

* the options as ImageJ resolved them — ``&variable`` options, options built
  by string concatenation and the API's summed flags end up in the same
  fields: size range (in pixels), circularity, show mode, display / clear /
  summarize / add / exclude / include flags, measurements and decimals;
* the pixel values analysed as particles (``threshold``: ImageJ's own
  ``level1``..``level2``, whether they came from a threshold or from a
  binary image and the black-background setting);
* the image: title, type, size, calibration, LUT, selection; the redirect
  image's title and calibration (``redirect_calibration``: ImageJ measures
  the pixel statistics with it, the outlines with the analysed image's);
* a lossless snapshot of the exact pixels analysed (and of the redirect
  image, and the mask of a non-rectangular selection), saved in the output folder as ``run.analyses/analysis-<n>.tif``
  and hashed in ``run.json``. Snapshots larger than :data:`SNAPSHOT_LIMIT`
  bytes are hashed only (their file is not kept);
* what it produced: particle count, results-table rows, ROI Manager count,
  the output image (e.g. the Count Masks image), and which files the run
  wrote after it (``outputs``).

``fijirun check`` recomputes each analysis from its snapshot and options.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["SNAPSHOT_DIR", "SNAPSHOT_LIMIT", "analysis_record", "measurement_keys", "show_name",
           "attribute_outputs", "snapshot_files"]

#: The folder of an output folder holding the analysed images.
SNAPSHOT_DIR = "run.analyses"
#: Snapshots up to this size (bytes) are kept as files; larger ones are hashed only.
SNAPSHOT_LIMIT = int(os.environ.get("FIJIRUN_SNAPSHOT_LIMIT", 64 * 1024 * 1024))

# ij.plugin.filter.ParticleAnalyzer option flags
_FLAGS = {
    "display": 1, "summarize_window": 2, "show_outlines": 4, "exclude_edges": 8, "show_roi_masks": 16,
    "clear": 64, "record_starts": 128, "summarize": 256, "show_none": 512, "include_holes": 1024,
    "add_to_manager": 2048, "show_masks": 4096, "four_connected": 8192, "in_situ": 16384,
    "overlay_outlines": 32768, "overlay_masks": 65536, "composite": 131072, "overlay": 262144,
}
# ImageProcessor.NO_THRESHOLD: getMinThreshold() of an image without a threshold
_NO_THRESHOLD = -808080.0
# ParticleAnalyzer's show choices, by the index of its private showChoice field
_SHOW = ("Nothing", "Outlines", "Bare Outlines", "Ellipses", "Masks", "Count Masks", "Overlay",
         "Overlay Masks")
# ij.measure.Measurements flags -> Set Measurements keys (the reference's vocabulary)
_MEASUREMENTS = (
    (1, "area"), (2, "mean"), (4, "standard"), (8, "modal"), (16, "min"), (32, "centroid"),
    (64, "center"), (128, "perimeter"), (256, "limit"), (512, "bounding"), (1024, "display"),
    (2048, "fit"), (4096, "invert"), (8192, "shape"), (16384, "feret's"), (32768, "integrated"),
    (65536, "median"), (131072, "skewness"), (262144, "kurtosis"), (524288, "area_fraction"),
    (1048576, "stack"), (2097152, "scientific"), (4194304, "add"), (8388608, "nan"),
)


def measurement_keys(flags: int) -> str:
    """``ij.measure.Measurements`` flags as Set Measurements keys, space separated."""
    return " ".join(key for bit, key in _MEASUREMENTS if flags & bit)


def show_name(choice: int) -> str:
    """The Analyze Particles *show* option of ParticleAnalyzer's ``showChoice``."""
    return _SHOW[choice] if 0 <= choice < len(_SHOW) else f"unknown ({choice})"


def _number(value):
    """A JSON-safe number: infinities as "Infinity" / "-Infinity"."""
    if value is None:
        return None
    value = float(value)
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def _threshold_set(raw: dict) -> bool | None:
    """Whether the analysed image had a threshold (None: not recorded)."""
    lower = raw.get("threshold_before_lower")
    if lower is None:
        return None
    return float(lower) != _NO_THRESHOLD


def _redirect_calibration(raw: dict) -> dict | None:
    """The redirect image's calibration as ImageJ measured with it (None: not recorded)."""
    if not raw.get("redirect_title") or raw.get("redirect_pixel_width") is None:
        return None
    return {"pixel_width": _number(raw.get("redirect_pixel_width")),
            "pixel_height": _number(raw.get("redirect_pixel_height")),
            "unit": raw.get("redirect_unit") or "pixel",
            "calibrated_values": bool(raw.get("redirect_calibrated_values"))}


def _redirect_threshold(raw: dict) -> list | None:
    """The redirect image's threshold levels (None: it has none, or an older fijirun recorded none)."""
    lower = raw.get("redirect_threshold_lower")
    if not raw.get("redirect_title") or lower is None or float(lower) == _NO_THRESHOLD:
        return None
    return [_number(lower), _number(raw.get("redirect_threshold_upper"))]


def analysis_record(raw: dict) -> dict:
    """The documented record of one analysis from the guard's raw fields."""
    options = int(raw.get("options") or 0)
    flags = int(raw.get("measurements") or 0)
    bounds = [int(v) for v in str(raw.get("roi_bounds") or "0,0,0,0").split(",")]
    return {
        "index": int(raw["index"]),
        "line": int(raw.get("line") or 0) or None,
        "ok": bool(raw.get("ok")),
        "image": {
            "title": raw.get("image_title"),
            "bit_depth": int(raw.get("bit_depth") or 0),
            "width": int(raw.get("width") or 0),
            "height": int(raw.get("height") or 0),
            "stack_size": int(raw.get("stack_size") or 1),
            "slice": int(raw.get("slice") or 1),
            "inverted_lut": bool(raw.get("inverted_lut")),
            "calibration": {"pixel_width": _number(raw.get("pixel_width")),
                            "pixel_height": _number(raw.get("pixel_height")),
                            "unit": raw.get("unit") or "pixel",
                            "calibrated_values": bool(raw.get("calibrated_values"))},
            "selection": {"type": raw.get("roi_type") or None, "bounds": bounds,
                          "mask": bool(raw.get("roi_mask"))},
        },
        "black_background": bool(raw.get("black_background")),
        # the pixel values analysed as particles: level1 <= v <= level2
        "threshold": [_number(raw.get("level1")), _number(raw.get("level2"))],
        # whether the image had a threshold (else ImageJ took a binary image's levels): %Area is
        # then the fraction of non-zero pixels, not of pixels within the levels (ImageStatistics)
        "threshold_set": _threshold_set(raw),
        "size_pixels": [_number(raw.get("minSize")), _number(raw.get("maxSize"))],
        "circularity": [_number(raw.get("minCircularity")), _number(raw.get("maxCircularity"))],
        "exclude_edges": bool(options & _FLAGS["exclude_edges"]) or bool(raw.get("excludeEdgeParticles")),
        "include_holes": bool(options & _FLAGS["include_holes"]),
        "show": show_name(int(raw.get("showChoice") or 0)),
        "flags": sorted(name for name, bit in _FLAGS.items() if options & bit),
        "options_flags": options,
        "measurements": measurement_keys(flags),
        "measurement_flags": flags,
        # the Results table's measurements: without the ELLIPSE that show=Ellipses adds to the
        # particles' statistics only (None: not recorded, an older record)
        "table_measurements": (measurement_keys(int(raw["measurements_table"]))
                               if raw.get("measurements_table") is not None else None),
        "decimals": int(raw["decimals"]) if raw.get("decimals") is not None else 3,
        "redirect": raw.get("redirect_title") or None,
        # the calibration ImageJ measured the pixel statistics with when redirected (area, centroid,
        # bounds, ellipse, intensities: the redirect image's); the outline's measurements keep the
        # analysed image's. None without a redirect, or recorded by an older fijirun.
        "redirect_calibration": _redirect_calibration(raw),
        # the redirect image's threshold: ImageJ's %Area is the fraction of a particle's redirect
        # pixels within it (of its non-zero pixels without one); None: none, or not recorded
        "redirect_threshold": _redirect_threshold(raw),
        "particles": int(raw.get("particleCount") or 0),
        "results": {"title": raw.get("results_title") or None,
                    "rows_before": int(raw.get("results_before") or 0),
                    "rows_after": int(raw.get("results_after") or 0)},
        "roi_manager": {"before": int(raw.get("manager_before") or 0),
                        "after": int(raw.get("manager_after") or 0)},
        "output_image": raw.get("output_title") or None,
        # milliseconds: ImageJ's analysis, writing the snapshot(s), the recording's own work
        "timings_ms": {"analysis": round(float(raw.get("analysis_ms") or 0.0), 3),
                       "snapshot": round(float(raw.get("snapshot_ms") or 0.0)
                                         + float(raw.get("redirect_ms") or 0.0), 3),
                       "record": round(float(raw.get("record_ms") or 0.0), 3)},
        # "snapshot" / "redirect_snapshot" ({"path", "sha256", "bytes"}) and "outputs" are added
        # by the session when it publishes the run
        "_files": {"snapshot": raw.get("snapshot") or None,
                   "redirect_snapshot": raw.get("redirect_snapshot") or None,
                   "selection_mask": raw.get("selection_mask") or None},
    }


def attribute_outputs(analyses: list, writes: dict, rel_of) -> None:
    """Record on each analysis the output files the run wrote after it (and before the next).

    ``writes`` maps a written path to the number of analyses done when it was
    last written; ``rel_of(path)`` gives the output's relative path, or None
    for a file that is not an output of the run.
    """
    for a in analyses:
        a["outputs"] = []
    for path, done in writes.items():
        rel = rel_of(path)
        if rel is not None and done >= 1 and done <= len(analyses):
            if rel not in analyses[done - 1]["outputs"]:
                analyses[done - 1]["outputs"].append(rel)
    for a in analyses:
        a["outputs"].sort()


def snapshot_files(record: dict) -> dict:
    """Relative path → SHA-256 of the snapshot files a run record claims."""
    found = {}
    for a in record.get("analyses") or []:
        if not isinstance(a, dict):
            continue
        for key in ("snapshot", "redirect_snapshot", "selection_mask"):
            s = a.get(key)
            if isinstance(s, dict) and s.get("path") and s.get("sha256"):
                found[str(s["path"])] = s["sha256"]
    return found


def snapshot_path(folder, analysis: dict, key: str = "snapshot") -> Path | None:
    """The kept snapshot file of an analysis in an output folder, or None."""
    s = analysis.get(key)
    if isinstance(s, dict) and s.get("path"):
        return Path(folder) / s["path"]
    return None
