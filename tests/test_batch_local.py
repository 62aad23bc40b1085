"""Batches on a real Dask LocalCluster with real ImageJ workers.

A batch mixing good images, a corrupt TIFF, a file that is not an image and
an image on which the script hangs: every good image done and correct, the
others recorded with their errors, the batch finishes and leaves no process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest

import fijirun
from fijirun.batch import output_name
from fijirun.batch.inputs import BatchError
from fijirun.batch.manifest import MANIFEST, TMP_DIR
from fijirun.batch.worker import run_image

from batch_helpers import (
    ACTIVITY,
    JVM_PROBE,
    corrupt_tiff,
    descendants,
    kill_a_busy_worker,
    leftover,
    make_good_images,
    stop_process_group,
)


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
        names = sorted(str(p.relative_to(result_dir)) for p in result_dir.rglob("*") if p.is_file())
        stem = path.stem
        assert names == sorted([f"{stem}_labels.png", f"{stem}_labels.tif", f"{stem}_results.csv",
                                f"{stem}_results.txt", f"{stem}_rois.zip", "run.json", "run.log", "batch.json",
                                "run.analyses/analysis-1.tif"])
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
    pd.testing.assert_frame_equal(combined, frame.attrs["results"].reset_index(drop=True), check_dtype=False)
    assert pd.read_parquet(out / "results.parquet")["image"].tolist() == combined["image"].tolist()
    expected_rows = {by_input.loc[str(p)].image: len(a) for p, a in good.items()}
    assert combined.groupby("image").size().to_dict() == expected_rows
    assert json.loads((out / "summary.json").read_text())["ok"] == 3

    assert leftover(before) == []


def test_kill9_worker_mid_batch(tmp_path):
    """kill -9 of a worker while it runs an image: the batch completes, every image accounted for."""
    images = make_good_images(tmp_path / "in", 8)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fijirun", "batch", str(ACTIVITY), str(tmp_path / "in"), "-o", str(out),
         "--workers", "2", "--set", "delay=1500", "--timeout", "60", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        # two images in flight, both started 0.2-0.8 s ago (each takes > 1.5 s): any worker is mid-image
        victim = kill_a_busy_worker(proc, out, ages=(0.2, 0.8), timeout=120)
        assert victim is not None, "never saw both workers busy"
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        stop_process_group(proc)
    assert proc.returncode == 0, stderr[-3000:]
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert (summary["ok"], summary["failed"], summary["timeout"], summary["pending"]) == (8, 0, 0, 0)
    manifest = json.loads((out / MANIFEST).read_text())
    entries = {e["input"]: e for e in manifest["images"].values()}
    assert set(entries) == {str(p) for p in images}
    # the image the killed worker was running ran once more, elsewhere
    retried = [e for e in entries.values() if e["attempts"] == 2]
    assert len(retried) == 1, {k: e["attempts"] for k, e in entries.items()}
    assert retried[0]["worker"] is not None
    for path, areas in images.items():
        table = pd.read_csv(out / output_name(path) / f"{path.stem}_results.csv")
        assert table["Area"].tolist() == areas
    assert not psutil.pid_exists(victim.pid) or victim.status() == psutil.STATUS_ZOMBIE


_SHUT_DOWN_MID_IMAGE = """
import json, sys, threading, time
from pathlib import Path
from fijirun.backends.process import shutdown_process
from fijirun.batch.worker import run_image

script, image, out = sys.argv[1:4]
task = {"script": script, "input": image, "name": "img", "outdir": out, "params": {"delay": 30000},
        "timeout": 60.0, "check": False, "options": {"backend": "imagej1"}}
seen = {}

def image_task():
    try:
        seen["record"] = run_image(task)
    except BaseException as exc:
        seen["raised"] = [type(exc).__name__, str(exc)]

