"""Inside a Dask worker: running the batch script on one image (one task).

Each worker process keeps one warm engine session
(:mod:`fijirun.cluster.worker`). :func:`run_image` runs the script on one
image into a temporary folder ``DIR/.fijirun-tmp/<name>.<random>``; the
session stages and publishes the script's outputs and writes ``run.json``
there; the image's manifest entry goes beside them as ``batch.json``; then the
whole folder is renamed to ``DIR/<name>``, so an image's folder appears
complete or not at all. It never raises for a failed image: it returns the
manifest entry. It raises :class:`~fijirun.errors.EngineShutDown` when its
worker closes under it (the client then runs the image again).

When a worker dies holding a finished image's result, Dask computes that task
again: the task finds its own ``batch.json`` (same task key) and returns it
without running the script again.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from pathlib import Path

from ..backends.process import script_still_running
from ..cluster.worker import announce_start, current_task, get_session
from ..errors import EngineShutDown, FijirunError, InputError, OutputExistsError, RunError, ScriptTimeout
from ..files import file_problem
from ..ownership import not_fijiruns
from ..provenance import write_json_atomic
from .manifest import tmp_root

__all__ = ["run_image", "publish", "BATCH_RECORD", "CHECK_RECORD"]

CHECK_RECORD = "check.json"
#: The image's manifest entry, published with its outputs (a recomputed task reuses it).
BATCH_RECORD = "batch.json"


def publish(tmp, final):
    """Move a finished image folder into place, replacing an earlier attempt's.

    The earlier folder is replaced only when all it holds is fijirun's (the
    ownership rule, :mod:`fijirun.ownership`): a file a person put there or
    changed since stays, and the new outputs are kept aside beside it.

    Parameters
    ----------
    tmp, final : Path
        Folders on the same file system.

    Raises
    ------
    OutputExistsError
        ``final`` holds a file fijirun did not write; ``tmp`` was renamed
        to ``fijirun-unsaved-<name>-*`` in the same folder.
    """
    trash = None
    if final.exists() or final.is_symlink():
        foreign = not_fijiruns(final, {BATCH_RECORD: ("name", "status", "outputs"), CHECK_RECORD: ("verdict",)})
        if foreign:
            keep = final.parent / f"fijirun-unsaved-{final.name}-{uuid.uuid4().hex[:6]}"
            os.rename(tmp, keep)
            raise OutputExistsError(
                f"{final / foreign[0]} was not written by fijirun (or was changed since)"
                + (f", and {len(foreign) - 1} more" if len(foreign) > 1 else "")
                + f": the folder is kept as it is; this image's new outputs are in {keep}")
        trash = tmp.parent / f"{final.name}.old.{uuid.uuid4().hex[:8]}"
        os.rename(final, trash)
    os.rename(tmp, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _error_dict(exc):
    if isinstance(exc, RunError):
        return exc.to_dict()
    return {"type": type(exc).__name__, "message": str(exc), "line": getattr(exc, "line", None),
            "source": None}


def _check(folder):
    from ..check import check  # issue 4

    report = check(folder)
    write_json_atomic(folder / CHECK_RECORD, report.to_dict())
    return str(report.verdict)


def run_image(task):
    """Run the batch script on one image (a Dask task).

    Parameters
    ----------
    task : dict
        ``script``, ``input``, ``name``, ``outdir``, ``params``, ``timeout``,
        ``check`` (bool), ``options`` (the session's) and ``topic`` (set by
        the runner: start notices).

    Returns
    -------
    dict
        The image's manifest entry: ``status`` (``ok``, ``failed``,
        ``timeout``), ``error``, ``seconds``, ``outputs`` (``path``,
        ``sha256``, ``bytes``), ``check``, ``worker``, ``pid``,
        ``saved_elsewhere`` (files written outside the image's folder) and
        ``replace_worker`` (the engine may be unusable: a timeout).
    """
    t0 = time.perf_counter()
    name = task["name"]
    outdir = Path(task["outdir"])
    final = outdir / name
    _, address, key = current_task()
    done = _published_record(final, key)
    if done is not None:
        # this very task finished before, but its result died with its worker: not again
        return dict(done, replace_worker=False)
    announce_start(task, name)
    tmp = tmp_root(outdir) / f"{name}.{uuid.uuid4().hex[:12]}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    status, error, result = "ok", None, None
    try:
        problem = file_problem(task["input"])
        if problem is not None:  # listed as a regular file when the batch began: changed since
            raise InputError(f"{problem} (a regular file when the batch listed its inputs)")
        session = get_session(task["options"])
        result = session.run(task["script"], dict(task["params"]), input=task["input"],
                             output_dir=tmp, timeout=task["timeout"], raise_on_error=False)
        if not result.ok:
            status = "timeout" if isinstance(result.error, ScriptTimeout) else "failed"
            error = _error_dict(result.error)
    except EngineShutDown:
        # The worker is closing (fijirun replaces it, or the cluster ends): not this
        # image's failure. No record: the client runs the image again elsewhere.
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except (FijirunError, OSError, ValueError) as exc:
        status, error = "failed", _error_dict(exc)
    except Exception as exc:  # noqa: BLE001 - an image never stops the batch
        status, error = "failed", _error_dict(exc)
    outputs = result.record.get("outputs", []) if result is not None and tmp.is_dir() else []
    entry = {"name": name, "key": key, "status": status, "error": error, "seconds": None,
             "outputs": outputs, "check": None, "worker": address, "pid": os.getpid(),
             "saved_elsewhere": list(result.saved_elsewhere) if result is not None else []}
    if tmp.is_dir():
        try:
            entry["seconds"] = round(time.perf_counter() - t0, 4)
            write_json_atomic(tmp / BATCH_RECORD, entry)
            publish(tmp, final)
        except OutputExistsError as exc:
            entry.update(status="failed", outputs=[], error=_error_dict(exc))
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            entry.update(status="failed", outputs=[],
                         error={"type": "OSError", "message": f"cannot publish outputs: {exc}",
                                "line": None, "source": None})
    if task.get("check") and entry["status"] == "ok":
        try:
            entry["check"] = _check(final)
        except Exception as exc:  # noqa: BLE001 - the verdict says it
            entry["check"] = "error"
            entry["error"] = {"type": type(exc).__name__, "message": f"check failed: {exc}",
                              "line": None, "source": None}
        write_json_atomic(final / BATCH_RECORD, entry)
    entry["seconds"] = round(time.perf_counter() - t0, 4)
    entry["replace_worker"] = entry["status"] == "timeout" or script_still_running()
    return entry


def _published_record(final, key):
    """The record this same task (``key``) left in its published folder, or None."""
    if key is None:
        return None
    try:
        with open(final / BATCH_RECORD, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    return record if record.get("key") == key else None
