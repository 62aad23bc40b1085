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


class Backend(abc.ABC):
    """One ImageJ, started once, running many scripts one after the other."""

    name = "?"

    @abc.abstractmethod
    def start(self):
        """Start Java, ImageJ and whatever they need. Idempotent."""

    @property
    @abc.abstractmethod
    def imagej_version(self):
        """ImageJ's version string, e.g. ``"1.53t"``."""

    @abc.abstractmethod
    def run(self, script, *, timeout, analysis_dir=None):
        """Run a :class:`~fijirun.prepare.PreparedScript`; return a :class:`BackendRun`.

        ``analysis_dir``: where the images each particle analysis analysed are saved.

        Must start from a clean ImageJ (no images, ROIs, results, Log) and
        must return within ``timeout`` seconds plus a short grace period.
        """

    @abc.abstractmethod
    def close(self):
        """Release what :meth:`start` acquired (the JVM itself may outlive it)."""

    def versions(self):
        """Versions worth recording in run.json."""
        return {"imagej": self.imagej_version}


#: Backend name -> "module:class", imported on first use (a backend's own imports —
#: pyimagej for fiji — are paid only by who uses it, and fail loudly when missing).
BACKENDS: dict[str, str] = {
    "imagej1": "fijirun.backends.imagej1:ImageJ1Backend",
    "fiji": "fijirun.backends.fiji:FijiBackend",
}


def get_backend_class(name: str) -> type[Backend]:
    """The backend class called ``name`` (``imagej1`` or ``fiji``).

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