thread = threading.Thread(target=image_task)
thread.start()
deadline = time.monotonic() + 60
while not list(Path(out, ".fijirun-tmp").glob("img.*/")) and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(1.0)  # the macro now waits in wait(30000)
shutdown_process(wait_for_awt=False)  # what a closing worker does (SessionPlugin.teardown)
thread.join(30)
print(json.dumps(seen))
"""


def test_an_image_whose_worker_closes_under_it_is_not_recorded_failed(tmp_path):
    """A worker closing mid-image (fijirun replaces it after another image's timeout) stops the
    script: the image is not this image's failure — run_image raises EngineShutDown, publishes
    nothing, and the client runs it again (it was recorded `failed`: 1 full batch test in ~20)."""
    image = next(iter(make_good_images(tmp_path / "in", 1)))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _SHUT_DOWN_MID_IMAGE, str(ACTIVITY), str(image), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "record" not in seen, seen
    assert seen["raised"][0] == "EngineShutDown" and "shut down while the script ran" in seen["raised"][1]
    assert not (out / "img").exists()  # nothing published for a run that did not finish
    assert list((out / TMP_DIR).iterdir()) == []  # and its temporary folder is gone


def test_table_chooses_which_saved_table_the_batch_combines(tmp_path):
    """Each image saves its particles and a Summary: by default the first by name (the
    particles) is combined and the CLI says there was a choice; --table picks the Summary
    (here on --resume, which runs nothing and combines again)."""
    images = make_good_images(tmp_path / "in", 4)
    out = tmp_path / "out"
    script = Path(__file__).parent / "activities" / "batch_two_tables.ijm"

    def cli(*extra):
        proc = subprocess.run([sys.executable, "-m", "fijirun", "batch", str(script), str(tmp_path / "in"),
                               "-o", str(out), "--workers", "1", *extra], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        return proc.stdout

    text = cli()
    assert "4 image(s) saved several tables" in text and "choose with --table PATTERN" in text
    combined = pd.read_csv(out / "results.csv")
    assert sorted(combined["Area"].tolist()) == sorted(a for areas in images.values() for a in areas)

    summary = json.loads(cli("--resume", "--table", "*_summary.csv", "--json"))
    assert summary["ran"] == 0 and summary["table"]["pattern"] == "*_summary.csv"
    assert summary["table"]["without_rows"] == [] and summary["table"]["several_tables"] == 0
    combined = pd.read_csv(out / "results.csv")
    counts = dict(zip(combined["image"], combined["Count"]))
    assert counts == {output_name(p): len(areas) for p, areas in images.items()}
    assert summary["results_rows"] == 4

    # the batch remembers its table: a plain --resume combines the Summary again
    assert json.loads(cli("--resume", "--json"))["table"]["pattern"] == "*_summary.csv"
    before = (out / "results.csv").read_bytes()
    # a pattern that matches no table of any image: refused, the combined results left as they were
    proc = subprocess.run([sys.executable, "-m", "fijirun", "batch", str(script), str(tmp_path / "in"), "-o",
                           str(out), "--resume", "--table", "*_nothing.csv", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert "matches no table of the ok images" in error["message"] and "_summary.csv" in error["message"]
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (out / "results.csv").read_bytes() == before
    # one that can never match a table: a usage error before anything
    proc = subprocess.run([sys.executable, "-m", "fijirun", "batch", str(script), str(tmp_path / "in"), "-o",
                           str(out), "--resume", "--table", "*.tif", "--json"], capture_output=True, text=True)
    assert proc.returncode == 2 and json.loads(proc.stdout)["error"]["option"] == "--table"

    # a new batch whose pattern matches nothing: its images are run and recorded, the pattern is
    # refused and not kept, so a plain --resume combines (the first table) instead of refusing again
    fresh = tmp_path / "fresh"
    proc = subprocess.run([sys.executable, "-m", "fijirun", "batch", str(script), str(tmp_path / "in"), "-o",
                           str(fresh), "--workers", "1", "--table", "*_nothing.csv", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "matches no table" in json.loads(proc.stdout)["error"]["message"]
    manifest = json.loads((fresh / MANIFEST).read_text())
    assert "table" not in manifest
    assert [e["status"] for e in manifest["images"].values()] == ["ok"] * 4
    out = fresh
    summary = json.loads(cli("--resume", "--json"))
    assert summary["ran"] == 0 and summary["table"]["pattern"] is None and summary["results_rows"] > 4


def test_check_verdicts_in_manifest(tmp_path):
    """--check: each image's outputs checked (fijirun.check), verdicts in the manifest and summary."""
    make_good_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    frame = fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, check=True,
                          progress=False)
    assert frame["check"].tolist() == ["pass", "pass"]
    assert frame.attrs["summary"]["check"] == {"pass": 2}
    manifest = json.loads((out / MANIFEST).read_text())
    assert {e["check"] for e in manifest["images"].values()} == {"pass"}
    assert all((out / name / "check.json").is_file() for name in manifest["images"])


