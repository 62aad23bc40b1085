"""A pure-Python reference of ImageJ 1.x *Analyze > Analyze Particles...*.

Semantics follow ``ij.plugin.filter.ParticleAnalyzer`` (ImageJ 1.53t):

* the image is scanned row by row; the first pixel found inside the threshold
  that does not belong to an already analysed particle starts a new particle,
  whose outline is traced by the Wand (legacy mode, 8-connected, see
  :mod:`.tracing`);
* without *include holes* the particle is the 8-connected set of pixels flood
  filled from that pixel (holes excluded from its mask and statistics;
  particles inside its holes are found later, on their own); with *include
  holes* it is everything inside its outline (interior holes filled; particles
  inside holes are swallowed);
* a particle is kept when its pixel count is within ``size`` (pixels, or
  calibrated units when ``pixel_units=False``), its circularity (computed from
  the uncalibrated traced perimeter and the pixel count) within ``circularity``
  and, with ``exclude_edges``, its bounding rectangle does not touch the image
  border.  Kept particles are numbered 1, 2, ... in scan order (Results rows,
  ROI Manager names ``nnnn-yyyy``, Count Masks values).

Everything is computed for all particles at once with numpy/scipy (no per-pixel
Python loop).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from . import measure as M
from .tracing import Outlines, trace_outlines

__all__ = [
    "Calibration", "ParticleAnalysis", "analyze_particles", "labels_to_rois",
    "rois_to_labels", "MEASUREMENT_KEYS", "COLUMNS", "read_calibration", "read_selection",
]

#: Keys of ImageJ's *Set Measurements...* options string that the reference implements.
MEASUREMENT_KEYS = (
    "area", "mean", "standard", "modal", "min", "centroid", "center", "perimeter",
    "bounding", "fit", "shape", "feret's", "integrated", "median", "skewness",
    "kurtosis", "area_fraction",
)

#: Results table columns in ImageJ's order (``ResultsTable`` default headings),
#: with the measurement key that produces them.
COLUMNS = [
    ("Area", "area"), ("Mean", "mean"), ("StdDev", "standard"), ("Mode", "modal"),
    ("Min", "min"), ("Max", "min"), ("X", "centroid"), ("Y", "centroid"),
    ("XM", "center"), ("YM", "center"), ("Perim.", "perimeter"), ("BX", "bounding"),
    ("BY", "bounding"), ("Width", "bounding"), ("Height", "bounding"), ("Major", "fit"),
    ("Minor", "fit"), ("Angle", "fit"), ("Circ.", "shape"), ("Feret", "feret's"),
    ("IntDen", "integrated"), ("Median", "median"), ("Skew", "skewness"),
    ("Kurt", "kurtosis"), ("%Area", "area_fraction"), ("RawIntDen", "integrated"),
    ("FeretX", "feret's"), ("FeretY", "feret's"), ("FeretAngle", "feret's"),
    ("MinFeret", "feret's"), ("AR", "shape"), ("Round", "shape"), ("Solidity", "shape"),
]

_IGNORED_KEYS = {"display", "redirect", "decimal", "limit", "stack", "nan", "add", "scientific"}
#: Set Measurements keys that change values without adding columns (``invert``: *Invert Y
#: coordinates*, ``Calibration.getY(y, height)``: Y, YM and BY measured from the bottom).
_VALUE_KEYS = {"invert"}


@dataclass(frozen=True)
class Calibration:
    """Spatial calibration of an image, as ImageJ's ``Calibration`` (origin 0, y not inverted).

    Attributes
    ----------
    pixel_width, pixel_height : float
        The size of a pixel, in ``unit``.
    unit : str
        The length unit; ``"pixel"`` for an uncalibrated image.
    """

    pixel_width: float = 1.0
    pixel_height: float = 1.0
    unit: str = "pixel"

    @property
    def scaled(self) -> bool:
        """Whether the calibration is not the identity: a pixel size other than 1, or a real unit."""
        return self.pixel_width != 1.0 or self.pixel_height != 1.0 or self.unit not in ("pixel", "pixels", "")


def read_calibration(path) -> Calibration:
    """The calibration in a TIFF's ImageJ metadata (XResolution/YResolution and ``unit``).

    Parameters
    ----------
    path : path-like
        A TIFF file.

    Returns
    -------
    Calibration
        The identity (1 pixel per pixel) when the file records no ``unit``.
    """
    import tifffile
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first  # a TiffPage (tags), never a TiffFrame
        ij = tif.imagej_metadata or {}
        unit = ij.get("unit")
        if unit is None:
            return Calibration()
        unit = unit.encode().decode("unicode_escape") if "\\u" in unit else unit
        # ImageJ reads the rational as a float then takes 1/x (TiffDecoder/FileOpener)
        pw = _ij_resolution(page.tags.get("XResolution"))
        ph = _ij_resolution(page.tags.get("YResolution"), pw)
        return Calibration(pw, ph, unit)


def _ij_resolution(tag, default=1.0):
    if tag is None:
        return default
    num, den = tag.value
    if den == 0 or num == 0:
        return default
    xres = num / den
    return 1.0 / xres


class ParticleAnalysis:
    """The result of :func:`analyze_particles`.

    Attributes
    ----------
    table : pandas.DataFrame
        The Results table: one row per kept particle, numbered from 1 in
        ImageJ's scan order, values rounded as ImageJ prints them.
    rois : list of roifile.ImagejRoi
        The particles' traced outlines, named as the ROI Manager names them.
        Built from ``outlines`` on first access, then kept; empty when
        :func:`analyze_particles` ran with ``make_rois=False``.
    count_mask : numpy.ndarray of uint16
        ImageJ's *Count Masks*: each kept particle's pixels hold its row
        number (at most 65535), every other pixel 0.
    outlines : Outlines
        The kept particles' traced polygons.
    values : dict of str to numpy.ndarray
        The table's columns at full precision (before rounding).
    """

    def __init__(self, table, rois=None, count_mask=None, outlines=None, values=None, *, roi_names=None):
        self.table = table
        self.count_mask = count_mask
        self.outlines = outlines
        self.values = {} if values is None else values
        self._rois = rois
        self._roi_names = roi_names     # (numbers, y centres, image height) for the lazy ROIs

    @property
    def rois(self) -> list:
        """The particles' outlines as ``roifile.ImagejRoi`` (built on first access)."""
        if self._rois is None:
            if self._roi_names is None or self.outlines is None:
                self._rois = []
            else:
                self._rois = _make_rois(self.outlines, _roi_names(*self._roi_names))
            self._roi_names = None
        return self._rois

    @rois.setter
    def rois(self, value):
        self._rois = value
        self._roi_names = None

    def __repr__(self):
        n_rois = len(self.outlines) if self.outlines is not None else len(self.rois)
        return (f"ParticleAnalysis(table=<{len(self.table)} rows>, rois=<{n_rois}>, "
                f"count_mask={self.count_mask!r})")


