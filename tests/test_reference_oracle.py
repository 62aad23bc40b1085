"""Helpers for the reference tests: run ImageJ's Analyze Particles through the
engine (the ``ij_session`` fixture) on a batch of images and compare its
outputs with :mod:`fijirun.reference`."""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import roifile
import tifffile

from fijirun.reference import analyze_particles, format_value

ALL_KEYS = ("area mean standard modal min centroid center perimeter bounding fit shape "
            "feret's integrated median skewness kurtosis area_fraction")

# One macro run analyses a batch of images described in a tab-separated spec file.
MACRO = r"""
#@ File input
#@ File outputDir
setBatchMode(true);
spec = File.openAsString(input);
lines = split(spec, "\n");
for (i=0; i<lines.length; i++) {
  f = split(lines[i], "\t");
  setOption("BlackBackground", f[8]=="1");
  open(f[0]);
  if (f[3]!="-") run("Properties...", "unit="+f[5]+" pixel_width="+f[3]+" pixel_height="+f[4]);
  if (f[1]!="-") setThreshold(parseFloat(f[1]), parseFloat(f[2]));
  run("Set Measurements...", f[6]+" redirect=None decimal=3");
  roiManager("reset");
  run("Clear Results");
  run("Analyze Particles...", f[7]+" show=[Count Masks] display clear add");
  saveAs("Tiff", outputDir+"/"+i+"_mask.tif");
  if (roiManager("count")>0) roiManager("save", outputDir+"/"+i+"_rois.zip");
  saveAs("Results", outputDir+"/"+i+"_results.csv");
  close("*");
}
"""


@dataclass
class Case:
    """One Analyze Particles call: an image (array or file) and its options."""
    image: object                      # np.ndarray or path of an image file
    threshold: tuple | None = None
    calibration: tuple | None = None   # (pixel_width, pixel_height, unit), set with Properties...
    keys: str = ALL_KEYS
    size: tuple = (0, math.inf)
    pixel_units: bool = True
    circularity: tuple = (0.0, 1.0)
    exclude_edges: bool = False
    include_holes: bool = False
    black_background: bool = True
    label: str = ""
    extra: dict = field(default_factory=dict)

    def options(self):
        hi = "Infinity" if self.size[1] == math.inf else repr(float(self.size[1]))
        s = f"size={float(self.size[0])!r}-{hi} "
        if self.pixel_units:
            s += "pixel "
        s += f"circularity={self.circularity[0]:.2f}-{self.circularity[1]:.2f} "
        if self.exclude_edges:
            s += "exclude "
        if self.include_holes:
            s += "include "
        return s

    def reference(self):
        image = self.image
        return analyze_particles(
            image, threshold=self.threshold, calibration=self.calibration,
            measurements=self.keys, size=self.size, pixel_units=self.pixel_units,
            circularity=self.circularity, exclude_edges=self.exclude_edges,
            include_holes=self.include_holes, black_background=self.black_background)


@dataclass
class IJOutput:
    table: pd.DataFrame | None
    rois: list
    mask: np.ndarray


def run_imagej(session, cases, workdir=None):
    """Run ImageJ on all cases in one macro run; returns one IJOutput per case."""
    if workdir is None:  # a private folder, removed once the outputs are read
        with tempfile.TemporaryDirectory(prefix="fijirun-ref-") as tmp:
            return run_imagej(session, cases, tmp)
    work = Path(workdir)
    inp = work / "in"
    out = work / "out"
    inp.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, c in enumerate(cases):
        if isinstance(c.image, (str, os.PathLike)):
            path = str(Path(c.image).resolve())
        else:
            path = str(inp / f"{i}.tif")
            tifffile.imwrite(path, np.asarray(c.image), imagej=True)
        thr = ("-", "-") if c.threshold is None else (repr(float(c.threshold[0])), repr(float(c.threshold[1])))
        cal = ("-", "-", "-") if c.calibration is None else (repr(float(c.calibration[0])),
                                                          repr(float(c.calibration[1])), c.calibration[2])
        lines.append("\t".join([path, *thr, *cal, c.keys, c.options(), "1" if c.black_background else "0"]))
    spec = inp / "spec.txt"
    spec.write_text("\n".join(lines))
    session.run_code(MACRO, "ijm", params={"input": str(spec), "outputDir": str(out)})
    results = []
    for i in range(len(cases)):
        mask = tifffile.imread(out / f"{i}_mask.tif")
        zp = out / f"{i}_rois.zip"
        rois = roifile.roiread(zp) if zp.exists() else []
        if not isinstance(rois, list):
            rois = [rois]
        csv = out / f"{i}_results.csv"
        # no particle: ImageJ may save no Results file, or one with no columns
        table = (pd.read_csv(csv, dtype=str, keep_default_na=False)
                 if csv.exists() and csv.read_text().strip() else None)
        results.append(IJOutput(table, rois, mask))
    return results