def test_cli_jvm_options_replace_the_defaults(tmp_path):
    """``--jvm-option`` (repeatable) replaces the workers' default JVM options."""
    make_good_images(tmp_path / "in", 1)
    probe = tmp_path / "probe.py"
    probe.write_text(JVM_PROBE)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "fijirun", "batch", str(probe), str(tmp_path / "in"), "-o", str(out),
         "--workers", "1", "--jvm-option=-XX:+UseParallelGC", "--jvm-option=-Xss4m", "--json"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["ok"] == 1
    (jvm,) = out.glob("*/jvm.txt")
    lines = jvm.read_text().split("\n")
    assert "-XX:+UseParallelGC" in lines and "-Xss4m" in lines and "width=96" in lines
    assert "-XX:+UseSerialGC" not in lines and "-XX:ActiveProcessorCount=1" not in lines


def test_files_saved_outside_an_images_folder_are_in_the_manifest(tmp_path):
    """An image's file written outside its output folder is no output of it: the manifest says
    where it went (``saved_elsewhere``); an image that saves only into its folder says none."""
    names = sorted(make_good_images(tmp_path / "in", 2))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = tmp_path / "copy_twice.ijm"
    script.write_text('#@ File input\n#@ File (style="directory") outputDir\nopen(input);\n'
                      'name = File.nameWithoutExtension;\nsaveAs("Tiff", outputDir + "/copy.tif");\n'
                      f'if (endsWith(name, "1")) saveAs("Tiff", "{elsewhere}/" + name + "_copy.tif");\n')
    out = tmp_path / "out"
    fijirun.batch(script, [tmp_path / "in"], out, workers=1, timeout=30, progress=False)
    manifest = json.loads((out / MANIFEST).read_text())["images"]
    saved = {Path(e["input"]).stem: e["saved_elsewhere"] for e in manifest.values()}
    stems = [Path(n).stem for n in names]
    assert saved == {s: ([str(elsewhere / f"{s}_copy.tif")] if s.endswith("1") else []) for s in stems}
    assert [p.name for p in elsewhere.iterdir()] == [f"{s}_copy.tif" for s in stems if s.endswith("1")]
    assert all([o["path"] for o in e["outputs"]] == ["copy.tif"] for e in manifest.values())


