"""Comparing an activity's run with its baseline: what changed, not only what crashed.

A baseline is an earlier ``fijirun regress`` output folder. For an activity
that ran to the end in both, :func:`compare_runs` compares what each run
saved (``run.json`` ``outputs``) and what it left in ImageJ (``run.state``,
:mod:`fijirun.backends.final_state`):

* tables cell by cell as printed (ImageJ's printed precision is the
  precision a course reads);
* ROI sets ROI by ROI: type, name and vertices;
* label masks pixel-exact up to renumbering (a label mask's numbers are
  arbitrary, its regions are not); other images exactly when integer,
  within a tolerance when float;
* the Log line by line after sanitizing what changes from run to run
  (times, paths, memory, dates, and the course's own patterns).

Each difference is one readable line naming the image, table cell or Log
line; a picture of a changed image's differing pixels goes to
``pictures`` when given.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..outputs import output_kind, sha256, table_delimiter

# numpy is imported by the functions that compare ROIs and pixels, not here: every
# ``import fijirun`` (a one-shot ``fijirun run`` too) loads this module.

__all__ = ["BaselineError", "Tolerance", "DEFAULT_SANITIZERS", "compare_runs", "sanitize_log"]

#: Log patterns that differ between identical runs: replaced before comparing.
DEFAULT_SANITIZERS = (
    (r"\b\d+(?:\.\d+)?\s*(?:ms|msec|sec|secs|seconds?|s)\b", "<time>"),
    (r"\b\d+(?:\.\d+)?\s*(?:[KMG]B|[KMG]iB|bytes)\b", "<memory>"),
    (r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\b", "<date>"),
    (r"\b\d{1,2}:\d{2}(?::\d{2})?\b", "<clock>"),
    (r"(?:/tmp|/var/tmp|/private/var)/[^\s'\"]*", "<tmp>"),
    (r"\.fijirun-staging-[0-9a-f]+", ".fijirun-staging-X"),
)
_MAX_LISTED = 5  # differences listed per file before "and N more"


class BaselineError(ValueError):
    """A baseline folder that cannot be used (the message names it)."""


@dataclass(frozen=True)
class Tolerance:
    """How close float pixels must be to count as unchanged (``numpy.isclose``)."""

    rtol: float = 0.0
    atol: float = 0.0


@dataclass
class _Context:
    tolerance: Tolerance
    sanitizers: list = field(default_factory=list)  # (compiled pattern, replacement)
    pictures: Path | None = None
    name: str = ""  # the activity's folder name, for picture file names


def sanitize_log(text, sanitizers=(), roots=()):
    """The Log's lines with run-to-run noise replaced (paths of ``roots`` first).

    Parameters
    ----------
    text : str
        The Log.
    sanitizers : sequence of (str or re.Pattern, str)
        Extra patterns and replacements, applied after the defaults.
    roots : sequence of path-like
        Folders whose paths become ``<out>`` (the run's own output folder).

    Returns
    -------
    list of str
    """
    out = []
    patterns = [(re.compile(p) if isinstance(p, str) else p, r)
                for p, r in list(DEFAULT_SANITIZERS) + list(sanitizers)]
    for line in text.splitlines():
        for root in roots:
            if root:
                line = line.replace(str(root), "<out>")
        for pattern, replacement in patterns:
            line = pattern.sub(replacement, line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    return out


def _load_record(folder):
    try:
        with open(Path(folder) / "run.json", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _listed(items, what):
    items = list(items)
    if len(items) <= _MAX_LISTED:
        return items
    return items[:_MAX_LISTED] + [f"{what}: and {len(items) - _MAX_LISTED} more"]


# ------------------------------------------------------------------ tables
def _read_cells(path):
    """Header and rows of a table file as printed (strings), delimiter as ImageJ wrote it."""
    text = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    if not text:
        return [], []
    import csv

    rows = list(csv.reader(text, delimiter=table_delimiter(text[0])))
    return rows[0], rows[1:]


def _compare_table(old, new, label):
    oh, orows = _read_cells(old)
    nh, nrows = _read_cells(new)
    diffs = []
    if oh != nh:
        gone = [c for c in oh if c not in nh]
        added = [c for c in nh if c not in oh]
        what = []
        if gone:
            what.append("columns gone: " + ", ".join(gone))
        if added:
            what.append("new columns: " + ", ".join(added))
        diffs.append(f"{label}: " + ("; ".join(what) or f"columns reordered: {', '.join(nh)}"))
    if len(orows) != len(nrows):
        diffs.append(f"{label}: {len(orows)} rows -> {len(nrows)}")
    cells = []
    common = [(c, oh.index(c), nh.index(c)) for c in oh if c in nh]  # column, old and new position
    for i, (orow, nrow) in enumerate(zip(orows, nrows), start=1):
        for c, oi, ni in common:
            a = orow[oi] if oi < len(orow) else ""
            b = nrow[ni] if ni < len(nrow) else ""
            if a != b:
                cells.append(f"{label} row {i}, column {c.strip() or '(row)'}: {a} -> {b}")
    return diffs + _listed(cells, f"{label} cells")


# ------------------------------------------------------------------ ROI sets
def _read_rois(path):
    import roifile

    rois = roifile.roiread(str(path))
    return rois if isinstance(rois, list) else [rois]


def _roi_points(roi):
    import numpy as np

    try:
        coords = roi.coordinates()
    except Exception:  # noqa: BLE001 - a shape without vertices: its bounds stand for it
        coords = None
    if coords is None or len(coords) == 0:
        return np.array([[roi.left, roi.top], [roi.right, roi.bottom]], float)
    return np.asarray(coords, float).reshape(-1, 2)


def _compare_rois(old, new, label):
    import numpy as np

    a, b = _read_rois(old), _read_rois(new)
    diffs = []
    if len(a) != len(b):
        diffs.append(f"{label}: {len(a)} ROIs -> {len(b)}")
    each = []
    for i, (ra, rb) in enumerate(zip(a, b), start=1):
        name = ra.name or rb.name or ""
        where = f"{label} ROI {i}" + (f" '{name}'" if name else "")
        if ra.roitype != rb.roitype:
            each.append(f"{where}: type {ra.roitype.name} -> {rb.roitype.name}")
            continue
        if (ra.name or "") != (rb.name or ""):
            each.append(f"{where}: name -> '{rb.name}'")
        pa, pb = _roi_points(ra), _roi_points(rb)
        if pa.shape != pb.shape:
            each.append(f"{where}: {len(pa)} vertices -> {len(pb)}")
        elif not np.array_equal(pa, pb):
            shift = float(np.abs(pa - pb).max())
            each.append(f"{where}: vertices moved (up to {shift:g} px)")
    return diffs + _listed(each, f"{label} ROIs")


# ------------------------------------------------------------------ images
def _read_pixels(path):
    import numpy as np

    from ..outputs import read_image

    return np.asarray(read_image(path))


def _canonical_labels(labels):
    """Labels renumbered 1, 2, ... in order of first appearance (raster order)."""
    import numpy as np

    flat = labels.ravel()
    values, first = np.unique(flat, return_index=True)
    order = np.argsort(first)
    mapping = np.zeros(len(values), np.int64)
    rank = 0
    for idx in order:
        if values[idx] == 0:
            continue
        rank += 1
        mapping[idx] = rank
    inverse = np.searchsorted(values, flat)
    return mapping[inverse].reshape(labels.shape)


def _looks_like_labels(a, b):
    return (a.dtype.kind in "ui" and b.dtype.kind in "ui" and a.ndim == 2
            and int(a.max(initial=0)) > 1 and int(b.max(initial=0)) > 1)


def _plane(arr):
    """A 2-D view for a picture: the first plane of a stack, RGB averaged."""
    import numpy as np

    a = np.asarray(arr)
    if a.ndim >= 3 and a.shape[-1] == 3:
        a = a.mean(-1)
    while a.ndim > 2:
        a = a[0]
    return a.astype(np.float64)


def _difference_picture(ctx, label, mask, old, new):
    """Baseline | this run | differing pixels (red), side by side, as one PNG; its name in a note."""
    import numpy as np

    if ctx.pictures is None:
        return ""
    name = re.sub(r"[^\w.-]+", "_", f"{ctx.name}__{label}") + ".diff.png"
    a, b = _plane(old), _plane(new)
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0

    def grey(x):
        g = np.nan_to_num((x - lo) * scale).clip(0, 255).astype(np.uint8)
        return np.stack([g, g, g], -1)

    m = mask
    if m.ndim >= 3 and m.shape[-1] == 3:  # RGB: a pixel differs when a channel does
        m = m.any(-1)
    if m.ndim > 2:  # a stack: where any plane differs
        m = m.reshape((-1,) + m.shape[-2:]).any(0)
    red = np.zeros(m.shape + (3,), np.uint8)
    red[..., 0] = np.where(m, 255, 40)
    gap = np.full((m.shape[0], 4, 3), 255, np.uint8)
    from .pictures import write_picture

    try:
        write_picture(ctx.pictures / name, np.concatenate([grey(a), gap, grey(b), gap, red], axis=1))
    except OSError:  # a person's file in its place (kept), or no folder to write it in
        return ""
    return f" (picture {name})"


def _compare_pixels(a, b, label, ctx, labels_ok=True):
    import numpy as np

    if a.shape != b.shape:
        return [f"{label}: shape {a.shape} -> {b.shape}"]
    if a.dtype != b.dtype:
        return [f"{label}: pixel type {a.dtype} -> {b.dtype}"]
    if labels_ok and _looks_like_labels(a, b):
        ca, cb = _canonical_labels(a), _canonical_labels(b)
        if np.array_equal(ca, cb):
            return []
        mask = ca != cb
        return [f"{label}: label mask differs beyond renumbering: {int(mask.sum())} pixels, "
                f"{len(np.unique(ca)) - 1} labels -> {len(np.unique(cb)) - 1}"
                + _difference_picture(ctx, label, mask, a, b)]
    if a.dtype.kind == "f":
        same = np.isclose(a, b, rtol=ctx.tolerance.rtol, atol=ctx.tolerance.atol, equal_nan=True)
    else:
        same = a == b
    if same.all():
        return []
    mask = ~same
    delta = np.abs(a.astype(np.float64) - b.astype(np.float64))[mask]
    delta = delta[np.isfinite(delta)]
    return [f"{label}: {int(mask.sum())} of {mask.size} pixel values differ"
            + (f", by up to {float(delta.max()):.3g}" if delta.size else "")
            + _difference_picture(ctx, label, mask, a, b)]


def _compare_image_files(old, new, label, ctx):
    try:
        a, b = _read_pixels(old), _read_pixels(new)
    except Exception as exc:  # noqa: BLE001 - an unreadable image: its bytes decide
        if sha256(old) != sha256(new):
            return [f"{label}: file differs (not readable as an image: {exc})"]
        return []
    return _compare_pixels(a, b, label, ctx)


# ------------------------------------------------------------------ files
def _compare_file(old, new, rel, ctx):
    if sha256(old) == sha256(new):
        return []
    kind = output_kind(rel)
    try:
        if kind == "table":
            return _compare_table(old, new, rel) or [f"{rel}: bytes differ (same cells)"]
        if kind == "rois":
            return _compare_rois(old, new, rel)
        if kind == "image":
            return _compare_image_files(old, new, rel, ctx)
    except Exception as exc:  # noqa: BLE001 - unreadable: say so, do not hide the change
        return [f"{rel}: differs (cannot compare: {type(exc).__name__}: {exc})"]
    return [f"{rel}: contents differ"]


def _compare_outputs(old_dir, new_dir, old_rec, new_rec, ctx):
    olds = {o["path"]: o for o in old_rec.get("outputs", [])}
    news = {o["path"]: o for o in new_rec.get("outputs", [])}
    diffs = [f"{rel}: no longer saved" for rel in sorted(set(olds) - set(news))]
    diffs += [f"{rel}: newly saved" for rel in sorted(set(news) - set(olds))]
    for rel in sorted(set(olds) & set(news)):
        if olds[rel].get("sha256") != news[rel].get("sha256"):
            diffs += _compare_file(Path(old_dir) / rel, Path(new_dir) / rel, rel, ctx)
    return diffs


# ------------------------------------------------------------------ final state
def _by_title(entries):
    """Entries keyed by title, a repeated title numbered (``blobs.gif``, ``blobs.gif #2``)."""
    out, seen = {}, {}
    for e in entries:
        t = e.get("title", "?")
        seen[t] = seen.get(t, 0) + 1
        out[t if seen[t] == 1 else f"{t} #{seen[t]}"] = e
    return out


def _compare_state_images(old_dir, new_dir, olds, news, ctx):
    a, b = _by_title(olds), _by_title(news)
    diffs = [f"open image '{t}': no longer open at the end" for t in a if t not in b]
    diffs += [f"open image '{t}': newly open at the end" for t in b if t not in a]
    for t in [t for t in a if t in b]:
        ea, eb = a[t], b[t]
        label = f"open image '{t}'"
        for key in ("type", "width", "height", "channels", "slices", "frames"):
            if ea.get(key) != eb.get(key):
                diffs.append(f"{label}: {key} {ea.get(key)} -> {eb.get(key)}")
        if ea.get("calibration") != eb.get("calibration"):
            diffs.append(f"{label}: calibration {ea.get('calibration')} -> {eb.get('calibration')}")
        if ea.get("sha256") == eb.get("sha256") or any(d.startswith(label) for d in diffs):
            continue
        if ea.get("file") and eb.get("file"):
            diffs += _compare_pixels(_read_pixels(Path(old_dir) / ea["file"]),
                                     _read_pixels(Path(new_dir) / eb["file"]), label, ctx)
        else:
            diffs.append(f"{label}: pixels differ (mean {ea.get('mean')} -> {eb.get('mean')}; "
                         "too large to keep, compared by checksum)")
    return diffs


def _compare_state(old_dir, new_dir, old_rec, new_rec, ctx):
    a, b = old_rec.get("state"), new_rec.get("state")
    if a is None or b is None:
        return [] if a is b else ["final state: recorded in one run only"]
    diffs = _compare_state_images(old_dir, new_dir, a.get("images", []), b.get("images", []), ctx)
    ta, tb = _by_title(a.get("tables", [])), _by_title(b.get("tables", []))
    diffs += [f"table '{t}': no longer open at the end" for t in ta if t not in tb]
    diffs += [f"table '{t}': newly open at the end" for t in tb if t not in ta]
    for t in [t for t in ta if t in tb]:
        if ta[t].get("sha256") != tb[t].get("sha256"):
            diffs += _compare_table(Path(old_dir) / ta[t]["file"], Path(new_dir) / tb[t]["file"],
                                    f"table '{t}'") or [f"table '{t}': bytes differ (same cells)"]
    ra, rb = a.get("rois"), b.get("rois")
    if (ra is None) != (rb is None):
        diffs.append(f"ROI Manager: {ra['count'] if ra else 0} ROIs -> {rb['count'] if rb else 0}")
    elif ra and rb and ra.get("sha256") != rb.get("sha256"):
        diffs += _compare_rois(Path(old_dir) / ra["file"], Path(new_dir) / rb["file"], "ROI Manager")
    return diffs


def _compare_log(old_dir, new_dir, old_rec, new_rec, ctx):
    def text(folder, rec):
        state = rec.get("state") or {}
        entry = state.get("log")
        if not entry:
            return ""
        try:
            return (Path(folder) / entry["file"]).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    a = sanitize_log(text(old_dir, old_rec), ctx.sanitizers, roots=[old_dir])
    b = sanitize_log(text(new_dir, new_rec), ctx.sanitizers, roots=[new_dir])
    if a == b:
        return []
    diffs = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "replace":
            for k in range(max(i2 - i1, j2 - j1)):
                old = a[i1 + k] if i1 + k < i2 else None
                new = b[j1 + k] if j1 + k < j2 else None
                line = j1 + k + 1 if new is not None else i1 + k + 1
                diffs.append(f"Log line {line}: {old!r} -> {new!r}" if old is not None and new is not None
                             else f"Log line {line}: {'gone' if new is None else 'new'}: {old or new!r}")
        elif op == "delete":
            diffs += [f"Log line {i + 1}: gone: {a[i]!r}" for i in range(i1, i2)]
        else:
            diffs += [f"Log line {j + 1}: new: {b[j]!r}" for j in range(j1, j2)]
    return _listed(diffs, "Log lines")


def compare_runs(old_dir, new_dir, *, tolerance=None, sanitizers=(), pictures=None, name=""):
    """The differences between two runs of one activity, as readable lines.

    Parameters
    ----------
    old_dir, new_dir : path-like
        The activity's folders in the baseline and in this regression (each
        with its ``run.json``).
    tolerance : Tolerance, optional
        For float pixels; default exact.
    sanitizers : sequence of (str, str)
        Extra Log patterns and their replacements.
    pictures : path-like, optional
        Where pictures of changed images' differing pixels go.
    name : str
        The activity's folder name (picture file names).

    Returns
    -------
    list of str
        Empty when nothing changed.
    """
    old_rec, new_rec = _load_record(old_dir), _load_record(new_dir)
    if old_rec is None or new_rec is None:
        return [f"no run record (run.json) in {'the baseline' if old_rec is None else 'this run'}"]
    ctx = _Context(tolerance or Tolerance(), [(re.compile(p), r) for p, r in sanitizers],
                   Path(pictures) if pictures else None, name)
    return (_compare_outputs(old_dir, new_dir, old_rec, new_rec, ctx)
            + _compare_state(old_dir, new_dir, old_rec, new_rec, ctx)
            + _compare_log(old_dir, new_dir, old_rec, new_rec, ctx))
