"""The interface every backend implements.

A backend owns one ImageJ (a JVM, a display if needed) and runs prepared
scripts in it. Everything above it — parameters, output folders, parsing,
provenance — lives in :mod:`fijirun.session` and is shared by all backends.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

__all__ = ["Backend", "BackendRun", "get_backend_class", "BACKENDS"]


@dataclass
class BackendRun:
    """What a backend reports about one run.

    ``error`` is set, not raised, so that the session can still record the
    run (run.json, partial outputs) before raising it.

    Attributes
    ----------
    log : str
        ImageJ's Log, then the script's printed output and fijirun's warnings.
    commands : list of dict
        Every ImageJ command the script ran: ``{"command", "options"}``.
    messages : list of str
        Non-fatal dialogs, ``"title: text"``.
    error : Exception or None
        Why the run failed (a :class:`~fijirun.errors.RunError`), or None.
    seconds : float
        How long the script ran.
    return_value : str or None
        What the IJ Macro interpreter returned for the macro.
    warnings : list of str
        What happened outside the script: threads it left running, a timeout's thread dump.
    runaway : bool
        The script's thread survived being stopped: this ImageJ should be replaced.
    analyses : list of dict
        The raw record of each particle analysis (see :mod:`fijirun.analyses`).
    writes : dict
        File written → the number of particle analyses done by then.
    state : dict or None
        What the run left in ImageJ (see :mod:`fijirun.backends.final_state`),
        when asked for and the run ended well.
    """

    log: str = ""
    commands: list = field(default_factory=list)  # [{"command", "options"}]
    messages: list = field(default_factory=list)  # non-fatal dialogs: "title: text"
    error: Exception | None = None
    seconds: float = 0.0
    return_value: str | None = None
    warnings: list = field(default_factory=list)  # what happened outside the script, threads left
    runaway: bool = False  # the script's thread survived being stopped: replace this ImageJ
    analyses: list = field(default_factory=list)  # raw records of each particle analysis (fijirun.analyses)
    writes: dict = field(default_factory=dict)  # file written -> particle analyses done by then
    state: dict | None = None  # what the run left in ImageJ (backends.final_state)


class Backend(abc.ABC):
    """One ImageJ, started once, running many scripts one after the other."""

    name = "?"

    @abc.abstractmethod
    def start(self):
        """Start Java, ImageJ and whatever they need. Idempotent.

        Returns
        -------
        Backend
            ``self``, started.

        Raises
        ------
        EngineError
            What ImageJ needs cannot be found or does not start.
        """

    @property
    @abc.abstractmethod
    def imagej_version(self):
        """ImageJ's version string, e.g. ``"1.53t"``."""

    @abc.abstractmethod
    def run(self, script, *, timeout, analysis_dir=None, state_dir=None):
        """Run a prepared script in a clean ImageJ.

        Must start from a clean ImageJ (no images, ROIs, results, Log) and
        must return within ``timeout`` seconds plus a short grace period.

        Parameters
        ----------
        script : fijirun.prepare.PreparedScript
            The script, its language and its effective parameter values.
        timeout : float
            Seconds the script may run before it is stopped.
        analysis_dir : path-like, optional
            Where the images each particle analysis analysed are saved.
        state_dir : path-like, optional
            An empty folder for what the run left in ImageJ
            (:mod:`fijirun.backends.final_state`).

        Returns
        -------
        BackendRun
            What happened; a failure is in its ``error``, not raised.

        Raises
        ------
        EngineError
            ImageJ cannot start, or cannot be made clean before the run.
        KeyboardInterrupt
            The run was interrupted (after the script was stopped).
        """

    @abc.abstractmethod
    def close(self):
        """Release what :meth:`start` acquired (the JVM itself may outlive it)."""

    def versions(self):
        """Versions worth recording in run.json.

        Returns
        -------
        dict
            Name → version string; at least ``"imagej"``.
        """
        return {"imagej": self.imagej_version}


#: Backend name -> "module:class", imported on first use (a backend's own imports —
#: pyimagej for fiji — are paid only by who uses it, and fail loudly when missing).
BACKENDS: dict[str, str] = {
    "imagej1": "fijirun.backends.imagej1:ImageJ1Backend",
    "fiji": "fijirun.backends.fiji:FijiBackend",
}


def get_backend_class(name: str) -> type[Backend]:
    """The backend class called ``name``, imported on first use.

    Parameters
    ----------
    name : {"imagej1", "fiji"}
        A key of :data:`BACKENDS`.

    Returns
    -------
    type
        A :class:`Backend` subclass.

    Raises
    ------
    ValueError
        No backend of that name.
    """
    import importlib

    try:
        target = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}: choose from {', '.join(sorted(BACKENDS))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
