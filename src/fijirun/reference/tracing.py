"""Outline tracing as ImageJ's ``Wand`` does it for Analyze Particles.

ImageJ 1.x (``ij.gui.Wand.autoOutline`` in legacy, thresholded mode, as called by
``ij.plugin.filter.ParticleAnalyzer``) traces the outer boundary of an
8-connected particle along the pixel edges ("cracks").  Starting from the first
pixel of the particle in raster order it walks to the right end of that pixel run
and follows the boundary with the outside on the left-hand side, always trying to
turn left first (8-connectivity).  A vertex is recorded only where the walking
direction changes, so the polygon consists of corner points only.

This module reproduces that walk for *all* particles of an image at once, without
a per-pixel Python loop:

1. every lattice vertex gets a 4-bit code from its 4 neighbouring pixels;
2. vertices where the Wand turns ("corners") become graph nodes -- one node per
   pass, i.e. two at diagonal (saddle) vertices;
3. the successor of a node is the next corner along its outgoing direction (the
   next corner in the same vertex row, or column, found from sorted lists);
4. each particle's cycle is cut just before the Wand's start node and the
   position of every node in its polygon is found by pointer jumping
   (list ranking), then nodes are scattered into one concatenated vertex array.
"""
from __future__ import annotations

import numpy as np

__all__ = ["trace_outlines", "Outlines"]

# Directions (as in Wand.java): 0 = +x, 1 = -y, 2 = -x, 3 = +y.
# Pixel in direction k of vertex (x, y): 0 -> (x, y), 1 -> (x, y-1), 2 -> (x-1, y-1), 3 -> (x-1, y).
# The vertex code has bit k set when that pixel is inside.


def _tables():
    valid = np.zeros((16, 4), bool)
    out = np.full((16, 4), -1, np.int64)
    for c in range(16):
        def bit(k, c=c):
            return (c >> (k & 3)) & 1
        for d in range(4):
            # incoming direction d: behind-right pixel (d-1) inside, behind-left (d+2) outside
            if bit(d - 1) and not bit(d + 2):
                valid[c, d] = True
                if bit(d + 1):
                    out[c, d] = (d + 1) & 3
                elif bit(d):
                    out[c, d] = d
                else:
                    out[c, d] = (d - 1) & 3
    turn = valid & (out != np.arange(4))
    is_corner = turn.any(1)
    nnodes = turn.sum(1).astype(np.int64)
    slot = np.cumsum(turn, 1) - 1
    slot[~turn] = -1
    # s-th turning incoming direction of code c
    din = np.full((16, 2), -1, np.int64)
    for c in range(16):
        ds = np.flatnonzero(turn[c])
        din[c, : len(ds)] = ds
    return is_corner, nnodes, slot, din, out


_IS_CORNER, _NNODES, _SLOT, _DIN, _OUT = _tables()
_SLOT8, _DIN8, _OUT8 = _SLOT.astype(np.int8), _DIN.astype(np.int8), _OUT.astype(np.int8)


