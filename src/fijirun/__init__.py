"""fijirun: run ImageJ/Fiji macros and Jython scripts headlessly from Python.

Public API
----------
Session, RunResult
    Run IJ Macro and Jython scripts unattended and get their outputs back.
run
    One script, one run, in a session of its own.
check, batch, regress
    Check a run's outputs; run a script over many images; regression-check a course.
data
    The sample course images fijirun ships (``fijirun.data.path(name)``, ``fijirun.data.names()``).
Errors: FijirunError and subclasses (see :mod:`fijirun.errors`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__
from .batch import batch  # Dask and pandas are imported only when a batch runs
from .check import check
from .errors import (
    DamagedImageError,
    DialogError,
    EngineError,
    EngineShutDown,
    FijirunError,
    InputError,
    JythonError,
    MacroError,
    NeedsDataError,
    OutputDirError,
    OutputExistsError,
    ParameterError,
    RunError,
    ScriptError,
    ScriptTimeout,
    UnrecognizedCommandError,
)
from .regress import regress

if TYPE_CHECKING:
    from . import data
    from .session import RunResult, Session

# Imported on first use (PEP 562), so that ``import fijirun`` and the command line's
# start-up load no engine code they do not run. ``batch``, ``check`` and ``regress``
# are imported above, not here: each is also a subpackage's name, and a later
# ``import fijirun.batch.run`` would otherwise leave the module where the function was.
_LAZY = {
    "data": (".data", None),
    "Session": (".session", "Session"),
    "RunResult": (".session", "RunResult"),
}


if not TYPE_CHECKING:  # to type checkers, the names above are imported: a typo is an error

    def __getattr__(name: str):
        try:
            module, attribute = _LAZY[name]
        except KeyError:
            raise AttributeError(f"module 'fijirun' has no attribute {name!r}") from None
        value = importlib.import_module(module, __name__)
        if attribute is not None:
            value = getattr(value, attribute)
        globals()[name] = value  # later lookups skip this function
        return value

    def __dir__():
        return sorted(set(globals()) | set(_LAZY))


def run(script, params=None, *, backend="imagej1", data_dir=None, **kwargs):
    """Run one script in a session of its own; see :meth:`Session.run`.

    Parameters
    ----------
    script : path-like
        An IJ Macro (``.ijm``) or Jython (``.py``) file.
    params : dict, optional
        Values for ``#@`` parameters and top-level assignments.
    backend : {"imagej1", "fiji"}
        Where the script runs (see :class:`Session`).
    data_dir : path-like, optional
        Local copies of data that the script opens by URL.
    **kwargs
        :meth:`Session.run`'s keywords: ``language``, ``input``, ``output_dir``,
        ``arg``, ``timeout``, ``check``, ``raise_on_error``.

    Returns
    -------
    RunResult
        What the run did and saved.

    Raises
    ------
    FileNotFoundError
        The script cannot be read.
    FijirunError
        As :meth:`Session.run` raises them: a :class:`RunError` when the script
        fails (unless ``raise_on_error=False``), a :class:`ParameterError`,
        :class:`OutputDirError` or :class:`EngineError` when it cannot run.
    """
    from .session import Session

    with Session(backend, data_dir=data_dir) as session:
        return session.run(script, params, **kwargs)


__all__ = [
    "__version__",
    "data",
    "Session",
    "RunResult",
    "run",
    "batch",
    "check",
    "regress",
    "FijirunError",
    "EngineError",
    "EngineShutDown",
    "ParameterError",
    "InputError",
    "OutputDirError",
    "OutputExistsError",
    "RunError",
    "ScriptError",
    "MacroError",
    "JythonError",
    "UnrecognizedCommandError",
    "NeedsDataError",
    "DamagedImageError",
    "DialogError",
    "ScriptTimeout",
]
