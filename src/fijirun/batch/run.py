"""Running a batch on Dask distributed: the manifest, progress and summary around the runner.

The client side of :func:`fijirun.batch`. Each image is one Dask task
(:func:`fijirun.batch.worker.run_image`) run by fijirun's shared task runner
(:mod:`fijirun.cluster`: one warm engine per single-threaded worker process,
a deadline from each image's start, worker replacement after a timeout or
death, one more attempt elsewhere for an image whose worker died), on a
LocalCluster of ``workers`` processes or an existing cluster at
``scheduler`` (``tcp://host:port``: dask-jobqueue, SLURM...).

The manifest is updated after each image; Ctrl-C cancels what is queued,
stops the cluster, records every finished image and removes unfinished
temporary folders.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path

from ..cluster import DEFAULT_GRACE, TaskJob, TaskRunner, connect, local_cluster
from ..errors import FijirunError
from ..outputs import sha256
from .combine import (
    RESULTS_CSV,
    combine_tables,
    image_frame,
    matches_no_table,
    table_choice,
    table_pattern_problem,
    write_combined,
)
from .inputs import BatchError, collect_inputs
from .manifest import MANIFEST, Manifest, remove_tmp

__all__ = ["batch", "local_cluster", "DEFAULT_GRACE", "BATCH_JVM_OPTIONS"]

#: JVM options of a batch worker's engine: one single-threaded worker per CPU,
#: so one CPU per JVM. The serial collector is the JVM's own choice for one CPU
#: (G1's concurrent threads would compete with the other workers: 61 -> 46 ms
#: of CPU per image of the benchmark), and ImageJ's multi-threaded filters
#: (Prefs.getThreads) then use one thread, as Dask's workers do for OpenMP/BLAS.
BATCH_JVM_OPTIONS = ("-XX:+UseSerialGC", "-XX:ActiveProcessorCount=1")

log = logging.getLogger("fijirun.batch")


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


class _BatchRecorder:
    """Records each image's outcome in the manifest and the progress bar."""

    def __init__(self, manifest, progress):
        self.manifest = manifest
        self.progress = progress
        self.counts = {"done": 0, "ok": 0, "failed": 0, "timeout": 0}

    def __call__(self, job, outcome):
        if outcome.status == "finished":
            r = outcome.record
            entry = {"status": r["status"], "error": r["error"], "seconds": r["seconds"],
                     "outputs": r["outputs"], "check": r["check"], "worker": r.get("worker"),
                     "saved_elsewhere": r.get("saved_elsewhere", [])}
        else:
            # stuck: the engine never answered (the worker was replaced); died: twice
            status = "timeout" if outcome.status == "stuck" else "failed"
            message = (outcome.message or "").replace("running it", "running this image").replace(
                "after it started", "after the image started")
            entry = {"status": status, "seconds": outcome.seconds, "outputs": [], "check": None,
                     "worker": outcome.worker, "saved_elsewhere": [],
                     "error": {"type": outcome.error_type, "message": message, "line": None, "source": None}}
        self.manifest.record(job.name, attempts=outcome.attempts, **entry)
        self.counts["done"] += 1
        self.counts[entry["status"]] = self.counts.get(entry["status"], 0) + 1
        self.manifest.save(force=False)
        self.progress.update(self.counts)


def _close(cluster):
    """Close the client and cluster (in a thread while the batch is summarised)."""
    try:
        cluster.close()
    except Exception as exc:  # noqa: BLE001 - the batch's results are already safe
        log.warning("closing the Dask cluster failed: %s", exc)


