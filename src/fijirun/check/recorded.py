"""The reference of a run's particle analyses, from the engine's record of them.

A run recorded by fijirun holds, for each particle analysis, the exact pixels
analysed (a lossless snapshot) and the options as ImageJ resolved them
(:mod:`fijirun.analyses`). The reference recomputes each analysis from that:
whatever ran before it (filters, auto thresholds, Watershed, Close All,
renames) and however the options were written (``&variable``, string
concatenation, the ParticleAnalyzer API), nothing is recovered or assumed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analyses import snapshot_path
from ..outputs import sha256
from ..reference import Calibration, analyze_particles
from .model import CheckError

__all__ = ["RecordedAnalysis", "recorded_analyses", "validate_analyses", "CALIBRATED_VALUE_COLUMNS"]

#: The columns ImageJ measures through the measured image's calibration function (its
#: ``Calibration.getCTable()``, in Byte/ShortStatistics): the reference has none, so with one
#: these columns are named and not compared. RawIntDen stays raw (``umean``).
CALIBRATED_VALUE_COLUMNS = ("Mean", "StdDev", "Mode", "Min", "Max", "XM", "YM", "IntDen", "Median",
                            "Skew", "Kurt")


def _float(value):
    return math.inf if value == "Infinity" else (-math.inf if value == "-Infinity" else float(value))


@dataclass
class RecordedAnalysis:
    """One recorded analysis and its reference (``reference`` None: ``why`` says why)."""

    analysis: dict
    reference: object = None
    why: str | None = None
    outputs: list = field(default_factory=list)
    pixels: object = field(default=None, repr=False)  # the analysed image
    selection: tuple | None = None  # (x, y, w, h) of a selection that limited the analysis
    whole_particles: int | None = None  # the particles of the whole image, same options
    total_area: float | None = None  # the analysed area (calibrated), the Summary's %Area divisor
    pixel_size: float = 1.0  # the largest pixel side of the calibrations measured with (position matching)
    not_reproduced: dict = field(default_factory=dict)  # column -> why the reference cannot give ImageJ's value
    altered: bool = False  # a snapshot changed since the run: the folder was altered
    missing: bool = False  # a snapshot is missing and the recorded input cannot stand in
    input_instead: Path | None = None  # the recorded input used in place of a missing snapshot

    @property
    def index(self):
        """The analysis's 1-based number in its run (0 when the record has none)."""
        return int(self.analysis.get("index") or 0)

    def describe(self):
        """What was analysed and how, and what the reference found, as the report's ``recovered`` object."""
        a = self.analysis
        lo, hi = a.get("size_pixels") or [0, "Infinity"]
        return {
            "source": "engine record",
            "analysis": self.index,
            "line": a.get("line"),
            "image": (a.get("image") or {}).get("title"),
            "snapshot": (a.get("snapshot") or {}).get("path"),
            "threshold": a.get("threshold"),
            "size_pixels": [lo, hi],
            "circularity": a.get("circularity"),
            "exclude_edges": a.get("exclude_edges"),
            "include_holes": a.get("include_holes"),
            "show": a.get("show"),
            "measurements": a.get("measurements"),
            "decimals": a.get("decimals"),
            "redirect": a.get("redirect"),
            "redirect_calibration": a.get("redirect_calibration"),
            "redirect_threshold": a.get("redirect_threshold"),
            "particles_recorded": a.get("particles"),
            "reference_particles": None if self.reference is None else int(len(self.reference.table)),
            "reference_error": self.why,
            "outputs": self.outputs,
        }


def _is_number(value, infinite=True):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return math.isfinite(value) or infinite
    return infinite and value in ("Infinity", "-Infinity")


def _check_field(errors, where, value, kind, optional=False):
    """Append ``where: why`` to ``errors`` when ``value`` is not of ``kind``."""
    if value is None and optional:
        return
    ok = {"number": lambda v: _is_number(v),
          "finite": lambda v: _is_number(v, infinite=False),
          "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
          "bool": lambda v: isinstance(v, bool),
          "text": lambda v: isinstance(v, str),
          "object": lambda v: isinstance(v, dict),
          "pair": lambda v: isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v),
          "bounds": lambda v: isinstance(v, list) and len(v) == 4 and all(
              isinstance(x, int) and not isinstance(x, bool) for x in v),
          "texts": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)}[kind]
    if not ok(value):
        want = {"number": "a number", "finite": "a finite number", "int": "an integer", "bool": "true or false",
                "text": "a text", "object": "an object", "pair": "two numbers", "bounds": "four integers",
                "texts": "a list of texts"}[kind]
        errors.append(f"{where} is {json.dumps(value)[:40]}, not {want}")


