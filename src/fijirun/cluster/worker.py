"""Inside a Dask worker: one warm engine session per process, start notices.

A JVM cannot be restarted in a process (JPype), so each worker process keeps
one :class:`fijirun.Session` for all its tasks: created by
:class:`SessionPlugin` when the worker starts (the JVM and the virtual
display warm up before the first task) or, failing that, by the first task.
A task tells the client when it starts (:func:`announce_start`), so that its
deadline runs from then, not from its submission.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = ["PLUGIN_NAME", "SessionPlugin", "announce_start", "current_task", "dask_setup", "get_session"]

PLUGIN_NAME = "fijirun-session"

_SESSIONS: dict[tuple, Any] = {}  # session options -> the process's Session
_LOCK = threading.Lock()


def get_session(options: dict) -> Any:
    """The session of this process for ``options``, started.

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


def dask_setup(worker):  # noqa: ARG001 - Dask's preload interface
    """At a worker process's start (``distributed.worker.preload``): Ctrl-C is the client's.

    The client cancels the tasks and closes the cluster; the closing worker
    then stops its script (:meth:`SessionPlugin.teardown`).
    """
    import signal

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class SessionPlugin(WorkerPlugin):
    """Start the worker's engine session when the worker starts.

    Parameters
    ----------
    options : dict
        Keyword arguments of :class:`fijirun.Session`.
    languages : sequence of str
        Script languages to warm up (a JVM's first window, dialog and Jython
        script cost seconds on a loaded machine: they stay out of the first
        task's timeout).
    """

    name = PLUGIN_NAME

    def __init__(self, options: dict, languages=()):
        self.options = dict(options)
        self.languages = tuple(sorted(languages))

    def setup(self, worker):  # noqa: ARG002 - Dask's plugin interface
        """Start and warm up the session (a failure is reported by the tasks)."""
        # A worker process shares its stdout with the client's (a local cluster's
        # nanny passes it on): what the engine, a JVM or Fiji's start-up print
        # there would break the client's output (one JSON object with --json).
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            os.dup2(2, 1)
        try:
            session = get_session(self.options)
            if self.languages:
                session.warm_up(self.languages)
        except Exception:  # noqa: BLE001 - the tasks report it, one by one
            pass

    def teardown(self, worker):
        """End the engine when the worker closes (not when another plugin replaces this one)."""
        # Also called when a later batch registers its plugin on this warm
        # worker: the engine must live on then. Only a closing worker's
        # process ends next, and need not wait ~1 s for AWT to wind down.
        if getattr(worker.status, "name", "") not in ("closing", "closing_gracefully", "closed"):
            return
        from ..backends.process import shutdown_process

        shutdown_process(wait_for_awt=False)


def current_task() -> tuple[Any, str | None, str | None]:
    """The worker running the calling task, its address and the task's key (Nones outside Dask)."""
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # called directly, not in a worker
        return None, None, None
    key = worker.get_current_task()
    return worker, worker.address, None if key is None else str(key)


def announce_start(task: dict, name: str) -> None:
    """Tell the client (event topic ``task["topic"]``) that the task ``name`` starts here.

    Parameters
    ----------
    task : dict
        The task; its ``topic`` is set by :class:`fijirun.cluster.TaskRunner`.
    name : str
        The task's name in the runner.
    """
    worker, address, _ = current_task()
    if worker is not None and task.get("topic"):
        worker.log_event(task["topic"], {"event": "start", "name": name, "worker": address,
                                         "pid": os.getpid()})