def _parse_measurements(measurements) -> set:
    if isinstance(measurements, str):
        keys = measurements.split()
    else:
        keys = list(measurements)
    out = set()
    for k in keys:
        k = k.split("=")[0].strip().lower()
        if not k:
            continue
        if k == "feret":
            k = "feret's"
        if k in _IGNORED_KEYS:
            continue
        if k in _VALUE_KEYS:
            out.add(k)
            continue
        if k not in MEASUREMENT_KEYS:
            raise ValueError(f"unknown measurement key {k!r}; known: {' '.join(MEASUREMENT_KEYS)}")
        out.add(k)
    return out


def _load(image):
    """Array and calibration (from ImageJ TIFF metadata) of an array or a path."""
    if isinstance(image, (str, os.PathLike)):
        p = os.fspath(image)
        if p.lower().endswith((".tif", ".tiff")):
            import tifffile
            arr = tifffile.imread(p)
            return arr, read_calibration(p)
        from PIL import Image  # pragma: no cover - GIF/PNG convenience
        with Image.open(p) as im:
            return np.asarray(im), Calibration()
    return np.asarray(image), None


def read_selection(path):
    """The selection ImageJ stores in a TIFF it saved (restored when ImageJ opens the file).

    Parameters
    ----------
    path : path-like
        A TIFF file.

    Returns
    -------
    (bounds, mask) or None
        ``bounds`` (x, y, width, height); ``mask`` a boolean array of the bounds, True
        inside a polygon or traced selection (pixel centres inside, as ImageJ's
        PolygonFiller), None for a rectangle. None when the file stores no selection.

    Raises
    ------
    NotImplementedError
        An oval, freehand, composite or line selection (the reference does not rebuild
        its mask from the file; a run through fijirun records the mask ImageJ used).
    """
    import roifile
    import tifffile

    with tifffile.TiffFile(os.fspath(path)) as tif:
        data = (tif.imagej_metadata or {}).get("ROI")
    if not data:
        return None
    roi = roifile.ImagejRoi.frombytes(data)
    bounds = (int(roi.left), int(roi.top), int(roi.right - roi.left), int(roi.bottom - roi.top))
    kind = roifile.ROI_TYPE(roi.roitype)
    if kind == roifile.ROI_TYPE.RECT and not roi.subtype and not roi.n_coordinates:
        return bounds, None
    if kind in (roifile.ROI_TYPE.POLYGON, roifile.ROI_TYPE.TRACED):
        from skimage.draw import polygon

        x, y, w, h = bounds
        c = np.asarray(roi.coordinates(), np.float64)
        mask = np.zeros((h, w), bool)
        rr, cc = polygon(c[:, 1] - y - 0.5, c[:, 0] - x - 0.5, mask.shape)
        mask[rr, cc] = True
        return bounds, mask
    raise NotImplementedError(f"a stored {kind.name.lower()} selection")


def _label(g):
    structure = np.ones((3, 3), bool)
    try:
        lab = np.empty(g.shape, np.uint16)
        n = ndi.label(g, structure, output=lab)
    except RuntimeError:
        lab = np.empty(g.shape, np.int32)
        n = ndi.label(g, structure, output=lab)
    return lab, int(n)