def validate_analyses(record, folder, name="run.json"):
    """Check the shapes and types of run.json's ``analyses`` that the checker reads.

    Raises
    ------
    CheckError
        One line naming ``name`` and the first bad field (``analyses[0].image.calibration.pixel_width``),
        or a snapshot path that is not a file inside the run folder.
    """
    root = Path(folder).resolve()
    for n, a in enumerate((record or {}).get("analyses") or []):
        errors: list = []
        at = f"analyses[{n}]"
        if not isinstance(a, dict):
            raise CheckError(f"cannot read {name}: {at} is not an object")
        _check_field(errors, f"{at}.image", a.get("image"), "object", optional=True)
        image = a.get("image") if isinstance(a.get("image"), dict) else {}
        for key in ("width", "height", "bit_depth", "stack_size", "slice"):
            _check_field(errors, f"{at}.image.{key}", image.get(key), "int", optional=True)
        _check_field(errors, f"{at}.image.inverted_lut", image.get("inverted_lut"), "bool", optional=True)
        _check_calibration(errors, f"{at}.image.calibration", image.get("calibration"))
        _check_calibration(errors, f"{at}.redirect_calibration", a.get("redirect_calibration"))
        _check_field(errors, f"{at}.image.selection", image.get("selection"), "object", optional=True)
        sel = image.get("selection") if isinstance(image.get("selection"), dict) else {}
        _check_field(errors, f"{at}.image.selection.bounds", sel.get("bounds"), "bounds", optional=True)
        _check_field(errors, f"{at}.image.selection.mask", sel.get("mask"), "bool", optional=True)
        _check_field(errors, f"{at}.redirect_threshold", a.get("redirect_threshold"), "pair", optional=True)
        for key in ("threshold", "size_pixels", "circularity"):
            if a.get("ok", True) is not False:  # a failed analysis is not checked: its levels are unused
                _check_field(errors, f"{at}.{key}", a.get(key), "pair")
        _check_field(errors, f"{at}.decimals", a.get("decimals"), "int", optional=True)
        if isinstance(a.get("decimals"), int) and not 0 <= a["decimals"] <= 9:
            errors.append(f"{at}.decimals is {a['decimals']}, not 0 to 9")
        for key in ("measurements", "table_measurements", "show", "redirect"):
            _check_field(errors, f"{at}.{key}", a.get(key), "text", optional=True)
        for key in ("ok", "exclude_edges", "include_holes", "black_background", "threshold_set"):
            _check_field(errors, f"{at}.{key}", a.get(key), "bool", optional=True)
        for key in ("flags", "outputs"):
            _check_field(errors, f"{at}.{key}", a.get(key), "texts", optional=True)
        _check_field(errors, f"{at}.index", a.get("index"), "int", optional=True)
        _check_field(errors, f"{at}.results", a.get("results"), "object", optional=True)
        results = a.get("results") if isinstance(a.get("results"), dict) else {}
        _check_field(errors, f"{at}.results.title", results.get("title"), "text", optional=True)
        for key in ("rows_before", "rows_after"):
            _check_field(errors, f"{at}.results.{key}", results.get(key), "int", optional=True)
        for key in ("snapshot", "redirect_snapshot", "selection_mask"):
            entry = a.get(key)
            _check_field(errors, f"{at}.{key}", entry, "object", optional=True)
            if not isinstance(entry, dict):
                continue
            _check_field(errors, f"{at}.{key}.path", entry.get("path"), "text", optional=True)
            _check_field(errors, f"{at}.{key}.sha256", entry.get("sha256"), "text", optional=True)
            if isinstance(entry.get("path"), str):
                # a snapshot is read from the run folder only (a hand-edited path must not reach out)
                target = (root / entry["path"]).resolve()
                if Path(entry["path"]).is_absolute() or not target.is_relative_to(root):
                    errors.append(f"{at}.{key}.path {json.dumps(entry['path'])[:60]} is outside the run folder")
        if errors:
            raise CheckError(f"cannot read {name}: {errors[0]}"
                             + (f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""))


class SnapshotMissing(CheckError):
    """A snapshot the run kept is not in the folder."""


class SnapshotChanged(CheckError):
    """A snapshot's SHA-256 differs from the one the run recorded: the folder was altered."""


def _load_snapshot(folder, analysis, key):
    """The pixels of a kept snapshot, checked against the hash the run recorded."""
    import tifffile

    path = snapshot_path(folder, analysis, key)
    entry = analysis.get(key) or {}
    if path is None:
        raise CheckError(entry.get("note") or "its analysed image was not kept")
    if not path.is_file():
        raise SnapshotMissing(f"its analysed image {entry.get('path')} is missing")
    if entry.get("sha256") and sha256(path) != entry["sha256"]:
        raise SnapshotChanged(f"its analysed image {entry.get('path')} changed since the run (SHA-256 differs)")
    arr = tifffile.imread(path)
    return np.asarray(arr)


