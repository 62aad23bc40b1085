"""An activity's inputs in a regression: ``#@`` parameters without value, relative paths.

Fiji asks for a ``#@`` parameter that has no value; an unattended regression
cannot. :func:`answer_parameters` gives each one what Fiji's dialog would
start with — 0 for a number, false for a boolean, an empty string — or the
course configuration's value (``[activities."glob".params]``). A file or
folder parameter has no such default: without a configured value the
activity ``needs-input``.

Course scripts open data by paths relative to where the learner works (the
course repository, the data folder): :func:`resolve_relative_paths` rewrites
such a string literal to the absolute path of the file when it exists
relative to the script's folder, the course root, the data folder or the
data folder's parent (in that order).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from ..prepare import _BOOL_TYPES, _FILE_TYPES, _FLOAT_TYPES, _INT_TYPES, _STRING_TYPES, MACRO, _code_mask
from ..prepare import parse_parameters as _parse_parameters

__all__ = ["MissingInput", "answer_parameters", "resolve_relative_paths"]

_LITERAL = re.compile(r"""(["'])([^"'\\\n]+)\1""")
_RELATIVE = re.compile(r"^(?![A-Za-z][A-Za-z0-9+.-]*:)(?![/\\~])[^*?<>|]+\.[A-Za-z0-9]{1,5}$")


class MissingInput(Exception):
    """A file or folder ``#@`` parameter with no value and none configured."""

    def __init__(self, name: str, type_name: str, line: int):
        super().__init__(f"'#@ {type_name} {name}' (line {line}) has no value: give it one in the "
                         f"course configuration, [activities.\"<path>\".params] {name} = \"...\"")
        self.name, self.type_name, self.line = name, type_name, line


def _resolve_file(value: str, folders: list) -> str:
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    for folder in folders:
        if folder is not None and (Path(folder) / p).exists():
            return str((Path(folder) / p).resolve())
    return value


def _dialog_number(p, *, integer):
    """The number Fiji's dialog starts from with no default: 0, moved into ``min``..``max``."""
    value = 0.0
    for key, bound in (("min", max), ("max", min)):
        try:
            value = bound(value, float(str(p.options.get(key, "")).strip()))
        except ValueError:
            continue  # no such limit (or not a number): SciJava ignores it too
    if integer:  # a fractional limit: the nearest whole number inside it
        return math.ceil(value) if value > 0 else math.floor(value)
    return value


def answer_parameters(text: str, configured: dict, folders: list, *, output_dir=None,
                      skip=()) -> tuple[dict, list]:
    """Values for the script's ``#@`` parameters that have none.

    Parameters
    ----------
    text : str
        The script.
    configured : dict
        The course configuration's values by name (relative file paths are
        looked up in ``folders``).
    folders : list of path-like
        Where relative file values are looked for, in order.
    output_dir : path-like, optional
        The activity's folder: a file parameter the script saves to
        (``style="save"``) gets a path there, named after the parameter.
    skip : sequence of str
        Parameters the caller fills (the output folder).

    Returns
    -------
    (dict, list of dict)
        Parameter values to pass to the run (configured ones included), and
        the answers given, ``{"line", "call", "value"}``.

    Raises
    ------
    MissingInput
        A file or folder parameter has no value and none is configured.
    """
    params, answers = {}, []
    declared = set()
    for p in _parse_parameters(text):
        declared.add(p.name)
        t = p.type.lower()
        if p.io == "output" or p.name in skip:
            continue
        if p.name in configured:
            value = configured[p.name]
            if t in _FILE_TYPES and isinstance(value, str):
                value = _resolve_file(value, folders)
            params[p.name] = value
            answers.append({"line": p.line, "call": f"#@ {p.type} {p.name}", "value": value,
                            "source": "configuration"})
            continue
        if p.default is not None:
            continue
        if t in _FILE_TYPES and output_dir is not None and "save" in str(p.options.get("style", "")).lower():
            params[p.name] = str(Path(output_dir) / p.name)  # a file the script writes: in its folder
            answers.append({"line": p.line, "call": f"#@ {p.type} {p.name}", "value": params[p.name],
                            "source": "the activity's folder"})
            continue
        if t in _FILE_TYPES:
            raise MissingInput(p.name, p.type, p.line)
        choices = p.options.get("choices")
        if isinstance(choices, list) and choices:
            value = choices[0]  # what Fiji's dialog shows first
        elif t in _INT_TYPES or t in _FLOAT_TYPES:
            value = _dialog_number(p, integer=t in _INT_TYPES)
        elif t in _BOOL_TYPES:
            value = False
        elif t in _STRING_TYPES:
            value = ""
        else:
            continue  # a service or object: the run says what is missing
        params[p.name] = value
        answers.append({"line": p.line, "call": f"#@ {p.type} {p.name}", "value": value,
                        "source": "Fiji's dialog default"})
    for name, value in configured.items():  # template variables (outputDir = FIXME...)
        if name not in declared:
            params[name] = value
            answers.append({"line": None, "call": name, "value": value, "source": "configuration"})
    return params, answers


def resolve_relative_paths(text: str, language: str, folders: list) -> tuple[str, list]:
    """Rewrite string literals that are relative paths of existing files to absolute paths.

    Parameters
    ----------
    text : str
        The script (its line numbers are kept).
    language : {"ijm", "jython"}
    folders : list of path-like
        Where a relative path is looked up, in order; the first that holds
        it wins.

    Returns
    -------
    (str, list of dict)
        The text and what was resolved, ``{"line", "path", "resolved"}``.
    """
    if not any(folders):
        return text, []
    mask = _code_mask(text, language if language == MACRO else "jython")
    pieces, resolved, last = [], [], 0
    for m in _LITERAL.finditer(text):
        literal = m.group(2)
        if mask[m.start()] != "s" or not _RELATIVE.match(literal):
            continue
        for folder in folders:
            if folder is None:
                continue
            candidate = Path(folder) / literal
            if candidate.is_file():
                absolute = str(candidate.resolve()).replace("\\", "/")
                pieces += [text[last:m.start(2)], absolute]
                last = m.end(2)
                resolved.append({"line": text.count("\n", 0, m.start()) + 1, "path": literal,
                                 "resolved": absolute})
                break
    pieces.append(text[last:])
    return "".join(pieces), resolved