def _same_number(ij_text, ours, decimals=3):
    s = format_value(ours, decimals)
    try:
        a = float(ij_text)
        b = float(s)
    except ValueError:
        return ij_text == s
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b


def differences(ij: IJOutput, res, decimals=3, max_report=5):
    """List of human-readable differences between ImageJ and the reference."""
    probs = []
    if ij.mask.shape != res.count_mask.shape or not np.array_equal(ij.mask, res.count_mask):
        nd = int(np.count_nonzero(ij.mask != res.count_mask)) if ij.mask.shape == res.count_mask.shape else -1
        probs.append(f"count masks differ in {nd} pixels")
    if len(ij.rois) != len(res.rois):
        probs.append(f"{len(ij.rois)} ImageJ ROIs vs {len(res.rois)}")
    else:
        for i, (a, b) in enumerate(zip(ij.rois, res.rois)):
            if not np.array_equal(a.coordinates(), b.coordinates()):
                probs.append(f"ROI {i + 1}: vertex lists differ")
                break
            if (a.left, a.top, a.right, a.bottom) != (b.left, b.top, b.right, b.bottom):
                probs.append(f"ROI {i + 1}: bounds differ")
                break
            if a.name != b.name:
                probs.append(f"ROI {i + 1}: name {a.name!r} vs {b.name!r}")
                break
    if ij.table is None:
        if len(res.table):
            probs.append(f"ImageJ found no particle, the reference {len(res.table)}")
        return probs
    cols = [c for c in ij.table.columns if c.strip()]
    if cols != list(res.table.columns):
        probs.append(f"columns {cols} vs {list(res.table.columns)}")
    if len(ij.table) != len(res.table):
        probs.append(f"{len(ij.table)} rows vs {len(res.table)}")
        return probs
    for c in cols:
        if c not in res.values:
            continue
        for i, (a, b) in enumerate(zip(ij.table[c].tolist(), res.values[c].tolist())):
            if not _same_number(a, b, decimals):
                probs.append(f"{c}[{i + 1}]: ImageJ {a} vs {format_value(b, decimals)} ({b!r})")
                if len(probs) >= max_report:
                    return probs
                break
    return probs


# --------------------------------------------------------------------------- unit tests (no ImageJ)

def test_format_value_like_resultstable():
    assert format_value(12.0) == "12"
    assert format_value(1.23456) == "1.235"
    assert format_value(0.0625, 3) == "0.062"          # half-even on the exact value
    assert format_value(0.0004567) == "4.567E-4"
    assert format_value(float("nan")) == "NaN"


def test_labels_rois_round_trip():
    from fijirun.reference import labels_to_rois_with_values, rois_to_labels
    rng = np.random.default_rng(3)
    lab = np.zeros((40, 50), np.uint16)
    for k in range(1, 12):
        y, x = rng.integers(0, 35), rng.integers(0, 45)
        lab[y:y + rng.integers(1, 6), x:x + rng.integers(1, 6)] = k
    rois, vals = labels_to_rois_with_values(lab)
    back = rois_to_labels(rois, lab.shape)
    lut = np.r_[0, vals].astype(np.uint16)
    assert np.array_equal(lut[back], lab)
