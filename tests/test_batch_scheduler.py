"""A batch on an existing Dask cluster (``--scheduler``): a ``dask scheduler`` and two
``dask worker`` processes started here on 127.0.0.1, as dask-jobqueue / SLURM users have."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import fijirun
from fijirun.batch import output_name

from batch_helpers import ACTIVITY, JVM_PROBE, descendants, leftover, make_good_images, stop_process_group

DASK = Path(sys.executable).with_name("dask")


@pytest.fixture
def dask_cluster(tmp_path):
    """(address, processes): a scheduler and two single-threaded workers with nannies."""
    before = {p.pid for p in descendants()}
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    # the settings fijirun's own LocalCluster uses: retry an image once, one image per worker
    env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "1"
    env["DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"] = "1.0"
    # the cluster's scratch space in the test's folder (Dask's default: /tmp/dask-scratch-space)
    env["DASK_TEMPORARY_DIRECTORY"] = str(tmp_path / "dask-tmp")
    sched_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs = []

    def start(args, log):
        procs.append(subprocess.Popen([str(DASK), *args], env=env, stdout=subprocess.DEVNULL,
                                      stderr=open(logs / log, "w"), start_new_session=True))

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(sched_file)], "scheduler.log")
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.1)
        address = json.loads(sched_file.read_text())["address"]
        for i in (1, 2):
            start(["worker", address, "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                   "--no-dashboard", "--memory-limit", "0", "--name", f"w{i}"], f"worker{i}.log")
        from distributed import Client

        with Client(address, timeout="30s") as client:  # a batch starts with one worker up
            client.wait_for_workers(2, timeout=120)
        yield address, procs
    finally:
        for p in reversed(procs):
            stop_process_group(p)
    assert leftover(before) == []


def test_batch_on_external_scheduler(tmp_path, dask_cluster):
    address, procs = dask_cluster
    good = make_good_images(tmp_path / "in", 4)
    hang = next(iter(make_good_images(tmp_path / "in", 1, prefix="hang")))
    out = tmp_path / "out"
    frame = fijirun.batch(ACTIVITY, [str(tmp_path / "in" / "*.tif")], out, scheduler=address,
                          timeout=4, progress=False)
    summary = frame.attrs["summary"]
    assert summary["cluster"] == address
    assert (summary["ok"], summary["failed"], summary["timeout"]) == (4, 0, 1)
    by_input = frame.set_index("input")
    assert by_input.loc[str(hang)].status == "timeout"
    manifest = json.loads((out / "manifest.json").read_text())
    workers = {e["worker"] for e in manifest["images"].values()}
    assert len(workers) >= 2  # both external workers took images
    for path, areas in good.items():
        table = pd.read_csv(out / output_name(path) / f"{path.stem}_results.csv")
        assert table["Area"].tolist() == areas
    # the worker that hung was replaced by its nanny: the cluster still has two live workers
    assert all(p.poll() is None for p in procs)
    from distributed import Client

    with Client(address, timeout="20s") as client:
        client.wait_for_workers(2, timeout=60)
        assert len(client.scheduler_info()["workers"]) == 2




def test_two_batches_on_one_warm_local_cluster(tmp_path):
    """A cluster kept across batches (``local_cluster`` + ``scheduler=``): the second batch
    runs on the same warm engine, and the worker JVMs get the batch JVM options."""
    from fijirun.batch import BATCH_JVM_OPTIONS, local_cluster

    before = {p.pid for p in descendants()}
    first = make_good_images(tmp_path / "in1", 3)
    second = make_good_images(tmp_path / "in2", 3, prefix="again")
    probe = tmp_path / "probe.py"
    probe.write_text(JVM_PROBE)
    with local_cluster(1) as cluster:
        address = cluster.scheduler_address
        runs = []
        for folder in ("in1", "in2"):
            frame = fijirun.batch(ACTIVITY, [tmp_path / folder], tmp_path / f"out-{folder}",
                                  scheduler=address, timeout=60, progress=False)
            assert frame.attrs["summary"]["ok"] == 3, frame.attrs["summary"]["failures"]
            runs.append(json.loads((tmp_path / f"out-{folder}" / "manifest.json").read_text()))
        probed = fijirun.batch(probe, [tmp_path / "in1"], tmp_path / "out-probe", scheduler=address,
                               timeout=60, progress=False)
        assert probed.attrs["summary"]["ok"] == 3, probed.attrs["summary"]["failures"]
    for folder, images in (("out-in1", first), ("out-in2", second)):
        for path, areas in images.items():
            table = pd.read_csv(tmp_path / folder / output_name(path) / f"{path.stem}_results.csv")
            assert table["Area"].tolist() == areas
    # one worker (never replaced), one engine, for every image of both batches
    workers = {e["worker"] for run in runs for e in run["images"].values()}
    assert len(workers) == 1
    jvm = (tmp_path / "out-probe" / output_name(next(iter(first))) / "jvm.txt").read_text().split("\n")
    assert "cpus=1" in jvm and "width=96" in jvm
    for option in BATCH_JVM_OPTIONS:
        assert option in jvm
    assert leftover(before) == []
