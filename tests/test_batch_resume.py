"""Ctrl-C in the middle of a batch, then ``--resume``: nothing that finished runs
again and the final outputs equal those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from fijirun.batch.manifest import MANIFEST, TMP_DIR

from batch_helpers import ACTIVITY, make_good_images, output_contents, stop_process_group


def _batch_cmd(inputs, out, *extra):
    return [sys.executable, "-m", "fijirun", "batch", str(ACTIVITY), str(inputs), "-o", str(out),
            "--workers", "2", "--set", "delay=700", "--json", *extra]


def _manifest(out):
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def test_interrupt_then_resume_equals_uninterrupted(tmp_path):
    images = make_good_images(tmp_path / "in", 6)
    out = tmp_path / "out"
    # Ctrl-C as a terminal sends it: SIGINT to the whole process group
    proc = subprocess.Popen(_batch_cmd(tmp_path / "in", out), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            m = _manifest(out)
            if m and sum(e["status"] == "ok" for e in m["images"].values()) >= 2:
                break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        stop_process_group(proc)
    assert proc.returncode == 130, stderr[-2000:]

    # a consistent manifest: finished images ok with their outputs, the others pending
    m = _manifest(out)
    assert m["runs"][-1]["interrupted"] is True
    statuses = {name: e["status"] for name, e in m["images"].items()}
    done = {name for name, s in statuses.items() if s == "ok"}
    assert 2 <= len(done) < 6 and set(statuses.values()) <= {"ok", "pending"}
    assert not (out / TMP_DIR).exists()
    assert not list(out.rglob(".fijirun-staging-*"))
    finished = {}
    for name in done:
        folder = out / name
        for o in m["images"][name]["outputs"]:
            assert (folder / o["path"]).is_file()
        finished[name] = (m["images"][name]["finished"], (folder / "run.json").stat().st_mtime_ns)

    # resume: only what did not finish runs
    code = subprocess.run(_batch_cmd(tmp_path / "in", out, "--resume"), capture_output=True,
                          text=True, timeout=180)
    assert code.returncode == 0, code.stderr[-2000:]
    summary = json.loads(code.stdout.strip().splitlines()[-1])
    assert summary["skipped"] == len(done) and summary["ran"] == 6 - len(done)
    assert (summary["ok"], summary["pending"]) == (6, 0)
    m2 = _manifest(out)
    for name, (when, mtime) in finished.items():
        assert m2["images"][name]["finished"] == when
        assert (out / name / "run.json").stat().st_mtime_ns == mtime  # not run again
    assert len(m2["runs"]) == 2

    # the same outputs as a batch that was never interrupted
    ref = tmp_path / "ref"
    code = subprocess.run(_batch_cmd(tmp_path / "in", ref), capture_output=True, text=True, timeout=180)
    assert code.returncode == 0, code.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert names == sorted(p.name for p in ref.iterdir() if p.is_dir())
    assert len(names) == len(images)
    for name in names:
        assert output_contents(out / name) == output_contents(ref / name), name
    assert (out / "results.csv").read_bytes() == (ref / "results.csv").read_bytes()
