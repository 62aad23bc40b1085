"""Activity folders of a regression (fijirun.regress.folders): one writer, nothing of anyone else's lost.

No engine: real folders, real locks, real processes.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from fijirun.regress.folders import (
    ACTIVITY_RECORD,
    empty_folder,
    finish_unfinished,
    foreign_files,
    record_folder,
    remove_locks,
    sole_writer,
)

NAMES = st.text(alphabet="abcxyz_0123", min_size=1, max_size=6)
TREES = st.dictionaries(st.lists(NAMES, min_size=1, max_size=3).map("/".join), st.binary(max_size=40),
                        max_size=6)


def _write(folder, tree):
    written = {}
    for rel, data in tree.items():
        path = folder / rel
        if any(p.is_file() for p in [folder / Path(rel).parents[i] for i in range(len(Path(rel).parts) - 1)]):
            continue  # a file where this path needs a folder
        if path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written[rel] = data
    return written


@settings(max_examples=60, deadline=None)
@given(tree=TREES, extra=NAMES, data=st.data())
def test_what_a_run_left_is_fijiruns_and_a_change_is_not(tmp_path_factory, tree, extra, data):
    folder = tmp_path_factory.mktemp("activity") / "act"
    empty_folder(folder, "act.ijm", run="r1")
    written = _write(folder, tree)
    record_folder(folder, "act.ijm", run="r1")
    assert foreign_files(folder, run="r2") == []
    empty_folder(folder, "act.ijm", run="r2")  # a later regression empties it
    assert sorted(p.name for p in folder.iterdir()) == [ACTIVITY_RECORD]
    written = _write(folder, tree)
    record_folder(folder, "act.ijm", run="r2")
    if written and data.draw(st.booleans()):
        rel = data.draw(st.sampled_from(sorted(written)))
        (folder / rel).write_bytes(written[rel] + b"!")  # changed since
        expected = [str(Path(rel))]
    else:
        target = folder / f"{extra}.person"
        target.write_text("mine")  # a person's file
        expected = [target.name]
    assert foreign_files(folder, run="r3") == expected
    try:
        empty_folder(folder, "act.ijm", run="r3")
    except Exception as exc:  # noqa: BLE001 - the class is checked below
        assert type(exc).__name__ == "OutputExistsError"
        assert str(exc).startswith(f"{folder / expected[0]} was not written by fijirun")
    else:
        raise AssertionError("a foreign file was removed")
    assert (folder / expected[0]).exists()


def test_an_unfinished_attempt_is_taken_over_by_its_own_regression_only(tmp_path):
    folder = tmp_path / "act"
    empty_folder(folder, "act.ijm", run="r1")
    (folder / "beside.tif").write_bytes(b"written directly by a killed attempt")
    (folder / ".fijirun-staging-0123456789ab").mkdir()
    (folder / ".fijirun-staging-0123456789ab" / "half.tif").write_bytes(b"staged")
    (folder / ".run.json.k2j4h5g6.tmp").write_text("{")
    assert foreign_files(folder, run="r1") == []  # its rerun, under the folder's lock
    assert foreign_files(folder, run="r2") == ["beside.tif"]  # a later regression asks first
    finish_unfinished(folder, "r2")  # not its attempt: nothing recorded
    assert foreign_files(folder, run="r3") == ["beside.tif"]
    finish_unfinished(folder, "r1")  # r1 ended: what its attempt left is recorded
    assert foreign_files(folder, run="r3") == []


def test_private_names_are_exact_and_links_are_recorded_by_target(tmp_path):
    folder = tmp_path / "act"
    empty_folder(folder, "act.ijm", run="r1")
    (folder / "data.tif").write_bytes(b"x")
    (folder / "link.tif").symlink_to("data.tif")
    record_folder(folder, "act.ijm", run="r1")
    assert foreign_files(folder) == []
    (folder / "link.tif").unlink()
    (folder / "link.tif").symlink_to("/etc/hostname")
    assert foreign_files(folder) == ["link.tif"]
    (folder / "link.tif").unlink()
    (folder / ".fijirun-state-mine").mkdir()
    (folder / ".fijirun-state-mine" / "thesis.docx").write_text("not a state folder of fijirun's")
    assert foreign_files(folder) == [str(Path(".fijirun-state-mine/thesis.docx"))]


_KEEPER = """
import sys, time
from pathlib import Path
from fijirun.regress.folders import sole_writer
with sole_writer(Path(sys.argv[1])) as lock:
    lock.keep() if sys.argv[2] == "keep" else None
print("LEFT", flush=True)
time.sleep(2.0)
"""


def test_a_kept_lock_is_held_until_its_process_ends(tmp_path):
    """An attempt whose script still runs keeps its folder's lock past its end, until the process
    (its worker, being replaced) is gone; otherwise the lock goes with the attempt."""
    for how in ("keep", "release"):
        lock = tmp_path / f"{how}.lock"
        proc = subprocess.Popen([sys.executable, "-c", _KEEPER, str(lock), how], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "LEFT"
        with open(lock, "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                taken = True
                fcntl.flock(f, fcntl.LOCK_UN)
            except BlockingIOError:
                taken = False
        assert taken == (how == "release"), how
        proc.wait(timeout=30)
        with sole_writer(lock, wait=5) as held:
            assert not isinstance(held, str), held  # the process ended: the lock is free
    t = time.monotonic()
    with open(tmp_path / "keep.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        with sole_writer(tmp_path / "keep.lock", wait=0.3) as held:
            assert isinstance(held, str), held
            assert "still wrote into its folder after 0.3 s" in held
    assert time.monotonic() - t < 5


def test_locks_held_by_another_regression_stay(tmp_path):
    locks = tmp_path / ".fijirun-locks"
    locks.mkdir()
    (locks / "free.lock").write_text("1")
    with open(locks / "held.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        remove_locks(tmp_path)
        assert sorted(p.name for p in locks.iterdir()) == ["held.lock"]
    remove_locks(tmp_path)
    assert not locks.exists()


def test_a_lock_file_that_cannot_be_made_is_a_reason_not_a_traceback(tmp_path):
    (tmp_path / "locks").write_text("a file where the lock folder should be")
    with sole_writer(tmp_path / "locks" / "a.lock") as held:
        assert isinstance(held, str) and "cannot be made" in held and str(tmp_path / "locks") in held
