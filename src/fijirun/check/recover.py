"""What ImageJ ran: ``run.json`` (or command-line options) → reference options.

The reference (:func:`fijirun.reference.analyze_particles`) needs the
analysed image and the options of *Set Measurements* and *Analyze
Particles*. They are recovered in this order:

1. **Options given explicitly** (``check(..., options=, measurements=,
   threshold=)``, ``fijirun check --options/--measurements/--threshold``).
2. **Recorded commands** in ``run.json``: the last ``Analyze Particles...``,
   the last ``Set Measurements...`` and ``Properties...`` before it
   (ImageJ's own option strings, parsed like ImageJ's macro options).
3. **The script**, when ``run.json`` names it and its SHA-256 still matches:
   a literal ``setThreshold(lo, hi)`` / ``IJ.setThreshold(imp, lo, hi)``
   (``setThreshold`` is not a recorded command), and for Jython scripts that
   call ``ParticleAnalyzer`` directly (no command is recorded) its flag
   constants (``EXCLUDE_EDGE_PARTICLES``, ``INCLUDE_HOLES``).
4. **The run's parameters**: with no recorded Analyze Particles, a size range
   from parameters named like ``minSize`` / ``maxSize``.
5. **The saved table**: with no recorded Set Measurements, the measurement
   keys whose columns the table has; the number of decimals it was written with.

The **particle image** (what Analyze Particles saw) is derived by this rule:

* the input is the ``--image`` given, else the first input of ``run.json``;
* with a known threshold ``(lo, hi)``: the image thresholded at it — through
  *Convert to Mask* (binary 0/255) when that command ran, else analysed as a
  thresholded grey image (intensities measured on it);
* with no threshold and a binary input (at most two values): used as is;
  0/255 images with foreground 255 (Black background, as the course sets it),
  other two-valued images with foreground = the non-zero value;
* otherwise (a grey image with an unknown threshold, or binary processing the
  reference does not implement — *Watershed*, *Fill Holes*, filters — before
  Analyze Particles): the particle image is the saved label mask's foreground
  (``mask > 0``) with intensities measured on the input. The report says so:
  then only the consistency of the outputs with one another is checked.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..prepare import read_script_text
from ..reference import COLUMNS, MEASUREMENT_KEYS, Calibration
from .model import CheckError

__all__ = ["Spec", "parse_options", "parse_size", "recover", "load_image"]

_OPTION = re.compile(r"([A-Za-z_][\w.'\-]*)(?:=(\[[^\]]*\]|\S+))?")
_THRESHOLD = re.compile(r"setThreshold\(\s*(?:[A-Za-z_]\w*\s*,\s*)?(-?[\d.]+)\s*,\s*(-?[\d.]+)")
#: Commands that change a binary/grey image in ways the reference does not reproduce.
_UNSUPPORTED_STEPS = ("Watershed", "Fill Holes", "Erode", "Dilate", "Open", "Close-", "Outline",
                      "Skeletonize", "Invert", "Median...", "Gaussian Blur...", "Mean...",
                      "Subtract Background...", "Auto Threshold", "Make Binary", "Remove Outliers...",
                      "Distance Map", "Ultimate Points", "Voronoi", "Minimum...", "Maximum...",
                      "Unsharp Mask...", "Enhance Contrast...", "8-bit", "16-bit", "32-bit")


def parse_options(text):
    """An ImageJ macro option string as a dict (flags map to True).

    >>> parse_options("size=0-1000 pixel show=[Count Masks] display")
    {'size': '0-1000', 'pixel': True, 'show': 'Count Masks', 'display': True}
    """
    out = {}
    for key, value in _OPTION.findall(text or ""):
        out[key] = True if value == "" else value.strip("[]")
    return out


def parse_size(text):
    """``"0-1000"``, ``"50-Infinity"``, ``"10"`` → ``(min, max)``."""
    text = str(text).strip()
    lo, sep, hi = text.partition("-")
    try:
        low = float(lo) if lo else 0.0
        high = math.inf if not sep or hi.lower() in ("infinity", "inf", "") else float(hi)
    except ValueError:
        raise CheckError(f"cannot read the size range {text!r}") from None
    return low, high


@dataclass
class Spec:
    """Everything the reference needs, and where it came from.

    Attributes
    ----------
    image_path : Path or None
        The input image.
    threshold : tuple or None
    convert_to_mask : bool
    size, pixel_units, circularity, exclude_edges, include_holes
        Analyze Particles options.
    measurements : str
        Set Measurements keys, space separated.
    decimals : int or None
        ``decimal=`` of Set Measurements (None: infer from the saved table).
    calibration : Calibration or None
    from_mask : bool
        The particle image is the saved mask's foreground (consistency mode).
    unsupported : list of str
        Recorded steps the reference does not reproduce.
    sources : dict
        Option name → where it came from ("command", "script", "parameters", "table", "default", "given").
    assumptions : list of str
    """

    image_path: Path | None = None
    threshold: tuple | None = None
    convert_to_mask: bool = False
    size: tuple = (0.0, math.inf)
    pixel_units: bool = True
    circularity: tuple = (0.0, 1.0)
    exclude_edges: bool = False
    include_holes: bool = False
    measurements: str | None = None
    decimals: int | None = None
    calibration: Calibration | None = None
    from_mask: bool = False
    unsupported: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)
    assumptions: list = field(default_factory=list)

    def to_dict(self):
        """The recovered options as the report's ``recovered`` JSON object."""
        return {
            "image": str(self.image_path) if self.image_path else None,
            "threshold": list(self.threshold) if self.threshold else None,
            "convert_to_mask": self.convert_to_mask,
            "size": [self.size[0], "Infinity" if self.size[1] == math.inf else self.size[1]],
            "pixel_units": self.pixel_units,
            "circularity": list(self.circularity),
            "exclude_edges": self.exclude_edges,
            "include_holes": self.include_holes,
            "measurements": self.measurements,
            "decimals": self.decimals,
            "calibration": (None if self.calibration is None else
                            [self.calibration.pixel_width, self.calibration.pixel_height,
                             self.calibration.unit]),
            "particle_image": "saved mask foreground" if self.from_mask else "input",
            "unsupported_steps": self.unsupported,
            "sources": self.sources,
        }


