"""fijirun's shared Dask task runner (batch and regress) on a real LocalCluster.

The tasks here are plain Python (no engine): what is under test is the
client's bookkeeping — deadlines from each task's start, worker replacement,
a worker's death, retries — which the batch and regress tests exercise only
through the engine.
"""

from __future__ import annotations

import os
import sys
import time

import cloudpickle
import psutil
import pytest

from fijirun.cluster import TaskJob, TaskRunner, connect
from fijirun.cluster.worker import announce_start
from fijirun.errors import EngineShutDown

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import tests/


def _task(task):
    """Announce the start, then do what ``task["do"]`` says; return the worker's pid."""
    announce_start(task, task["name"])
    do = task["do"]
    if task.get("pidfile"):
        with open(task["pidfile"], "w") as f:
            f.write(str(os.getpid()))
    if do in ("die", "die-once"):
        time.sleep(0.5)  # a crash comes after the start notice has left (as an engine's would)
    if do == "hang":  # an engine that never answers
        time.sleep(600)
    if do == "shutdown-always" or (do == "shutdown-once" and not os.path.exists(task["marker"])):
        # the engine shut down under the task (its worker closing), as IJ1Runtime reports it
        if do == "shutdown-once":
            open(task["marker"], "w").close()
        raise EngineShutDown("the engine shut down while the script ran (the process is ending)")
    if do == "die":  # a crash of the process, every time
        os._exit(3)
    if do == "die-once":  # a crash the first time only (a marker file remembers)
        marker = task["marker"]
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(3)
    from distributed import get_worker

    return {"pid": os.getpid(), "worker": get_worker().address, "replace_worker": do == "replace"}


@pytest.fixture(scope="module")
def client():
    with connect(2, what="test") as (c, _):
        yield c


def _run(client, todo, timeout=20.0, grace=1.0):
    outcomes = {}
    runner = TaskRunner(client, timeout=timeout, grace=grace,
                        on_outcome=lambda job, outcome: outcomes.__setitem__(job.name, outcome))
    t0 = time.monotonic()
    runner.run(TaskJob(name, _task, dict(task, name=name)) for name, task in todo.items())
    return outcomes, time.monotonic() - t0


def test_every_task_gets_one_outcome(client):
    outcomes, _ = _run(client, {f"t{i}": {"do": "ok"} for i in range(12)})
    assert sorted(outcomes) == sorted(f"t{i}" for i in range(12))
    assert {o.status for o in outcomes.values()} == {"finished"}
    assert {o.attempts for o in outcomes.values()} == {1}
    assert all(o.record["pid"] > 0 for o in outcomes.values())


def test_a_silent_task_is_abandoned_at_its_deadline_and_its_worker_replaced(client, tmp_path):
    pidfile = tmp_path / "pid"
    outcomes, seconds = _run(client, {"hang": {"do": "hang", "pidfile": str(pidfile)},
                                      **{f"t{i}": {"do": "ok"} for i in range(6)}},
                             timeout=1.0, grace=1.0)
    stuck = outcomes["hang"]
    assert (stuck.status, stuck.error_type) == ("stuck", "ScriptTimeout")
    assert stuck.seconds >= 2.0 and "no answer 2 s after it started" in stuck.message
    assert all(outcomes[f"t{i}"].status == "finished" for i in range(6))
    assert seconds < 60  # the 600 s sleep was not waited for
    # the hanging worker was replaced: its process is gone, and later tasks run elsewhere
    hung = int(pidfile.read_text())
    deadline = time.monotonic() + 30
    while psutil.pid_exists(hung) and psutil.Process(hung).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the stuck worker's process still runs"
        time.sleep(0.1)
    after, _ = _run(client, {f"u{i}": {"do": "ok"} for i in range(4)})
    assert hung not in {o.record["pid"] for o in after.values()}


def test_a_worker_dying_once_costs_one_attempt_and_twice_fails_the_task(client, tmp_path):
    outcomes, _ = _run(client, {"once": {"do": "die-once", "marker": str(tmp_path / "m")},
                                "always": {"do": "die"}, "fine": {"do": "ok"}})
    assert (outcomes["once"].status, outcomes["once"].attempts) == ("finished", 2)
    assert (outcomes["always"].status, outcomes["always"].error_type) == ("died", "KilledWorker")
    assert outcomes["always"].attempts >= 2  # more when it also waited on a worker that died
    assert outcomes["fine"].status == "finished"


def test_a_task_whose_engine_shut_down_under_it_runs_again(client, tmp_path):
    """EngineShutDown (the worker closed during the run: fijirun's own replacement of it)
    is not the task's failure: it runs again; three times in a row ends it (no endless loop)."""
    outcomes, _ = _run(client, {"once": {"do": "shutdown-once", "marker": str(tmp_path / "m")},
                                "always": {"do": "shutdown-always"}, "fine": {"do": "ok"}})
    assert (outcomes["once"].status, outcomes["once"].attempts) == ("finished", 2)
    assert outcomes["once"].record["pid"] > 0
    always = outcomes["always"]
    assert (always.status, always.error_type, always.attempts) == ("error", "EngineShutDown", 3)
    assert "the engine shut down" in always.message
    assert outcomes["fine"].status == "finished"


def test_replace_worker_restarts_that_worker_process(client):
    first, _ = _run(client, {"r": {"do": "replace"}})
    old_pid = first["r"].record["pid"]
    later, _ = _run(client, {f"t{i}": {"do": "ok"} for i in range(6)})
    assert old_pid not in {o.record["pid"] for o in later.values()}


def test_two_tasks_with_one_name_are_refused(client):
    runner = TaskRunner(client, timeout=1.0, on_outcome=lambda job, outcome: None)
    with pytest.raises(ValueError, match="two tasks named 'a'"):
        runner.run([TaskJob("a", _task, {"do": "ok"}), TaskJob("a", _task, {"do": "ok"})])


def test_results_finished_while_a_worker_awaits_replacement_are_kept(client):
    """A freed worker gets its next task at once: the tasks it finishes before its restart
    keep their results (restarting it at once lost them: 'cancelled by the scheduler')."""
    todo = {"r0": {"do": "replace"}, **{f"t{i}": {"do": "ok"} for i in range(16)},
            "r1": {"do": "replace"}, **{f"u{i}": {"do": "ok"} for i in range(16)}}
    outcomes, _ = _run(client, todo)
    assert {name: o.status for name, o in outcomes.items()} == {name: "finished" for name in todo}
