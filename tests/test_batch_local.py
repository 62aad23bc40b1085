"""Batches on a real Dask LocalCluster with real ImageJ workers.

A batch mixing good images, a corrupt TIFF, a file that is not an image and
an image on which the script hangs: every good image done and correct, the
others recorded with their errors, the batch finishes and leaves no process.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

import fijirun
from fijirun.batch.manifest import MANIFEST, TMP_DIR
from batch_helpers import ACTIVITY, corrupt_tiff, descendants, leftover, make_good_images



@pytest.fixture
def mixed_inputs(tmp_path):
    folder = tmp_path / "in"
    good = make_good_images(folder, 3)
    corrupt_tiff(folder / "corrupt.tif")
    (folder / "notimage.tif").write_text("this is a text file, not an image\n")
    hang = make_good_images(folder, 1, prefix="hang")
    return folder, good, next(iter(hang))


def test_mixed_batch_good_corrupt_notimage_hang(tmp_path, mixed_inputs):
    folder, good, hang = mixed_inputs
    before = {p.pid for p in descendants()}
    out = tmp_path / "out"
    frame = fijirun.batch(ACTIVITY, [folder], out, workers=2, timeout=4, progress=False)
    summary = frame.attrs["summary"]
    by_input = frame.set_index("input")

    # every good image: ok, its outputs published, its table right
    for path, areas in good.items():
        row = by_input.loc[str(path)]
        assert row.status == "ok", row.error
        result_dir = out / row.image
        names = sorted(p.name for p in result_dir.iterdir())
        stem = path.stem
        assert names == sorted([f"{stem}_labels.png", f"{stem}_labels.tif", f"{stem}_results.csv",
                                f"{stem}_results.txt", f"{stem}_rois.zip", "run.json"])
        table = pd.read_csv(result_dir / f"{stem}_results.csv")
        assert table["Area"].tolist() == areas
        assert json.loads((result_dir / "run.json").read_text())["status"] == "ok"

    corrupt = by_input.loc[str(folder / "corrupt.tif")]
    assert corrupt.status == "failed" and "no images open" in corrupt.error
    notimage = by_input.loc[str(folder / "notimage.tif")]
    assert notimage.status == "failed" and "MacroError" in notimage.error
    hung = by_input.loc[str(hang)]
    assert hung.status == "timeout" and "ScriptTimeout" in hung.error

    assert (summary["ok"], summary["failed"], summary["timeout"], summary["pending"]) == (3, 2, 1, 0)
    assert summary["images_per_second"] > 0
    # the manifest says the same, with output hashes
    manifest = json.loads((out / MANIFEST).read_text())
    entries = {e["input"]: e for e in manifest["images"].values()}
    assert all(len(entries[str(p)]["outputs"]) == 5 for p in good)
    assert all(len(o["sha256"]) == 64 for p in good for o in entries[str(p)]["outputs"])
    assert entries[str(hang)]["error"]["type"] == "ScriptTimeout"
    assert not (out / TMP_DIR).exists()

    # one combined table, CSV and Parquet, with an image column
    combined = pd.read_csv(out / "results.csv")
    assert combined.equals(frame.attrs["results"].reset_index(drop=True)) or len(combined) == len(frame.attrs["results"])
    assert pd.read_parquet(out / "results.parquet")["image"].tolist() == combined["image"].tolist()
    expected_rows = {by_input.loc[str(p)].image: len(a) for p, a in good.items()}
    assert combined.groupby("image").size().to_dict() == expected_rows
    assert json.loads((out / "summary.json").read_text())["ok"] == 3

    assert leftover(before) == []
