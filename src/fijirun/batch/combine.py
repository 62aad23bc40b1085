"""Combined results of a batch: one table over all images, the summary.

Each image's results table — the first table file by name (as
:attr:`fijirun.RunResult.table`), or the first whose path matches a glob
pattern (``--table "*_summary.csv"``) — gets an ``image`` column (the
image's folder name) and ImageJ's row number as ``row``; all are concatenated into
``DIR/results.csv`` and ``DIR/results.parquet`` (pandas + pyarrow). Files are
written to a temporary name and renamed: never half-written.
"""

from __future__ import annotations

import fnmatch
import io
import logging
import os
import tempfile
from pathlib import Path

from ..outputs import TABLE_SUFFIXES, is_row_number_heading, output_kind, read_table, sha256, table_delimiter
from ..provenance import fix_mode, write_json_atomic

__all__ = ["combine_tables", "table_choice", "matches_no_table", "table_pattern_problem", "image_frame",
           "write_combined", "RESULTS_CSV", "RESULTS_PARQUET", "SUMMARY_JSON"]

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
SUMMARY_JSON = "summary.json"

log = logging.getLogger("fijirun.batch")


def table_pattern_problem(pattern):
    """Why ``pattern`` cannot choose an image's table (``--table``), or None when it can.

    A pattern is matched (:func:`fnmatch.fnmatchcase`) against each table
    file's path inside its image's folder: ``*_summary.csv``, ``tables/*.csv``.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        return f"expected a file name pattern such as '*_results.csv', got {pattern!r}"
    if len(pattern) > 1000:
        return f"a file name pattern of at most 1000 characters, got {len(pattern)}"
    if any(ord(c) < 32 or ord(c) == 127 for c in pattern):
        return f"{pattern!r} holds a control character (a newline?)"
    parts = pattern.split("/")
    if pattern.startswith("/") or pattern.endswith("/") or ".." in parts:
        return (f"{pattern!r} is matched against the paths of the tables inside each image's folder, "
                "such as '*_results.csv' or 'tables/*.csv'")
    suffix = parts[-1].rpartition(".")[2] if "." in parts[-1] else None
    if suffix is not None and not any(c in suffix for c in "*?[") and f".{suffix.lower()}" not in TABLE_SUFFIXES:
        return (f"{pattern!r} matches no table: a table file ends in "
                + ", ".join(TABLE_SUFFIXES))
    return None


def _tables(entry, pattern=None):
    """An image's table files (paths in its folder) by name; those matching ``pattern`` only."""
    tables = sorted(o["path"] for o in entry.get("outputs", []) if output_kind(o["path"]) == "table")
    if pattern is not None:
        tables = [t for t in tables if fnmatch.fnmatchcase(t, pattern)]
    return tables


def _as_written(path, entry, table_name):
    """Whether the table file at ``path`` is the one the run wrote (its recorded SHA-256; no link)."""
    recorded = next((o.get("sha256") for o in entry.get("outputs", []) if o.get("path") == table_name), None)
    try:
        return not path.is_symlink() and path.is_file() and (recorded is None or sha256(path) == recorded)
    except OSError:
        return False


def _first_table(entry, pattern=None):
    tables = _tables(entry, pattern)
    return tables[0] if tables else None


def table_choice(images, pattern, table):
    """Which table of each ``ok`` image the combined results took, in brief (the summary's).

    Parameters
    ----------
    images : dict
        The manifest's ``images``.
    pattern : str or None
        The pattern given to :func:`combine_tables`.
    table : pandas.DataFrame
        What :func:`combine_tables` returned.

    Returns
    -------
    dict
        ``pattern``; ``without_rows``: the ok images with no row in the
        combined results (no matching table, an empty one, one that is no
        table, or one changed since its run); ``several_tables``: how many ok
        images hold more than one table (a ``.csv`` and a ``.txt`` of the
        same name count once) when no pattern chose, with ``example``: one
        such image's tables — the first by name was taken.
    """
    combined = set(table["image"].astype(str))
    without, several, example = [], 0, None
    for name in sorted(images):
        entry = images[name]
        if entry.get("status") != "ok":
            continue
        if name not in combined:
            without.append(name)
        tables = _tables(entry)
        if pattern is None and len({os.path.splitext(t)[0] for t in tables}) > 1:
            several += 1
            example = example or tables
    return {"pattern": pattern, "without_rows": without, "several_tables": several, "example": example}


