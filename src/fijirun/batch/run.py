"""Running a batch on Dask distributed: submission, deadlines, retries, progress.

The client side of :func:`fijirun.batch`. Each image is one Dask task
(:func:`fijirun.batch.worker.run_image`) on a cluster of single-threaded
worker processes, each keeping one warm engine session:

* a LocalCluster of ``workers`` processes (default: the CPU count), or an
  existing cluster at ``scheduler`` (``tcp://host:port``: dask-jobqueue,
  SLURM...);
* an image over its ``timeout`` is stopped by its worker (``ScriptTimeout``,
  status ``timeout``) and that worker is replaced (``Client.restart_workers``:
  a stopped script may leave the JVM wedged); if no answer comes at all
  within ``timeout + grace`` (a wedged engine), the client abandons the image
  itself and replaces the worker;
* a worker that dies (even ``kill -9``) loses its current image, which Dask
  runs once more elsewhere (``allowed-failures = 1``); a second death marks
  it ``failed`` (``KilledWorker``);
* the manifest is updated after each image; Ctrl-C cancels what is queued,
  stops the cluster, records every finished image and removes unfinished
  temporary folders.

Tasks tell the client when they start (a Dask event topic), so deadlines run
from the start of each image, not from its submission.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..tempdirs import private_tmp
from .combine import combine_tables, image_frame, write_combined
from .inputs import BatchError, collect_inputs
from .manifest import MANIFEST, Manifest, remove_tmp

__all__ = ["batch", "local_cluster", "DEFAULT_GRACE", "BATCH_JVM_OPTIONS", "CLUSTER_CONFIG"]

#: Seconds beyond the timeout before the client gives up on a silent worker.
DEFAULT_GRACE = 30.0

#: JVM options of a batch worker's engine: one single-threaded worker per CPU,
#: so one CPU per JVM. The serial collector is the JVM's own choice for one CPU
#: (G1's concurrent threads would compete with the other workers: 61 -> 46 ms
#: of CPU per image of the benchmark), and ImageJ's multi-threaded filters
#: (Prefs.getThreads) then use one thread, as Dask's workers do for OpenMP/BLAS.
BATCH_JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:ActiveProcessorCount=1")

log = logging.getLogger("fijirun.batch")


@dataclass
class _Job:
    item: object
    future: object = None
    starts: list = field(default_factory=list)  # (monotonic time, worker address)
    forgiven: int = 0  # attempts killed by our own worker replacements
    submissions: int = 0
    abandoned: bool = False


#: Dask settings of the clusters fijirun starts.
CLUSTER_CONFIG = {
    # a task whose worker died runs once more, then fails (KilledWorker)
    "distributed.scheduler.allowed-failures": 1,
    # one image per single-threaded worker at a time: a dying worker loses only it
    "distributed.scheduler.worker-saturation": 1.0,
    # the workers' statistical profiler samples every thread 100 times a second:
    # about 7 ms of CPU per image of the benchmark, taken from the images
    "distributed.worker.profile.enabled": False,
}


def local_cluster(workers=None, local_directory=None):
    """A Dask LocalCluster set up for batches: single-threaded worker processes.

    :func:`batch` starts one per call; start your own to keep the workers'
    engines warm across batches (a notebook, a benchmark) and pass its
    ``scheduler_address`` as ``scheduler``. Close it when done.

    Parameters
    ----------
    workers : int, optional
        Worker processes; default the CPU count.
    local_directory : path-like, optional
        The workers' scratch folder. Default: a private ``fijirun-dask-<pid>-*`` folder in
        the temp folder, removed when the cluster closes.

    Returns
    -------
    distributed.LocalCluster
    """
    import dask
    from distributed import LocalCluster

    n = int(workers or os.cpu_count() or 1)
    own = None
    if local_directory is None:  # a private folder, removed with the cluster (not /tmp/dask-scratch-space)
        from ..tempdirs import make_temp_dir

        own = local_directory = make_temp_dir("dask")
    # the nannies pass the config on to their workers; the scheduler's scratch space too
    with dask.config.set(CLUSTER_CONFIG), dask.config.set({"temporary-directory": str(local_directory)}):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, memory_limit=0, local_directory=local_directory,
                               silence_logs=logging.CRITICAL)
    if own is not None:
        close = cluster.close

        def close_and_clean(*args, **kwargs):
            try:
                return close(*args, **kwargs)
            finally:
                shutil.rmtree(own, ignore_errors=True)

        cluster.close = close_and_clean  # also what `with local_cluster() as c:` calls on exit
    return cluster


@contextlib.contextmanager
def _dask_client(workers, scheduler):
    """A Client on a new LocalCluster, or on the cluster at ``scheduler``."""
    from distributed import Client

    if scheduler:
        client = Client(scheduler, timeout="30s")  # workers may be unreachable: Dask relays
        try:
            client.wait_for_workers(1, timeout=120)
            yield client, scheduler
        finally:
            client.close()
        return
    tmp = contextlib.ExitStack()
    # the workers' ImageJ homes and Dask's scratch space, removed whole even when
    # the workers are killed (Ctrl-C) before they can clean up
    scratch = tmp.enter_context(private_tmp("batch"))
    try:
        cluster = local_cluster(workers, local_directory=scratch)
    except BaseException:
        tmp.close()
        raise
    try:
        # results come straight from the workers, not relayed by the scheduler
        client = Client(cluster, direct_to_workers=True)
        try:
            yield client, f"LocalCluster({len(cluster.workers)} workers)"
        finally:
            client.close()
    finally:
        try:
            cluster.close(timeout=30)
        finally:
            tmp.close()


class _Progress:
    """A rich progress bar with status counts and ETA (or nothing)."""

    def __init__(self, total, enabled):
        self.progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(),
            TextColumn("ok [green]{task.fields[ok]}[/] failed [red]{task.fields[failed]}[/] "
                       "timeout [yellow]{task.fields[timeout]}[/]"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), transient=False)
        self.task = self.progress.add_task("batch", total=total, ok=0, failed=0, timeout=0)
        self.progress.start()

    def update(self, counts):
        if self.progress is not None:
            self.progress.update(self.task, completed=counts["done"], ok=counts["ok"],
                                 failed=counts["failed"], timeout=counts["timeout"])

    def stop(self):
        if self.progress is not None:
            self.progress.stop()


class _Batch:
    """One invocation: submits, watches and records the images of a batch."""

    def __init__(self, client, manifest, todo, task_base, timeout, grace, progress):
        self.client = client
        self.manifest = manifest
        self.task_base = task_base
        self.timeout = timeout
        self.grace = grace
        self.token = uuid.uuid4().hex[:8]
        self.topic = f"fijirun-batch-{self.token}"
        self.jobs = {item.name: _Job(item) for item in todo}
        self.lock = threading.Lock()
        self.counts = {"done": 0, "ok": 0, "failed": 0, "timeout": 0}
        self.progress = progress
        self.ac = None

    # ------------------------------------------------------------ events
    def _on_event(self, event):
        _, msg = event
        if not isinstance(msg, dict) or msg.get("event") != "start":
            return  # "reuse": a recomputed result, not an attempt
        with self.lock:
            job = self.jobs.get(msg.get("name"))
            if job is not None:
                job.starts.append((time.monotonic(), msg.get("worker")))

    # ------------------------------------------------------------ submission
    def _submit(self, job):
        from .worker import run_image

        job.submissions += 1
        task = dict(self.task_base, input=str(job.item.path), name=job.item.name, topic=self.topic)
        job.future = self.client.submit(run_image, task, pure=False,
                                        key=f"fijirun-{job.item.name}-{self.token}-{job.submissions}")
        self.ac.add(job.future)

    def run(self):
        from distributed import as_completed

        self.client.subscribe_topic(self.topic, self._on_event)
        self.ac = as_completed()
        by_future = {}
        try:
            for job in self.jobs.values():
                self._submit(job)
                by_future[job.future.key] = job
            next_check = 0.0
            while not self.ac.is_empty():
                done = self.ac.next_batch(block=False) if self.ac.has_ready() else []
                for fut in done:
                    job = by_future.pop(fut.key, None)
                    if job is None or job.future is not fut:
                        continue
                    if self._finish(job, fut):
                        by_future[job.future.key] = job  # resubmitted
                if not done:
                    if time.monotonic() >= next_check:
                        self._check_deadlines()
                        next_check = time.monotonic() + 0.5
                    time.sleep(0.02)
        except KeyboardInterrupt:
            self._interrupt(by_future)
            raise
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self.topic)

    def _interrupt(self, by_future):
        """Ctrl-C: keep what finished, cancel the rest (it stays ``pending``)."""
        for job in list(by_future.values()):
            fut = job.future
            if fut is not None and fut.status == "finished":
                with contextlib.suppress(Exception):
                    self._record_result(job, fut.result(timeout=1), replace=False)
        with contextlib.suppress(Exception):
            self.client.cancel([j.future for j in by_future.values() if j.future is not None])

    # ------------------------------------------------------------ results
    def _attempts(self, job):
        with self.lock:
            return len(job.starts)

    def _record(self, job, **entry):
        self.manifest.record(job.item.name, attempts=self._attempts(job), **entry)
        self.counts["done"] += 1
        status = entry["status"]
        self.counts[status] = self.counts.get(status, 0) + 1
        self.manifest.save(force=False)
        self.progress.update(self.counts)

    def _record_result(self, job, record, replace=True):
        worker = record.get("worker")
        if replace and record.get("replace_worker") and worker:
            self._replace_worker(worker, job)
        self._record(job, status=record["status"], error=record["error"], seconds=record["seconds"],
                     outputs=record["outputs"], check=record["check"], worker=worker)

    def _finish(self, job, fut):
        """Record a finished future; return True when the image was resubmitted."""
        if job.abandoned:
            return False
        status = fut.status
        if status == "finished":
            try:
                record = fut.result()
                self._release(job)
            except Exception as exc:  # noqa: BLE001 - lost between worker and client
                self._record(job, status="failed", seconds=None, outputs=[], check=None, worker=None,
                             error={"type": type(exc).__name__, "message": str(exc), "line": None,
                                    "source": None})
                return False
            self._record_result(job, record)
            return False
        failure = fut.exception() if status == "error" else None
        name = type(failure).__name__ if failure is not None else "CancelledError"
        with self.lock:
            deaths = len(job.starts) - job.forgiven
        if name == "KilledWorker" and job.forgiven and deaths < 2 and job.submissions < 3:
            # one of its attempts died in a worker replacement we made: not its fault
            self._submit(job)
            return True
        if name == "KilledWorker":
            message = (f"the worker died while running this image ({deaths} attempts; "
                       "a crash of the engine or the process was killed)")
        else:
            message = str(failure) if failure is not None else "cancelled by the scheduler"
        worker = job.starts[-1][1] if job.starts else None
        self._record(job, status="failed", seconds=None, outputs=[], check=None, worker=worker,
                     error={"type": name, "message": message, "line": None, "source": None})
        return False

    # ------------------------------------------------------------ deadlines
    def _check_deadlines(self):
        now = time.monotonic()
        limit = self.timeout + self.grace
        for job in list(self.jobs.values()):
            fut = job.future
            if job.abandoned or fut is None or fut.done() or not job.starts:
                continue
            started, worker = job.starts[-1]
            if now - started <= limit:
                continue
            job.abandoned = True
            fut.cancel()
            self._replace_worker(worker, job)
            self._record(job, status="timeout", seconds=round(now - started, 4), outputs=[],
                         check=None, worker=worker,
                         error={"type": "ScriptTimeout",
                                "message": f"no answer from the worker {limit:g} s after the image "
                                           f"started (timeout {self.timeout:g} s): the engine was "
                                           "stuck; image abandoned, worker replaced",
                                "line": None, "source": None})

    def _release(self, job):
        """Let the cluster forget a read result (else a worker restart recomputes it)."""
        fut, job.future = job.future, None
        if fut is not None:
            fut.release()

    def _replace_worker(self, worker, culprit):
        """Restart one worker process (its nanny starts a fresh one)."""
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:  # released results still held there would be recomputed
            try:
                if not self.client.run_on_scheduler(_holds_results, address=worker):
                    break
            except Exception:  # noqa: BLE001
                break
            time.sleep(0.05)
        try:
            self.client.restart_workers([worker], timeout=120, raise_for_error=False)
        except Exception as exc:  # noqa: BLE001 - the batch goes on without it
            log.warning("could not restart worker %s: %s", worker, exc)
        with self.lock:
            for job in self.jobs.values():
                if (job is not culprit and job.starts and job.starts[-1][1] == worker
                        and job.future is not None and not job.future.done()):
                    job.forgiven += 1


def _close(cluster):
    """Close the client and cluster (in a thread while the batch is summarised)."""
    try:
        cluster.close()
    except Exception as exc:  # noqa: BLE001 - the batch's results are already safe
        log.warning("closing the Dask cluster failed: %s", exc)


def _holds_results(address, dask_scheduler=None):
    """On the scheduler: whether the worker at ``address`` holds task results."""
    ws = dask_scheduler.workers.get(address)
    return bool(ws is not None and ws.has_what)


def batch(script, inputs, output, *, workers=None, scheduler=None, timeout=600.0, resume=False,
          params=None, check=False, data_dir=None, memory="2g", jvm_options=None,
          grace=DEFAULT_GRACE, progress=True):
    """Run one script over many images on Dask, resumably.

    Parameters
    ----------
    script : path-like
        An IJ Macro (``.ijm``) or Jython (``.py``) script. It receives each
        image as its ``input`` parameter and the image's own output folder as
        ``outputDir``.
    inputs : path-like or list of path-like
        Files, folders (searched recursively for images) and glob patterns.
    output : path-like
        The batch folder: one sub-folder per image (named by
        :func:`fijirun.batch.inputs.output_name`), ``manifest.json``,
        ``results.csv``, ``results.parquet``, ``summary.json``.
    workers : int, optional
        Worker processes of the LocalCluster (one thread each); default the
        CPU count. Ignored with ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:port``). The
        output folder must be shared with its workers, which need fijirun.
    timeout : float
        Seconds per image; over it the image is ``timeout`` and its worker
        replaced.
    resume : bool
        Continue the batch in ``output``: images done (``ok``, outputs
        present) are skipped, failed / timed-out / unfinished ones run.
    params : dict, optional
        Other script parameters (``--set NAME=VALUE``).
    check : bool
        Check each image's outputs (:func:`fijirun.check.check`); the
        verdict goes into the manifest and ``check.json`` into its folder.
    data_dir : path-like, optional
        Local copies of data opened by URL (see :class:`fijirun.Session`).
    memory : str
        JVM maximum heap per worker.
    jvm_options : sequence of str, optional
        JVM options of each worker's engine; None (default) means
        :data:`BATCH_JVM_OPTIONS` (serial GC, one CPU per JVM).
    grace : float
        Seconds beyond ``timeout`` before the client abandons a silent
        worker (its engine wedged) and replaces it.
    progress : bool
        Show a progress bar (rich, on stderr).

    Returns
    -------
    pandas.DataFrame
        One row per image of the manifest (see
        :func:`fijirun.batch.combine.image_frame`); ``.attrs["summary"]``
        holds the summary dict (counts, images per second, file paths) and
        ``.attrs["results"]`` the combined results table.

    Raises
    ------
    BatchError
        No inputs; ``output`` holds another batch (without ``resume``), or
        the script or parameters changed since (with ``resume``).
    KeyboardInterrupt
        After recording what finished and cleaning up (Ctrl-C).
    """
    t0 = time.perf_counter()
    script = Path(script).resolve()
    if not script.is_file():
        raise BatchError(f"script not found: {script}")
    if check:
        try:
            from ..check import check as _check  # noqa: F401
        except ImportError as exc:
            raise BatchError(f"--check needs the output checker (fijirun.check): {exc}") from None
    items = collect_inputs(inputs, output=output)
    outdir = Path(output).resolve()
    params = dict(params or {})
    manifest = Manifest.open(outdir, script, params, resume=resume)
    todo, skipped = manifest.plan(items)
    info = manifest.begin_run(images=len(items), to_run=len(todo), skipped=len(skipped),
                              resume=bool(resume))
    manifest.save()
    options = {"data_dir": str(Path(data_dir).resolve()) if data_dir else None, "memory": memory,
               "timeout": float(timeout),
               "jvm_options": tuple(BATCH_JVM_OPTIONS if jvm_options is None else jvm_options)}
    task_base = {"script": str(script), "outdir": str(outdir), "params": params,
                 "timeout": float(timeout), "check": bool(check), "options": options}
    bar = _Progress(len(todo), progress and bool(todo))
    interrupted = False
    where = None
    t_ready = None
    runner = None
    closing = None
    try:
        if todo:
            from .worker import PLUGIN_NAME, SessionPlugin

            cluster = contextlib.ExitStack()
            try:
                client, where = cluster.enter_context(_dask_client(workers, scheduler))
                from ..prepare import detect_language

                client.register_plugin(SessionPlugin(options, languages=(detect_language(Path(script)),)),
                                       name=PLUGIN_NAME)
                t_ready = time.perf_counter()
                runner = _Batch(client, manifest, todo, task_base, float(timeout), float(grace), bar)
                runner.run()
            finally:
                # the workers' shutdown (each ends a JVM) overlaps the combining below
                closing = threading.Thread(target=_close, args=(cluster,), name="fijirun-batch-close")
                closing.start()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.stop()
        try:
            if interrupted and closing is not None:
                closing.join()  # cancelled images may still be running: workers end first
            table = combine_tables(outdir, manifest.images)
        finally:
            if closing is not None:
                closing.join()
            remove_tmp(outdir)
        seconds = time.perf_counter() - t0
        ran = runner.counts["done"] if runner else 0
        info.update(finished=manifest.data["updated"], interrupted=interrupted, ran=ran,
                    seconds=round(seconds, 3))
        manifest.save()
        counts = manifest.counts()
        frame = image_frame(outdir, manifest.images)
        summary = {
            "output": str(outdir),
            "script": str(script),
            "cluster": where,
            "images": len(manifest.images),
            **counts,
            "ran": ran,
            "skipped": len(skipped),
            "interrupted": interrupted,
            "seconds": round(seconds, 3),
            "startup_seconds": round(t_ready - t0, 3) if t_ready else None,
            "images_per_second": round(ran / seconds, 3) if ran and seconds > 0 else None,
            "processing_images_per_second": (round(ran / (t0 + seconds - t_ready), 3)
                                             if ran and t_ready else None),
            "results_rows": int(len(table)),
            "manifest": str(outdir / MANIFEST),
            "failures": [{"image": r.image, "input": r.input, "status": r.status, "error": r.error}
                         for r in frame.itertuples() if r.status in ("failed", "timeout")],
        }
        if check:
            verdicts = frame["check"].dropna().value_counts().to_dict()
            summary["check"] = {str(k): int(v) for k, v in verdicts.items()}
        summary.update(write_combined(outdir, table, summary))
        frame.attrs["summary"] = summary
        frame.attrs["results"] = table
    return frame
