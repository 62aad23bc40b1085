"""Format lint: whether a file can hold what it claims to hold, and be opened elsewhere.

Rules (each a finding with a verdict):

=====================================  =======  ====================================================
file                                   verdict  why
=====================================  =======  ====================================================
table, tab-delimited (.txt/.tsv)       pass     plain text, opens in any spreadsheet or pandas
table, comma-separated (.csv)          pass     idem
table, tab-delimited text named .xls   warn     Excel warns that content and extension disagree
table whose delimiter contradicts its  warn     e.g. a .csv with tabs
extension
empty / unreadable table               fail
label mask as JPEG (or JPEG-in-TIFF)   fail     "lossy": compression changes label values
label mask as RGB / RGBA               fail     LUT-rendered colours, the label values are lost
label mask, 8-bit format with more     fail     "overflow" (found when compared; see compare.py)
than 255 labels
label mask as TIFF, PNG, GIF, BMP      pass     lossless
other image as JPEG                    warn     fine to look at, not to measure
ROI set (.zip of .roi / .roi)          pass     ImageJ's own format (roifile, Fiji)
unreadable ROI set                     fail
declared output missing                fail     "missing": the run said it wrote it
=====================================  =======  ====================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..outputs import table_delimiter
from .model import FAIL, PASS, WARN, CheckError

__all__ = ["StoredImage", "read_stored_image", "lint_table", "lint_mask", "lint_image", "lint_rois"]

_JPEG_TIFF_COMPRESSION = {6, 7, 34892}


@dataclass
class StoredImage:
    """Pixel values as stored, and what the format did to them.

    Attributes
    ----------
    values : numpy.ndarray
        2-D stored values (palette indices for palette images); for RGB, an
        integer code per colour (``r << 16 | g << 8 | b``).
    format : str
        ``TIFF``, ``PNG``, ``JPEG``, ``GIF``, ``BMP``.
    bits : int
        Bits per stored value.
    lossy, rgb, palette : bool
    """

    values: np.ndarray
    format: str
    bits: int
    lossy: bool = False
    rgb: bool = False
    palette: bool = False


def _rgb_codes(arr):
    arr = np.asarray(arr)[..., :3].astype(np.int64)
    return (arr[..., 0] << 16) | (arr[..., 1] << 8) | arr[..., 2]


def read_stored_image(path):
    """Read an image's stored values and format facts (tifffile / Pillow).

    Raises
    ------
    CheckError
        When the file cannot be read, naming it.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                arr = page.asarray()
                compression = int(page.compression)
                rgb = page.samplesperpixel >= 3
            while arr.ndim > (3 if rgb else 2):
                arr = arr[0]
            lossy = compression in _JPEG_TIFF_COMPRESSION
            if rgb:
                return StoredImage(_rgb_codes(arr), "TIFF", 24, lossy=lossy, rgb=True)
            return StoredImage(arr, "TIFF", arr.dtype.itemsize * 8, lossy=lossy)
        from PIL import Image

        with Image.open(path) as im:
            fmt = im.format or path.suffix.lstrip(".").upper()
            mode = im.mode
            arr = np.asarray(im)
    except CheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder error, reported with the file
        raise CheckError(f"cannot read the image {path}: {exc}") from None
    lossy = fmt in ("JPEG", "MPO")
    if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LA") or arr.ndim == 3:
        return StoredImage(_rgb_codes(arr) if arr.ndim == 3 else arr, fmt, 24, lossy=lossy, rgb=arr.ndim == 3)
    bits = {"1": 1, "L": 8, "P": 8, "I;16": 16, "I;16B": 16, "I;16L": 16, "I": 32, "F": 32}.get(mode, 8)
    if mode == "1":
        arr = arr.astype(np.uint8)
    return StoredImage(arr, fmt, bits, lossy=lossy, palette=mode == "P")


def lint_table(verdict, path, expected_rows=None):
    """Format findings for a results table (``expected_rows``: the reference's particle count).

    Returns
    -------
    str or None
        The delimiter to read the table with (``","`` for a single column); None for an empty
        file, which has nothing more to compare.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            header = f.readline()
            second = f.readline()
    except OSError as exc:
        raise CheckError(f"cannot read the table {path}: {exc.strerror}") from None
    if not header.strip():
        if expected_rows == 0:  # ImageJ saves an empty Results table as an empty file
            verdict.add(PASS, "empty table file: no particle, as in the reference")
        else:
            verdict.add(FAIL, "empty table file")
        return None
    one_column = "\t" not in header and "," not in header
    sep = table_delimiter(header)  # a single column (or text that is no table) is read as one column
    suffix = path.suffix.lower()
    verdict.details["delimiter"] = "none" if one_column else {"\t": "tab", ",": "comma"}[sep]
    if one_column and not second.strip():
        verdict.add(WARN, "a single column without data rows")
    elif one_column:
        # the file is still compared (its one column against the reference's): a lone column
        # must not pass unread, and text that is no table fails there (missing columns)
        verdict.add(PASS, "a single column (no delimiter)")
    elif suffix == ".xls" and sep == "\t":
        verdict.add(WARN, "tab-delimited text named .xls: Excel warns that content and extension disagree")
    elif suffix == ".csv" and sep == "\t":
        verdict.add(WARN, "a .csv file delimited by tabs")
    elif suffix in (".txt", ".tsv") and sep == "\t":
        verdict.add(PASS, "tab-delimited text: a good table format")
    elif sep == ",":
        verdict.add(PASS, "comma-separated text: a good table format")
    else:
        verdict.add(PASS, "delimited text")
    return sep


def lint_mask(verdict, stored):
    """Format findings for a label mask. Returns False when its values cannot be labels."""
    verdict.details.update(format=stored.format, bits=stored.bits, lossy=stored.lossy, rgb=stored.rgb)
    ok = True
    if stored.lossy:
        verdict.add(FAIL, f"lossy: {stored.format} compression alters label values; save masks as TIFF or PNG")
    if stored.rgb:
        verdict.add(FAIL, "LUT-rendered RGB: the label values are lost (colours saved instead of numbers)")
        ok = False
    if not stored.lossy and not stored.rgb:
        verdict.add(PASS, f"lossless {stored.format}, {stored.bits}-bit"
                          + (" (palette indices are the labels)" if stored.palette else ""))
    return ok


def lint_image(verdict, stored):
    """Format findings for a saved image that is not a label mask."""
    verdict.details.update(format=stored.format, bits=stored.bits, lossy=stored.lossy, rgb=stored.rgb)
    if stored.lossy:
        verdict.add(WARN, f"lossy {stored.format}: fine to look at, not to measure")
    else:
        verdict.add(PASS, f"lossless {stored.format} image (not a label mask: not compared)")


def lint_rois(verdict, path):
    """Read an ROI set (.zip / .roi), adding a failure when it cannot be read."""
    import roifile

    try:
        rois = roifile.roiread(str(path))
    except Exception as exc:  # noqa: BLE001 - zip and ROI decoding errors
        verdict.add(FAIL, f"unreadable ROI set: {exc}")
        return None
    rois = rois if isinstance(rois, list) else [rois]
    verdict.details["count"] = len(rois)
    verdict.details["types"] = sorted({str(getattr(r.roitype, "name", r.roitype)) for r in rois})
    return rois