def apply_analyze_options(spec, options, source):
    """Set the Analyze Particles fields of ``spec`` from an option string."""
    opts = parse_options(options)
    if "size" in opts:
        spec.size = parse_size(opts["size"])
    spec.pixel_units = bool(opts.get("pixel", False))
    if "circularity" in opts:
        spec.circularity = parse_size(opts["circularity"])
    spec.exclude_edges = bool(opts.get("exclude", False))
    spec.include_holes = bool(opts.get("include", False))
    spec.sources["analyze_particles"] = source


def apply_measurement_options(spec, options, source):
    """Set measurement keys and decimals from a Set Measurements option string."""
    opts = parse_options(options)
    keys = [k for k in opts if k in MEASUREMENT_KEYS or k == "feret"]
    spec.measurements = " ".join(keys)
    if "decimal" in opts:
        try:
            spec.decimals = int(opts["decimal"])
        except ValueError:
            pass
    redirect = opts.get("redirect")
    if redirect not in (None, "None", True):
        spec.assumptions.append(f"Set Measurements redirects to {redirect!r}: intensities are "
                                "measured on the analysed image instead")
    spec.sources["measurements"] = source


def parse_threshold(text):
    """``"1-255"`` or ``(1, 255)`` → ``(1.0, 255.0)``."""
    if text is None:
        return None
    if isinstance(text, str):
        lo, sep, hi = text.replace(",", "-").partition("-")
        if not sep:
            raise CheckError(f"a threshold is LOWER-UPPER, got {text!r}")
        text = (lo, hi)
    try:
        return float(text[0]), float(text[1])
    except (TypeError, ValueError, IndexError):
        raise CheckError(f"cannot read the threshold {text!r}") from None


