"""Comparing saved outputs with the reference Analyze Particles.

* **Tables**: rows are matched to reference particles by position (centroid
  ``X, Y``, else centre of mass, else bounding-box centre; row order only when
  the table has no position column), then every shared column is compared at
  the precision the file was written with (ImageJ's printed value of the
  reference, :func:`fijirun.reference.format_value`). Missing and extra rows
  and columns are named.
* **ROI sets**: same count, ROIs matched by bounding-box centre, same vertex
  lists (or IoU >= 0.99 of the filled polygons when encoded differently),
  same names (a name difference is a warning).
* **Label masks**: pixel-exact; a pure renumbering (same particles, other
  numbers) is a warning; otherwise the differing pixels are counted and
  explained (values outside the label set, 8-bit overflow, smeared borders).
  A mask is also compared with the ROI set saved beside it.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..outputs import is_row_number_heading, table_delimiter
from ..reference import format_value, rois_to_labels
from .model import FAIL, PASS, WARN, CheckError

__all__ = ["read_table_text", "file_decimals", "compare_table", "compare_summary", "summary_values",
           "compare_rois", "compare_mask", "compare_binary_mask",
           "mask_roi_agreement", "label_mapping", "IOU_MIN"]

IOU_MIN = 0.99
_POSITION_COLUMNS = (("X", "Y"), ("XM", "YM"), ("FeretX", "FeretY"))
#: Results columns that are text or bookkeeping, not measurements.
_TEXT_COLUMNS = {"Label", "Slice", "Ch", "Frame", "Type", "Name"}


def _listing(items, limit=5):
    items = [str(i) for i in items]
    return ", ".join(items[:limit]) + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


# --------------------------------------------------------------------------- tables

def read_table_text(path):
    r"""A saved results table as text cells (exactly as written), and its delimiter.

    Parameters
    ----------
    path : path-like
        A comma- or tab-separated results table.

    Returns
    -------
    table : pandas.DataFrame
        Cells as strings, index = ImageJ's row numbers (1, 2, ...); empty for an empty file.
    delimiter : str or None
        ``"\t"`` or ``","``; None for an empty file.

    Raises
    ------
    CheckError
        The file cannot be read or parsed.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            header = f.readline()
    except OSError as exc:
        raise CheckError(f"cannot read the table {path}: {exc.strerror}") from None
    if not header.strip():
        return pd.DataFrame(), None
    sep = table_delimiter(header)
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - pandas raises several types
        raise CheckError(f"cannot parse the table {path}: {exc}") from None
    first = table.columns[0] if len(table.columns) else None
    if first is not None and is_row_number_heading(first):
        table = table.set_index(first)
        table.index.name = None
        try:
            table.index = table.index.astype(int)
        except ValueError:
            table.index = pd.RangeIndex(1, len(table) + 1)
    else:
        table.index = pd.RangeIndex(1, len(table) + 1)
    table.columns = [str(c).strip() for c in table.columns]
    return table, sep


def file_decimals(table):
    """The number of decimals a table was written with (the most in any plain number)."""
    best = 0
    for c in table.columns:
        for cell in table[c].head(200):
            m = re.fullmatch(r"-?\d+\.(\d+)", str(cell).strip())
            if m:
                best = max(best, len(m.group(1)))
    return best


def _to_float(cells):
    return pd.to_numeric(pd.Series(cells), errors="coerce").to_numpy(np.float64)


def _positions(table_values, columns):
    """(n, 2) positions from the first position columns available, or None."""
    for cx, cy in _POSITION_COLUMNS:
        if cx in columns and cy in columns:
            return np.column_stack([table_values(cx), table_values(cy)]), f"{cx}/{cy}"
    if all(c in columns for c in ("BX", "BY", "Width", "Height")):
        return (np.column_stack([table_values("BX") + table_values("Width") / 2,
                                 table_values("BY") + table_values("Height") / 2]), "bounding box centre")
    return None, None