def batch(script, inputs, output, *, workers=None, scheduler=None, timeout=600.0, resume=False,
          params=None, check=False, data_dir=None, memory="2g", jvm_options=None,
          grace=DEFAULT_GRACE, progress=True, backend="imagej1", fiji_dir=None, table=None):
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
    backend : {"imagej1", "fiji"}
        Each worker's engine: plain ImageJ (default) or the user's Fiji, started
        once per worker and kept (its plugins: Auto Local Threshold, Bio-Formats...).
    fiji_dir : path-like, optional
        The Fiji.app for ``backend="fiji"`` (default ``FIJI_HOME``); the
        workers must see it at the same path.
    table : str, optional
        Which of each image's saved tables the combined results take: a glob
        pattern on the file's path in the image's folder (``"*_summary.csv"``);
        default the first table file by name. The summary's ``table`` says
        which images had none and which held several.

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
        the script or parameters changed since (with ``resume``); no Fiji
        for ``backend="fiji"``.
    KeyboardInterrupt
        After recording what finished and cleaning up (Ctrl-C).
    """
    t0 = time.perf_counter()
    problem = table_pattern_problem(table) if table is not None else None
    if problem is not None:
        raise BatchError(f"--table: {problem}")
    script = Path(script).resolve()
    if not script.is_file():
        raise BatchError(f"script not found: {script}")
    _refuse_script_without_input(script)
    if check:
        try:
            from ..check import check as _check  # noqa: F401
        except ImportError as exc:
            raise BatchError(f"--check needs the output checker (fijirun.check): {exc}") from None
    if backend not in ("imagej1", "fiji"):
        raise BatchError(f"unknown backend {backend!r} (imagej1 or fiji)")
    if backend == "fiji":  # found here, before any worker starts: one clear error, not one per image
        from ..backends.fiji import find_fiji
        from ..errors import EngineError

        try:
            fiji_dir = str(find_fiji(fiji_dir))
        except EngineError as exc:
            raise BatchError(str(exc)) from None
    items = collect_inputs(inputs, output=output)
    # pandas, which combining the tables needs, is imported in this (client) process before
    # the cluster starts: twice in CI (two Fiji workers killed, an image's exit()), its first
    # import after the cluster had run failed "No module named 'cmath'" and the finished
    # batch ended in an internal error. Cause not found; the import no longer comes last.
    import pandas  # noqa: F401
    outdir = Path(output).resolve()
    params = dict(params or {})
    manifest = Manifest.open(outdir, script, params, resume=resume)
    # the table a resume combines is the one the batch was started with, unless another is given;
    # a pattern refused for matching no table is never the one recorded (_forget_refused)
    recorded_pattern = manifest.data.get("table")
    table_pattern = table if table is not None else recorded_pattern
    todo, skipped = manifest.plan(items)
    if not todo:  # a resume of a finished batch that only combines again: refused before anything
        _refuse_unmatched(manifest.images, table_pattern)
    if table_pattern is not None:
        manifest.data["table"] = table_pattern
    info = manifest.begin_run(images=len(items), to_run=len(todo), skipped=len(skipped),
                              resume=bool(resume))
    manifest.save()
    options = {"data_dir": str(Path(data_dir).resolve()) if data_dir else None, "memory": memory,
               "timeout": float(timeout),
               "jvm_options": tuple(BATCH_JVM_OPTIONS if jvm_options is None else jvm_options),
               # an image's outputs are what a batch keeps: no final state (run.state/) per image
               "capture_state": False, "backend": backend}
    if backend == "fiji":
        options["fiji_dir"] = fiji_dir
    task_base = {"script": str(script), "outdir": str(outdir), "params": params,
                 "timeout": float(timeout), "check": bool(check), "options": options}
    bar = _Progress(len(todo), progress and bool(todo))
    interrupted = False
    where = None
    t_ready = None
    recorder = _BatchRecorder(manifest, bar)
    closing = None
    try:
        if todo:
            from ..cluster.worker import PLUGIN_NAME, SessionPlugin
            from ..prepare import detect_language
            from .worker import run_image

            cluster = contextlib.ExitStack()
            try:
                client, where = cluster.enter_context(connect(workers, scheduler, what="batch"))
                client.register_plugin(SessionPlugin(options, languages=(detect_language(script),)),
                                       name=PLUGIN_NAME)
                t_ready = time.perf_counter()
                runner = TaskRunner(client, timeout=float(timeout), grace=float(grace),
                                    on_outcome=recorder)
                runner.run(TaskJob(item.name, run_image,
                                   dict(task_base, input=str(item.path), name=item.name))
                           for item in todo)
            finally:
                # the workers' shutdown (each ends a JVM) overlaps the combining below
                closing = threading.Thread(target=_close, args=(cluster,), name="fijirun-batch-close")
                closing.start()
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        bar.stop()
        table = None
        try:
            if interrupted and closing is not None:
                closing.join()  # cancelled images may still be running: workers end first
            with _after_ctrl_c(interrupted):
                # every image's record on disk before combining, which may be refused or fail
                # (the recorder skips writes that come too close together)
                manifest.save()
                try:
                    _refuse_unmatched(manifest.images, table_pattern)
                except BatchError:
                    _forget_refused(manifest, recorded_pattern)
                    raise
                table = combine_tables(outdir, manifest.images, table_pattern)
        finally:
            if closing is not None:
                closing.join()
            remove_tmp(outdir)
        if table is not None:
            with _after_ctrl_c(interrupted):
                frame = _finish(outdir, script, manifest, info, recorder, skipped, where, check, t0, t_ready,
                                interrupted, table, table_pattern)
    return frame


def _refuse_script_without_input(script):
    """Each image goes to the script's input variable: a script with none is refused once, up front.

    (Every image would fail with the same ParameterError, after a cluster started.)
    """
    from ..prepare import INPUT_NAMES, detect_language, input_name

    try:
        language = detect_language(script)
        text = script.read_text(encoding="utf-8", errors="surrogateescape")
        name = input_name(text, language, str(script))
    except (FijirunError, OSError) as exc:
        raise BatchError(f"{script}: {exc}") from None
    if name is None:
        raise BatchError(f"{script}: the script has no input variable for the images "
                         f"(none of {', '.join(INPUT_NAMES)}): add '#@ File input' or 'input = FIXME;'")


def _refuse_unmatched(images, pattern):
    """A ``--table`` pattern that matches no ok image's table: the combined files are left as they are."""
    offered = matches_no_table(images, pattern)
    if offered is not None:
        raise BatchError(f"--table {pattern!r} matches no table of the ok images (they hold "
                         f"{', '.join(offered) or 'no table'}): {RESULTS_CSV} is left as it was; "
                         "choose another with --resume --table PATTERN")


