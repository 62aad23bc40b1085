"""The HTML report, opened in headless Chromium: every picture loads, the page is not blank."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
import roifile
from PIL import Image, ImageStat

from conftest import MACROS, RANDOMSHAPES, run_cli

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
STEM = RANDOMSHAPES.stem
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(*args, timeout=90):
    with tempfile.TemporaryDirectory(prefix="fijirun-chromium-") as profile:
        return subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def failing_run(ij_session, tmp_path_factory):
    """The macro activity, then one table value altered and one ROI deleted (so every picture kind appears)."""
    out = tmp_path_factory.mktemp("report")
    ij_session.run(MACROS / "output_saving.ijm", input=RANDOMSHAPES, output_dir=out,
                   params={"minSize": 0, "maxSize": 1000})
    path = out / f"{STEM}_results.txt"
    lines = path.read_text().splitlines()
    cells = lines[2].split("\t")
    cells[1] = "1"
    lines[2] = "\t".join(cells)
    path.write_text("\n".join(lines) + "\n")
    zp = out / f"{STEM}_rois.zip"
    rois = roifile.roiread(zp)
    zp.unlink()
    roifile.roiwrite(zp, rois[1:])
    with Image.open(out / f"{STEM}_labels.png") as im:
        im.convert("L").save(out / f"{STEM}_labels.jpg", quality=85)
    return out


@pytest.fixture(scope="module")
def html_report(failing_run, tmp_path_factory):
    html = tmp_path_factory.mktemp("html") / "report.html"
    code, out, err = run_cli("check", failing_run, "--html", html)
    assert code == 1, err
    return html


def test_html_is_self_contained_and_pictures_decode(html_report):
    text = html_report.read_text()
    assert "fail" in text and f"{STEM}_results.txt" in text
    assert "row 2, column Area: 1 in the file" in text
    srcs = re.findall(r'<img src="([^"]+)"', text)
    # reference (2) + table scatter + ROI overlay + 3 masks × (glasbey + diff)
    assert len(srcs) >= 8
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:40]
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            im.load()
            assert im.width > 50 and im.height > 50
    assert not re.search(r'(src|href)="(https?:|file:|/)', text)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_report_in_headless_chromium(html_report, tmp_path):
    # every <img> decoded by the browser: naturalWidth > 0, read back through --dump-dom
    probe = tmp_path / "probe.html"
    probe.write_text(html_report.read_text().replace(
        "</body>", '<script>window.addEventListener("load", () => document.body.setAttribute('
        '"data-img-widths", Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)'
        '.join(",")));</script></body>'))
    proc = chromium("--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    m = re.search(r'data-img-widths="([^"]*)"', proc.stdout)
    assert m, f"no result from chromium: {proc.stderr[-2000:]}"
    widths = [int(w) for w in m.group(1).split(",")]
    assert len(widths) == html_report.read_text().count("<img ") and len(widths) >= 8
    assert all(w > 0 for w in widths), widths

    shot = tmp_path / "report.png"
    proc = chromium(f"--screenshot={shot}", "--window-size=1280,2000", html_report.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1280, 2000)
        stat = ImageStat.Stat(rgb)
        assert max(stat.var) > 500          # not a blank page
        colours = np.asarray(rgb).reshape(-1, 3)
        # the red of failed rows is on screen
        assert np.any((colours[:, 0] > 240) & (colours[:, 1] < 220) & (colours[:, 1] > 190))