def match_by_position(a, b, tol):
    """Pairs (i, j) of rows of ``a`` and ``b`` (n×2 positions) closer than ``tol``.

    Ties (two particles with the same centre, e.g. one in another's hole) are
    resolved by row order. Rows with a NaN position pair with the other side's NaN
    rows in row order.
    """
    if len(a) == 0 or len(b) == 0:
        return []
    a, b = np.asarray(a, np.float64).reshape(-1, 2), np.asarray(b, np.float64).reshape(-1, 2)
    fa, fb = np.isfinite(a).all(axis=1), np.isfinite(b).all(axis=1)
    if not (fa.all() and fb.all()):
        # a position can be NaN (a centre of mass weighted by zero intensities): those rows have no
        # place to match by, so they pair with the other side's NaN rows in row order (their
        # values are still compared); the rest match by position
        ia, ib = np.flatnonzero(fa), np.flatnonzero(fb)
        pairs = [(int(ia[i]), int(ib[j])) for i, j in match_by_position(a[fa], b[fb], tol)]
        pairs += list(zip(np.flatnonzero(~fa).tolist(), np.flatnonzero(~fb).tolist()))
        return sorted(pairs)
    if len(a) == len(b) and np.all(np.hypot(*(a - b).T) <= tol):
        return list(zip(range(len(a)), range(len(b))))
    tree = cKDTree(b)
    k = min(8, len(b))
    dist, idx = tree.query(a, k=k, distance_upper_bound=tol)
    dist, idx = dist.reshape(len(a), k), idx.reshape(len(a), k)
    cand = [(d, i, int(j)) for i in range(len(a)) for d, j in zip(dist[i], idx[i])
            if j < len(b) and math.isfinite(d)]
    cand.sort()  # nearest first; equal distances paired in row order
    used_a, used_b, pairs = set(), set(), []
    for _, i, j in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, int(j)))
    return sorted(pairs)


