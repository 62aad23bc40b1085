"""Exceptions raised by fijirun.

Every failure of a run becomes one of these, carrying ImageJ's own message
and, where there is one, the script line that failed. Nothing is reported
through dialogs or stdout only.
"""

from __future__ import annotations

__all__ = [
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


class FijirunError(Exception):
    """Base class of every error fijirun raises."""


class EngineError(FijirunError):
    """The engine cannot start: no Java, no ImageJ jar, no display."""


class EngineShutDown(EngineError):
    """The engine was shut down while a script ran (its process is ending).

    The run did not finish, through no fault of the script or its input: a
    batch or regression runs that task again on another worker.
    """


class ParameterError(FijirunError):
    """A script parameter is unresolved (``FIXME``), unknown or malformed.

    Raised before anything runs.

    Attributes
    ----------
    name : str or None
        The parameter.
    path : str or None
        The script file.
    line : int or None
        1-based line of the parameter in the script.
    """

    def __init__(self, message, *, name=None, path=None, line=None):
        self.name = name
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)


class InputError(FijirunError):
    """An input file given to a run does not exist or cannot be read."""


class OutputDirError(FijirunError):
    """The output folder cannot be created or written. Raised before running."""


class OutputExistsError(OutputDirError):
    """A run would overwrite a file it did not write itself."""


class RunError(FijirunError):
    """A script ran and failed.

    Attributes
    ----------
    message : str
        ImageJ's (or Jython's) own message.
    line : int or None
        1-based line in the user's script.
    source : str or None
        The text of that line.
    path : str or None
        The script file (or ``"<code>"``).
    log : str
        The ImageJ Log up to the failure.
    partial_outputs : list of str
        Files the run had written to its output folder before it failed
        (relative paths); they were discarded.
    """

    kind = "run"

    def __init__(self, message, *, line=None, source=None, path=None, log="", partial_outputs=()):
        self.message = message
        self.line = line
        self.source = source
        self.path = path
        self.log = log
        self.partial_outputs = list(partial_outputs)
        super().__init__(self._format())

    def _format(self):
        where = self.path or "<script>"
        if self.line:
            where += f", line {self.line}"
        text = f"{where}: {self.message}"
        if self.source:
            text += f"\n    {self.source.strip()}"
        return text

    def to_dict(self):
        """The error as the ``error`` object of ``--json`` output.

        Returns
        -------
        dict
            ``{"type", "message", "line", "source"}``; ``type`` is the class name.
        """
        return {
            "type": type(self).__name__,
            "message": self.message,
            "line": self.line,
            "source": self.source,
        }


class ScriptError(RunError):
    """A script raised an error (syntax or runtime)."""


class MacroError(ScriptError):
    """The IJ Macro interpreter reported an error."""


class JythonError(ScriptError):
    """A Jython script raised an exception."""


class UnrecognizedCommandError(ScriptError):
    """``run("X")`` named a command this ImageJ does not have.

    On plain ImageJ this usually means a Fiji plugin is needed.
    """

    def __init__(self, command, **kwargs):
        self.command = command
        super().__init__(f'Unrecognized command: "{command}" (needs plugin: {command})', **kwargs)


class NeedsDataError(RunError):
    """A script opened a URL or sample image that is not in the data directory."""

    def __init__(self, name, url=None, reason=None, **kwargs):
        self.name = name
        self.url = url
        msg = f"needs data {name}"
        if url:
            why = f"; {reason}" if reason else ""
            msg += f" (from {url}{why}; put the file in the data directory, --data-dir)"
        super().__init__(msg, **kwargs)


class DamagedImageError(RunError):
    """The script read an image file that is truncated or corrupt.

    ImageJ opens a truncated TIFF as if it were whole (the missing pixels
    are 0), so its analysis would silently miss what the file lost.
    """


class DialogError(RunError):
    """ImageJ opened a dialog that waits for a person."""


class ScriptTimeout(RunError):
    """A run took longer than its timeout and was stopped."""