@pytest.mark.parametrize("name", ["results.csv", "results.parquet", "summary.json"])
def test_a_combined_file_a_person_put_in_the_folder_is_never_replaced(tmp_path, name):
    """A new batch into a folder that holds a results.csv (...) of someone else's is refused
    before anything runs or is written: the file stays as it was, no manifest appears."""
    make_good_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("mine\n")
    proc = subprocess.run([sys.executable, "-m", "fijirun", "batch", str(ACTIVITY), str(tmp_path / "in"),
                           "-o", str(out), "--workers", "1", "--json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().count("\n") == 0 and f"{out / name} was not written by fijirun" in proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "BatchError"
    assert (out / name).read_text() == "mine\n"
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_resume_replaces_the_combined_files_it_wrote_but_not_a_changed_one(tmp_path):
    make_good_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, progress=False)
    recorded = json.loads((out / MANIFEST).read_text())["combined"]
    assert sorted(recorded) == ["results.csv", "results.parquet", "summary.json"]
    # unchanged: the resume runs (nothing left to do) and rewrites them
    frame = fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, progress=False, resume=True)
    assert frame.attrs["summary"]["skipped"] == 2
    # the same batch again without --resume: told to resume, not that its own files are foreign
    with pytest.raises(BatchError, match="already holds a batch .*use --resume"):
        fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, progress=False)
    # changed by a person since: kept, the resume refused
    (out / "results.csv").write_text("my edits\n")
    with pytest.raises(BatchError) as info:
        fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, progress=False, resume=True)
    assert "results.csv was not written by fijirun (or was changed since)" in str(info.value)
    assert (out / "results.csv").read_text() == "my edits\n"


def test_a_failure_between_the_combined_files_leaves_a_resumable_folder(tmp_path, monkeypatch):
    # results.csv was written, the parquet failed (a Ctrl-C in a half-imported numpy did it), and
    # the next --resume refused fijirun's own results.csv as "not written by fijirun"
    import pandas as pd

    make_good_images(tmp_path / "in", 2)
    out = tmp_path / "out"

    def fail(*args, **kwargs):
        raise OSError("disk trouble")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail)
    with pytest.raises(OSError, match="disk trouble"):
        fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, progress=False)
    assert (out / "results.csv").is_file() and not (out / "results.parquet").exists()
    assert "results.csv" in json.loads((out / MANIFEST).read_text())["combined"]
    monkeypatch.undo()
    frame = fijirun.batch(ACTIVITY, [tmp_path / "in"], out, workers=1, timeout=30, progress=False, resume=True)
    assert frame.attrs["summary"]["skipped"] == 2 and (out / "results.parquet").is_file()


def test_another_clusters_dashboard_port_prints_nothing(tmp_path):
    """Dask's default port 8787 taken (another cluster, a notebook): the batch's stderr had
    Dask's four-line 'Port 8787 is already in use' warning."""
    import socket

    make_good_images(tmp_path / "in", 1)
    holder = socket.socket()
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen()
    except OSError:
        pass  # already taken by someone else: the same situation
    try:
        proc = subprocess.run([sys.executable, "-m", "fijirun", "batch", str(ACTIVITY), str(tmp_path / "in"),
                               "-o", str(tmp_path / "out"), "--workers", "1", "--json"],
                              capture_output=True, text=True, timeout=300)
    finally:
        holder.close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "already in use" not in proc.stderr and "warnings.warn" not in proc.stderr


@pytest.mark.parametrize("change", ["folder", "deleted"])
def test_an_input_changed_after_listing_fails_naming_the_file(tmp_path, change):
    """An input replaced by a folder (or deleted) after the batch listed it: the image fails with
    an InputError naming the path (it was ImageJ's "no images open", which names nothing)."""
    image = next(iter(make_good_images(tmp_path / "in", 1)))
    image.unlink()
    if change == "folder":
        image.mkdir()
    out = tmp_path / "out"
    record = run_image({"script": str(ACTIVITY), "input": str(image), "name": "img", "outdir": str(out),
                        "params": {}, "timeout": 30.0, "check": False, "options": {"backend": "imagej1"}})
    assert record["status"] == "failed" and record["error"]["type"] == "InputError"
    expected = f"{image} is a folder, not a file" if change == "folder" else f"no such file: {image}"
    assert record["error"]["message"].startswith(expected), record["error"]
    assert not (out / "img").exists() and list((out / TMP_DIR).iterdir()) == []  # no run, nothing kept