def compare_table(verdict, path, reference, decimals=None, pixel_size=1.0, not_reproduced=None):
    """Compare a saved results table with the reference table; adds findings to ``verdict``.

    Parameters
    ----------
    verdict : OutputVerdict
    path : Path
    reference : fijirun.reference.ParticleAnalysis
    decimals : int, optional
        Set Measurements' decimal places; inferred from the file when None; negative for
        *Scientific notation* (ImageJ's ``ResultsTable`` precision, see
        :func:`fijirun.reference.format_value`).
    pixel_size : float
        Matching tolerance for positions, in the table's units.
    not_reproduced : dict of str to str, optional
        Columns whose ImageJ values the reference cannot give, with why: such a column in
        the file is not compared (nor used to match rows), and a warning names it.
    """
    table, _ = read_table_text(path)
    ref = reference.table
    values = reference.values
    d = decimals if decimals is not None else file_decimals(table)
    verdict.details["decimals"] = d
    file_cols = [c for c in table.columns if c not in _TEXT_COLUMNS]
    skipped = {c: why for c, why in (not_reproduced or {}).items() if c in file_cols}
    shared = [c for c in ref.columns if c in file_cols and c not in skipped]
    missing_cols = [c for c in ref.columns if c not in file_cols]
    extra_cols = [c for c in file_cols if c not in ref.columns]
    verdict.details.update(rows=len(table), reference_rows=len(ref), columns=list(table.columns),
                           missing_columns=missing_cols, extra_columns=extra_cols)
    if missing_cols:
        verdict.add(FAIL, f"missing columns: {_listing(missing_cols)}")
    if extra_cols:
        verdict.add(WARN, f"columns the reference does not compute: {_listing(extra_cols)}")
    _warn_not_reproduced(verdict, skipped)
    file_cols = [c for c in file_cols if c not in skipped]  # not a position to match by either

    fvals = {c: _to_float(table[c]) for c in shared}
    rvals = {c: np.asarray(values.get(c, ref[c].to_numpy()), np.float64) for c in shared}
    fpos, how = _positions(lambda c: fvals[c] if c in fvals else _to_float(table[c]), file_cols)
    rpos, _ = _positions(lambda c: np.asarray(values[c], np.float64) if c in values
                         else ref[c].to_numpy(np.float64), list(ref.columns))
    if fpos is not None and rpos is not None:
        if d >= 0:
            step = 10.0 ** -d
        else:   # scientific notation: one unit of the mantissa's last digit at the largest position
            finite = np.abs(rpos[np.isfinite(rpos)])
            step = (float(finite.max()) if finite.size else 1.0) * 10.0 ** d
        tol = max(pixel_size, step) * 1.01
        pairs = match_by_position(fpos, rpos, tol)
        verdict.details["matched_by"] = how
    else:
        n = min(len(table), len(ref))
        pairs = [(i, i) for i in range(n)]
        verdict.details["matched_by"] = "row order"
    rows = table.index.to_numpy()
    fi = np.array([p[0] for p in pairs], int)
    rj = np.array([p[1] for p in pairs], int)
    extra_rows = [int(rows[i]) for i in sorted(set(range(len(table))) - set(fi.tolist()))]
    missing_rows = [int(j) + 1 for j in sorted(set(range(len(ref))) - set(rj.tolist()))]
    verdict.details.update(extra_rows=extra_rows, missing_particles=missing_rows)
    if missing_rows:
        where = ""
        if rpos is not None:
            where = " at " + _listing([f"({rpos[j - 1][0]:.1f}, {rpos[j - 1][1]:.1f})" for j in missing_rows], 3)
        verdict.add(FAIL, f"{len(missing_rows)} particle(s) of the reference have no row "
                          f"(reference particles {_listing(missing_rows)}){where}")
    if extra_rows:
        verdict.add(FAIL, f"{len(extra_rows)} row(s) match no particle of the reference: rows {_listing(extra_rows)}")

    mismatches = []
    printed = {}
    for c in shared:
        texts = table[c].to_numpy()
        printed[c] = np.full(len(pairs), np.nan)
        for k, (i, j) in enumerate(pairs):
            want = format_value(rvals[c][j], d)
            printed[c][k] = pd.to_numeric(want, errors="coerce")
            got = str(texts[i]).strip()
            try:
                same = _same(float(got), float(want), float(rvals[c][j]))
                if not same and d < 0:
                    same = float(got) in _scientific_alternatives(float(rvals[c][j]), d, c)
            except ValueError:
                same = got == want
            if not same:
                mismatches.append({"row": int(rows[i]), "column": c, "file": got, "reference": want})
    verdict.details["mismatches"] = mismatches[:50]
    verdict.details["n_mismatches"] = len(mismatches)
    if mismatches:
        first = mismatches[0]
        more = f" (+{len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        verdict.add(FAIL, f"row {first['row']}, column {first['column']}: {first['file']} in the file, "
                          f"{first['reference']} in the reference{more}")
    if len(pairs) > 1 and np.any(np.diff(rj[np.argsort(fi)]) < 0):
        verdict.add(WARN, "rows are in another order than ImageJ's scan order")
    if not any(f.verdict == FAIL for f in verdict.findings):
        # said also beside a warning (a .xls name, extra columns): the values were compared
        at = f"at {d} decimals" if d >= 0 else f"in scientific notation ({-d} decimals)"
        verdict.add(PASS, f"{len(pairs)} rows × {len(shared)} columns agree with the reference {at}")
    verdict.data["scatter"] = {c: (fvals[c][fi], printed[c]) for c in shared}
    return verdict


def _warn_not_reproduced(verdict, skipped, what="columns"):
    """A warning naming the columns left uncompared, grouped by why."""
    verdict.details["not_reproduced"] = sorted(skipped)
    by_why: dict = {}
    for c, why in skipped.items():
        by_why.setdefault(why, []).append(c)
    for why, cols in by_why.items():
        verdict.add(WARN, f"{what} not compared ({why}): {', '.join(cols)}")


#: How close (relative) the reference's full-precision value must be to the boundary between two
#: printed values for either to be taken: summation order alone moves a value this little.
TIE_NOISE = 1e-13


