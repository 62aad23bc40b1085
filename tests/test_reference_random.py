"""The reference against ImageJ on random images generated with hypothesis.

Deterministic (``derandomize=True``, no example database) so CI is
reproducible; about 560 examples in all.  Every example is one Analyze
Particles run in ImageJ (through the engine) compared with the reference:
count masks pixel-identical, ROI vertex lists and names identical, every
measurement equal at ImageJ's printed precision.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage as ndi

from test_reference_oracle import ALL_KEYS, Case, differences, run_imagej


def _settings(n):
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


shapes = st.tuples(st.integers(1, 48), st.integers(1, 48))
seeds = st.integers(0, 2**32 - 1)


@st.composite
def options(draw):
    """Analyze Particles options: filters, edges, holes, calibration."""
    opts = {}
    opts["include_holes"] = draw(st.booleans())
    opts["exclude_edges"] = draw(st.booleans())
    if draw(st.booleans()):
        lo = draw(st.sampled_from([0, 1, 2, 3, 5, 10]))
        hi = draw(st.sampled_from([math.inf, 4, 20, 100]))
        opts["size"] = (lo, hi)
    if draw(st.integers(0, 3)) == 0:
        opts["circularity"] = (draw(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7])), 1.0)
    if draw(st.booleans()):
        pw = draw(st.sampled_from([0.5, 0.25, 2.0, 1.5, 0.1]))
        ph = pw if draw(st.booleans()) else draw(st.sampled_from([0.5, 1.0, 0.3]))
        opts["calibration"] = (pw, ph, "um")
        opts["pixel_units"] = draw(st.booleans())
    return opts


def _binary(fg):
    return np.where(fg, 255, 0).astype(np.uint8)


def _check(ij_session, case):
    ij = run_imagej(ij_session, [case])[0]
    res = case.reference()
    assert differences(ij, res) == []


# --------------------------------------------------------------------------- strategies

@given(shape=shapes, seed=seeds, sigma=st.floats(0.5, 3.0), frac=st.floats(0.3, 0.7), opts=options())
@_settings(120)
def test_blobs(ij_session, shape, seed, sigma, frac, opts):
    """Smooth random blobs: holes, touching edges, various sizes."""
    rng = np.random.default_rng(seed)
    g = ndi.gaussian_filter(rng.random(shape), sigma, mode="reflect")
    fg = g > np.quantile(g, frac)
    _check(ij_session, Case(_binary(fg), **opts))


@given(shape=shapes, seed=seeds, density=st.floats(0.02, 0.7), opts=options(),
       black=st.booleans())
@_settings(120)
def test_sparse_pixels(ij_session, shape, seed, density, opts, black):
    """Random pixels: 1-pixel particles, diagonal-only connections, saddles,
    particles on every edge; also the white-background convention (foreground 0)."""
    rng = np.random.default_rng(seed)
    fg = rng.random(shape) < density
    img = _binary(fg) if black else _binary(~fg)
    _check(ij_session, Case(img, black_background=black, **opts))


@given(seed=seeds, n=st.integers(1, 6), opts=options())
@_settings(100)
def test_holes_and_nested_particles(ij_session, seed, n, opts):
    """Rings (4- and 8-connected walls) with particles inside their holes, nested twice."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(12, 50)), int(rng.integers(12, 50))
    fg = np.zeros((h, w), bool)
    for _ in range(n):
        y0, x0 = int(rng.integers(-2, h - 3)), int(rng.integers(-2, w - 3))
        hh, ww = int(rng.integers(5, 20)), int(rng.integers(5, 20))
        t = int(rng.integers(1, 3))
        ring = np.zeros((hh, ww), bool)
        ring[:t], ring[-t:], ring[:, :t], ring[:, -t:] = True, True, True, True
        if rng.random() < 0.3:           # diagonal-only wall: a diamond outline
            yy, xx = np.mgrid[:hh, :ww]
            c = min(hh, ww) // 2
            ring = np.abs(yy - c) + np.abs(xx - c) == c
        inner = np.zeros_like(ring)
        if hh > 2 * t + 2 and ww > 2 * t + 2:
            iy, ix = int(rng.integers(t + 1, hh - t - 1)), int(rng.integers(t + 1, ww - t - 1))
            inner[iy:iy + int(rng.integers(1, 3)), ix:ix + int(rng.integers(1, 3))] = True
            inner &= ~ring
        ys, xs = slice(max(y0, 0), min(y0 + hh, h)), slice(max(x0, 0), min(x0 + ww, w))
        sub = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
        fg[ys, xs] ^= (ring | inner)[sub]
    _check(ij_session, Case(_binary(fg), **opts))


@given(seed=seeds, n=st.integers(1, 12), opts=options())
@_settings(100)
def test_thin_lines(ij_session, seed, n, opts):
    """1-pixel lines: horizontal, vertical, diagonal, crossing, at the borders."""
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(3, 40)), int(rng.integers(3, 40))
    fg = np.zeros((h, w), bool)
    for _ in range(n):
        kind = int(rng.integers(0, 4))
        y, x, L = int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(1, 30))
        if kind == 0:
            fg[y, x:x + L] = True
        elif kind == 1:
            fg[y:y + L, x] = True
        else:
            step = 1 if kind == 2 else -1
            for k in range(L):
                yy, xx = y + k, x + step * k
                if 0 <= yy < h and 0 <= xx < w:
                    fg[yy, xx] = True
    _check(ij_session, Case(_binary(fg), **opts))


@given(shape=shapes, seed=seeds, sigma=st.floats(0.0, 2.5), bits=st.sampled_from([8, 16]),
       lo=st.floats(0.0, 0.8), width=st.floats(0.05, 1.0), opts=options())
@_settings(100)
def test_grey_with_threshold(ij_session, shape, seed, sigma, bits, lo, width, opts):
    """Grey 8- and 16-bit images analysed after setThreshold, intensities measured."""
    rng = np.random.default_rng(seed)
    top = 255 if bits == 8 else int(rng.choice([1000, 4095, 65535]))
    g = rng.random(shape)
    if sigma > 0:
        g = ndi.gaussian_filter(g, sigma)
        g = (g - g.min()) / (np.ptp(g) or 1.0)
    img = np.round(g * top).astype(np.uint8 if bits == 8 else np.uint16)
    t1 = int(lo * top)
    t2 = min(top if bits == 8 else 65535, int(t1 + width * top))
    _check(ij_session, Case(img, threshold=(t1, t2), **opts))


@given(shape=shapes, seed=seeds,
       keys=st.lists(st.sampled_from(ALL_KEYS.split()), min_size=1, max_size=6, unique=True),
       grey=st.booleans(), opts=options())
@_settings(60)
def test_measurement_subsets(ij_session, shape, seed, keys, grey, opts):
    """Column subsets (order, and the centroid computed without an ellipse fit)."""
    rng = np.random.default_rng(seed)
    g = ndi.gaussian_filter(rng.random(shape), 1.0)
    if grey:
        img = np.round((g - g.min()) / (np.ptp(g) or 1.0) * 255).astype(np.uint8)
        case = Case(img, threshold=(100, 255), keys=" ".join(keys), **opts)
    else:
        case = Case(_binary(g > np.median(g)), keys=" ".join(keys), **opts)
    _check(ij_session, case)
