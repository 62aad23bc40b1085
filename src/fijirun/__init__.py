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

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("fijirun")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

from . import data  # noqa: E402
from .batch import batch  # noqa: E402  (Dask is imported only when a batch runs)
from .check import check  # noqa: E402
from .errors import (  # noqa: E402
    DamagedImageError,
    DialogError,
    EngineError,
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
from .regress import regress  # noqa: E402  (Dask is imported only when a course runs)
from .session import RunResult, Session  # noqa: E402


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
