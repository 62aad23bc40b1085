"""Differential fuzzing of ``fijirun check`` against real ImageJ 1.x.

Each example is a small random image and a random IJ macro running *Analyze Particles* with
random options, measurements, calibration, selection, background and saves. It runs through
one warm ``fijirun.Session("imagej1")`` with ``check=True``; then every output is mutated
(a table cell changed in its last printed digit, a row deleted, a ROI vertex moved, a mask
pixel relabelled) and checked again. Two kinds of wrong verdict are recorded:

* **false failure**: ``check`` fails an output that real ImageJ wrote, unmodified;
* **false pass**: ``check`` does not fail an output after a mutation that changed its values.

Also recorded: ``check`` raising (a traceback instead of a verdict), and outputs the
reference does not compare ("not compared: ..."), with their reasons.

    python scripts/fuzz_check.py --examples 200 --seed 1 [--keep DIR] [--json]

Exit status 1 when a wrong verdict or a crash was found.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

#: Set Measurements keys drawn from (``limit`` is left out: its MinThr/MaxThr columns are only
#: warned about, by design).
KEYS = ("area", "mean", "standard", "modal", "min", "centroid", "center", "perimeter", "bounding", "fit",
        "shape", "feret's", "integrated", "median", "skewness", "kurtosis", "area_fraction", "stack", "display")
#: Rarely used Set Measurements keys (ImageJ changes how it prints or places values).
RARE_KEYS = ("invert", "scientific", "nan")
SHOWS = ("Nothing", "Outlines", "[Bare Outlines]", "Ellipses", "Masks", "[Count Masks]", "Overlay",
         "[Overlay Masks]")
# the file name each show's image is saved under: label/mask words make check compare it
SHOW_FILES = {"Masks": "mask.tif", "[Count Masks]": "count_masks.tif", "Outlines": "drawing.tif",
              "[Bare Outlines]": "drawing.tif", "Ellipses": "drawing.tif"}


# --------------------------------------------------------------------------- images

def random_image(rng):
    """A small random image with particles, and how to analyse it.

    Returns
    -------
    pixels : numpy.ndarray
        8- or 16-bit, 2-D.
    kind : {"binary", "grey"}
        ``binary``: 0/255, analysed without a threshold (ImageJ's own rule); ``grey``: with one.
    threshold : (int, int) or None
        The levels to set on a grey image.
    """
    h, w = rng.randint(6, 40), rng.randint(6, 40)
    fg = np.zeros((h, w), bool)
    for _ in range(rng.randint(0, 8)):
        shape = rng.choice(("rect", "oval", "ring", "dot", "diagonal", "noise", "line"))
        y, x = rng.randint(-2, h - 1), rng.randint(-2, w - 1)  # may touch or cross an edge
        sh, sw = rng.randint(1, max(1, h // 2)), rng.randint(1, max(1, w // 2))
        yy, xx = np.ogrid[:h, :w]
        if shape == "rect":
            fg[max(0, y):y + sh, max(0, x):x + sw] = True
        elif shape in ("oval", "ring"):
            cy, cx, ry, rx = y + sh / 2, x + sw / 2, sh / 2 + 0.5, sw / 2 + 0.5
            d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
            fg |= d <= 1 if shape == "oval" else (d <= 1) & (d > 0.35)      # a ring: a hole
        elif shape == "dot":
            fg[max(0, y), max(0, x)] = True                                  # a 1-pixel particle
        elif shape == "diagonal":                                            # diagonal-only connections
            for k in range(rng.randint(2, 8)):
                if 0 <= y + k < h and 0 <= x + k < w:
                    fg[y + k, x + k] = True
        elif shape == "line":
            fg[max(0, y), max(0, x):x + sw] = True
        else:                                                                # sparse random pixels
            fg |= np.random.default_rng(rng.randint(0, 2**31)).random((h, w)) < 0.15
    depth = rng.choice((8, 8, 8, 16))
    if depth == 8 and rng.random() < 0.6:
        return np.where(fg, 255, 0).astype(np.uint8), "binary", None
    top = 255 if depth == 8 else rng.choice((255, 4095, 65535))
    noise = np.random.default_rng(rng.randint(0, 2**31))
    lo = rng.randint(1, top // 2)
    pixels = np.where(fg, noise.integers(lo, top + 1, fg.shape), noise.integers(0, lo, fg.shape))
    pixels = pixels.astype(np.uint8 if depth == 8 else np.uint16)
    if rng.random() < 0.5:
        threshold = (lo, top)
    else:  # a band: some particle pixels drop out (holes, split particles)
        a, b = sorted(rng.randint(0, top) for _ in range(2))
        threshold = (a, b)
    return pixels, "grey", threshold


# --------------------------------------------------------------------------- macros

@dataclass
class Example:
    """One generated example: the image, the macro and what it should save."""

    seed: int
    pixels: np.ndarray
    macro: str
    options: str = ""
    measurements: str = ""
    notes: list = field(default_factory=list)


def _range(rng, calibrated):
    lo = rng.choice((0, 0, 1, 2, 3, 5, 10))
    hi = rng.choice(("Infinity", "Infinity", 4, 8, 20, 50, 200))
    if calibrated:  # calibrated units: fractional bounds
        lo, hi = lo * rng.choice((0.25, 0.5, 1.5)), hi if hi == "Infinity" else hi * rng.choice((0.3, 2.0))
    return f"{lo}-{hi}"


def random_example(seed, rare=True):
    """A random image and macro (deterministic in ``seed``).

    Parameters
    ----------
    seed : int
        The example's seed.
    rare : bool
        Also draw the rarely used Set Measurements keys (``invert``, ``scientific``, ``nan``).

    Returns
    -------
    Example
    """
    rng = random.Random(seed)
    pixels, kind, threshold = random_image(rng)
    h, w = pixels.shape
    lines = ["open(input);"]
    black = rng.random() < 0.6
    lines.append(f'setOption("BlackBackground", {"true" if black else "false"});')
    if kind == "binary" and rng.random() < 0.3:
        lines.append('run("Invert LUT");')
    cal = rng.random() < 0.4
    if cal:
        if rng.random() < 0.5:
            known = rng.choice((1.5, 2, 3.25, 0.5, 7))
            aspect = rng.choice((1, 1, 1.5, 0.8))
            lines.append(f'run("Set Scale...", "distance=10 known={known} pixel={aspect} unit=um");')
        else:
            pw, ph = rng.choice((0.5, 0.25, 1.7, 2)), rng.choice((0.5, 0.3, 1.7, 2))
            lines.append(f'run("Properties...", "channels=1 slices=1 frames=1 unit=um pixel_width={pw} '
                         f'pixel_height={ph} voxel_depth=1");')
    else:
        lines.append('run("Set Scale...", "distance=0 known=0 unit=pixel");')
    keys = [k for k in KEYS if rng.random() < 0.35] or ["area"]
    if rare:
        keys += [k for k in RARE_KEYS if rng.random() < 0.1]
    decimals = rng.choice((0, 1, 2, 3, 3, 3, 4, 5, 9))
    measurements = " ".join(keys) + f" redirect=None decimal={decimals}"
    lines.append(f'run("Set Measurements...", "{measurements}");')
    if threshold is not None:
        lines.append(f"setThreshold({threshold[0]}, {threshold[1]});")
    elif rng.random() < 0.15:       # a binary image with a threshold set on it
        lines.append("setThreshold(255, 255);" if rng.random() < 0.5 else "setThreshold(0, 0);")
    sel = rng.random()
    if sel < 0.15:
        x, y = rng.randint(0, w - 2), rng.randint(0, h - 2)
        lines.append(f"makeRectangle({x}, {y}, {rng.randint(1, w - x)}, {rng.randint(1, h - y)});")
    elif sel < 0.25:
        x, y = rng.randint(0, w - 3), rng.randint(0, h - 3)
        lines.append(f"makeOval({x}, {y}, {rng.randint(2, w - x)}, {rng.randint(2, h - y)});")
    opts = []
    pixel_units = not cal or rng.random() < 0.5
    if rng.random() < 0.6:
        opts.append(f"size={_range(rng, not pixel_units)}" + (" pixel" if pixel_units else ""))
    elif pixel_units and rng.random() < 0.5:
        opts.append("pixel")
    if rng.random() < 0.3:
        lo = rng.choice((0.0, 0.1, 0.3, 0.5, 0.8))
        opts.append(f"circularity={lo:.2f}-{rng.choice(('1.00', '0.90', '1.00'))}")
    show = rng.choice(SHOWS)
    opts.append(f"show={show}")
    # a run that saves nothing is failed "missing" by design: such runs save their Results
    display = rng.random() < 0.7 or show not in SHOW_FILES
    summarize = rng.random() < 0.35
    if summarize and rng.random() < 0.7:
        display = False             # the Summary is saved when it is the front table
    for flag, p in (("display", None), ("exclude", 0.3), ("clear", 0.7), ("include", 0.3),
                    ("summarize", None), ("add", 0.4)):
        if (flag == "display" and display) or (flag == "summarize" and summarize) \
                or (p is not None and rng.random() < p):
            opts.append(flag)
    options = " ".join(opts)
    lines.append(f'run("Analyze Particles...", "{options}");')
    out = 'outputDir + File.separator + '
    if show in SHOW_FILES:
        lines.append(f'saveAs("Tiff", {out}"{SHOW_FILES[show]}");')
    if display:
        ext = rng.choice((".csv", ".txt", ".tsv", ".csv", ".xls"))
        lines.append(f'saveAs("Results", {out}"results{ext}");')
    if "summarize" in opts and "display" not in opts:
        # the Summary window is the front table then: saveAs("Results") saves it (selectWindow,
        # Table.save and IJ.renameResults of "Summary" fail under fijirun, see the report)
        lines.append(f'saveAs("Results", {out}"summary{rng.choice((".csv", ".txt"))}");')
    if "add" in opts:
        lines.append(f'if (roiManager("count") > 0) roiManager("save", {out}"rois.zip");')
        lines.append('roiManager("reset");')
    lines.append('run("Set Measurements...", "area mean min centroid redirect=None decimal=3");')
    lines.append('setOption("BlackBackground", true);')
    macro = "#@ File input\n#@ File outputDir\n" + "\n".join(lines) + "\n"
    return Example(seed, pixels, macro, options=options, measurements=measurements)


# --------------------------------------------------------------------------- mutations

def _numeric_cells(path):
    from fijirun.check.compare import read_table_text

    table, sep = read_table_text(path)
    cells = []
    for ci, c in enumerate(table.columns):
        if c in ("Label", "Slice"):
            continue
        for ri in range(len(table)):
            text = str(table.iloc[ri, ci]).strip()
            try:
                float(text)
            except ValueError:
                continue
            if text.lower() in ("nan", "infinity", "-infinity"):
                continue
            cells.append((ri, c, text))
    return table, sep, cells


def bump_last_digit(text):
    """``text`` (a printed number) changed by one unit of its last printed digit."""
    mant, _, exp = text.upper().partition("E")
    digits = list(mant)
    i = max(k for k, ch in enumerate(digits) if ch.isdigit())
    digits[i] = "1" if digits[i] == "0" else str(int(digits[i]) - 1)
    return "".join(digits) + (("E" + exp) if exp else "")


def _write_table(path, table, sep):
    # row numbers as the first, unnamed column when ImageJ wrote them (" " heading)
    text = path.read_text()
    first = text.splitlines()[0].split(sep)[0] if sep else ""
    rows = [sep.join([first] + list(table.columns)) if first.strip() == "" else sep.join(table.columns)]
    for idx, row in table.iterrows():
        cells = [str(v) for v in row.tolist()]
        rows.append(sep.join(([str(idx)] if first.strip() == "" else []) + cells))
    path.write_text("\n".join(rows) + "\n")


def mutations(folder, rng):
    """The mutations of a run folder's outputs: [(name, output, function that applies it)]."""
    import roifile
    import tifffile

    found = []
    for path in sorted(folder.iterdir()):
        rel = path.name
        if not path.is_file() or rel == "run.json":
            continue
        suffix = path.suffix.lower()
        if suffix in (".csv", ".txt", ".tsv", ".xls"):
            try:
                table, sep, cells = _numeric_cells(path)
            except Exception:  # noqa: BLE001 - not a table: nothing to mutate
                continue
            if sep is None:
                continue
            if cells:
                ri, c, text = cells[rng.randrange(len(cells))]

                def cell(p=path, ri=ri, c=c, text=text):
                    table, sep, _ = _numeric_cells(p)
                    table.iloc[ri, list(table.columns).index(c)] = bump_last_digit(text)
                    _write_table(p, table, sep)
                found.append((f"cell row {ri + 1} {c} {text}->{bump_last_digit(text)}", rel, cell))
            if len(table) >= 1 and not ("Count" in table.columns and len(table) == 1):
                ri = rng.randrange(len(table))

                def delete(p=path, ri=ri):
                    table, sep, _ = _numeric_cells(p)
                    _write_table(p, table.drop(table.index[ri]), sep)
                found.append((f"delete row {ri + 1}", rel, delete))
        elif suffix == ".zip":
            rois = roifile.roiread(str(path))
            rois = rois if isinstance(rois, list) else [rois]
            if rois:
                k = rng.randrange(len(rois))
                n = len(rois[k].integer_coordinates)
                v = rng.randrange(n) if n else 0
                dx, dy = rng.choice(((1, 0), (-1, 0), (0, 1), (0, -1)))

                def move(p=path, k=k, v=v, dx=dx, dy=dy):
                    rois = roifile.roiread(str(p))
                    rois = rois if isinstance(rois, list) else [rois]
                    coords = rois[k].integer_coordinates.copy()
                    coords[v] += (dx, dy)
                    rois[k].integer_coordinates = coords
                    p.unlink()
                    roifile.roiwrite(str(p), rois)
                found.append((f"ROI {k + 1} vertex {v} moved by ({dx}, {dy})", rel, move))
        elif suffix == ".tif" and ("mask" in rel or "count" in rel):
            arr = tifffile.imread(path)
            if arr.ndim != 2:
                continue
            y, x = rng.randrange(arr.shape[0]), rng.randrange(arr.shape[1])
            labels = [int(v) for v in np.unique(arr)]
            others = [v for v in labels + [int(arr.max()) + 1] if v != int(arr[y, x])]
            if "count" not in rel:      # a binary Masks image: flip the pixel
                others = [255 if arr[y, x] == 0 else 0]
            new = rng.choice(others)

            def relabel(p=path, y=y, x=x, new=new):
                arr = tifffile.imread(p)
                arr[y, x] = new
                tifffile.imwrite(p, arr, imagej=True)
            found.append((f"pixel ({x}, {y}) {int(arr[y, x])}->{new}", rel, relabel))
    return found


# --------------------------------------------------------------------------- the loop

def _summary(report):
    return [(o.path, o.verdict, o.reason) for o in report.outputs]


def run_example(session, ex, workdir, check_mutations=True):
    """Run one example, check it, mutate its outputs; return the findings (a dict)."""
    from fijirun.check import CheckError, check

    base = workdir / f"ex{ex.seed}"
    base.mkdir(parents=True, exist_ok=True)
    import tifffile

    image = base / "input.tif"
    tifffile.imwrite(image, ex.pixels, imagej=True)
    script = base / "fuzz.ijm"
    script.write_text(ex.macro)
    found = {"seed": ex.seed, "options": ex.options, "measurements": ex.measurements,
             "false_failures": [], "not_compared": [], "warnings": [], "crashes": [], "false_passes": [],
             "same_pixels": [], "mutations": 0, "outputs": 0, "run_error": None}
    out = base / "out"
    try:
        result = session.run(script, input=image, output_dir=out, check=True, raise_on_error=False)
    except CheckError as exc:       # one-line error: a refusal, recorded as such
        found["crashes"].append(f"CheckError during run: {exc}")
        return found
    except Exception:  # noqa: BLE001 - a traceback: exactly what the fuzzer looks for
        found["crashes"].append("run raised: " + traceback.format_exc(limit=6))
        return found
    if result.status != "ok":
        found["run_error"] = str(result.error)
        return found
    report = result.check
    if report is None:
        found["crashes"].append("no check report")
        return found
    found["outputs"] = len(report.outputs)
    for path, verdict, reason in _summary(report):
        if verdict == "fail":
            found["false_failures"].append(f"{path}: {reason}")
        elif verdict == "warn":
            (found["not_compared"] if "not compared" in reason else found["warnings"]).append(f"{path}: {reason}")
    if not check_mutations or report.verdict == "fail":
        return found
    rng = random.Random(ex.seed * 7919 + 1)
    for name, rel, apply in mutations(result.output_dir, rng):
        copy = base / f"mut{found['mutations']}"
        shutil.copytree(result.output_dir, copy)
        found["mutations"] += 1
        try:
            apply(copy / rel)
            before = (result.output_dir / rel).read_bytes()
            if (copy / rel).read_bytes() == before:
                continue        # the mutation changed nothing (same bytes)
            mreport = check(copy)
            v = mreport[rel]
            if v.verdict != "fail":
                said = " | ".join(f"{f.verdict}: {f.message}" for f in v.findings)
                # a ROI whose moved vertex encloses the same pixels is the same selection: by
                # design a pass ("encoded differently"), the file's changed hash warns
                same = rel.endswith((".zip", ".roi")) and "same pixels" in said
                found["same_pixels" if same else "false_passes"].append(f"{rel}: {name}: {v.verdict}: {said}")
        except CheckError as exc:
            found["crashes"].append(f"{rel}: {name}: CheckError {exc}")
        except Exception:  # noqa: BLE001
            found["crashes"].append(f"{rel}: {name}: " + traceback.format_exc(limit=6))
        finally:
            shutil.rmtree(copy, ignore_errors=True)
    return found


def fuzz(session, n, seed, workdir, rare=True, log=print):
    """Run ``n`` examples from ``seed``; return the list of findings, one dict per example."""
    results = []
    for k in range(n):
        ex = random_example(seed * 100_000 + k, rare=rare)
        t0 = time.time()
        found = run_example(session, ex, workdir)
        found["seconds"] = round(time.time() - t0, 2)
        results.append(found)
        bad = found["false_failures"] or found["false_passes"] or found["crashes"]
        if log and bad:
            log(f"--- example {ex.seed} ({found['seconds']} s)\n{ex.macro}")
            for key in ("false_failures", "false_passes", "crashes"):
                for item in found[key]:
                    log(f"  {key}: {item}")
        if not bad:
            shutil.rmtree(workdir / f"ex{ex.seed}", ignore_errors=True)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", type=Path, help="keep the examples with findings here (default: a temp folder)")
    p.add_argument("--no-rare", action="store_true", help="leave out invert, scientific and nan")
    p.add_argument("--json", type=Path, help="write every example's findings here")
    args = p.parse_args(argv)
    import fijirun

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="fuzz-check-"))
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with fijirun.Session("imagej1", timeout=60) as session:
        results = fuzz(session, args.examples, args.seed, workdir, rare=not args.no_rare)
    counts = Counter()
    for r in results:
        for key in ("false_failures", "false_passes", "crashes", "not_compared", "warnings", "same_pixels"):
            counts[key] += len(r[key])
        counts["mutations"] += r["mutations"]
        counts["outputs"] += r["outputs"]
        counts["run_errors"] += r["run_error"] is not None
    print(f"{len(results)} examples in {time.time() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in
                                                                            sorted(counts.items())))
    warned = Counter(w.split(": ", 1)[1][:90] for r in results for w in r["warnings"] + r["not_compared"])
    for reason, n in warned.most_common(15):
        print(f"  warn x{n}: {reason}")
    errors = Counter((r["run_error"] or "")[:120] for r in results if r["run_error"])
    for reason, n in errors.most_common(10):
        print(f"  run error x{n}: {reason}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    bad = counts["false_failures"] or counts["false_passes"] or counts["crashes"]
    if bad or args.keep:
        print(f"examples with findings kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)  # nothing to look at: no temp folder left behind
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
