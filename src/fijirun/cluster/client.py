"""The client side of fijirun's Dask runs: submission, deadlines, worker replacement, Ctrl-C.

:class:`TaskRunner` submits every task at once (the scheduler hands each
single-threaded worker one task at a time: ``worker-saturation`` 1.0) and
then waits on one queue that receives both the tasks' start notices (a Dask
event topic) and their completions (future callbacks) — no polling:

* a task's deadline runs from its start notice: ``timeout + grace``. The
  engine itself stops a script at ``timeout`` (the task then returns
  ``replace_worker``); a task with no answer at its deadline has a wedged
  engine: it is abandoned (:attr:`Outcome.status` ``"stuck"``) and its worker
  replaced;
* a task whose result says ``replace_worker`` (a stopped script may leave
  the JVM wedged) has its worker restarted by its nanny — once the results
  of the tasks that worker finished meanwhile are read (a result lost all
  the same, status ``lost``, runs again);
* a worker that dies loses only its current task, which the scheduler runs
  once more elsewhere (``allowed-failures`` 1); a second death while it
  runs is ``"died"``. A death the task did not cause (our own worker
  replacement, or the death of a worker it only waited on) is forgiven:
  the task runs again; so does a task that raised
  :class:`~fijirun.errors.EngineShutDown` (its worker closed under it);
* Ctrl-C: finished tasks are still reported, the others cancelled, and
  ``KeyboardInterrupt`` propagates.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import queue
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EngineShutDown

__all__ = ["DEFAULT_GRACE", "Outcome", "TaskJob", "TaskRunner"]

#: Seconds beyond the timeout before the client gives up on a silent worker.
DEFAULT_GRACE = 30.0
#: Seconds with no worker at all before the unfinished tasks are given up.
NO_WORKER_PATIENCE = 180.0
#: Longest wait on the queue before the workers' presence is looked at.
_WAKE = 5.0

log = logging.getLogger("fijirun.cluster")


@dataclass
class TaskJob:
    """One task to run: ``function(task)`` on a worker, under the name ``name``.

    ``function`` must call :func:`fijirun.cluster.worker.announce_start` with
    ``task`` and ``name`` when it starts, and return a dict; a true
    ``replace_worker`` in it makes the runner restart the worker (its
    ``worker`` key, else the worker that announced the start).
    """

    name: str
    function: Callable[[dict], dict]
    task: dict
    timeout: float | None = None  # this task's engine timeout, else the runner's
    future: Any = None
    starts: list = field(default_factory=list)  # (monotonic time, worker address)
    forgiven: set = field(default_factory=set)  # indices of starts whose end was not the task's doing
    submissions: int = 0
    done: bool = False


@dataclass(frozen=True)
class Outcome:
    """How one task ended, as the client saw it.

    Attributes
    ----------
    status : {"finished", "stuck", "died", "error"}
        ``finished``: the task returned ``record``. ``stuck``: no answer by
        its deadline (abandoned, worker replaced). ``died``: its worker died
        under it twice. ``error``: the task raised, or its result was lost.
    record : dict or None
        The task's return value (``finished`` only).
    message : str or None
        Why it did not finish.
    worker : str or None
        The worker it last ran on.
    attempts : int
        How many times it started.
    seconds : float or None
        From its last start to the client's verdict (not for ``finished``).
    error_type : str or None
        The exception's name: ``KilledWorker`` (died), ``ScriptTimeout``
        (stuck), else what the task raised or lost it.
    """

    status: str
    record: dict | None = None
    message: str | None = None
    worker: str | None = None
    attempts: int = 0
    seconds: float | None = None
    error_type: str | None = None


class TaskRunner:
    """Run tasks on a Dask client with deadlines, worker replacement and Ctrl-C handling.

    Parameters
    ----------
    client : distributed.Client
        On a cluster of single-threaded workers set up by
        :func:`fijirun.cluster.connect` (or with :data:`CLUSTER_CONFIG`).
    timeout : float
        The engine's timeout per task, in seconds.
    grace : float
        Seconds beyond ``timeout`` before a silent task is abandoned.
    on_outcome : callable
        ``on_outcome(job, outcome)``, called in the calling thread as each
        task ends.
    """

    def __init__(self, client: Any, *, timeout: float, grace: float = DEFAULT_GRACE,
                 on_outcome: Callable[[TaskJob, Outcome], None]):
        self.client = client
        self.limit = float(timeout) + float(grace)
        self.grace = float(grace)
        self.timeout = float(timeout)
        self.on_outcome = on_outcome
        self.token = uuid.uuid4().hex[:8]
        self.topic = f"fijirun-tasks-{self.token}"
        self.jobs: dict[str, TaskJob] = {}
        self._events: queue.Queue = queue.Queue()
        self._deadlines: list[tuple[float, int, str, int]] = []  # (deadline, seq, name, start index)
        self._seq = 0
        self._unfinished = 0
        self._last_activity = time.monotonic()
        self._no_worker_since: float | None = None
        self._replacing: dict[str, tuple[float, TaskJob]] = {}  # worker -> (restart at the latest, culprit)

    # ------------------------------------------------------------ the loop
    def run(self, jobs: Iterable[TaskJob]) -> None:
        """Run ``jobs`` to the end; each one's outcome goes to ``on_outcome``.

        Raises
        ------
        KeyboardInterrupt
            After reporting what finished and cancelling the rest.
        ValueError
            Two jobs have the same name.
        """
        for job in jobs:
            if job.name in self.jobs:
                raise ValueError(f"two tasks named {job.name!r}")
            self.jobs[job.name] = job
        self.client.subscribe_topic(self.topic, lambda event: self._events.put(("start", event[1])))
        try:
            for job in self.jobs.values():
                self._submit(job)
            self._unfinished = len(self.jobs)
            while self._unfinished:
                try:
                    kind, payload = self._events.get(timeout=self._wait_seconds())
                except queue.Empty:
                    kind, payload = None, None
                if kind == "start":
                    self._started(payload)
                elif kind == "done":
                    self._completed(*payload)
                self._expire()
                self._restart_due()
                if kind is None:
                    self._watch_workers()
            self._restart_due(now=True)  # a wedged worker is never left to the next user of the cluster
        except KeyboardInterrupt:
            self._interrupt()
            raise
        finally:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self.topic)

    def _limit(self, job: TaskJob) -> float:
        """Seconds from a start of ``job`` to its deadline."""
        return self.limit if job.timeout is None else float(job.timeout) + self.grace

    def _wait_seconds(self) -> float:
        # A task that starts during the wait has its deadline at least `grace`
        # after the wait began, and the wait is never longer than _WAKE.
        wait = min(_WAKE, max(self.grace, 0.05))
        if self._replacing:  # look again soon whether those workers' results were read
            wait = min(wait, 0.05)
        if self._deadlines:
            wait = min(wait, self._deadlines[0][0] - time.monotonic())
        return max(0.0, wait)

    # ------------------------------------------------------------ submission
    def _submit(self, job: TaskJob) -> None:
        job.submissions += 1
        task = dict(job.task, topic=self.topic)
        safe = re.sub(r"[^\w.-]+", "_", job.name)
        job.future = self.client.submit(job.function, task, pure=False,
                                        key=f"fijirun-{safe}-{self.token}-{job.submissions}")
        job.future.add_done_callback(lambda fut, job=job: self._events.put(("done", (job, fut))))

    # ------------------------------------------------------------ events
    def _started(self, msg: Any) -> None:
        if not isinstance(msg, dict) or msg.get("event") != "start":
            return
        job = self.jobs.get(str(msg.get("name")))
        if job is None or job.done:
            return
        now = time.monotonic()
        self._last_activity = now
        job.starts.append((now, msg.get("worker")))
        self._seq += 1
        heapq.heappush(self._deadlines, (now + self._limit(job), self._seq, job.name, len(job.starts) - 1))

    def _completed(self, job: TaskJob, fut: Any) -> None:
        if job.done or job.future is not fut:
            return  # an abandoned or superseded attempt
        self._last_activity = time.monotonic()
        if fut.status == "finished":
            try:
                record = fut.result()
            except Exception as exc:  # noqa: BLE001 - lost between worker and client
                self._end(job, Outcome("error", message=f"{type(exc).__name__}: {exc}",
                                       worker=self._last_worker(job), attempts=len(job.starts),
                                       error_type=type(exc).__name__))
                return
            self._release(job)
            worker = record.get("worker") or self._last_worker(job)
            if record.get("replace_worker") and worker:
                self._replace_worker(worker, job)
            self._end(job, Outcome("finished", record=record, worker=worker, attempts=len(job.starts)))
            return
        if fut.status == "lost" and job.submissions < 3:
            # its result died with a worker before the client read it: not the task's doing
            self._submit(job)
            return
        failure = fut.exception() if fut.status == "error" else None
        name = type(failure).__name__ if failure is not None else "CancelledError"
        if isinstance(failure, EngineShutDown) and job.submissions < 3:
            # its worker closed under it (our own replacement of that worker, or the
            # cluster's): the run did not finish, through no fault of the task
            self._forgive_last_start(job)
            self._submit(job)
            return
        deaths = len(job.starts) - len(job.forgiven)
        if name == "KilledWorker" and deaths < 2 and job.submissions < 3:
            # The scheduler counts every death of a worker the task was assigned
            # to, also while it only waited there, and the deaths our own worker
            # replacements cause. Its start notices tell how often it really ran
            # when its worker died: fewer than twice, it runs again.
            self._submit(job)
            return
        if name == "KilledWorker":
            self._end(job, Outcome("died", worker=self._last_worker(job), attempts=len(job.starts),
                                   error_type=name,
                                   message=f"the worker died while running it ({deaths} attempts; "
                                           "a crash of the engine, or the process was killed)"))
        else:
            message = f"{name}: {failure}" if failure is not None else f"cancelled by the scheduler ({fut.status})"
            self._end(job, Outcome("error", message=message, worker=self._last_worker(job),
                                   attempts=len(job.starts), error_type=name))

    def _expire(self) -> None:
        now = time.monotonic()
        while self._deadlines and self._deadlines[0][0] <= now:
            _, _, name, index = heapq.heappop(self._deadlines)
            job = self.jobs[name]
            if job.done or index != len(job.starts) - 1:
                continue  # finished, or started again since
            started, worker = job.starts[index]
            fut = job.future
            job.future = None
            if fut is not None:
                fut.cancel()
            if worker:
                self._replace_worker(worker, job)
            self._end(job, Outcome(
                "stuck", worker=worker, attempts=len(job.starts), seconds=round(now - started, 4),
                error_type="ScriptTimeout",
                message=f"no answer {self._limit(job):g} s after it started (timeout "
                        f"{job.timeout or self.timeout:g} s): the engine was stuck; abandoned, worker replaced"))

    def _watch_workers(self) -> None:
        """Give up the unfinished tasks when the cluster has had no worker for a long time."""
        if time.monotonic() - self._last_activity < _WAKE:
            return
        try:
            n = len(self.client.scheduler_info()["workers"])
        except Exception:  # noqa: BLE001 - the scheduler is busy: look again later
            return
        now = time.monotonic()
        if n:
            self._no_worker_since = None
            return
        self._no_worker_since = self._no_worker_since or now
        if now - self._no_worker_since < NO_WORKER_PATIENCE:
            return
        for job in list(self.jobs.values()):
            if not job.done:
                if job.future is not None:
                    job.future.cancel()
                self._end(job, Outcome("error", attempts=len(job.starts), error_type="NoWorker",
                                       message=f"no worker left to run it ({NO_WORKER_PATIENCE:g} s "
                                               "without any)"))

    def _interrupt(self) -> None:
        """Ctrl-C: report what finished, cancel the rest."""
        while True:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "done" and payload[1].status == "finished":
                job, fut = payload
                if job.done or job.future is not fut:
                    continue
                with contextlib.suppress(Exception):
                    record = fut.result(timeout=1)
                    self._end(job, Outcome("finished", record=record, attempts=len(job.starts),
                                           worker=record.get("worker") or self._last_worker(job)))
        with contextlib.suppress(Exception):
            self.client.cancel([j.future for j in self.jobs.values()
                                if not j.done and j.future is not None])

    # ------------------------------------------------------------ helpers
    def _end(self, job: TaskJob, outcome: Outcome) -> None:
        job.done = True
        self._unfinished -= 1
        self.on_outcome(job, outcome)

    @staticmethod
    def _last_worker(job: TaskJob) -> str | None:
        return job.starts[-1][1] if job.starts else None

    def _release(self, job: TaskJob) -> None:
        """Let the cluster forget a read result (else a worker restart recomputes it)."""
        fut, job.future = job.future, None
        if fut is not None:
            fut.release()

    def _replace_worker(self, worker: str, culprit: TaskJob) -> None:
        """Restart one worker process (its nanny starts a fresh one) once its results are read.

        The worker may have finished other tasks since (the scheduler hands it
        the next one at once): their results are read first, by the main loop,
        for up to 3 s — a restart would lose them. The restart itself is made
        by :meth:`_restart_due`.
        """
        self._replacing.setdefault(worker, (time.monotonic() + 3.0, culprit))

    def _restart_due(self, now: bool = False) -> None:
        """Restart the workers to replace whose results were read (or whose wait is over)."""
        for worker, (latest, culprit) in list(self._replacing.items()):
            if not now and time.monotonic() < latest:
                try:
                    if self.client.run_on_scheduler(_holds_results, address=worker):
                        continue
                except Exception:  # noqa: BLE001 - the scheduler cannot say: restart now
                    pass
            del self._replacing[worker]
            try:
                self.client.restart_workers([worker], timeout=120, raise_for_error=False)
            except Exception as exc:  # noqa: BLE001 - the run goes on without it
                log.warning("could not restart worker %s: %s", worker, exc)
            for job in self.jobs.values():
                if (job is not culprit and not job.done and job.starts and job.starts[-1][1] == worker
                        and job.future is not None and not job.future.done()):
                    self._forgive_last_start(job)

    @staticmethod
    def _forgive_last_start(job: TaskJob) -> None:
        """Count ``job``'s last start as ended by us or its worker's closing, not by the task.

        Once per start: the same ending may be seen twice (our restart of its
        worker, then the task's own EngineShutDown).
        """
        if job.starts:
            job.forgiven.add(len(job.starts) - 1)


def _holds_results(address: str, dask_scheduler: Any = None) -> bool:
    """On the scheduler: whether the worker at ``address`` holds task results."""
    ws = dask_scheduler.workers.get(address)
    return bool(ws is not None and ws.has_what)
