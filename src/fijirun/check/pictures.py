"""Pictures of a check, as PNG bytes (matplotlib, Agg backend; colorcet's glasbey).

* :func:`overlay` — the input image with ROI outlines and their numbers;
* :func:`glasbey_labels` — a label mask in glasbey colours (background black);
* :func:`diff_map` — where a saved mask and the reference disagree (red);
* :func:`scatter` — saved value vs reference value, one panel per measurement.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["overlay", "glasbey_labels", "diff_map", "scatter", "make_pictures"]

_MAX_LABELLED = 400  # numbers drawn on at most this many ROIs


def _figure(width=5.0, height=5.0):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _aspect(shape, base=5.0):
    h, w = shape[:2]
    return (base, max(1.5, base * h / max(w, 1))) if w >= h else (max(1.5, base * w / max(h, 1)), base)


def _glasbey_cmap(n):
    import colorcet
    from matplotlib.colors import ListedColormap

    colours = list(colorcet.glasbey)
    reps = n // len(colours) + 1
    return ListedColormap(["#000000"] + (colours * reps)[:max(n, 1)])


def overlay(image, rois, title="ROIs"):
    """The input with ROI outlines (yellow) and numbers; PNG bytes."""
    img = np.asarray(image)
    fig = _figure(*_aspect(img.shape))
    ax = fig.add_subplot()
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    from matplotlib.collections import PolyCollection

    polys = [np.asarray(r.coordinates(), float) - 0.5 for r in rois if len(r.coordinates())]
    ax.add_collection(PolyCollection(polys, facecolors="none", edgecolors="#ffd400", linewidths=0.8))
    if len(rois) <= _MAX_LABELLED:
        for k, p in enumerate(polys, start=1):
            ax.text(p[:, 0].mean(), p[:, 1].mean(), str(k), color="#00e5ff", fontsize=7,
                    ha="center", va="center")
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return _png(fig)


def glasbey_labels(labels, title="label mask"):
    """A label image in glasbey colours (0 black); PNG bytes."""
    lab = np.asarray(labels)
    n = int(lab.max()) if lab.size else 0
    fig = _figure(*_aspect(lab.shape))
    ax = fig.add_subplot()
    ax.imshow(lab, cmap=_glasbey_cmap(n), vmin=0, vmax=max(n, 1), interpolation="nearest")
    ax.set_title(f"{title} ({n} labels)", fontsize=9)
    ax.set_axis_off()
    return _png(fig)


def diff_map(saved, reference, diff=None, title="saved vs reference"):
    """Particles of the reference in grey, disagreeing pixels in red; PNG bytes."""
    ref = np.asarray(reference)
    if diff is None:
        diff = np.asarray(saved).astype(np.int64) != ref.astype(np.int64)
    rgb = np.zeros(ref.shape + (3,), np.uint8)
    rgb[ref > 0] = (110, 110, 110)
    rgb[diff] = (255, 30, 30)
    fig = _figure(*_aspect(ref.shape))
    ax = fig.add_subplot()
    ax.imshow(rgb, interpolation="nearest")
    n = int(np.count_nonzero(diff))
    ax.set_title(f"{title}: {n} pixel{'s' if n != 1 else ''} differ", fontsize=9)
    ax.set_axis_off()
    return _png(fig)


def scatter(pairs, title="saved vs reference"):
    """One panel per measurement: saved (y) against reference (x); PNG bytes.

    ``pairs``: column → (saved values, reference values).
    """
    cols = [c for c, (a, b) in pairs.items() if len(a)]
    n = max(len(cols), 1)
    ncol = min(4, n)
    nrow = (n + ncol - 1) // ncol
    fig = _figure(2.6 * ncol, 2.4 * nrow)
    for k, c in enumerate(cols):
        saved, ref = (np.asarray(v, float) for v in pairs[c])
        ax = fig.add_subplot(nrow, ncol, k + 1)
        bad = ~np.isclose(saved, ref, rtol=0, atol=1e-9, equal_nan=True)
        ax.scatter(ref[~bad], saved[~bad], s=8, color="#1f77b4")
        ax.scatter(ref[bad], saved[bad], s=14, color="#d62728")
        finite = np.concatenate([saved[np.isfinite(saved)], ref[np.isfinite(ref)]])
        if finite.size:
            lo, hi = finite.min(), finite.max()
            ax.plot([lo, hi], [lo, hi], color="#999999", linewidth=0.7)
        ax.set_title(f"{c}" + (f" ({int(bad.sum())} differ)" if bad.any() else ""), fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xlabel("reference", fontsize=6)
        ax.set_ylabel("file", fontsize=6)
    if not cols:
        fig.add_subplot().text(0.5, 0.5, "no matched rows", ha="center")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _png(fig)


def make_pictures(report):
    """Fill ``pictures`` of every output of a report (and return the report)."""
    ref = report.reference
    image = report.image
    for o in report.outputs:
        if o.pictures:
            continue
        if o.kind == "rois" and "rois" in o.data:
            if image is not None and image.ndim >= 2:
                o.pictures["input with ROI outlines"] = overlay(image, o.data["rois"], f"{o.path} on the input")
            elif ref is not None:
                o.pictures["ROI outlines"] = overlay(ref.count_mask > 0, o.data["rois"], o.path)
        elif o.kind == "mask" and "saved" in o.data:
            saved = o.data["saved"]
            if saved.ndim == 2 and saved.size and saved.max() > 65535:  # RGB colour codes
                saved = np.unique(saved, return_inverse=True)[1].reshape(saved.shape)
            if saved.ndim == 2:
                o.pictures["label mask (glasbey)"] = glasbey_labels(saved, o.path)
            if ref is not None and o.data.get("diff") is not None:
                o.pictures["diff map"] = diff_map(saved, ref.count_mask, o.data["diff"], o.path)
        elif o.kind == "table" and o.data.get("scatter"):
            o.pictures["file vs reference"] = scatter(o.data["scatter"], o.path)
    if ref is not None and image is not None and image.ndim == 2:
        report.pictures = {"reference on the input": overlay(image, ref.rois, "reference ROIs on the input"),
                           "reference label mask": glasbey_labels(ref.count_mask, "reference Count Masks")}
    return report