def _run_sums(labels, nlab, value, rows=256):
    """:func:`_pixel_sums` when every labelled pixel has the same ``value``.

    Sums over the horizontal runs of labelled pixels (a run lies in one
    8-connected particle), closed formulas per run, all exact integers in
    float64. With ``value=None`` only the geometric sums and ``first``.
    """
    h, w = labels.shape
    acc = {k: np.zeros(nlab + 1) for k in ("n", "sx", "sy", "sxx", "syy", "sxy")}
    first = np.full(nlab + 1, np.iinfo(np.int64).max, np.int64)
    for r0 in range(0, h, rows):
        sub = labels[r0:r0 + rows]
        b = sub != 0
        st = b.copy()
        st[:, 1:] &= ~b[:, :-1]
        en = b
        en[:, :-1] &= ~b[:, 1:].copy()
        si = np.flatnonzero(st)
        if len(si) == 0:
            continue
        ei = np.flatnonzero(en)
        lb = sub.ravel()[si].astype(np.int64)
        y, x0 = np.divmod(si, w)
        x1 = ei - y * w                               # inclusive end
        y += r0
        ln = x1 - x0 + 1
        sxr = (ln * (x0 + x1)) // 2
        xm = x0 - 1
        sxxr = (x1 * (x1 + 1) * (2 * x1 + 1) - xm * (xm + 1) * (2 * xm + 1)) // 6
        acc["n"] += np.bincount(lb, ln, minlength=nlab + 1)
        acc["sx"] += np.bincount(lb, sxr, minlength=nlab + 1)
        acc["sy"] += np.bincount(lb, y * ln, minlength=nlab + 1)
        acc["sxx"] += np.bincount(lb, sxxr, minlength=nlab + 1)
        acc["syy"] += np.bincount(lb, y * y * ln, minlength=nlab + 1)
        acc["sxy"] += np.bincount(lb, y * sxr, minlength=nlab + 1)
        cand = np.full(nlab + 1, np.iinfo(np.int64).max, np.int64)
        cand[lb[::-1]] = (si + r0 * w)[::-1]
        np.minimum(first, cand, out=first)
    out = {k: a[1:] for k, a in acc.items()}
    out["first"] = first[1:]
    if value is None:
        return out
    v = float(value)
    out["sxv"] = out["sx"] * v
    out["syv"] = out["sy"] * v
    present = np.flatnonzero(out["n"] > 0)
    out["hl"] = present
    out["hv"] = np.full(len(present), int(value), np.int64)
    out["hc"] = out["n"][present].astype(np.int64)
    return out


