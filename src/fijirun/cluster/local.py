"""The Dask clusters fijirun runs on: its settings, a local cluster, a client on either."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..tempdirs import make_temp_dir, private_tmp

__all__ = ["CLUSTER_CONFIG", "connect", "local_cluster"]

#: Dask settings of the clusters fijirun starts (and of its clients).
CLUSTER_CONFIG = {
    # a task whose worker died runs once more, then fails (KilledWorker)
    "distributed.scheduler.allowed-failures": 1,
    # one task per single-threaded worker at a time: a dying worker loses only it
    "distributed.scheduler.worker-saturation": 1.0,
    # the workers' statistical profiler samples every thread 100 times a second:
    # about 7 ms of CPU per image of the batch benchmark, taken from the images
    "distributed.worker.profile.enabled": False,
    # the workers ignore Ctrl-C (a terminal sends it to every process of the group): the
    # client owns it — it cancels the tasks and closes the cluster, whose workers then
    # stop their scripts; a worker's own KeyboardInterrupt printed Dask's tracebacks
    "distributed.worker.preload": ["fijirun.cluster.worker"],
}


def local_cluster(workers: int | None = None,
                  local_directory: str | os.PathLike | None = None) -> Any:
    """A Dask LocalCluster set up for fijirun: single-threaded worker processes.

    :func:`fijirun.batch` and :func:`fijirun.regress` start one per call;
    start your own to keep the workers' engines warm across batches (a
    notebook, a benchmark) and pass its ``scheduler_address`` as
    ``scheduler``. Close it when done.

    Parameters
    ----------
    workers : int, optional
        Worker processes; default the CPU count.
    local_directory : path-like, optional
        The workers' scratch folder. Default: a private ``fijirun-dask-<pid>-*``
        folder in the temp folder, removed when the cluster closes.

    Returns
    -------
    distributed.LocalCluster
    """
    import dask
    from distributed import LocalCluster

    n = int(workers or os.cpu_count() or 1)
    own = None
    if local_directory is None:  # a private folder, removed with the cluster (not /tmp/dask-scratch-space)
        own = local_directory = make_temp_dir("dask")
    # the nannies pass the config on to their workers; the scheduler's scratch space too
    with dask.config.set(CLUSTER_CONFIG), dask.config.set({"temporary-directory": str(local_directory)}):
        # ":0": the scheduler's HTTP server on a free port; Dask's 8787, when another
        # cluster has it, printed a four-line warning on the batch's stderr
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", memory_limit=0, local_directory=local_directory,
                               silence_logs=logging.CRITICAL)
    if own is not None:
        close = cluster.close

        def close_and_clean(*args, **kwargs):
            try:
                return close(*args, **kwargs)
            finally:
                shutil.rmtree(own, ignore_errors=True)

        cluster.close = close_and_clean  # type: ignore[method-assign]  # also what `with local_cluster() as c:` calls on exit
    return cluster


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None,
            what: str = "cluster") -> Iterator[tuple[Any, str]]:
    """A Client on a new local cluster, or on the cluster at ``scheduler``.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the new local cluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:port``).
    what : str
        Names the private temporary folder (``fijirun-<what>-<pid>-*``) that
        holds the local workers' ImageJ homes and Dask's scratch space.

    Yields
    ------
    (distributed.Client, str)
        The client and a description of where it runs (for summaries).
    """
    import dask
    from distributed import Client

    if scheduler:
        with dask.config.set(CLUSTER_CONFIG):
            client = Client(scheduler, timeout="30s")  # workers may be unreachable: Dask relays
        try:
            client.wait_for_workers(1, timeout=120)
            yield client, scheduler
        finally:
            client.close()
        return
    with contextlib.ExitStack() as stack:
        # removed whole even when the workers are killed (Ctrl-C) before they can clean up
        scratch = stack.enter_context(private_tmp(what))
        cluster = local_cluster(workers, local_directory=Path(scratch))
        stack.callback(cluster.close, timeout=30)
        # results come straight from the workers, not relayed by the scheduler
        client = Client(cluster, direct_to_workers=True)
        stack.callback(client.close)
        yield client, f"LocalCluster({len(cluster.workers)} workers)"
