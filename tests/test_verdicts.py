"""Differential verdicts: every way of running an activity must classify it as a fresh process does.

The expected class of each activity of ``tests/verdict_corpus`` is computed, not written
down: ``fijirun regress`` on a course holding that activity alone, in a fresh process
(``verdicts.fresh_records``). Then, with two CPU-burning processes beside them (AWT
event-thread timing must not decide a verdict):

* the whole corpus through ``fijirun regress --workers 2 --timeout 5``, 5 times in 5
  shuffled orders (``FIJIRUN_VERDICT_RUNS``; CI runs it once);
* the whole corpus, shuffled, in sequence in one ``Session`` (classified by regress's own
  ``run_activity`` / ``_classify_error``);
* the activities that take an input image through ``fijirun batch``.

Slow (minutes): ``pytest -m slow tests/test_verdicts.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import time

import pytest

import verdicts as V

#: Shuffled regress runs per backend: 5 by hand (scripts: the figure in the README); CI sets 1
#: (FIJIRUN_VERDICT_RUNS), which keeps every comparison and a fifth of the repetitions.
RUNS = int(os.environ.get("FIJIRUN_VERDICT_RUNS", "5"))


def _backends():
    params = [pytest.param("imagej1", id="imagej1")]
    if V.fiji_dir() is not None:
        params.append(pytest.param("fiji", id="fiji", marks=pytest.mark.fiji))
    else:
        params.append(pytest.param("fiji", id="fiji", marks=pytest.mark.skip(
            reason=f"no Fiji.app: FIJI_HOME is unset and {V.FIJI_DEFAULT} does not exist")))
    return params


@pytest.fixture(scope="module", params=_backends())
def backend(request):
    return request.param


_FRESH = {}  # backend -> fresh verdicts, computed once per test session


def fresh_for(backend):
    """Each activity's verdict from a fresh process (recomputed every test session)."""
    if backend not in _FRESH:
        t0 = time.perf_counter()
        _FRESH[backend] = V.fresh_records(backend)
        print(f"\nfresh-process verdicts on {backend}: {len(_FRESH[backend])} activities in "
              f"{time.perf_counter() - t0:.1f} s")
    return _FRESH[backend]


@pytest.fixture(scope="module")
def fresh(backend):
    return fresh_for(backend)


# ------------------------------------------------------------------ no engine
def test_corpus_is_large_and_mixed():
    found = V.activities()
    assert len(found) >= 60, f"only {len(found)} activities"
    languages = {a.language for a in found.values()}
    assert languages == {"ijm", "jython"}
    assert len(V.batch_activities()) >= 5


def test_shuffled_course_keeps_every_activity(tmp_path):
    found = sorted(V.activities())
    names = V.shuffled_course(tmp_path, found, random.Random(1))
    assert sorted(names.values()) == found
    from fijirun.regress import discover

    assert sorted(a.path for a in discover(tmp_path)) == sorted(names)


def test_normalize_message():
    msg = "JythonError: /tmp/verdict-fresh-abc/out/012_j03.py/.fijirun-staging-0a1b2c3d4e5f x@1f2e3d4"
    assert V.normalize_message(msg) == "JythonError: <tmp> x@X"
    assert V.normalize_message("in 012_m01_nuclei.ijm") == "in m01_nuclei.ijm"


def test_burners_are_killed():
    psutil = pytest.importorskip("psutil")
    with V.burners(2) as pids:
        assert all(psutil.pid_exists(p) for p in pids)
    time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)


# ------------------------------------------------------------------ real runs
@pytest.mark.slow
def test_fresh_classes_cover_every_kind_of_ending(fresh, backend):
    """The corpus exercises passed, failed, needs-plugin, needs-data and timeout."""
    classes = {r["class"] for r in fresh.values()}
    assert {"passed", "failed", "needs-data", "timeout"} <= classes, fresh
    if backend == "imagej1":
        assert "needs-plugin" in classes


@pytest.mark.slow
def test_regress_shuffled_under_load_matches_fresh(fresh, backend, tmp_path):
    failures = []
    t0 = time.perf_counter()
    with V.burners(2):
        for run in range(RUNS):
            seed = random.randrange(1 << 30)
            work = tmp_path / f"run{run}"
            got, order, report = V.regress_records(backend, work, random.Random(seed), workers=2)
            lines = V.diff(fresh, got, context=f"regress run {run + 1}/{RUNS} (seed {seed}, "
                                                f"{report['seconds']:.0f} s, order {order[:5]}...):")
            failures.extend(lines)
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{RUNS} shuffled regress runs on {backend}: {time.perf_counter() - t0:.1f} s")
    assert not failures, "classes differ from the fresh-process classes:\n" + "\n".join(failures)


@pytest.mark.slow
def test_one_session_shuffled_under_load_matches_fresh(fresh, backend, tmp_path):
    seed = random.randrange(1 << 30)
    order = sorted(fresh)
    random.Random(seed).shuffle(order)
    t0 = time.perf_counter()
    with V.burners(2):
        results, sessions = V.session_records(backend, order, tmp_path)
    print(f"\none {backend} session, {len(order)} activities: {time.perf_counter() - t0:.1f} s, "
          f"{sessions} session process(es)")
    got = dict(results)
    lines = V.diff(fresh, got, context=f"one session (seed {seed}; {sessions} session processes: a "
                                       f"script ended the process {sessions - 1} time(s)):")
    assert not lines, "classes differ from the fresh-process classes:\n" + "\n".join(lines)


@pytest.mark.slow
def test_batch_matches_fresh(tmp_path):
    """fijirun batch runs plain ImageJ (imagej1) only: compared with imagej1's fresh verdicts."""
    fresh = fresh_for("imagej1")
    paths = V.batch_activities()
    failures = []
    t0 = time.perf_counter()
    with V.burners(2):
        for path in paths:
            work = tmp_path / path.replace("/", "_")
            got, summary = V.batch_records(path, work)
            for i, g in enumerate(got):
                if g["class"] != fresh[path]["class"]:
                    failures.append(f"  {path} (batch image {i}): fresh {fresh[path]['class']!r} "
                                    f"({fresh[path]['message']}) but batch {g['class']!r} ({g['message']})")
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nbatch of {len(paths)} activities: {time.perf_counter() - t0:.1f} s")
    assert not failures, "batch classes differ from the fresh-process classes:\n" + "\n".join(failures)
