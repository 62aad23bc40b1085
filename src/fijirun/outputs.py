"""Reading what a run saved: tables, ROI sets, images.

Each reader uses the library made for the format: pandas for ImageJ's
results tables (tab- or comma-delimited, as ImageJ wrote them), roifile for
ROI sets, tifffile for TIFF and Pillow for PNG/JPEG/GIF/BMP.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

__all__ = ["output_kind", "read_table", "count_table_rows", "table_delimiter", "is_row_number_heading", "read_rois",
           "read_image",
           "sha256", "TABLE_SUFFIXES", "ROI_SUFFIXES", "IMAGE_SUFFIXES"]

TABLE_SUFFIXES = (".txt", ".csv", ".tsv", ".xls")
ROI_SUFFIXES = (".zip", ".roi")
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".gif", ".bmp")


def output_kind(path):
    """``"table"``, ``"rois"``, ``"image"`` or ``"other"`` by file name."""
    suffix = Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return "table"
    if suffix in ROI_SUFFIXES:
        return "rois"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "other"


def sha256(path, chunk=1 << 20):
    """The SHA-256 of the file at ``path`` as a hex string, read ``chunk`` bytes at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def table_delimiter(header):
    """The delimiter of a table whose first line is ``header``: tab or comma.

    ImageJ saves tables tab-delimited (.txt, .xls) or comma-delimited (.csv) and
    names the columns on the first line; a tab there means tabs. Every reader of
    tables in fijirun (engine, check, batch, regress) decides it here.
    """
    return "\t" if "\t" in header else ","


def is_row_number_heading(name):
    """Whether a column heading is ImageJ's unnamed row-number column (``" "``).

    pandas reads it as ``" "`` or, when blank, ``"Unnamed: 0"``.
    """
    return str(name).strip() == "" or str(name).startswith("Unnamed")


def read_table(path):
    """An ImageJ results table as a DataFrame.

    The delimiter is the one ImageJ wrote (tab for .txt/.xls/.tsv, comma for
    .csv, checked on the header line). ImageJ's unnamed row-number column
    (``" "``), when present, becomes the index.
    """
    import numpy as np  # here, as pandas: not paid by a run that reads no table
    import pandas as pd  # here: importing pandas would add 0.5 s to every engine start

    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline()
    if not header.strip():
        return pd.DataFrame()
    table = pd.read_csv(path, sep=table_delimiter(header))
    first = table.columns[0] if len(table.columns) else None
    if first is not None and is_row_number_heading(first):
        column = table[first]
        if pd.api.types.is_integer_dtype(column) and (column.to_numpy() == np.arange(1, len(table) + 1)).all():
            table = table.set_index(first)
            table.index.name = None
    return table


def count_table_rows(path):
    """How many rows :func:`read_table` would give, without pandas.

    A one-shot ``fijirun run`` reports row counts; importing pandas for them
    alone would cost it 0.3 s. Blank lines are skipped as pandas skips them;
    quoted fields may hold delimiters and line breaks.
    """
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        header = f.readline()
        if not header.strip():
            return 0
        sep = table_delimiter(header)
        record_lines = []  # the physical lines of the record being read

        def lines():
            for line in f:
                record_lines.append(line)
                yield line

        rows = 0
        for row in csv.reader(lines(), delimiter=sep):
            raw = "".join(record_lines)
            record_lines.clear()
            # pandas skips a line of whitespace without a delimiter; a quoted " " is a value
            if row and (sep in raw or raw.strip()):
                rows += 1
        return rows


def read_rois(path):
    """An ImageJ ROI set (.zip) or single ROI (.roi) as a list of ``roifile.ImagejRoi``."""
    import roifile

    rois = roifile.ImagejRoi.fromfile(str(path))
    return rois if isinstance(rois, list) else [rois]


def read_image(path):
    """Pixel values as a numpy array (labels kept exactly: no LUT applied)."""
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile

        return tifffile.imread(path)
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        # for palette ("P") images these are the stored indices, not the colours
        return np.asarray(im)
