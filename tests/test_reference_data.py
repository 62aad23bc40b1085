"""The reference against ImageJ on every course image (fijirun.data; all measurements)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import DATA
from test_reference_oracle import Case, differences, run_imagej

# binary images as they are; grey ones with a threshold (grey values measured)
IMAGES = [
    ("xy_8bit_binary_randomshapes.tif", None),
    ("xy_8bit_binary__nuclei.tif", None),
    ("xy_8bit_labels__nuclei.tif", (1, 255)),
    ("xy_8bit_labels__nuclei.tif", (4, 7)),
    ("xy_16bit_labels__nuclei.tif", (1, 65535)),
    ("xy_16bit_labels__nuclei.tif", (3, 5)),
    ("xy_8bit__mitocheck_incenp_t1.tif", (30, 255)),
    ("xy_8bit__mitocheck_incenp_t70.tif", (30, 255)),
    ("xy_8bit__mitocheck_incenp_t70.tif", (0, 24)),
    ("xy_8bit__few_touching_nuclei.tif", (60, 255)),
    ("xy_8bit__few_touching_nuclei.tif", (100, 200)),
    ("blobs.gif", (125, 255)),
]

VARIANTS = [
    dict(),
    dict(include_holes=True),
    dict(exclude_edges=True, size=(20, 5000)),
    dict(circularity=(0.3, 1.0), include_holes=True),
    dict(pixel_units=False, size=(0.5, 1e9)),          # calibrated units (from the TIFF)
]


def _cases():
    cases = []
    for name, thr in IMAGES:
        path = DATA / name
        for v in VARIANTS:
            cases.append(Case(str(path), threshold=thr, label=f"{name} {thr} {v}", **v))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def imagej_outputs(ij_session, tmp_path_factory):
    if not DATA.is_dir():
        pytest.skip(f"test data not found at {DATA}")
    return run_imagej(ij_session, CASES, tmp_path_factory.mktemp("ref-data"))


def _image(case):
    # blobs.gif: read the raw 8-bit indices (ImageJ thresholds the raw values of
    # its inverted-LUT image); the TIFFs are passed as paths so that their
    # calibration is read from the ImageJ metadata.
    if case.image.endswith(".gif"):
        from PIL import Image
        with Image.open(case.image) as im:
            return np.asarray(im)
    return case.image


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c.label for c in CASES])
def test_shared_data_matches_imagej(imagej_outputs, i):
    case = CASES[i]
    case = Case(_image(case), **{k: getattr(case, k) for k in (
        "threshold", "calibration", "keys", "size", "pixel_units", "circularity",
        "exclude_edges", "include_holes", "black_background")})
    res = case.reference()
    assert differences(imagej_outputs[i], res) == []