def _pixel_sums(labels, nlab, values, chunk_pixels=1 << 17):
    """Per-label sums over the pixels of each label (label 1..nlab -> index 0..nlab-1).

    Returns dict with n, sx, sy, sxx, syy, sxy (absolute coordinates, exact in
    float64), sxv, syv (coordinate x value), first (raster index of the first
    pixel) and the sparse histogram (hl, hv, hc).
    """
    h, w = labels.shape
    rows = max(1, chunk_pixels // max(w, 1))
    out = _run_sums(labels, nlab, None)               # geometric sums and first pixels
    acc = {k: np.zeros(nlab + 1) for k in ("sxv", "syv")}
    dense = values.dtype == np.uint8
    if dense:
        hist = np.zeros((nlab + 1, 256), np.int64)
    else:
        parts = []
    for r0 in range(0, h, rows):
        r1 = min(h, r0 + rows)
        sub = labels[r0:r1].ravel()
        nz = np.flatnonzero(sub)
        if len(nz) == 0:
            continue
        lb = sub[nz].astype(np.int64)
        yy, xx = np.divmod(nz, w)
        yy += r0
        v = values[r0:r1].ravel()[nz]
        vf = v.astype(np.float64)
        xf = xx.astype(np.float64)
        yf = yy.astype(np.float64)
        acc["sxv"] += np.bincount(lb, xf * vf, minlength=nlab + 1)
        acc["syv"] += np.bincount(lb, yf * vf, minlength=nlab + 1)
        if dense:
            lo, hi = int(lb.min()), int(lb.max())
            hist[lo:hi + 1] += np.bincount((lb - lo) * 256 + v, minlength=(hi - lo + 1) * 256).reshape(-1, 256)
        else:
            key = lb * 65536 + v.astype(np.int64)
            uk, uc = np.unique(key, return_counts=True)
            parts.append((uk, uc))
    if dense:
        hl, hv = np.nonzero(hist)
        hc = hist[hl, hv]
        del hist
    else:
        if parts:
            keys = np.concatenate([p[0] for p in parts])
            cnts = np.concatenate([p[1] for p in parts])
            uk, inv = np.unique(keys, return_inverse=True)
            hc = np.bincount(inv, cnts)
            hl, hv = np.divmod(uk, 65536)
        else:
            hl = hv = hc = np.zeros(0, np.int64)
    out.update({k: a[1:] for k, a in acc.items()})
    out["hl"] = hl - 1
    out["hv"] = hv
    out["hc"] = hc
    return out


def _roi_names(numbers, yc, height):
    numbers = np.asarray(numbers)
    yc = np.asarray(yc)
    d = 5 if height >= 10000 else 4
    if len(numbers) == 0:
        return []
    if numbers.min() >= 0 and yc.min() >= 0 and numbers.max() < 10 ** d and yc.max() < 10 ** d:
        # every name has exactly d digits per part (the loop below would give the same)
        fmt = f"{{:0{d}d}}-{{:0{d}d}}".format
        return [fmt(n, y) for n, y in zip(numbers.tolist(), yc.tolist())]
    names = []
    for n, y in zip(numbers.tolist(), yc.tolist()):
        xs, ys = str(y), str(n)
        digits = max(4, len(xs), len(ys))
        if digits == 4 and height >= 10000:
            digits = 5
        names.append(ys.zfill(digits) + "-" + xs.zfill(digits))
    return names


def _bounds(outlines: Outlines):
    """(left, top, width, height) of each outline, int64 array (n, 4)."""
    if len(outlines) == 0:
        return np.zeros((0, 4), np.int64)
    starts = outlines.offsets[:-1]
    x = outlines.x.astype(np.int64)
    y = outlines.y.astype(np.int64)
    left = np.minimum.reduceat(x, starts)
    top = np.minimum.reduceat(y, starts)
    return np.stack([left, top, np.maximum.reduceat(x, starts) - left,
                     np.maximum.reduceat(y, starts) - top], axis=1)


def _make_rois(outlines: Outlines, names):
    """``roifile.ImagejRoi`` traced polygons as ImageJ's RoiEncoder writes them.

    Integer vertices relative to (left, top), right = left + width of the outline.
    """
    import roifile
    n = len(outlines)
    if n == 0:
        return []
    starts = outlines.offsets[:-1]
    x = outlines.x.astype(np.int32)
    y = outlines.y.astype(np.int32)
    left = np.minimum.reduceat(x, starts)
    top = np.minimum.reduceat(y, starts)
    right = np.maximum.reduceat(x, starts)
    bottom = np.maximum.reduceat(y, starts)
    g = outlines.group
    rel = np.stack([x - left[g], y - top[g]], axis=1)
    off = outlines.offsets.tolist()
    left, top, right, bottom = left.tolist(), top.tolist(), right.tolist(), bottom.tolist()
    template = roifile.ImagejRoi()
    template.roitype = roifile.ROI_TYPE.TRACED
    fields = vars(template)
    cls = type(template)
    rois = []
    for i in range(n):
        roi = object.__new__(cls)          # a copy of the template, without re-running __init__
        d = roi.__dict__
        d.update(fields)
        d["integer_coordinates"] = rel[off[i]:off[i + 1]]
        d["n_coordinates"] = off[i + 1] - off[i]
        d["left"], d["top"], d["right"], d["bottom"] = left[i], top[i], right[i], bottom[i]
        d["name"] = names[i]
        rois.append(roi)
    return rois


def _outside_selection(outlines, inside, candidates):
    """Particles a non-rectangular selection excludes with *exclude edges*.

    ImageJ (ParticleAnalyzer.analyzeParticle with an exclusion ROI) drops a particle when a
    vertex of its outline is not in the selection, or when an edge of it runs along a pixel
    outside the selection (a vertical edge: the pixel above its start; a horizontal one:
    the pixel left of its start). ``inside``: the selection as a boolean image.
    """
    h, w = inside.shape

    def out(x, y):
        ok = (x >= 0) & (y >= 0) & (x < w) & (y < h)
        res = np.ones(x.shape, bool)
        res[ok] = ~inside[y[ok], x[ok]]
        return res

    excluded = np.zeros(len(outlines), bool)
    for i in np.flatnonzero(candidates):
        s0, e0 = outlines.offsets[i], outlines.offsets[i + 1]
        x2 = np.asarray(outlines.x[s0:e0], np.int64)
        y2 = np.asarray(outlines.y[s0:e0], np.int64)
        x1, y1 = np.roll(x2, 1), np.roll(y2, 1)
        bad = out(x2, y2)
        bad |= (x1 == x2) & out(x1, y1 - 1)
        bad |= (y1 == y2) & out(x1 - 1, y1)
        excluded[i] = bool(bad.any())
    return excluded


def analyze_particles(
    image,
    *,
    threshold: tuple | None = None,
    size: tuple = (0, math.inf),
    pixel_units: bool = True,
    circularity: tuple = (0.0, 1.0),
    exclude_edges: bool = False,
    include_holes: bool = False,
    measurements: Iterable[str] | str = ("area", "mean", "min", "centroid", "perimeter", "bounding", "fit", "shape",
                                         "feret's"),
    redirect=None,
    calibration: Calibration | tuple | None = None,
    redirect_calibration: Calibration | tuple | None = None,
    redirect_threshold: tuple | None = None,
    decimals: int = 3,
    black_background: bool = True,
    inverted_lut: bool = False,
    make_rois: bool = True,
    selection: tuple | None = None,
    selection_mask=None,
    stored_selection: bool = True,
) -> ParticleAnalysis:
    """Analyse particles as ImageJ 1.x's *Analyze Particles...* does.

    Parameters
    ----------
    image : numpy.ndarray or path-like
        A 2-D uint8 or uint16 array (int8, int16 and bool arrays are taken as
        their unsigned counterparts), or a path. A TIFF's calibration is read
        from its ImageJ metadata unless ``calibration`` is given.
    threshold : (float, float), optional
        ``(lower, upper)``: pixels with lower <= value <= upper are particles
        (as after ``setThreshold``); intensities are measured on the grey
        values. Without a threshold the image must be 8-bit binary (0/255):
        the foreground is 255 when ImageJ's *black background* option is set
        (``black_background=True``, the default here) or the image has an
        inverted LUT (``inverted_lut=True``), else 0 -- exactly ImageJ's rule.
    size : (float, float)
        The particles' minimum and maximum area (None: no bound), in pixels,
        or in calibrated units with ``pixel_units=False`` and a calibrated
        image. A maximum below the minimum means no maximum, as in ImageJ.
    pixel_units : bool
        ``size`` is in pixels (ImageJ's *pixel units* option).
    circularity : (float, float)
        The particles' minimum and maximum circularity, from the uncalibrated
        traced perimeter and the pixel count.
    exclude_edges : bool
        Drop the particles whose bounding rectangle touches the image's
        border (the selection's, with a selection).
    include_holes : bool
        A particle is everything inside its outline: interior holes are
        filled, particles inside them are swallowed.
    measurements : str or iterable of str
        *Set Measurements...* keys (:data:`MEASUREMENT_KEYS`), as a list or
        an options string (``"area mean centroid decimal=3"``); keys the
        reference has no columns for (``display``, ``redirect=``, ``decimal=``,
        ``limit``, ...) are ignored; ``invert`` (*Invert Y coordinates*) measures
        ``Y``, ``YM`` and ``BY`` from the bottom, as ImageJ does.
    redirect : numpy.ndarray, optional
        A uint8 or uint16 image of the same shape on which intensities are
        measured (*Redirect to*).
    calibration : Calibration or (float, float, str), optional
        The analysed image's calibration, or ``(pixel_width, pixel_height,
        unit)``; overrides the file's.
    redirect_calibration : Calibration or (float, float, str), optional
        The redirect image's calibration (only with ``redirect``; None: the
        same as ``calibration``). ImageJ's ParticleAnalyzer measures the pixel
        statistics with the redirect image's calibration: Area, X/Y, XM/YM,
        BX/BY/Width/Height, Major/Minor, IntDen, Round and the area in
        Circ.; its Analyzer measures the outline with the analysed image's:
        Perim., Feret, FeretAngle, MinFeret (FeretX/FeretY are in pixels).
        The size filter in calibrated units (``pixel_units=False``) converts
        with the analysed image's calibration, as ImageJ's dialog does. The
        unit is not used in any value.
    redirect_threshold : (float, float), optional
        The redirect image's own threshold (only with ``redirect``). ImageJ
        measures *%Area* on the redirect image: the fraction of a particle's
        redirect pixels within this threshold (rounded to integers), or of its
        non-zero pixels when the redirect image has no threshold (None).
    decimals : int
        The *decimal places* of Set Measurements: ``table`` holds values
        rounded as ImageJ prints them (full precision in ``values``).
    black_background : bool
        ImageJ's *black background* option (binary images without a threshold).
    inverted_lut : bool
        The image has an inverted LUT (binary images without a threshold).
    make_rois : bool
        Build the ROIs (on first access of ``rois``); False leaves ``rois`` empty.
    selection : (int, int, int, int), optional
        ``(x, y, width, height)``: the bounds of the active selection. ImageJ
        analyses only inside it (``ParticleAnalyzer.eraseOutsideRoi``: a
        particle crossing its border is cut there), and with ``exclude_edges``
        drops the particles touching these bounds instead of the image's.
    selection_mask : numpy.ndarray of bool, optional
        An array of the selection's bounds, True inside a non-rectangular
        selection (oval, polygon); with ``exclude_edges`` ImageJ then also
        drops a particle whose outline leaves the selection.
    stored_selection : bool
        A TIFF path's stored selection (:func:`read_selection`) is used when no
        ``selection`` is given, as ImageJ's opener restores it; False ignores it.

    Returns
    -------
    ParticleAnalysis
        The Results table, ROIs, Count Masks image, outlines and full-precision
        values of the kept particles, numbered 1, 2, ... in scan order.

    Raises
    ------
    ValueError
        The image is not 2-D; it has no threshold and is not 8-bit binary; the
        selection is not inside the image or ``selection_mask`` does not fit
        it; ``redirect`` has another shape; ``redirect_calibration`` or
        ``redirect_threshold`` is given without ``redirect``; a measurement key
        is unknown.
    NotImplementedError
        A float or RGB image or redirect image, or a stored selection of a kind
        the reference cannot rebuild (see :func:`read_selection`).
    """
    if selection is None and stored_selection and isinstance(image, (str, os.PathLike)) \
            and os.fspath(image).lower().endswith((".tif", ".tiff")):
        stored = read_selection(image)
        if stored is not None:
            selection, selection_mask = stored
    arr, file_cal = _load(image)
    if calibration is None:
        calibration = file_cal or Calibration()
    elif not isinstance(calibration, Calibration):
        calibration = Calibration(*calibration)
    if redirect_calibration is None:
        redirect_calibration = calibration
    elif redirect is None:
        raise ValueError("redirect_calibration is the redirect image's: it needs a redirect image")
    elif not isinstance(redirect_calibration, Calibration):
        redirect_calibration = Calibration(*redirect_calibration)
    if redirect_threshold is not None and redirect is None:
        raise ValueError("redirect_threshold is the redirect image's: it needs a redirect image")
    if arr.ndim != 2:
        raise ValueError("analyze_particles expects a 2-D image")
    if arr.dtype == np.int16 or arr.dtype == np.int8 or arr.dtype.kind == "b":
        arr = arr.astype(np.uint16 if arr.dtype == np.int16 else np.uint8)
    if arr.dtype not in (np.uint8, np.uint16):
        raise NotImplementedError("only 8-bit and 16-bit images are supported (not float/RGB)")
    keys = _parse_measurements(measurements)
    h, w = arr.shape
    pw, ph = float(calibration.pixel_width), float(calibration.pixel_height)

    # ---- threshold levels (ParticleAnalyzer.setThresholdLevels)
    if threshold is None:
        if arr.dtype != np.uint8:
            raise ValueError("a threshold is required for non-binary images")
        level = 255 if (black_background or inverted_lut) else 0
        level1 = level2 = float(level)
        fg = arr == level
        nbin = int(np.count_nonzero(fg))
        for r0 in range(0, h, 1024):                  # 0/255 only (no image-size temporary)
            nbin += int(np.count_nonzero(arr[r0:r0 + 1024] == 255 - level))
        if nbin != arr.size:
            raise ValueError("a threshold has not been set and the image is not binary (0/255)")
    else:
        level1, level2 = float(threshold[0]), float(threshold[1])
        fg = (arr >= level1) & (arr <= level2)
    sx, sy, sw, sh = 0, 0, w, h
    if selection is not None:
        sx, sy, sw, sh = (int(v) for v in selection)
        # an empty selection (a degenerate polygon) leaves nothing to analyse, as in ImageJ
        if sw < 0 or sh < 0 or sx < 0 or sy < 0 or sx + sw > w or sy + sh > h:
            raise ValueError(f"selection {selection} is not inside the {w}x{h} image")
        inside = np.zeros_like(fg)
        inside[sy:sy + sh, sx:sx + sw] = True
        if selection_mask is not None:
            sel = np.asarray(selection_mask, bool)
            if sel.shape != (sh, sw):
                raise ValueError(f"selection_mask {sel.shape} does not match the selection {sw}x{sh}")
            inside[sy:sy + sh, sx:sx + sw] = sel
        fg &= inside
        if selection_mask is None:
            del inside
    else:
        selection_mask = None

    values = arr if redirect is None else np.asarray(redirect)
    if values.shape != arr.shape:
        raise ValueError("redirect image must have the image's shape")
    if values.dtype not in (np.uint8, np.uint16):
        raise NotImplementedError("only 8-bit and 16-bit redirect images are supported")

    # ---- particles: 8-connected components (with holes filled when include_holes)
    g = ndi.binary_fill_holes(fg) if include_holes else fg
    del fg
    labels, nlab = _label(g)
    if threshold is None and redirect is None and not include_holes:
        s = _run_sums(labels, nlab, level)            # every particle pixel has the value `level`
    else:
        s = _pixel_sums(labels, nlab, values)
    n = s["n"].astype(np.int64)
    first = s["first"]
    order = np.argsort(first, kind="stable")          # scan order (ImageJ's numbering)
    fy, fx = np.divmod(first[order], w)
    outlines_all = trace_outlines(g, fx, fy)
    del g
    # bounding rectangles (= bounds of the outlines), in scan order
    bb = _bounds(outlines_all)
    n_o = n[order]

    # ---- filters (on pixel counts and the uncalibrated traced perimeter)
    unit_sq = 1.0 if (pixel_units or not calibration.scaled) else pw * ph
    mins = size[0] if size[0] is not None else 0.0
    maxs = size[1] if size[1] is not None else math.inf
    min_size = max(0.0, mins / unit_sq)
    max_size = maxs / unit_sq
    if max_size < min_size:
        max_size = math.inf
    include = (n_o >= min_size) & (n_o <= max_size)
    minc, maxc = float(circularity[0]), float(circularity[1])
    per_uncal = None
    if minc > 0.0 or maxc != 1.0:
        per_uncal = M.traced_perimeter(outlines_all.x, outlines_all.y, outlines_all.offsets)
        with np.errstate(divide="ignore", invalid="ignore"):
            circ = np.where(per_uncal == 0.0, 0.0, 4.0 * math.pi * (n_o / (per_uncal * per_uncal)))
        if maxc <= 1.0:
            circ = np.minimum(circ, 1.0)
        include &= (circ >= minc) & (circ <= maxc)
    if exclude_edges:   # the selection's bounds (the image's without one)
        include &= ~((bb[:, 0] == sx) | (bb[:, 1] == sy) | (bb[:, 0] + bb[:, 2] == sx + sw)
                     | (bb[:, 1] + bb[:, 3] == sy + sh))
        if selection_mask is not None:
            include &= ~_outside_selection(outlines_all, inside, include)
            del inside

    kept = np.flatnonzero(include)                    # indices in scan order
    m = len(kept)
    # ---- count mask
    lut = np.zeros(nlab + 1, np.uint16)
    lut[order[kept] + 1] = np.minimum(np.arange(1, m + 1), 65535)
    if labels.dtype == np.uint16 and m == nlab and np.array_equal(order, np.arange(nlab)):
        count_mask = labels             # all kept, labels already numbered in scan order
    elif labels.dtype == np.uint16:     # relabel in place, in stripes
        for r0 in range(0, h, 512):
            labels[r0:r0 + 512] = lut[labels[r0:r0 + 512]]
        count_mask = labels
    else:
        count_mask = lut[labels]
    del labels

    # ---- outlines of the kept particles
    cnts = outlines_all.counts[kept]
    offs = np.r_[0, np.cumsum(cnts)].astype(np.int64)
    vsel = np.repeat(outlines_all.offsets[kept], cnts) + (np.arange(offs[-1]) - np.repeat(offs[:-1], cnts))
    outl = Outlines(outlines_all.x[vsel], outlines_all.y[vsel], offs)
    lab_idx = order[kept]                             # label-1 of each kept particle
    bbk = bb[kept]
    left, top, width, height = bbk[:, 0], bbk[:, 1], bbk[:, 2], bbk[:, 3]

    # ParticleAnalyzer: ImageStatistics with the redirect image's calibration, the Analyzer's
    # outline measurements (roi.setImage(imp)) with the analysed image's
    cols = _measure(keys, s, lab_idx, nlab, outl, left, top, width, height,
                    (float(redirect_calibration.pixel_width), float(redirect_calibration.pixel_height)),
                    (pw, ph), values.dtype, threshold if redirect is None else redirect_threshold, maxc,
                    image_height=h)
    table = pd.DataFrame({name: M.round_like_imagej(v, decimals) for name, v in cols.items()},
                         index=pd.RangeIndex(1, m + 1))
    if make_rois:       # built on first access of .rois
        return ParticleAnalysis(table=table, count_mask=count_mask, outlines=outl, values=cols,
                                roi_names=(np.arange(1, m + 1), top + height // 2, h))
    return ParticleAnalysis(table=table, rois=[], count_mask=count_mask, outlines=outl, values=cols)


def _cal_y(y, ph, image_height, invert):
    """``Calibration.getY(y, imageHeight)``: a y in pixels calibrated, from the bottom with *invert*.

    ImageJ computes ``(imageHeight - y - 1) * pixelHeight`` when *Invert Y coordinates* is set
    (origin 0), in that order: the same operations keep the values bit-identical.
    """
    return (image_height - y - 1.0) * ph if invert else y * ph


def _measure(keys, s, lab_idx, nlab, outl, left, top, width, height, stats_pixel, outline_pixel,
             vdtype, threshold, maxc, image_height=0):
    """The table's columns at full precision.

    ``stats_pixel``: (width, height) of a pixel for the ImageStatistics values (the redirect
    image's calibration); ``outline_pixel``: for the outline's (perimeter, Feret; the analysed
    image's).
    """
    pw, ph = stats_pixel
    opw, oph = outline_pixel
    invert = "invert" in keys
    n = s["n"][lab_idx].astype(np.float64)
    pix = s["n"][lab_idx].astype(np.int64)
    hs = M.histogram_stats(s["hl"], s["hv"], s["hc"], nlab)
    area = n * pw * ph
    sumv = hs["sum"][lab_idx]
    sum2 = hs["sum2"][lab_idx]
    mean = sumv / n
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = (n * sum2 - sumv * sumv) / n
        sd = np.where(sd > 0.0, np.sqrt(sd / (n - 1.0)), 0.0)
    cols = {}
    need_ellipse = "fit" in keys or "shape" in keys
    if need_ellipse:
        sx = s["sx"][lab_idx].astype(np.int64)
        sy = s["sy"][lab_idx].astype(np.int64)
        sxx = s["sxx"][lab_idx].astype(np.int64)
        syy = s["syy"][lab_idx].astype(np.int64)
        sxy = s["sxy"][lab_idx].astype(np.int64)
        x0, t = left, top
        rx = sx - x0 * pix
        ry = sy - t * pix
        rxx = sxx - 2 * x0 * sx + x0 * x0 * pix
        ryy = syy - 2 * t * sy + t * t * pix
        rxy = sxy - t * sx - x0 * sy + x0 * t * pix
        major, minor, angle, xc, yc = M.ellipse_params(
            pix, rx.astype(np.float64), ry.astype(np.float64), rxx.astype(np.float64),
            ryy.astype(np.float64), rxy.astype(np.float64), x0.astype(np.float64),
            t.astype(np.float64), width, height)
        psize = pw if (abs(pw - ph) / pw) < .01 else 0.0
        major = major * psize
        minor = minor * psize
        xcent = xc * pw
        ycent = _cal_y(yc, ph, image_height, invert)
    else:
        xcent = (s["sx"][lab_idx] / n + 0.5) * pw
        ycent = _cal_y(s["sy"][lab_idx] / n + 0.5, ph, image_height, invert)
    perim = None
    if "perimeter" in keys or "shape" in keys:
        perim = M.traced_perimeter(outl.x, outl.y, outl.offsets, opw, oph)
    if "area" in keys:
        cols["Area"] = area
    if "mean" in keys:
        cols["Mean"] = mean
    if "standard" in keys:
        cols["StdDev"] = sd
    if "modal" in keys:
        cols["Mode"] = hs["mode"][lab_idx]
    if "min" in keys:
        cols["Min"] = hs["min"][lab_idx]
        cols["Max"] = hs["max"][lab_idx]
    if "centroid" in keys:
        cols["X"] = xcent
        cols["Y"] = ycent
    if "center" in keys:
        sxv = s["sxv"][lab_idx]
        syv = s["syv"][lab_idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            if vdtype == np.uint8:
                # ImageJ adds Double.MIN_VALUE to 8-bit values: all-zero particles
                # get their centroid instead of 0/0
                zero = sumv == 0
                xm = np.where(zero, s["sx"][lab_idx] / n, sxv / sumv) + 0.5
                ym = np.where(zero, s["sy"][lab_idx] / n, syv / sumv) + 0.5
            else:
                xm = sxv / sumv + 0.5
                ym = syv / sumv + 0.5
        cols["XM"] = xm * pw
        cols["YM"] = _cal_y(ym, ph, image_height, invert)
    if "perimeter" in keys:
        cols["Perim."] = perim
    if "bounding" in keys:
        cols["BX"] = left * pw
        cols["BY"] = _cal_y(top.astype(np.float64), ph, image_height, invert)  # ImageStatistics.roiY
        cols["Width"] = width * pw
        cols["Height"] = height * ph
    if "fit" in keys:
        cols["Major"] = major
        cols["Minor"] = minor
        cols["Angle"] = angle
    if "shape" in keys:
        with np.errstate(divide="ignore", invalid="ignore"):
            circ = np.where(perim == 0.0, 0.0, 4.0 * math.pi * (area / (perim * perim)))
            circ = np.minimum(circ, 1.0)
            if maxc > 1.0:
                # ParticleAnalyzer.saveResults: uncapped value (pixel count, perimeter
                # of the ROI as measured) when the filter allows circularity > 1
                c2 = np.where(perim == 0.0, 0.0, 4.0 * math.pi * (n / (perim * perim)))
                circ = np.where(circ == 1.0, c2, circ)
        cols["Circ."] = circ
    hull = None
    if "feret's" in keys or "shape" in keys:
        hull = M.convex_hulls(outl.x, outl.y, outl.offsets)
    if "feret's" in keys:
        feret, fangle, minferet, fx, fy = M.feret_values(*hull, pw=opw, ph=oph)
        cols["Feret"] = feret
    if "integrated" in keys:
        cols["IntDen"] = area * mean
    if "median" in keys:
        cols["Median"] = hs["median"][lab_idx]
    if "skewness" in keys or "kurtosis" in keys:
        s3 = hs["sum3"][lab_idx]
        s4 = hs["sum4"][lab_idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            mean2 = mean * mean
            variance = sum2 / n - mean2
            sdev = np.sqrt(variance)
            skew = ((s3 - 3.0 * mean * sum2) / n + 2.0 * mean * mean2) / (variance * sdev)
            kurt = (((s4 - 4.0 * mean * s3 + 6.0 * mean2 * sum2) / n - 3.0 * mean2 * mean2)
                    / (variance * variance) - 3.0)
        if "skewness" in keys:
            cols["Skew"] = skew
        if "kurtosis" in keys:
            cols["Kurt"] = kurt
    if "area_fraction" in keys:
        hl, hv, hc = s["hl"], s["hv"], s["hc"]
        if threshold is None:
            inr = hv != 0
        else:
            t1 = int(math.floor(threshold[0] + 0.5))
            t2 = int(math.floor(threshold[1] + 0.5))
            inr = (hv >= t1) & (hv <= t2)
        num = np.bincount(hl[inr], hc[inr], minlength=nlab)[lab_idx]
        cols["%Area"] = num * 100.0 / n
    if "integrated" in keys:
        cols["RawIntDen"] = n * mean
    if "feret's" in keys:
        cols["FeretX"] = fx
        cols["FeretY"] = fy
        cols["FeretAngle"] = fangle
        cols["MinFeret"] = minferet
    if "shape" in keys:
        hx, hy, hoff = hull
        carea = M.polygon_area(hx, hy, hoff)
        with np.errstate(divide="ignore", invalid="ignore"):
            cols["AR"] = major / minor
            cols["Round"] = 4.0 * area / (math.pi * major * major)
            cols["Solidity"] = n / carea
    return cols


# --------------------------------------------------------------------------- conversions

def labels_to_rois(labels):
    """ImageJ traced outlines (``roifile.ImagejRoi``, type *traced*) of a label image.

    Every 8-connected piece of every non-zero label gets the outline ImageJ's Wand
    would trace for it (``setThreshold(k, k)`` then Analyze Particles with
    *include holes*).  ROIs are ordered by label value, pieces of one label in
    scan order; names follow the ROI Manager's ``nnnn-yyyy`` convention (``nnnn``
    the ROI's 1-based position).  :func:`labels_to_rois_with_values` also returns
    the label value of each ROI.

    Parameters
    ----------
    labels : numpy.ndarray
        A 2-D integer label image; 0 is background.

    Returns
    -------
    list of roifile.ImagejRoi

    Raises
    ------
    ValueError
        ``labels`` is not a 2-D integer array.
    """
    rois, _ = labels_to_rois_with_values(labels)
    return rois


def labels_to_rois_with_values(labels):
    """Like :func:`labels_to_rois`, also returning the label value of each ROI.

    Parameters
    ----------
    labels : numpy.ndarray
        A 2-D integer label image; 0 is background.

    Returns
    -------
    rois : list of roifile.ImagejRoi
        As :func:`labels_to_rois` returns them.
    values : list of int
        The label value of each ROI.

    Raises
    ------
    ValueError
        ``labels`` is not a 2-D integer array.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError("labels must be 2-D")
    h, w = labels.shape
    if labels.dtype.kind not in "ui":
        raise ValueError("labels must be an integer array")
    objs = ndi.find_objects(labels)
    xs, ys, offs, vals = [], [], [0], []
    for k, sl in enumerate(objs, start=1):
        if sl is None:
            continue
        y0, x0 = sl[0].start, sl[1].start
        crop = labels[sl] == k
        lab, nl = ndi.label(crop, np.ones((3, 3), bool))
        if nl == 0:
            continue
        idx = np.flatnonzero(lab.ravel())
        ll = lab.ravel()[idx]
        firstp = np.full(nl + 1, np.iinfo(np.int64).max, np.int64)
        firstp[ll[::-1]] = idx[::-1]
        firstp = np.sort(firstp[1:])
        fy, fx = np.divmod(firstp, crop.shape[1])
        o = trace_outlines(crop, fx, fy)
        xs.append(o.x.astype(np.int64) + x0)
        ys.append(o.y.astype(np.int64) + y0)
        offs.extend((o.offsets[1:] + offs[-1]).tolist())
        vals.extend([k] * len(o))
    if not vals:
        return [], []
    outl = Outlines(np.concatenate(xs), np.concatenate(ys), np.asarray(offs, np.int64))
    top = np.array([outl.polygon(i)[:, 1].min() for i in range(len(outl))])
    bottom = np.array([outl.polygon(i)[:, 1].max() for i in range(len(outl))])
    names = _roi_names(np.arange(1, len(outl) + 1), top + (bottom - top) // 2, h)
    return _make_rois(outl, names), vals


def rois_to_labels(rois: Sequence, shape, dtype=np.uint16):
    """A label image from polygon ROIs.

    Pixel (x, y) gets the 1-based index of the last ROI whose outline contains
    its centre (x + 0.5, y + 0.5) -- ImageJ's rule for filling polygon
    selections (``PolygonFiller``) and for Count Masks.

    The inverse of :func:`labels_to_rois` for labels whose pieces have no holes
    (a traced outline encloses its holes) and no piece nested in another.

    Parameters
    ----------
    rois : sequence of roifile.ImagejRoi
        Polygon or traced ROIs (anything with ``coordinates()``: an (n, 2)
        array of x, y), in image coordinates.
    shape : tuple of int
        The label image's (height, width); outlines are clipped to it.
    dtype : numpy dtype
        The label image's type; it must hold ``len(rois)``.

    Returns
    -------
    numpy.ndarray
        0 outside every ROI.
    """
    from skimage.draw import polygon as _poly
    out = np.zeros(shape, dtype)
    for i, roi in enumerate(rois, start=1):
        c = np.asarray(roi.coordinates(), np.float64)
        if len(c) == 0:
            continue
        rr, cc = _poly(c[:, 1] - 0.5, c[:, 0] - 0.5, shape)
        out[rr, cc] = i
    return out