def _input_instead(record, image, missing):
    """The run's recorded input in place of a missing snapshot, when it is unchanged and fits.

    Returns (pixels, path); raises ``missing`` (naming why the input cannot stand in) otherwise.
    """
    from .recover import _input_path, load_image

    path, digest = _input_path(record)
    if path is None:
        raise SnapshotMissing(f"{missing}; run.json records no input to use instead")
    if not path.is_file():
        raise SnapshotMissing(f"{missing}, and the recorded input {path} is gone")
    if not digest or sha256(path) != digest:
        raise SnapshotMissing(f"{missing}, and the recorded input {path} changed since the run "
                              "(SHA-256 differs)" if digest else f"{missing}; the input {path} has no hash")
    pixels = load_image(path)
    size = (image.get("height"), image.get("width"))
    if pixels.shape != size or pixels.dtype not in (np.uint8, np.uint16) \
            or pixels.dtype.itemsize * 8 != image.get("bit_depth"):
        raise SnapshotMissing(f"{missing}; the recorded input {path} ({pixels.dtype} {pixels.shape}) is not the "
                              f"analysed image ({image.get('bit_depth')}-bit {size})")
    return pixels, path


def _had_threshold(a, pixels, threshold):
    """Whether the analysed image had a threshold, or ImageJ took a binary image's levels.

    Recorded as ``threshold_set`` since fijirun records it; for an older record, a binary 8-bit
    image analysed at 0..0 or 255..255 is taken as one without a threshold (ImageJ's own levels).
    """
    recorded = a.get("threshold_set")
    if recorded is not None:
        return bool(recorded)
    if pixels.dtype != np.uint8 or threshold not in ((0.0, 0.0), (255.0, 255.0)):
        return True
    return bool(np.count_nonzero((pixels != 0) & (pixels != 255)))


def _check_calibration(errors, where, value):
    """Validate an optional recorded calibration: the analysed image's or the redirect image's."""
    _check_field(errors, where, value, "object", optional=True)
    cal = value if isinstance(value, dict) else {}
    for key in ("pixel_width", "pixel_height"):
        _check_field(errors, f"{where}.{key}", cal.get(key), "finite", optional=True)
    _check_field(errors, f"{where}.unit", cal.get("unit"), "text", optional=True)
    _check_field(errors, f"{where}.calibrated_values", cal.get("calibrated_values"), "bool", optional=True)


def _calibration(cal):
    """A recorded calibration (``pixel_width``, ``pixel_height``, ``unit``) as the reference's."""
    return Calibration(_float(cal.get("pixel_width") or 1), _float(cal.get("pixel_height") or 1),
                       str(cal.get("unit") or "pixel"))