def _same(a, b, value=None):
    """Whether a printed value ``a`` of the file is the reference's printed value ``b``.

    Equal numbers only: one unit of the last printed digit is a difference, however many
    digits are printed and however large the value (``1234567.891`` is not ``1234567.892``).
    The one exception is floating-point noise at a rounding tie: when the reference's
    full-precision ``value`` lies within :data:`TIE_NOISE` (relative, at most 5 % of a printed
    unit) of the boundary between ``a`` and ``b``, but not exactly on it, ImageJ's own arithmetic
    may have put it on either side, and both printings are taken. An exact tie (``2.5``) is
    printed by the rule, never either way.
    """
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    if value is None or not math.isfinite(value):
        return False
    boundary = (a + b) / 2.0
    off = abs(value - boundary)
    return 0.0 < off <= min(TIE_NOISE * max(1.0, abs(value)), 0.05 * abs(a - b))


#: Columns whose decimal places ImageJ's Analyzer sets on the table's first row (fixed notation
#: even with *Scientific notation*, until a later ``setPrecision`` makes them scientific again).
_SHAPE_COLUMNS = {"Circ.", "AR", "Round", "Solidity"}


def _scientific_alternatives(value, d, column):
    """Other printings ImageJ may give ``value`` in a table in scientific notation (``d < 0``).

    * Java's ``DecimalFormat("0.000E0")`` rounds a tie in the double's shortest decimal digits
      (``245`` at one decimal, ``41.255`` at three) by flags of its binary-to-decimal conversion
      (an integer rounds up, as :func:`fijirun.reference.format_value` prints it; ``12.5`` to
      even; others either way): at a tie of a value that is no integer both neighbours are taken;
    * the shape columns (Circ., AR, Round, Solidity) may keep fixed notation (see
      :data:`_SHAPE_COLUMNS`).

    Returns
    -------
    set of float
        The values of those printings.
    """
    from decimal import ROUND_HALF_DOWN, ROUND_HALF_UP, Context, Decimal

    out = set()
    if not math.isfinite(value):
        return out
    if column in _SHAPE_COLUMNS:
        out.add(float(format_value(value, -d)))
    digits = Decimal(repr(value))       # the shortest digits, as Java's FloatingDecimal gives them
    if digits != 0 and value != int(value):   # an integer's tie rounds up (format_value): no doubt
        places = min(-d, 9) + 1
        up = Context(prec=places, rounding=ROUND_HALF_UP).plus(digits)
        down = Context(prec=places, rounding=ROUND_HALF_DOWN).plus(digits)
        if up != down:                  # an exact tie in those digits
            out.update((float(up), float(down)))
    return out


#: The means ParticleAnalyzer.addMeans puts in a Summary row, in its order (column headings).
SUMMARY_MEANS = ("Mean", "Mode", "Perim.", "Major", "Minor", "Angle", "Circ.", "Solidity", "Feret",
                 "FeretX", "FeretY", "FeretAngle", "MinFeret", "IntDen", "Median", "Skew", "Kurt")


def _float_column_sum(values):
    """Sum as ImageJ adds a ResultsTable column: float32 values, added in order in a double."""
    v = np.asarray(values, np.float64).astype(np.float32).astype(np.float64)
    return float(np.cumsum(v)[-1]) if len(v) else 0.0


def _float_column_mean(values):
    """Mean as ``ParticleAnalyzer.addMean`` takes it: ``FloatStatistics`` of the float column.

    ImageJ's FloatStatistics counts only the values within -Float.MAX_VALUE..Float.MAX_VALUE:
    NaN (Skew of a 1-pixel particle) and infinite values are left out of both the sum and the
    count; no value left gives NaN.
    """
    v = np.asarray(values, np.float64).astype(np.float32)
    v = v[np.isfinite(v)]
    return _float_column_sum(v) / len(v) if len(v) else math.nan