def _forget_refused(manifest, recorded_pattern):
    """Put back the pattern the manifest held before this call (or none).

    A later plain ``--resume`` then combines as before instead of being refused again for a
    pattern that never matched.
    """
    if recorded_pattern is None:
        manifest.data.pop("table", None)
    else:
        manifest.data["table"] = recorded_pattern
    manifest.save()


@contextlib.contextmanager
def _after_ctrl_c(interrupted):
    """After Ctrl-C, a failure while keeping what finished is logged, never raised over the interrupt.

    Every image is in the manifest, each combined file's hash recorded as it
    is written: ``--resume`` combines again.
    """
    if not interrupted:
        yield
        return
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the KeyboardInterrupt is what the caller sees
        log.warning("combining the finished images failed after Ctrl-C: %s", exc)


def _finish(outdir, script, manifest, info, recorder, skipped, where, check, t0, t_ready, interrupted, table,
            table_pattern):
    """Write the summary and the combined files; the image frame."""
    seconds = time.perf_counter() - t0
    ran = recorder.counts["done"]
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
        "table": table_choice(manifest.images, table_pattern, table),
        "manifest": str(outdir / MANIFEST),
        "failures": [{"image": r.image, "input": r.input, "status": r.status, "error": r.error}
                     for r in frame.itertuples() if r.status in ("failed", "timeout")],
    }
    if check:
        verdicts = frame["check"].dropna().value_counts().to_dict()
        summary["check"] = {str(k): int(v) for k, v in verdicts.items()}
    combined = manifest.data.setdefault("combined", {})

    def written(name, path):  # each file's hash at once: what a resume may replace
        combined[name] = sha256(path)
        manifest.save()

    summary.update(write_combined(outdir, table, summary, on_written=written))
    frame.attrs["summary"] = summary
    frame.attrs["results"] = table
    return frame
