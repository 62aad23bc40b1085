"""Combined results of a batch: one table over all images, the summary.

Each image's first results table (as :attr:`fijirun.RunResult.table`: the
first table file by name) gets an ``image`` column (the image's folder name)
and ImageJ's row number as ``row``; all are concatenated into
``DIR/results.csv`` and ``DIR/results.parquet`` (pandas + pyarrow). Files are
written to a temporary name and renamed: never half-written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from ..outputs import output_kind, read_table
from ..provenance import write_json_atomic

__all__ = ["combine_tables", "TableCollector", "image_frame", "write_combined", "RESULTS_CSV", "RESULTS_PARQUET",
           "SUMMARY_JSON"]

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
SUMMARY_JSON = "summary.json"


def _first_table(entry):
    tables = sorted((o["path"], o.get("sha256")) for o in entry.get("outputs", [])
                    if output_kind(o["path"]) == "table")
    return tables[0] if tables else (None, None)


def _image_table(outdir, name, entry):
    """An ``ok`` image's first results table with ``image`` and ``row`` columns, or None."""
    if entry.get("status") != "ok":
        return None
    table_name, _ = _first_table(entry)
    if table_name is None:
        return None
    path = Path(outdir) / name / table_name
    if not path.is_file():
        return None
    table = read_table(path)
    if table.empty and not len(table.columns):
        return None
    table = table.reset_index(drop=False).rename(columns={"index": "row"})
    if "row" not in table.columns:
        table.insert(0, "row", range(1, len(table) + 1))
    table.insert(0, "image", name)
    return table


class TableCollector:
    """Images' results tables, read as each image finishes.

    The client waits on the workers most of the time; reading each table then
    spares the end of the batch that work (about 5 ms per image).

    Parameters
    ----------
    outdir : path-like
        The batch output folder.
    """

    def __init__(self, outdir):
        self.outdir = Path(outdir)
        self._tables = {}  # (name, table file, sha256) -> DataFrame or None

    @staticmethod
    def _key(name, entry):
        return (name, *_first_table(entry))

    def add(self, name, entry):
        """Read the table of a finished image (its manifest ``entry``)."""
        if entry.get("status") == "ok":
            self._tables[self._key(name, entry)] = _image_table(self.outdir, name, entry)

    def get(self, name, entry):
        key = self._key(name, entry)
        if key not in self._tables:
            self._tables[key] = _image_table(self.outdir, name, entry)
        return self._tables[key]


def combine_tables(outdir, images, collector=None):
    """One DataFrame of every ``ok`` image's first results table.

    Parameters
    ----------
    outdir : path-like
        The batch output folder.
    images : dict
        The manifest's ``images`` (name → entry).
    collector : TableCollector, optional
        Tables already read during the batch (the others are read now).

    Returns
    -------
    pandas.DataFrame
        Columns ``image``, ``row``, then the tables' columns; images in name order.
    """
    collector = collector or TableCollector(outdir)
    frames = [t for t in (collector.get(name, images[name]) for name in sorted(images)
                          if images[name].get("status") == "ok") if t is not None]
    if not frames:
        return pd.DataFrame({"image": pd.Series(dtype=str), "row": pd.Series(dtype="int64")})
    return pd.concat(frames, ignore_index=True)


def _replace(path, write):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_combined(outdir, table, summary):
    """Write ``results.csv``, ``results.parquet`` and ``summary.json`` atomically.

    Returns
    -------
    dict
        Their paths.
    """
    outdir = Path(outdir)
    csv, parquet = outdir / RESULTS_CSV, outdir / RESULTS_PARQUET
    _replace(csv, lambda tmp: table.to_csv(tmp, index=False))
    frame = table.copy()
    frame.columns = [str(c) for c in frame.columns]
    for column in frame.columns:  # mixed object columns (a table's text column): as text
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    _replace(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
    write_json_atomic(outdir / SUMMARY_JSON, summary)
    return {"results_csv": str(csv), "results_parquet": str(parquet),
            "summary_json": str(outdir / SUMMARY_JSON)}


def image_frame(outdir, images):
    """One row per image: the batch's summary DataFrame.

    Columns: ``image``, ``input``, ``status``, ``error`` (type: message),
    ``seconds``, ``attempts``, ``n_outputs``, ``check``, ``output_dir``.
    """
    rows = []
    for name in sorted(images):
        e = images[name]
        err = e.get("error")
        rows.append({
            "image": name,
            "input": e.get("input"),
            "status": e.get("status"),
            "error": f"{err.get('type')}: {err.get('message')}" if err else None,
            "seconds": e.get("seconds"),
            "attempts": e.get("attempts"),
            "n_outputs": len(e.get("outputs") or []),
            "check": e.get("check"),
            "output_dir": str(Path(outdir) / name),
        })
    return pd.DataFrame(rows, columns=["image", "input", "status", "error", "seconds", "attempts",
                                       "n_outputs", "check", "output_dir"])