def summary_values(reference, total_area):
    """The Summary row ImageJ writes for an analysis (``ParticleAnalyzer.updateSliceSummary``).

    Parameters
    ----------
    reference : fijirun.reference.ParticleAnalysis
    total_area : float
        The analysed area: the selection's bounds (or its mask's pixels), calibrated.

    Returns
    -------
    dict
        Column heading -> full-precision value; the means only for the columns the reference
        computed (``Count``, ``Total Area``, ``Average Size``, ``%Area`` always).
    """
    n = len(reference.table)
    values = reference.values
    area = values.get("Area") if "Area" in values else None
    # ImageJ sums the Area column (float, as ResultsTable.getColumn gives it) in a double
    if area is None:  # no Area column: ImageJ writes the Slice label only (a row with particles)
        return {} if n else {"Count": 0.0, "Total Area": 0.0, "Average Size": math.nan, "%Area": 0.0}
    total = _float_column_sum(area)
    out = {"Count": float(n), "Total Area": total,
           "Average Size": total / n if n else math.nan,
           "%Area": total * 100.0 / total_area if total_area else math.nan}
    for c in SUMMARY_MEANS:
        if c in values:   # FloatStatistics of the column's last n rows
            # a column measured but not in the Results table (Major, Minor, Angle of show=Ellipses:
            # ImageJ adds ELLIPSE to the analysis only) has no values for addMean: NaN; no
            # particle, no value either: NaN
            out[c] = _float_column_mean(values[c]) if n and c in reference.table.columns else math.nan
    return out


def compare_summary(verdict, path, rows, decimals, not_reproduced=None):
    """Compare a saved Summary table with the reference; adds findings to ``verdict``.

    Parameters
    ----------
    verdict : OutputVerdict
    path : Path
    rows : list of (ParticleAnalysis, float, str or None) or None
        For each row of the file, from the last one up: the reference of the analysis that
        wrote it, its analysed area and the analysed image's title (the row's ``Slice``, None:
        not known); None where no analysis is known for that row.
    decimals : int
        Set Measurements' decimal places (a Summary table prints at least 3).
    not_reproduced : dict of str to str, optional
        Columns whose ImageJ values the reference cannot give, with why: not compared, and a
        warning names those in the file.
    """
    table, _ = read_table_text(path)
    skipped = {c: why for c, why in (not_reproduced or {}).items() if c in table.columns}
    verdict.details["summary"] = True
    if len(table) == 0:
        verdict.add(FAIL, "Summary table without a row (ImageJ writes one per analysis)")
        return verdict
    d = max(3, int(decimals if decimals is not None else 3))
    mismatches, not_compared, uncompared_rows, compared = [], set(), [], 0
    for k in range(len(table)):
        i = len(table) - 1 - k             # the last row belongs to the analysis that wrote the file
        known = rows[k] if k < len(rows) else None
        if known is None:
            uncompared_rows.append(int(table.index[i]))
            continue
        reference, total_area, title = known
        label = str(table["Slice"].iloc[i]).strip() if "Slice" in table.columns else None
        if title is not None and label is not None and label != title:  # a 2-D image's row: its title
            mismatches.append({"row": int(table.index[i]), "column": "Slice", "file": label,
                               "reference": title})
        want = summary_values(reference, total_area)
        compared += 1
        for c in table.columns:
            if c in _TEXT_COLUMNS or c in skipped:
                continue
            if c not in want:
                not_compared.add(c)
                continue
            expect = format_value(want[c], d)
            got = str(table[c].iloc[i]).strip()
            try:
                same = _same(float(got), float(expect), float(want[c]))
            except ValueError:
                same = got == expect
            if not same:
                mismatches.append({"row": int(table.index[i]), "column": c, "file": got, "reference": expect})
        for c in want:
            if c not in table.columns and c in ("Count", "Total Area", "Average Size", "%Area"):
                mismatches.append({"row": int(table.index[i]), "column": c, "file": None,
                                   "reference": format_value(want[c], d)})
    verdict.details.update(mismatches=mismatches[:50], n_mismatches=len(mismatches),
                           not_compared=sorted(not_compared), rows_not_compared=uncompared_rows)
    if mismatches:
        first = mismatches[0]
        more = f" (+{len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        got = "no such column" if first["file"] is None else f"{first['file']} in the file"
        verdict.add(FAIL, f"Summary row {first['row']}, column {first['column']}: {got}, "
                          f"{first['reference']} in the reference{more}")
    if not_compared:
        verdict.add(WARN, f"Summary columns the reference does not compute: {_listing(sorted(not_compared))}")
    if skipped:
        _warn_not_reproduced(verdict, skipped, "Summary columns")
    if uncompared_rows:
        verdict.add(WARN, f"Summary row(s) {_listing(uncompared_rows)}: no recorded analysis to compare with")
    if not mismatches and compared:
        verdict.add(PASS, f"Summary table: {compared} row(s) agree with the reference at {d} decimals")
    return verdict


