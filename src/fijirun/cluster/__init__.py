"""Running fijirun tasks on Dask distributed: the one mechanism of ``batch`` and ``regress``.

Both run one engine script per task on single-threaded Dask worker
*processes*, each keeping one warm :class:`fijirun.Session`, with the same
guarantees: a deadline from each task's start, a stuck engine abandoned and
its worker replaced, a dead worker losing only its current task (run once
more elsewhere), Ctrl-C keeping what finished. Importing this package does
not import Dask.

Modules
-------
local
    Clusters: fijirun's Dask settings, :func:`local_cluster`, :func:`connect`.
worker
    Inside a worker: the process's session, its plugin, start notices.
client
    The client: :class:`TaskRunner` (submission, deadlines, worker
    replacement, Ctrl-C).
"""

from .client import DEFAULT_GRACE, Outcome, TaskJob, TaskRunner
from .local import CLUSTER_CONFIG, connect, local_cluster

__all__ = ["CLUSTER_CONFIG", "DEFAULT_GRACE", "Outcome", "TaskJob", "TaskRunner", "connect",
           "local_cluster"]