def _reference(folder, a, item, record=None):
    image = a.get("image") or {}
    if image.get("stack_size", 1) not in (1, None):
        raise CheckError("a stack was analysed; the reference analyses one 2-D image")
    try:
        pixels = _load_snapshot(folder, a, "snapshot")
    except SnapshotMissing as exc:
        # the run's input, unchanged and of the analysed size and depth, stands in (the check says
        # so: it is right only when nothing changed the pixels before the analysis)
        pixels, item.input_instead = _input_instead(record, image, exc)
    if pixels.ndim != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise CheckError(f"the analysed image is {pixels.dtype} {pixels.shape}: the reference analyses "
                         "8- and 16-bit 2-D images")
    redirect = None
    if a.get("redirect"):
        redirect = _load_snapshot(folder, a, "redirect_snapshot")
    selection, selection_mask = None, None
    x, y, w, h = (image.get("selection") or {}).get("bounds") or [0, 0, 0, 0]
    if (x, y, w, h) != (0, 0, pixels.shape[1], pixels.shape[0]):
        selection = (x, y, w, h)
    if (image.get("selection") or {}).get("mask"):
        selection_mask = _load_snapshot(folder, a, "selection_mask") != 0
        selection = (x, y, w, h)
    calibration = _calibration(image.get("calibration") or {})
    # ImageJ measures the pixel statistics with the redirect image's calibration (the outline with
    # the analysed image's); a record without it (an older fijirun) is measured as before, with one
    redirect_calibration = None
    if redirect is not None and isinstance(a.get("redirect_calibration"), dict):
        redirect_calibration = _calibration(a["redirect_calibration"])
    stats_calibration = redirect_calibration or calibration
    redirect_threshold = None
    if redirect is not None and a.get("redirect_threshold") is not None:
        redirect_threshold = tuple(_float(v) for v in a["redirect_threshold"])
    # a calibration function on the image whose values are measured (the redirect image's when
    # redirected): ImageJ's intensities are the function's values, which the reference does not have
    measured = a.get("redirect_calibration") if redirect is not None else image.get("calibration")
    if isinstance(measured, dict) and measured.get("calibrated_values"):
        whose = "the redirect image" if redirect is not None else "the analysed image"
        why = (f"{whose} has a calibration function (Analyze > Calibrate): ImageJ measures its "
               "calibrated values, the reference the raw pixel values")
        item.not_reproduced = {c: why for c in CALIBRATED_VALUE_COLUMNS}
    lo, hi = a.get("threshold")
    size = tuple(_float(v) for v in a.get("size_pixels"))
    circ = tuple(_float(v) for v in a.get("circularity"))
    threshold = (_float(lo), _float(hi))
    if not _had_threshold(a, pixels, threshold):
        # ImageJ took a binary image's levels itself: it measures %Area as the fraction of non-zero
        # pixels (ImageStatistics.calculateAreaFraction without a threshold), not of pixels within
        # level1..level2; the reference does the same for a binary image given no threshold
        threshold = None
    options = dict(threshold=threshold, black_background=bool(a.get("black_background")),
                   inverted_lut=bool(image.get("inverted_lut")), size=size, pixel_units=True, circularity=circ,
                   exclude_edges=bool(a.get("exclude_edges")), include_holes=bool(a.get("include_holes")),
                   measurements=a.get("measurements") or "area", redirect=redirect, calibration=calibration,
                   redirect_calibration=redirect_calibration, redirect_threshold=redirect_threshold,
                   decimals=int(a.get("decimals", 3)))
    try:
        reference = analyze_particles(pixels, selection=selection, selection_mask=selection_mask, **options)
    except NotImplementedError as exc:
        raise CheckError(f"the reference does not reproduce this analysis: {exc}") from None
    _hide_untabled_columns(reference, a.get("table_measurements"))
    whole = None
    if selection is not None:
        whole = len(analyze_particles(pixels, make_rois=False, **options).table)
    # ParticleAnalyzer's totalArea: the selection's bounds, or its mask's pixels, calibrated as it
    # measures (with the redirect image's calibration when redirected)
    pixels_analysed = (int(np.count_nonzero(selection_mask)) if selection_mask is not None
                       else (w * h if selection is not None else pixels.size))
    item.total_area = pixels_analysed * stats_calibration.pixel_width * stats_calibration.pixel_height
    item.pixel_size = max(calibration.pixel_width, calibration.pixel_height,
                          stats_calibration.pixel_width, stats_calibration.pixel_height)
    item.pixels, item.reference, item.selection, item.whole_particles = pixels, reference, selection, whole


def _hide_untabled_columns(reference, table_measurements):
    """Drop from the reference's table the columns ImageJ measured but did not put in its table.

    With *show=Ellipses* ImageJ adds ELLIPSE to the particles' statistics (their centroid is then
    the fitted ellipse's, and the Summary averages Major, Minor and Angle as NaN), but its Results
    table keeps the Set Measurements columns. The reference measures as the analysis did (the
    recorded ``measurements``); its table keeps the columns of ``table_measurements``. Full-
    precision ``values`` stay, for the centroid they gave.
    """
    if table_measurements is None:          # an older record: the table's measurements not known
        return
    from ..reference import COLUMNS

    keys = set(table_measurements.replace("feret ", "feret's ").split())
    hidden = [name for name, key in COLUMNS if key not in keys and name in reference.table.columns]
    if hidden:
        reference.table = reference.table.drop(columns=hidden)


def recorded_analyses(folder, record):
    """The run's recorded analyses with their references (empty: the run recorded none)."""
    found = []
    for a in (record or {}).get("analyses") or []:
        if not isinstance(a, dict) or not a.get("ok", True):
            continue
        item = RecordedAnalysis(a, outputs=list(a.get("outputs") or []))
        try:
            _reference(Path(folder), a, item, record)
        except SnapshotChanged as exc:
            item.why, item.altered = str(exc), True
        except SnapshotMissing as exc:
            item.why, item.missing = str(exc), True
        except CheckError as exc:
            item.why = str(exc)
        except (ValueError, NotImplementedError, OSError) as exc:
            item.why = f"the reference cannot analyse its image: {exc}"
        found.append(item)
    return found


def analysis_for(items, rel):
    """The recorded analysis an output came from: the one after which the run wrote it.

    An output the record does not attribute (saved by a route fijirun does
    not see) belongs to the last analysis.
    """
    for item in items:
        if str(rel) in item.outputs:
            return item
    return items[-1] if items else None