# --------------------------------------------------------------------------- ROI sets

def _roi_box(roi):
    c = np.asarray(roi.coordinates(), np.float64)
    if c.size == 0:
        return np.array([roi.left, roi.top, roi.right, roi.bottom], np.float64)
    return np.array([c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()])


def _fill(roi, box):
    from skimage.draw import polygon

    x0, y0, x1, y1 = box
    c = np.asarray(roi.coordinates(), np.float64)
    out = np.zeros((int(y1 - y0) + 2, int(x1 - x0) + 2), bool)
    if len(c):
        rr, cc = polygon(c[:, 1] - 0.5 - y0, c[:, 0] - 0.5 - x0, out.shape)
        out[rr, cc] = True
    return out


def roi_iou(a, b):
    """IoU of two polygon ROIs filled as ImageJ fills them (pixel centres inside)."""
    ba, bb = _roi_box(a), _roi_box(b)
    box = (math.floor(min(ba[0], bb[0])), math.floor(min(ba[1], bb[1])),
           math.ceil(max(ba[2], bb[2])), math.ceil(max(ba[3], bb[3])))
    fa, fb = _fill(a, box), _fill(b, box)
    union = np.count_nonzero(fa | fb)
    return 1.0 if union == 0 else np.count_nonzero(fa & fb) / union


def compare_rois(verdict, rois, reference):
    """Compare a saved ROI set with the reference ROIs; adds findings to ``verdict``."""
    ref = reference.rois
    verdict.details.update(count=len(rois), reference_count=len(ref))
    if len(rois) != len(ref):
        verdict.add(FAIL, f"{len(rois)} ROIs in the file, {len(ref)} particles in the reference")
    fa = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in map(_roi_box, rois)]).reshape(-1, 2)
    fb = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in map(_roi_box, ref)]).reshape(-1, 2)
    pairs = match_by_position(fa, fb, 1.01)
    ia = {i for i, _ in pairs}
    jb = {j for _, j in pairs}
    missing = [ref[j].name or str(j + 1) for j in range(len(ref)) if j not in jb]
    extra = [rois[i].name or str(i + 1) for i in range(len(rois)) if i not in ia]
    verdict.details.update(missing=missing, extra=extra)
    if missing:
        verdict.add(FAIL, f"missing ROIs (reference names): {_listing(missing)}")
    if extra:
        verdict.add(FAIL, f"ROIs matching no particle: {_listing(extra)}")
    differ, encoded, renamed = [], [], []
    for i, j in pairs:
        a, b = rois[i], ref[j]
        if not np.array_equal(np.asarray(a.coordinates()), np.asarray(b.coordinates())):
            # other vertices are fine only when they enclose exactly the same pixels (a polygon
            # saved for a traced outline); one vertex moved by 1 px changes a few pixels
            iou = roi_iou(a, b)
            (encoded if iou == 1.0 else differ).append((a.name or str(i + 1), round(iou, 4)))
        if (a.name or "") != (b.name or ""):
            renamed.append(f"{a.name!r} (reference {b.name!r})")
    verdict.details.update(shape_differs=differ, encoded_differently=encoded, renamed=renamed)
    if differ:
        verdict.add(FAIL, f"{len(differ)} ROI(s) differ in shape (other pixels): "
                          + _listing(f"{n} IoU {v}" for n, v in differ))
    if encoded:
        verdict.add(PASS, f"{len(encoded)} ROI(s) encoded differently, same pixels")
    if renamed:
        verdict.add(WARN, f"{len(renamed)} ROI name(s) differ: {_listing(renamed, 3)}")
    # the k-th ROI is the k-th particle (row k of the table, label k of Count Masks); names do not
    # say the order, so a reordered set is only seen here (a warning, as for reordered table rows)
    order = [j for _, j in sorted(pairs)]
    if len(order) > 1 and any(b < a for a, b in zip(order, order[1:])):
        moved = sum(1 for k, (i, j) in enumerate(sorted(pairs)) if i != j)
        verdict.details["reordered"] = True
        verdict.add(WARN, f"ROIs in another order than ImageJ's scan order ({moved} not at their particle's "
                          "place; ROI k is row k of the table)")
    if not pairs and not rois and not ref:
        verdict.add(PASS, "empty ROI set, no particle in the reference")
    elif all(f.verdict == PASS for f in verdict.findings):
        verdict.add(PASS, f"{len(rois)} ROIs: same vertices and names as the reference")
    return verdict


