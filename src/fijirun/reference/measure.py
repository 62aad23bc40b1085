"""ImageJ 1.x measurements, vectorised over all particles.

Each function reproduces one piece of ImageJ 1.53t's arithmetic, in the same
floating-point operations and order where that matters for the printed value:

* pixel statistics -- ``ij.process.ByteStatistics`` / ``ShortStatistics`` /
  ``ImageStatistics`` (area, mean, standard deviation, mode, min/max, centroid,
  centre of mass, median, skewness, kurtosis, area fraction);
* ``ij.process.EllipseFitter`` (Major, Minor, Angle and the centroid used when
  an ellipse is fitted);
* ``ij.gui.PolygonRoi.getTracedPerimeter`` (Perim.);
* ``ij.process.FloatPolygon.getConvexHull`` and ``ij.gui.Roi.getFeretValues``
  (Feret, FeretAngle, MinFeret, FeretX, FeretY) and ``Analyzer.getArea`` (Solidity);
* ``ij.measure.ResultsTable.d2s`` (the printed precision).
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

import numpy as np

__all__ = [
    "traced_perimeter", "convex_hulls", "feret_values", "polygon_area",
    "ellipse_params", "histogram_stats", "format_value", "round_like_imagej",
]

HALFPI = 1.5707963267949      # as in EllipseFitter.java
SQRT_PI = 1.772453851         # as in EllipseFitter.java


# --------------------------------------------------------------------------- polygons

def traced_perimeter(x, y, offsets, pw=1.0, ph=1.0):
    """``PolygonRoi.getTracedPerimeter`` for concatenated traced polygons."""
    n = np.diff(offsets)
    npoly = len(n)
    if npoly == 0:
        return np.zeros(0)
    nv = len(x)
    it = np.int32 if nv < 2**31 - 1 else np.int64
    g = np.repeat(np.arange(npoly, dtype=it), n)
    starts = offsets[:-1]
    # incoming side of every vertex (from the previous vertex, cyclic per polygon)
    x = np.asarray(x, np.int32)
    y = np.asarray(y, np.int32)
    dx = np.empty(nv, np.int32)
    dy = np.empty(nv, np.int32)
    dx[1:] = x[1:] - x[:-1]
    dy[1:] = y[1:] - y[:-1]
    dx[starts] = x[starts] - x[offsets[1:] - 1]
    dy[starts] = y[starts] - y[offsets[1:] - 1]
    np.abs(dx, out=dx)
    np.abs(dy, out=dy)
    sumdx = np.bincount(g, dx, minlength=npoly)
    sumdy = np.bincount(g, dy, minlength=npoly)
    dx += dy
    del dy
    long_ = dx > 1
    del dx
    short = ~long_
    first_v = np.zeros(nv, bool)
    first_v[starts[n > 0]] = True
    # runs of consecutive vertices whose incoming side has length 1 (no wrap-around)
    run_start = short.copy()
    run_start[1:] &= first_v[1:] | long_[:-1]
    nruns = int(run_start.sum())
    run_id = np.cumsum(run_start, dtype=it) - 1
    run_len = np.bincount(run_id[short], minlength=nruns)
    del run_id
    run_first = first_v[run_start]          # run begins at the polygon's first vertex
    run_g = g[run_start]
    # the corner flag alternates along a run; it starts "true" when the run starts
    # the polygon (state corner=false before it), "false" otherwise (the vertex
    # before, with a long side, was a corner)
    run_corners = np.where(run_first, (run_len + 1) // 2, run_len // 2)
    ncorners = np.bincount(g, long_, minlength=npoly) + np.bincount(run_g, run_corners, minlength=npoly)
    per = sumdx * pw + sumdy * ph - (ncorners * ((pw + ph) - math.sqrt(pw * pw + ph * ph)))
    per[n < 4] = 0.0
    return per


def convex_hulls(x, y, offsets, chunk_vertices=65536):
    """Convex hulls as ``FloatPolygon.getConvexHull`` returns them (see :func:`_convex_hulls`).

    Computed in chunks of polygons of about ``chunk_vertices`` vertices, to
    bound memory. Returns (hx, hy, hoffsets).
    """
    npoly = len(offsets) - 1
    if npoly == 0 or offsets[-1] <= chunk_vertices:
        return _convex_hulls(x, y, offsets)
    hx, hy, hn = [], [], []
    s = 0
    while s < npoly:
        e = int(np.searchsorted(offsets, offsets[s] + chunk_vertices, side="right")) - 1
        e = min(max(e, s + 1), npoly)
        a, b = offsets[s], offsets[e]
        cx, cy, co = _convex_hulls(x[a:b], y[a:b], offsets[s:e + 1] - a)
        hx.append(cx)
        hy.append(cy)
        hn.append(np.diff(co))
        s = e
    return (np.concatenate(hx), np.concatenate(hy),
            np.r_[0, np.cumsum(np.concatenate(hn))].astype(np.int64))


def _convex_hulls(x, y, offsets):
    """Convex hulls as ``FloatPolygon.getConvexHull`` returns them for the given polygons.

    Extreme points only, starting at the top-most (then left-most) point and
    going down the left side first.

    Returns (hx, hy, hoffsets).
    """
    n = np.diff(offsets)
    npoly = len(n)
    if len(x) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(npoly + 1, np.int64)
    g = np.repeat(np.arange(npoly, dtype=np.int64), n)
    x = x.astype(np.int64)
    y = y.astype(np.int64)
    ymax = int(y.max()) + 2 if len(y) else 2
    key = g * ymax + y
    order = np.argsort(key, kind="stable")
    ks = key[order]
    xs = x[order]
    brk = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    rowmin = np.minimum.reduceat(xs, brk)
    rowmax = np.maximum.reduceat(xs, brk)
    rowy = y[order][brk]
    rowg = g[order][brk]
    nrow = np.bincount(rowg, minlength=npoly)
    rstart = np.r_[0, np.cumsum(nrow)]
    # closed sequence per polygon: left chain top->bottom, right chain bottom->top
    m = 2 * nrow
    hoff = np.r_[0, np.cumsum(m)]
    tot = int(hoff[-1])
    px = np.empty(tot, np.int64)
    py = np.empty(tot, np.int64)
    pg = np.repeat(np.arange(npoly, dtype=np.int64), m)
    rg = rowg
    local_row = np.arange(len(rowy)) - rstart[rg]
    left_pos = hoff[rg] + local_row
    right_pos = hoff[rg] + 2 * nrow[rg] - 1 - local_row
    px[left_pos] = rowmin
    py[left_pos] = rowy
    px[right_pos] = rowmax
    py[right_pos] = rowy
    # iterative removal of reflex and collinear vertices (y-monotone polygon)
    while True:
        cnt = np.bincount(pg, minlength=npoly)
        off = np.r_[0, np.cumsum(cnt)]
        idx = np.arange(len(px))
        prv = idx - 1
        nxt = idx + 1
        prv[off[:-1][cnt > 0]] = off[1:][cnt > 0] - 1
        nxt[off[1:][cnt > 0] - 1] = off[:-1][cnt > 0]
        ax, ay = px[prv], py[prv]
        cx_, cy_ = px[nxt], py[nxt]
        cross = (px - ax) * (cy_ - py) - (py - ay) * (cx_ - px)
        keep = cross < 0
        if keep.all():
            break
        # never drop the first point (top-left, an extreme point)
        keep[off[:-1][cnt > 0]] = True
        px, py, pg = px[keep], py[keep], pg[keep]
    cnt = np.bincount(pg, minlength=npoly)
    return px, py, np.r_[0, np.cumsum(cnt)].astype(np.int64)


def polygon_area(x, y, offsets):
    """``Analyzer.getArea(Polygon)``: |shoelace| of integer polygons."""
    n = np.diff(offsets)
    npoly = len(n)
    g = np.repeat(np.arange(npoly), n)
    prev = np.arange(len(x)) - 1
    prev[offsets[:-1]] = offsets[1:] - 1
    x = x.astype(np.int64)
    y = y.astype(np.int64)
    terms = (x + x[prev]) * (y - y[prev])
    carea = np.bincount(g, terms, minlength=npoly)
    return np.abs(carea / 2.0)


def feret_values(hx, hy, hoffsets, pw=1.0, ph=1.0, max_pairs=100_000):
    """``Roi.getFeretValues`` from convex hulls: Feret, FeretAngle, MinFeret, FeretX, FeretY arrays.

    Hulls with the same number of points are processed together as (hulls, n, n)
    arrays of all ordered pairs (i, j), in chunks of at most ~max_pairs pairs.
    """
    n = np.diff(hoffsets)
    npoly = len(n)
    feret = np.full(npoly, np.nan)
    angle = np.full(npoly, np.nan)
    minferet = np.full(npoly, np.nan)
    fx = np.full(npoly, np.nan)
    fy = np.full(npoly, np.nan)
    if npoly == 0:
        return feret, angle, minferet, fx, fy
    hxf = hx.astype(np.float64)
    hyf = hy.astype(np.float64)
    starts = np.asarray(hoffsets[:-1], np.int64)
    by_size = np.argsort(n, kind="stable")
    sizes = n[by_size]
    bounds = np.flatnonzero(np.r_[True, sizes[1:] != sizes[:-1], True])
    for b0, b1 in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        k = int(sizes[b0])
        if k == 0:
            continue
        step = max(1, max_pairs // (k * k))
        ar = np.arange(k)
        upper = ar[None, :] > ar[:, None]               # j > i
        prev_local = np.r_[k - 1, ar[:-1]]
        for c0 in range(b0, b1, step):
            gs = by_size[c0:min(b1, c0 + step)]
            idx = starts[gs][:, None] + ar                # (G, k) vertex indices
            X = hxf[idx]
            Y = hyf[idx]
            # --- maximum caliper: first (i<j, i-major) pair with the largest squared distance
            dx = (X[:, :, None] - X[:, None, :]) * pw
            dy = (Y[:, :, None] - Y[:, None, :]) * ph
            d = dx * dx + dy * dy
            d[:, ~upper] = -1.0
            d = d.reshape(len(gs), k * k)
            first = np.argmax(d, axis=1)
            dmax = d[np.arange(len(gs)), first]
            i1, j1 = np.divmod(first, k)
            p1 = idx[np.arange(len(gs)), i1]
            p2 = idx[np.arange(len(gs)), j1]
            swap = hxf[p1] > hxf[p2]
            p1, p2 = np.where(swap, p2, p1), np.where(swap, p1, p2)
            xf1, yf1, xf2, yf2 = hxf[p1], hyf[p1], hxf[p2], hyf[p2]
            a = (180.0 / math.pi) * np.arctan2((yf1 - yf2) * ph, (xf2 - xf1) * pw)
            a = np.where(a < 0.0, a + 180.0, a)
            feret[gs] = np.sqrt(np.maximum(dmax, 0.0))
            angle[gs] = a
            fx[gs] = xf1
            fy[gs] = yf1
            # --- minimum caliper: edges (i-1, i), farthest point j from each edge
            xprev = X[:, prev_local]
            yprev = Y[:, prev_local]
            xnorm = (Y - yprev) * ph
            ynorm = (xprev - X) * pw
            nf = 1 / np.sqrt(xnorm * xnorm + ynorm * ynorm)
            xnorm = xnorm * (nf * pw)
            ynorm = ynorm * (nf * ph)
            dist = ((X[:, None, :] - X[:, :, None]) * xnorm[:, :, None]
                    + (Y[:, None, :] - Y[:, :, None]) * ynorm[:, :, None])
            emax = np.maximum(np.maximum.reduce(dist, axis=2), 0.0)
            minferet[gs] = np.minimum.reduce(emax, axis=1)
    return feret, angle, minferet, fx, fy


# --------------------------------------------------------------------------- ellipse

def ellipse_params(n, xsum, ysum, x2sum, y2sum, xysum, left, top, width, height):
    """``EllipseFitter.getEllipseParam``, vectorised over particles.

    Sums are of pixel coordinates relative to (left, top), exact integers (as
    doubles).  Particles with ``width`` or ``height`` 1 have no mask in ImageJ
    and use the rectangle formulas.

    Returns major, minor, angle, xCenter, yCenter (uncalibrated).
    """
    n = n.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x2sum = x2sum + 0.08333333 * n
        y2sum = y2sum + 0.08333333 * n
        x1 = xsum / n
        y1 = ysum / n
        x2 = x2sum / n
        y2 = y2sum / n
        xy = xysum / n
        u20 = x2 - (x1 * x1)
        u02 = y2 - (y1 * y1)
        u11 = xy - x1 * y1
        m4 = 4.0 * np.abs(u02 * u20 - u11 * u11)
        m4 = np.where(m4 < 0.000001, 0.000001, m4)
        a11 = u02 / m4
        a12 = u11 / m4
        a22 = u20 / m4
        tmp = a11 - a22
        tmp = np.where(tmp == 0.0, 0.000001, tmp)
        theta = 0.5 * np.arctan(2.0 * a12 / tmp)
        theta = np.where(theta < 0.0, theta + HALFPI, theta)
        pos = a12 > 0.0
        zero = a12 == 0.0
        theta = np.where(pos, theta + HALFPI, theta)
        swap = zero & (a22 > a11)
        theta = np.where(swap, 0.0, theta)
        theta = np.where(zero & ~swap & (a11 != a22), HALFPI, theta)
        a11s = np.where(swap, a22, a11)
        a22s = np.where(swap, a11, a22)
        a11, a22 = a11s, a22s
        tmp = np.sin(theta)
        tmp = np.where(tmp == 0.0, 0.000001, tmp)
        z = a12 * np.cos(theta) / tmp
        major = np.sqrt(1.0 / np.abs(a22 + z))
        minor = np.sqrt(1.0 / np.abs(a11 - z))
        scale = np.sqrt(n / (math.pi * major * minor))
        major = major * scale * 2.0
        minor = minor * scale * 2.0
        angle = 180.0 * theta / math.pi
        angle = np.where(angle == 180.0, 0.0, angle)
        sw = major < minor
        major, minor = np.where(sw, minor, major), np.where(sw, major, minor)
        xc = left + x1 + 0.5
        yc = top + y1 + 0.5
    # no mask: rectangle
    rect = (width <= 1) | (height <= 1)
    if rect.any():
        w = width[rect].astype(np.float64)
        h = height[rect].astype(np.float64)
        rmaj = (w * 2) / SQRT_PI
        rmin = (h * 2) / SQRT_PI
        ang = np.zeros(len(w))
        s = rmaj < rmin
        rmaj, rmin = np.where(s, rmin, rmaj), np.where(s, rmaj, rmin)
        ang[s] = 90.0
        major[rect] = rmaj
        minor[rect] = rmin
        angle[rect] = ang
        xc[rect] = left[rect] + w / 2.0
        yc[rect] = top[rect] + h / 2.0
    return major, minor, angle, xc, yc


# --------------------------------------------------------------------------- pixel statistics

def histogram_stats(lab, val, cnt, nlab):
    """Statistics from a sparse per-particle histogram.

    The histogram is given as entries (label 0..nlab-1, value, count), sorted
    by label then value.

    Returns a dict with n, sum, sum2, sum3, sum4, min, max, mode, median arrays
    (ImageJ's histogram conventions: mode = lowest most frequent value, median =
    first value whose cumulative count exceeds n/2).
    """
    lab = np.asarray(lab, np.int64)
    valf = np.asarray(val, np.float64)
    cnt = np.asarray(cnt, np.int64)
    n = np.bincount(lab, cnt, minlength=nlab)
    cf = cnt.astype(np.float64)
    out = {"n": n}
    out["sum"] = np.bincount(lab, valf * cf, minlength=nlab)
    out["sum2"] = np.bincount(lab, (valf * valf) * cf, minlength=nlab)
    out["sum3"] = np.bincount(lab, (valf * valf * valf) * cf, minlength=nlab)
    out["sum4"] = np.bincount(lab, (valf * valf) * (valf * valf) * cf, minlength=nlab)
    if len(lab) == 0:
        z = np.full(nlab, np.nan)
        out.update(min=z, max=z.copy(), mode=z.copy(), median=z.copy())
        return out
    first = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    last = np.r_[first[1:], len(lab)] - 1
    labs = lab[first]
    mn = np.full(nlab, np.nan)
    mx = np.full(nlab, np.nan)
    mn[labs] = valf[first]
    mx[labs] = valf[last]
    # mode: lowest value among the largest counts
    cmax = np.maximum.reduceat(cnt, first)
    gid = np.repeat(np.arange(len(first)), last - first + 1)
    cand = np.flatnonzero(cnt == cmax[gid])
    cfirst = cand[np.r_[True, gid[cand][1:] != gid[cand][:-1]]]
    mode = np.full(nlab, np.nan)
    mode[labs] = valf[cfirst]
    # median: first value with cumulative count > n/2
    cs = np.cumsum(cnt)
    before = np.r_[0, cs[:-1]][first]
    within = cs - before[gid]
    half = n[labs].astype(np.float64) / 2.0
    over = np.flatnonzero(within > half[gid])
    ofirst = over[np.r_[True, gid[over][1:] != gid[over][:-1]]]
    median = np.full(nlab, np.nan)
    median[labs] = valf[ofirst]
    out.update(min=mn, max=mx, mode=mode, median=median)
    return out


# --------------------------------------------------------------------------- printing

def format_value(v, decimals=3):
    """A value as ImageJ prints or saves it in an auto-formatted column (``ResultsTable.d2s``).

    Integers without decimals; non-zero numbers below both 0.001 and
    ``10**-decimals``, and numbers above 999999999999, in scientific notation
    (``1.235E-5``); otherwise ``decimals`` places: half-even on the exact
    binary value, but half-up (away from zero) with 0 decimals, as
    ``ResultsTable.d2s`` sets ``RoundingMode.HALF_UP`` on that format only.

    Parameters
    ----------
    v : float
        The value.
    decimals : int
        The *decimal places* of Set Measurements; negative with *Scientific notation*, as
        ImageJ's ``ResultsTable.setPrecision(-precision)``: every value, integers too, then
        printed as ``4.126E1`` with ``-decimals`` digits after the point (at most 9).

    Returns
    -------
    str
        ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` for those values.
    """
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    if decimals >= 0 and v == int(v) and abs(v) < 2**31:    # ResultsTable.n: integers, unless scientific
        return str(int(v))
    return _d2s(v, decimals)


def _d2s(v, decimals):
    a = abs(v)
    if (decimals >= 0 and a < 0.001 and a != 0.0 and a < 1.0 / 10 ** decimals) or a > 999999999999 \
            or decimals < 0:
        places = min(-decimals, 9) if decimals < 0 else 3
        m = f"{v:.{places}E}"        # DecimalFormat("0.000E0"): half-even on the exact binary value
        if v == int(v) and 0 < a < 2**62:
            # but an integer's digits come from FloatingDecimal's integer path, which flags them
            # neither exact nor rounded: Java's DigitList then rounds a tie up (245 -> 2.5E2)
            m = f"{Decimal(int(v)).normalize(Context(prec=places + 1, rounding=ROUND_HALF_UP)):.{places}E}"
        mant, exp = m.split("E")
        return f"{mant}E{int(exp)}"
    if decimals == 0:
        # ResultsTable.d2s sets RoundingMode.HALF_UP on its "0" format only (2.5 -> 3, -2.5 -> -3);
        # the other formats keep DecimalFormat's HALF_EVEN. Both round the exact binary value.
        s = str(Decimal(v).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    else:
        s = f"{v:.{decimals}f}"
    return s  # a negative value that rounds to 0 keeps its sign ("-0", "-0.00"), as DecimalFormat prints it


def round_like_imagej(values, decimals=3):
    """Round an array the way ImageJ prints it (see :func:`format_value`), as floats.

    Exact for ties: values whose rounding ``numpy.round`` might get wrong go
    through :func:`format_value`.

    Parameters
    ----------
    values : array-like
        Numbers to round.
    decimals : int
        The *decimal places* of Set Measurements.

    Returns
    -------
    numpy.ndarray of float64
        The values ImageJ would print, read back; same shape as ``values``.
    """
    v = np.asarray(values, np.float64)
    if decimals < 0:    # scientific notation: significant digits, not places
        return np.array([float(format_value(x, decimals)) for x in v.ravel()]).reshape(v.shape)
    out = np.round(v, decimals)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.abs(v) * 10 ** decimals
        frac = scaled - np.floor(scaled)
    amb = (np.abs(frac - 0.5) < 1e-6) | ((np.abs(v) < 10.0 ** -decimals) & (v != 0)) | (np.abs(v) > 999999999999)
    amb &= np.isfinite(v)
    for k in np.flatnonzero(amb):
        out.flat[k] = float(format_value(v.flat[k], decimals))
    return out