class Outlines:
    """Concatenated polygons: vertices ``x[offsets[i]:offsets[i+1]]`` belong to particle i.

    Attributes
    ----------
    x, y : numpy.ndarray of int
        The vertices of every polygon, one after the other, in pixel-corner
        coordinates (vertex (x, y) is the top-left corner of pixel (x, y)).
    offsets : numpy.ndarray of int64
        ``len(self) + 1`` indices into ``x`` and ``y``: polygon i is
        ``offsets[i]:offsets[i + 1]``.
    """

    def __init__(self, x, y, offsets):
        self.x = x
        self.y = y
        self.offsets = offsets

    def __len__(self):
        return len(self.offsets) - 1

    def polygon(self, i):
        """The vertices of one polygon.

        Parameters
        ----------
        i : int
            The polygon's (particle's) index, from 0.

        Returns
        -------
        numpy.ndarray
            An (n, 2) array of (x, y) vertices.
        """
        s, e = self.offsets[i], self.offsets[i + 1]
        return np.stack([self.x[s:e], self.y[s:e]], axis=1)

    @property
    def counts(self):
        """The number of vertices of each polygon."""
        return np.diff(self.offsets)

    @property
    def group(self):
        """Particle index of every vertex."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.counts)


def _corners(fg, rows=128):
    """Raster indices (in the (H+1, W+1) vertex lattice) and uint8 codes of the corner vertices.

    Computed in stripes of ``rows`` rows (no temporaries of image size).

    A vertex is not a corner when its 4 pixels are equal in pairs along one
    axis (codes 0, 3, 6, 9, 12, 15), so corner = (dv(x) | dv(x-1)) & (dh(y) | dh(y-1))
    with dv(x) = f(x, y) ^ f(x, y-1) and dh(y) = f(x, y) ^ f(x-1, y); the codes
    are then gathered at the corners only.
    """
    h, w = fg.shape
    w1, w2 = w + 1, w + 2
    pi, pc = [], []
    for r0 in range(0, h + 1, rows):
        r1 = min(h + 1, r0 + rows)
        # padded pixel rows r0-1 .. r1-1 (row -1 and row h are outside: 0)
        P = np.zeros((r1 - r0 + 1, w2), bool)
        a, b = max(r0 - 1, 0), min(r1, h)
        P[a - (r0 - 1):b - (r0 - 1), 1:-1] = fg[a:b]
        dv = P[1:] != P[:-1]                  # dv[y, x+1] = f(x, y) ^ f(x, y-1)
        dh = P[:, 1:] != P[:, :-1]            # dh[y+1, x] = f(x, y) ^ f(x-1, y)
        cm = dv[:, 1:] | dv[:, :-1]
        cm &= dh[1:] | dh[:-1]
        ci = np.flatnonzero(cm)
        if len(ci) == 0:
            continue
        yy, xx = np.divmod(ci, w1)
        base = (yy + 1) * w2 + (xx + 1)       # pixel (x, y) in P
        Pf = P.view(np.uint8).ravel()
        code = Pf[base]                                       # SE = pixel (x, y)
        code |= Pf[base - w2] << 1                            # NE = pixel (x, y-1)
        code |= Pf[base - w2 - 1] << 2                        # NW = pixel (x-1, y-1)
        code |= Pf[base - 1] << 3                             # SW = pixel (x-1, y)
        pi.append(ci + r0 * w1)
        pc.append(code)
    if not pi:
        return np.zeros(0, np.int64), np.zeros(0, np.uint8)
    return np.concatenate(pi), np.concatenate(pc)


def trace_outlines(fg, first_x, first_y):
    """Trace the outer outlines of particles as ImageJ's Wand does (legacy mode, 8-connected).

    Parameters
    ----------
    fg : array-like of bool
        The 2-D foreground (particle) image.
    first_x, first_y : array-like of int
        The first pixel, in raster order, of each particle to trace.

    Returns
    -------
    Outlines
        ImageJ's vertex lists, one polygon per particle in the order given
        (absolute image coordinates, in ImageJ's order and starting point).
    """
    fg = np.asarray(fg, bool)
    h, w = fg.shape
    first_x = np.asarray(first_x, np.int64)
    first_y = np.asarray(first_y, np.int64)
    npart = len(first_x)
    if npart == 0:
        return Outlines(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(1, np.int64))
    w1 = w + 1
    it = np.int32 if (h + 1) * w1 < 2**31 - 1 else np.int64   # index type (memory)
    cidx, ccode = _corners(fg)                    # raster order of vertex (x, y); uint8 codes
    cidx = cidx.astype(it)
    cy = (cidx // w1).astype(np.int32)
    cx = (cidx - cy * it(w1)).astype(np.int32)
    nc = len(cidx)
    # column-major order of corners (stable radix sort on x keeps y ascending)
    keytype = np.uint16 if w1 < 65536 else np.uint32
    perm = np.argsort(cx.astype(keytype), kind="stable").astype(it)
    inv = np.empty(nc, it)
    inv[perm] = np.arange(nc, dtype=it)

    nn = _NNODES[ccode].astype(it)
    base = (np.cumsum(nn, dtype=it) - nn).astype(it)
    nnode = int(nn.sum())
    ncorner = np.repeat(np.arange(nc, dtype=it), nn)
    del nn
    ncode = ccode[ncorner]
    nslot = np.arange(nnode, dtype=it) - base[ncorner]
    ndout = _OUT8[ncode, _DIN8[ncode, nslot]]     # int8
    del nslot, ncode
    # next corner along the outgoing direction
    u = ncorner.copy()
    m = ndout == 0
    u[m] += 1
    m = ndout == 2
    u[m] -= 1
    m = ndout == 3
    u[m] = perm[inv[ncorner[m]] + 1]
    m = ndout == 1
    u[m] = perm[inv[ncorner[m]] - 1]
    del m, inv, perm
    succ = base[u] + _SLOT8[ccode[u], ndout]
    del u, ndout

    # node at the top-left vertex of each particle's first pixel (a single-node corner)
    k0 = np.searchsorted(cidx, first_y * w1 + first_x)
    del cidx
    n0 = base[k0]
    del base
    end = succ[n0]                  # top-right vertex of the first run: last polygon point
    start = succ[end]               # first polygon point (Wand's start vertex or the next corner below)

    # list ranking: distance of each node to its particle's end node
    nxt = succ
    nxt[end] = end
    dist = np.ones(nnode, it)
    dist[end] = 0
    is_end = np.zeros(nnode, bool)
    is_end[end] = True
    steps = 1
    while steps < nnode + 1:
        dist += dist[nxt]
        nxt = nxt[nxt]
        steps *= 2
        # the start node is the farthest from the end: once every start node has
        # reached its end, every node of every traced outline has (hole outlines
        # never reach an end and are ignored)
        if is_end[nxt[start]].all():
            break
    lengths = dist[start].astype(np.int64) + 1
    offsets = np.zeros(npart + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    pid_of_end = np.full(nnode, -1, it)
    pid_of_end[end] = np.arange(npart, dtype=it)
    owner = np.where(is_end[nxt], pid_of_end[nxt], it(-1))
    del pid_of_end, is_end, nxt
    sel = np.flatnonzero(owner >= 0)
    own = owner[sel]
    del owner
    pos = offsets[own] + (lengths[own] - 1 - dist[sel])
    del own, dist
    order = np.empty(offsets[-1], it)
    order[pos] = sel
    del pos, sel
    corner = ncorner[order]
    return Outlines(cx[corner], cy[corner], offsets)
