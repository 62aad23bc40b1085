"""Inside a Dask worker: one warm engine session per process, one image per task.

A JVM cannot be restarted in a process (JPype), so each worker process keeps
one :class:`fijirun.Session` for all its images: created by
:class:`SessionPlugin` when the worker starts (the JVM and the virtual
display warm up before the first image) or, failing that, by the first task.

:func:`run_image` runs the script on one image into a temporary folder
``DIR/.fijirun-tmp/<name>.<random>``; the session stages and publishes the
script's outputs and writes ``run.json`` there; then the whole folder is
renamed to ``DIR/<name>``, so an image's folder appears complete or not at
all. It never raises for a failed image: it returns the manifest entry.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from pathlib import Path

from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from ..errors import FijirunError, RunError, ScriptTimeout
from ..provenance import read_run_record, write_json_atomic
from .manifest import tmp_root

__all__ = ["SessionPlugin", "get_session", "run_image", "publish", "PLUGIN_NAME"]

PLUGIN_NAME = "fijirun-batch-session"
CHECK_RECORD = "check.json"

_SESSIONS = {}
_LOCK = threading.Lock()


def get_session(options):
    """This process's session for ``options`` (``data_dir``, ``memory``), started.

    Parameters
    ----------
    options : dict
        Keyword arguments of :class:`fijirun.Session` (hashable values).

    Returns
    -------
    fijirun.Session
    """
    from ..session import Session

    key = tuple(sorted(options.items()))
    with _LOCK:
        session = _SESSIONS.get(key)
        if session is None:
            session = Session(**options)
            _SESSIONS[key] = session
    return session.start()


class SessionPlugin(WorkerPlugin):
    """Start the worker's engine session when the worker starts.

    Parameters
    ----------
    options : dict
        Keyword arguments of :class:`fijirun.Session`.
    """

    name = PLUGIN_NAME

    def __init__(self, options):
        self.options = dict(options)

    def setup(self, worker):
        try:
            get_session(self.options)
        except Exception:  # noqa: BLE001 - the tasks report it, image by image
            pass


def publish(tmp, final):
    """Move a finished image folder into place, replacing an earlier attempt's.

    Parameters
    ----------
    tmp, final : Path
        Folders on the same file system.
    """
    trash = None
    if final.exists():
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


def _script_thread_alive():
    """Whether a stopped script's thread is still running (the JVM may be wedged)."""
    return any(t.name.startswith("fijirun-") and t.is_alive() for t in threading.enumerate())


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
        ``check`` (bool), ``topic`` (Dask event topic for start notices) and
        ``options`` (the session's).

    Returns
    -------
    dict
        The image's manifest entry: ``status`` (``ok``, ``failed``,
        ``timeout``), ``error``, ``seconds``, ``outputs`` (``path``,
        ``sha256``, ``bytes``), ``check``, ``worker``, ``pid`` and
        ``replace_worker`` (the engine may be unusable: a timeout).
    """
    t0 = time.perf_counter()
    name = task["name"]
    outdir = Path(task["outdir"])
    try:
        worker = get_worker()
        address = worker.address
        worker.log_event(task["topic"], {"event": "start", "name": name, "worker": address,
                                         "pid": os.getpid()})
    except ValueError:  # not in a worker (called directly)
        address = None
    tmp = tmp_root(outdir) / f"{name}.{uuid.uuid4().hex[:12]}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    status, error = "ok", None
    try:
        session = get_session(task["options"])
        result = session.run(task["script"], dict(task["params"]), input=task["input"],
                             output_dir=tmp, timeout=task["timeout"], raise_on_error=False)
        if not result.ok:
            status = "timeout" if isinstance(result.error, ScriptTimeout) else "failed"
            error = _error_dict(result.error)
    except (FijirunError, OSError, ValueError) as exc:
        status, error = "failed", _error_dict(exc)
    except Exception as exc:  # noqa: BLE001 - an image never stops the batch
        status, error = "failed", _error_dict(exc)
    outputs = []
    final = outdir / name
    if tmp.is_dir():
        try:
            publish(tmp, final)
            record = read_run_record(final) or {}
            outputs = record.get("outputs", [])
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            status, error = "failed", {"type": "OSError", "message": f"cannot publish outputs: {exc}",
                                       "line": None, "source": None}
    verdict = None
    if task.get("check") and status == "ok":
        try:
            verdict = _check(final)
        except Exception as exc:  # noqa: BLE001 - the verdict says it
            verdict = "error"
            error = {"type": type(exc).__name__, "message": f"check failed: {exc}", "line": None,
                     "source": None}
    return {
        "name": name,
        "status": status,
        "error": error,
        "seconds": round(time.perf_counter() - t0, 4),
        "outputs": outputs,
        "check": verdict,
        "worker": address,
        "pid": os.getpid(),
        "replace_worker": status == "timeout" or _script_thread_alive(),
    }