def matches_no_table(images, pattern):
    """Whether ``pattern`` matches no table of any ``ok`` image (there being one); its tables then.

    Returns
    -------
    list of str or None
        None when the pattern matches (or no image is ok); else the table
        files the ok images hold (a few), to say what could be chosen.
    """
    ok = [entry for entry in images.values() if entry.get("status") == "ok"]
    if pattern is None or not ok or any(_tables(entry, pattern) for entry in ok):
        return None
    return sorted({t for entry in ok for t in _tables(entry)})[:5]


def _free_name(name, columns):
    """``name.1``, ``name.2``...: the first not in ``columns`` (as pandas names repeated headings)."""
    n = 1
    while f"{name}.{n}" in columns:
        n += 1
    return f"{name}.{n}"


def _quote(text):
    return '"' + text.replace('"', '""') + '"'


def _read_group(header, members):
    """Tables sharing one header line → one DataFrame with an ``image`` column.

    The files' lines are joined under one header and parsed once: pandas'
    per-call cost (milliseconds) would otherwise dominate a batch of small
    tables. Should the row count disagree (a quoted field spanning lines)
    or one file not parse, each file is parsed on its own and a file that is
    no table is left out (logged); None when none is one.
    """
    import pandas as pd

    sep = table_delimiter(header)
    lines = [_quote("image") + sep + header]
    for name, _, body in members:
        q = _quote(name) + sep
        lines.extend(q + line for line in body)
    names = [name for name, _, body in members for _ in body]  # each row's image
    try:
        table = pd.read_csv(io.StringIO("\n".join(lines) + "\n"), sep=sep)
    except (ValueError, pd.errors.ParserError):  # one file is no table: each on its own
        table = None
    if table is not None and (len(table) != len(names) or table.columns[0] != "image"
                              or table["image"].astype(str).tolist() != names):
        # a quoted field spanning lines, or rows longer than the header (pandas then takes
        # the first column as the index and shifts the rest, "image" included)
        table = None
    if table is None:
        frames = []
        for name, path, _ in members:
            try:
                frames.append(read_table(path).reset_index(drop=True).assign(image=name))
            except (ValueError, pd.errors.ParserError, OSError) as exc:
                # a .txt or .csv the script wrote that is not a results table (notes, a log)
                log.warning("%s is not a table (%s): left out of the combined results", path, exc)
        if not frames:
            return None
        table = pd.concat(frames, ignore_index=True)
        table.insert(0, "image", table.pop("image"))
    return table


def combine_tables(outdir, images, pattern=None):
    """One DataFrame of every ``ok`` image's results table.

    Parameters
    ----------
    outdir : path-like
        The batch output folder.
    images : dict
        The manifest's ``images`` (name → entry).
    pattern : str, optional
        A glob pattern (:func:`fnmatch.fnmatchcase`) on each table file's
        path in its image's folder: the first matching table by name is
        taken. Default: the first table by name.

    Returns
    -------
    pandas.DataFrame
        Columns ``image``, ``row`` (ImageJ's row number: its unnamed first
        column, or 1, 2, ... per image), then the tables' columns; images in
        name order.
    """
    import pandas as pd  # not at import: engine processes (batch workers) never need it

    groups = {}  # header line -> [(image, path, data lines)]
    for name in sorted(images):
        entry = images[name]
        table_name = _first_table(entry, pattern) if entry.get("status") == "ok" else None
        if table_name is None:
            continue
        path = Path(outdir) / name / table_name
        if not _as_written(path, entry, table_name):
            log.warning("%s was changed or replaced since its run wrote it: left out of the combined results",
                        path)
            continue
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        if not lines or not lines[0].strip():
            continue
        groups.setdefault(lines[0], []).append((name, path, [ln for ln in lines[1:] if ln.strip()]))
    empty = pd.DataFrame({"image": pd.Series(dtype=str), "row": pd.Series(dtype="int64")})
    frames = []
    for header, members in groups.items():
        table = _read_group(header, members)
        if table is None:
            continue
        if "row" in table.columns:  # the script's own "row" (a plate's A, B...): kept beside ours
            table = table.rename(columns={"row": _free_name("row", table.columns)})
        first = table.columns[1] if len(table.columns) > 1 else None
        counted = table.groupby("image", sort=False).cumcount() + 1
        # ImageJ's own row numbers when they are 1, 2, ... in every image (as read_table)
        if (first is not None and is_row_number_heading(first)
                and pd.api.types.is_integer_dtype(table[first]) and (table[first] == counted).all()):
            table = table.rename(columns={first: "row"})
        else:
            table.insert(1, "row", counted)
        frames.append(table)
    if not frames:
        return empty
    if len(frames) == 1:
        table = frames[0]
    else:
        table = pd.concat(frames, ignore_index=True).sort_values("image", kind="stable",
                                                                  ignore_index=True)
    table["image"] = table["image"].astype(str)
    return table