# --------------------------------------------------------------------------- label masks

def label_mapping(saved, reference):
    """Whether ``saved`` is ``reference`` with its labels renumbered.

    Returns
    -------
    dict or None
        Saved label → reference label when the two partitions are identical
        (background 0 ↔ 0); None otherwise.
    """
    a = saved.ravel().astype(np.int64)
    b = reference.ravel().astype(np.int64)
    pairs = np.unique(np.column_stack([a, b]), axis=0) if a.size else np.empty((0, 2), np.int64)
    if len(np.unique(pairs[:, 0])) != len(pairs) or len(np.unique(pairs[:, 1])) != len(pairs):
        return None
    mapping = {int(x): int(y) for x, y in pairs}
    if mapping.get(0, 0) != 0:
        return None
    return mapping


def mask_roi_agreement(mask, rois):
    """Fraction of foreground pixels of ``mask`` whose label is the index of the ROI containing them.

    The Count Masks value of a particle is its ROI's position in the ROI
    Manager, and a traced outline encloses its holes; nested particles come
    later in scan order and win, as in :func:`fijirun.reference.rois_to_labels`.
    """
    filled = rois_to_labels(rois, mask.shape, dtype=np.int64)
    fg = mask > 0
    n = int(np.count_nonzero(fg))
    if n == 0:
        return 1.0 if not rois else 0.0, filled
    return float(np.count_nonzero(filled[fg] == mask[fg].astype(np.int64))) / n, filled