def _script_text(record):
    script = (record or {}).get("script") or {}
    path = script.get("path")
    if not path or path == "<code>":
        return None
    try:
        text, _encoding = read_script_text(path)
    except OSError:
        return None
    if script.get("sha256") and hashlib.sha256(text.encode()).hexdigest() != script["sha256"]:
        return None
    return text


def _input_path(record):
    inputs = (record or {}).get("inputs") or []
    ranked = sorted(inputs, key=lambda i: (i.get("parameter") not in ("input", "image", "inputFile"),))
    for entry in ranked:
        p = entry.get("path")
        if p:
            return Path(p), entry.get("sha256")
    return None, None


def load_image(path):
    """A 2-D image as a numpy array (first plane / first channel for more)."""
    from ..outputs import read_image

    try:
        arr = read_image(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure, reported with the file
        raise CheckError(f"cannot read the image {path}: {exc}") from None
    arr = np.asarray(arr)
    while arr.ndim > 2 and arr.shape[-1] not in (3, 4):
        arr = arr[0]
    return arr


def keys_from_columns(columns):
    """Set Measurements keys that produce the given results columns."""
    by_column = dict(COLUMNS)
    keys = []
    for c in columns:
        k = by_column.get(str(c).strip())
        if k and k not in keys:
            keys.append(k)
    return " ".join(keys)


def recover(record, *, image=None, options=None, measurements=None, threshold=None):
    """Recover the reference options of a run.

    Parameters
    ----------
    record : dict or None
        The run's ``run.json``.
    image : path-like, optional
        The analysed input image (overrides run.json's input).
    options : str, optional
        An Analyze Particles option string (overrides the recorded one).
    measurements : str, optional
        A Set Measurements option string or keys.
    threshold : str or tuple, optional
        ``"lo-hi"``; the threshold set before Analyze Particles / Convert to Mask.

    Returns
    -------
    Spec
    """
    spec = Spec()
    sha = None
    if image is not None:
        spec.image_path = Path(image)
        spec.sources["image"] = "given"
        if not spec.image_path.is_file():
            raise CheckError(f"no such image: {image}")
    else:
        spec.image_path, sha = _input_path(record)
        if spec.image_path is not None:
            spec.sources["image"] = "run.json inputs"
            if not spec.image_path.is_file():
                spec.assumptions.append(f"the recorded input {spec.image_path} is gone")
                spec.image_path = None
            elif sha:
                from ..outputs import sha256

                if sha256(spec.image_path) != sha:
                    spec.assumptions.append(f"the input {spec.image_path} changed since the run "
                                            "(SHA-256 differs)")

    commands = list((record or {}).get("commands") or [])
    idx = max((i for i, c in enumerate(commands) if c.get("command") == "Analyze Particles..."),
              default=None)
    before = commands if idx is None else commands[:idx]
    if idx is not None:
        apply_analyze_options(spec, commands[idx].get("options", ""), "run.json command")
    for c in before:
        name = c.get("command", "")
        if name == "Set Measurements...":
            apply_measurement_options(spec, c.get("options", ""), "run.json command")
        elif name == "Convert to Mask":
            spec.convert_to_mask = True
        elif name == "Properties...":
            o = parse_options(c.get("options", ""))
            try:
                spec.calibration = Calibration(float(o.get("pixel_width", 1)),
                                               float(o.get("pixel_height", o.get("pixel_width", 1))),
                                               str(o.get("unit", "pixel")))
                spec.sources["calibration"] = "run.json command"
            except ValueError:
                pass
        elif any(name == s or (s.endswith("-") and name.startswith(s[:-1])) for s in _UNSUPPORTED_STEPS):
            spec.unsupported.append(name)

    text = _script_text(record)
    if text is not None:
        pairs = {(float(a), float(b)) for a, b in _THRESHOLD.findall(text)}
        if len(pairs) == 1:
            spec.threshold = pairs.pop()
            spec.sources["threshold"] = "script (literal setThreshold)"
        if idx is None and "ParticleAnalyzer" in text:
            spec.exclude_edges = "EXCLUDE_EDGE_PARTICLES" in text
            spec.include_holes = "INCLUDE_HOLES" in text
            spec.sources["analyze_particles"] = "script (ParticleAnalyzer flags)"
            if "setThreshold" in text and "Convert to Mask" in text:
                spec.convert_to_mask = True

    if idx is None and "analyze_particles" not in spec.sources or (
            spec.sources.get("analyze_particles", "").startswith("script")):
        params = (record or {}).get("parameters") or {}
        lo = next((v for k, v in params.items() if re.fullmatch(r"(?i)min_?(particle_?)?size", k)), None)
        hi = next((v for k, v in params.items() if re.fullmatch(r"(?i)max_?(particle_?)?size", k)), None)
        if lo is not None or hi is not None:
            try:
                spec.size = (float(lo or 0), math.inf if hi in (None, "") else float(hi))
                spec.sources["size"] = "run.json parameters"
                spec.assumptions.append("no Analyze Particles command recorded: size range "
                                        f"{spec.size[0]:g}-{spec.size[1]:g} (pixels) from the run's parameters")
            except (TypeError, ValueError):
                pass
        if "analyze_particles" not in spec.sources:
            spec.sources["analyze_particles"] = "default"

    if options is not None:
        apply_analyze_options(spec, options, "given")
    if measurements is not None:
        apply_measurement_options(spec, measurements, "given")
    if threshold is not None:
        spec.threshold = parse_threshold(threshold)
        spec.sources["threshold"] = "given"
    if spec.unsupported:
        spec.assumptions.append("steps the reference does not reproduce ran before Analyze Particles ("
                                + ", ".join(spec.unsupported) + ")")
    return spec


def particle_image(spec, image, mask=None):
    """The image Analyze Particles analysed, and the reference keyword arguments.

    Parameters
    ----------
    spec : Spec
    image : numpy.ndarray or None
        The input image.
    mask : numpy.ndarray, optional
        A saved label mask, used when the input cannot be reproduced.

    Returns
    -------
    (numpy.ndarray, dict) or (None, None)
        The particle image and the keyword arguments for ``analyze_particles``
        (``threshold``, ``redirect``); None when nothing can be derived.
    """
    grey_ok = image is not None and image.ndim == 2 and image.dtype in (np.uint8, np.uint16)
    if grey_ok and not spec.unsupported:
        if spec.threshold is not None:
            lo, hi = spec.threshold
            if spec.convert_to_mask:
                binary = ((image >= lo) & (image <= hi)).astype(np.uint8) * 255
                return binary, {}
            return image, {"threshold": (lo, hi)}
        values = np.unique(image)
        if len(values) <= 2:
            if image.dtype == np.uint8 and set(values.tolist()) <= {0, 255}:
                return image, {}
            spec.assumptions.append("two-valued input: foreground = the non-zero value")
            return (image > 0).astype(np.uint8) * 255, {}
    if mask is not None and mask.ndim == 2:
        spec.from_mask = True
        why = ("the input is not a binary image and no threshold is known" if grey_ok else
               "steps the reference does not reproduce ran" if spec.unsupported else
               "the input image is not available or not 8/16-bit")
        spec.assumptions.append(f"{why}: the particle image is the saved mask's foreground "
                                "(only the outputs' agreement with one another is checked)")
        binary = (mask > 0).astype(np.uint8) * 255
        redirect = image if (grey_ok and image.shape == mask.shape) else None
        return binary, ({"redirect": redirect} if redirect is not None else {})
    return None, None