def _replace(path, write):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        fix_mode(tmp)  # mkstemp made it 0600: the user's umask, as open() would
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


COMBINED_FILES = (RESULTS_CSV, RESULTS_PARQUET, SUMMARY_JSON)


def combined_hashes(outdir):
    """The SHA-256 of each combined file in ``outdir`` (a batch's manifest keeps them)."""
    from ..outputs import sha256

    return {name: sha256(Path(outdir) / name) for name in COMBINED_FILES if (Path(outdir) / name).is_file()}


def refuse_foreign_combined(outdir, recorded):
    """Refuse a batch whose folder holds a combined file fijirun did not write there.

    Parameters
    ----------
    outdir : Path
    recorded : dict
        File name -> SHA-256 of the combined files the batch's manifest says
        fijirun wrote (empty for a new batch).

    Raises
    ------
    BatchError
        ``results.csv``, ``results.parquet`` or ``summary.json`` exists and
        is not the one fijirun wrote (or was changed since).
    """
    from ..outputs import sha256
    from .inputs import BatchError

    for name in COMBINED_FILES:
        path = Path(outdir) / name
        if not (path.exists() or path.is_symlink()):
            continue
        try:
            ours = path.is_file() and not path.is_symlink() and recorded.get(name) == sha256(path)
        except OSError:
            ours = False
        if not ours:
            raise BatchError(f"{path} was not written by fijirun (or was changed since): a batch "
                             "writes its combined results there; move the file away, or use another "
                             "output folder")


def write_combined(outdir, table, summary, on_written=None):
    """Write ``results.csv``, ``results.parquet`` and ``summary.json`` atomically.

    Parameters
    ----------
    outdir : Path
    table : pandas.DataFrame
    summary : dict
    on_written : callable, optional
        ``on_written(name, path)`` right after each file is in place: the
        batch records its hash at once, so that a failure (or Ctrl-C) before
        the next one never leaves a file of fijirun's that a resume refuses.

    Returns
    -------
    dict
        Their paths.
    """
    outdir = Path(outdir)
    def written(name, path):
        if on_written is not None:
            on_written(name, path)

    csv, parquet = outdir / RESULTS_CSV, outdir / RESULTS_PARQUET
    _replace(csv, lambda tmp: table.to_csv(tmp, index=False))
    written(RESULTS_CSV, csv)
    frame = table.copy()
    frame.columns = [str(c) for c in frame.columns]
    for column in frame.columns:  # mixed object columns (a table's text column): as text
        if frame[column].dtype == object:
            frame[column] = frame[column].astype("string")
    _replace(parquet, lambda tmp: frame.to_parquet(tmp, index=False))
    written(RESULTS_PARQUET, parquet)
    write_json_atomic(outdir / SUMMARY_JSON, summary)
    written(SUMMARY_JSON, outdir / SUMMARY_JSON)
    return {"results_csv": str(csv), "results_parquet": str(parquet),
            "summary_json": str(outdir / SUMMARY_JSON)}


def image_frame(outdir, images):
    """One row per image: the batch's summary DataFrame.

    Columns: ``image``, ``input``, ``status``, ``error`` (type: message),
    ``seconds``, ``attempts``, ``n_outputs``, ``check``, ``output_dir``.
    """
    import pandas as pd

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