def compare_mask(verdict, saved, reference_mask, *, bits, lossy=False, strict_numbering=False):
    """Compare a saved label mask with the reference Count Masks; adds findings.

    Parameters
    ----------
    verdict : OutputVerdict
    saved : numpy.ndarray
        The stored pixel values (palette indices for palette images).
    reference_mask : numpy.ndarray
    bits : int
        Bits per stored value (8, 16, 32).
    lossy : bool
        The format is lossy (JPEG).
    strict_numbering : bool
        The mask is known to be ImageJ's Count Masks (the engine recorded it):
        label k must be the k-th particle, the k-th row of the results table,
        so other label values fail instead of warning.
    """
    ref = reference_mask
    n_ref = int(ref.max()) if ref.size else 0
    labels = np.unique(ref)
    verdict.details.update(shape=list(saved.shape), dtype=str(saved.dtype), bits=bits,
                           reference_labels=n_ref, saved_max=int(saved.max()) if saved.size else 0)
    verdict.data.update(saved=saved, reference=ref)
    if saved.shape != ref.shape:
        verdict.add(FAIL, f"shape {saved.shape} differs from the input's {ref.shape}")
        return verdict
    overflow = n_ref > (1 << bits) - 1
    if overflow:
        verdict.add(FAIL, f"overflow: {n_ref} labels do not fit in {bits}-bit values "
                          f"(max {(1 << bits) - 1}); labels above it are lost or merged")
    if np.array_equal(saved.astype(np.int64), ref.astype(np.int64)):
        verdict.data["diff"] = np.zeros(ref.shape, bool)
        verdict.add(PASS, f"pixel-exact: {n_ref} labels, {bits}-bit")
        return verdict
    mapping = label_mapping(saved, ref)
    if mapping is not None:
        lut = np.zeros(int(saved.max()) + 1, np.int64)
        for k, v in mapping.items():
            lut[k] = v
        verdict.data["diff"] = lut[saved] != ref
        verdict.details["renumbered"] = True
        moved = sum(1 for k, v in mapping.items() if k != v)
        if strict_numbering:
            verdict.add(FAIL, f"renumbered: {moved} of {n_ref} particles carry another label than Count "
                              "Masks gives them (label k is the k-th particle, row k of the table)")
        else:
            verdict.add(WARN, f"renumbered: the same {n_ref} particles with other label values "
                              "(not ImageJ's scan order)")
        return verdict
    diff = saved.astype(np.int64) != ref.astype(np.int64)
    verdict.data["diff"] = diff
    nd = int(np.count_nonzero(diff))
    outside = ~np.isin(saved, labels)
    n_out = int(np.count_nonzero(outside))
    # smeared borders: differing pixels next to a label boundary
    edges = ndi.morphological_gradient(ref.astype(np.int32), size=(3, 3)) > 0
    at_border = int(np.count_nonzero(diff & edges))
    affected = np.unique(ref[diff])
    verdict.details.update(pixels_differ=nd, values_outside_label_set=n_out,
                           differing_at_borders=at_border, labels_affected=int(np.count_nonzero(affected)))
    if lossy:
        verdict.add(FAIL, f"JPEG artefacts: {nd} pixels changed, {n_out} with values outside the label set, "
                          f"{at_border} at particle borders (smeared)")
    elif not overflow:
        why = f", {n_out} with values outside the label set" if n_out else ""
        verdict.add(FAIL, f"{nd} pixels differ from the reference ({len(affected)} labels affected{why})")
    return verdict


def compare_binary_mask(verdict, saved, reference_mask, *, lossy=False):
    """Compare a saved *show=Masks* image with the reference particles; adds findings.

    ImageJ's Masks image is 8-bit: the particles' pixels 255, the rest 0 (shown black on
    white through an inverted LUT, or white on black with *black background* in situ).

    Parameters
    ----------
    verdict : OutputVerdict
    saved : numpy.ndarray
        The stored pixel values.
    reference_mask : numpy.ndarray
        The reference Count Masks (its non-zero pixels are the particles).
    lossy : bool
        The format is lossy (JPEG).
    """
    ref = reference_mask > 0
    verdict.details.update(shape=list(saved.shape), dtype=str(saved.dtype), binary=True,
                           reference_particle_pixels=int(np.count_nonzero(ref)))
    verdict.data.update(saved=saved, reference=ref.astype(np.uint8) * 255)
    if saved.shape != ref.shape:
        verdict.add(FAIL, f"shape {saved.shape} differs from the input's {ref.shape}")
        return verdict
    values = saved.astype(np.int64)
    other = int(np.count_nonzero((values != 0) & (values != 255)))
    diff = (values == 255) != ref
    nd = int(np.count_nonzero(diff | ((values != 0) & (values != 255))))
    verdict.data["diff"] = diff
    verdict.details.update(pixels_differ=nd, values_not_0_or_255=other)
    if nd == 0:
        verdict.add(PASS, f"binary Masks image (show=Masks): the particles' {int(ref.sum())} pixels exact")
    elif lossy:
        verdict.add(FAIL, f"JPEG artefacts: {nd} pixels of the Masks image changed ({other} neither 0 nor 255)")
    else:
        why = f", {other} neither 0 nor 255" if other else ""
        verdict.add(FAIL, f"{nd} pixels of the Masks image differ from the reference particles{why}")
    return verdict
