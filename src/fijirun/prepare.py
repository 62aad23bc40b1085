"""Preparing a script to run unattended, without editing the user's file.

What this module does to the text it is given (the file on disk is never
touched), keeping every line where it was so that ImageJ's line numbers stay
the user's line numbers:

* SciJava script parameters (``#@ File input``) are filled from ``params``;
  in IJ Macro the ``#@`` line becomes an assignment (plain ImageJ 1.x does not
  know script parameters), in Jython the values are handed to the interpreter.
* Course-template assignments at top level (``outputDir = FIXME``,
  ``min_size = 0``) are overridden by ``params``; a text value keeps the type
  of the script's own literal (:func:`coerce_like`: ``label = "abc"`` stays
  text for ``007``). An unresolved ``FIXME`` is a
  :class:`~fijirun.errors.ParameterError` naming the variable.
* http(s) URLs in string literals are replaced by their copies in the data
  directory (:mod:`fijirun.data`).

Script files are read by :func:`read_script_text`, the one place that decodes
them: UTF-8 (a byte-order mark is dropped), else Windows-1252 / Latin-1 as
course scripts written on Windows are; a leading byte-order mark in text given
directly is dropped by :func:`prepare_script` too.
"""

from __future__ import annotations

import codecs
import copy
import functools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .data import URL_PATTERN, DataDir
from .errors import InputError, ParameterError
from .files import file_problem

__all__ = [
    "MACRO",
    "JYTHON",
    "ScriptParameter",
    "PreparedScript",
    "detect_language",
    "parse_parameters",
    "prepare_script",
    "read_script_text",
    "decode_script_bytes",
    "OUTPUT_DIR_NAMES",
    "INPUT_NAMES",
]

MACRO = "ijm"
JYTHON = "jython"

_LANGUAGES = {
    ".ijm": MACRO, ".txt": MACRO, ".mac": MACRO, ".macro": MACRO,
    ".py": JYTHON, ".jy": JYTHON,
}
_LANGUAGE_ALIASES = {
    "ijm": MACRO, "macro": MACRO, "imagej macro": MACRO, "ij1 macro": MACRO, "ijmacro": MACRO,
    "py": JYTHON, "python": JYTHON, "jython": JYTHON,
}

# Names a script's output folder and input image go by, in course material.
OUTPUT_DIR_NAMES = ("outputDir", "output_dir", "outputFolder", "output_folder", "outDir",
                    "out_dir", "outputDirectory", "dirOut", "saveDir", "output")
INPUT_NAMES = ("input", "inputFile", "input_file", "inputImage", "input_image", "imagePath",
               "image_path", "inputPath")

_INT_TYPES = {"int", "integer", "long", "short", "byte", "biginteger"}
_FLOAT_TYPES = {"float", "double", "bigdecimal", "number"}
_BOOL_TYPES = {"boolean", "bool"}
_STRING_TYPES = {"string", "char", "character", "colorrgb"}
_FILE_TYPES = {"file", "path"}
_FILE_LIST_TYPES = {"file[]"}

_PARAM_LINE = re.compile(
    r"""^\s*(?:\#@|//\s*@)(?P<io>input|output|both)?\s*
        (?P<type>[A-Za-z_][\w.]*(?:\[\])?)\s*
        (?:\((?P<opts>.*)\))?\s*
        (?P<name>[A-Za-z_]\w*)?\s*
        (?:=\s*(?P<default>.*?))?\s*$""",
    re.VERBOSE,
)
_OPTION = re.compile(r"""(\w+)\s*=\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^,]+)""")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


@dataclass
class ScriptParameter:
    """One ``#@`` script parameter."""

    name: str
    type: str
    line: int  # 1-based
    options: dict = field(default_factory=dict)
    default: object = None
    io: str = "input"

    @property
    def is_directory(self):
        """Whether the parameter asks for a folder (``style="directory"``)."""
        return "directory" in str(self.options.get("style", "")).lower()


@dataclass
class PreparedScript:
    """A script ready for a backend: text, language and effective values."""

    path: str
    language: str
    original: str
    text: str
    values: dict  # effective parameter values, as Python objects
    parameters: list  # ScriptParameter
    file_params: set  # names whose values are files (java.io.File in Jython)
    urls: dict  # url -> local path (str) or None when the data dir lacks it
    arg: str = ""

    def line_text(self, line):
        """The user's line ``line`` (1-based), or None."""
        lines = self.original.splitlines()
        if line and 1 <= line <= len(lines):
            return lines[line - 1]
        return None


BOM = "\ufeff"


def decode_script_bytes(data):
    """Decode a script file's bytes; return ``(text, encoding)``.

    UTF-8 with a byte-order mark (``"utf-8-sig"``, the mark dropped), UTF-16
    with its byte-order mark, plain UTF-8 (``"utf-8"``), else Windows-1252
    (``"cp1252"``: Latin-1 plus the typographic quotes, dashes and euro sign of
    Windows editors), else Latin-1 (``"latin-1"``, which decodes any byte).
    Line endings are kept as they are.
    """
    data = bytes(data)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            data = data[len(codecs.BOM_UTF8):]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1"), "latin-1"


def read_script_text(path):
    """Read a script file as ImageJ would; return ``(text, encoding)``.

    See :func:`decode_script_bytes`. ``OSError`` when the file cannot be read,
    also when it is no regular file (a pipe would block until written to).
    """
    path = Path(path)
    problem = file_problem(path)
    if problem is not None and os.path.lexists(path) and not path.is_dir():
        raise OSError(problem)  # a pipe would block; a missing file or a folder: read_bytes says so
    return decode_script_bytes(path.read_bytes())


def _strip_bom(text):
    return text[1:] if text.startswith(BOM) else text


def detect_language(path=None, language=None):
    """``"ijm"`` or ``"jython"`` from an explicit name or the file extension."""
    if language:
        key = str(language).strip().lower()
        if key in _LANGUAGE_ALIASES:
            return _LANGUAGE_ALIASES[key]
        raise ParameterError(f"unknown script language {language!r}: use 'ijm' or 'jython'")
    if path:
        ext = Path(str(path)).suffix.lower()
        if ext in _LANGUAGES:
            return _LANGUAGES[ext]
    raise ParameterError(f"cannot tell the language of {path}: use .ijm or .py, or language=")


def _parse_options(text):
    opts = {}
    for key, value in _OPTION.findall(text or ""):
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        opts[key] = value
    return opts


def parse_parameters(text):
    """The ``#@`` script parameters of a script, in order."""
    params = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if not (stripped.startswith("#@") or re.match(r"//\s*@\w", stripped)):
            continue
        m = _PARAM_LINE.match(line)
        if not m or not m.group("name"):
            raise ParameterError(f"cannot read script parameter {line.strip()!r}", line=number)
        opts = _parse_options(m.group("opts"))
        default = m.group("default")
        if default is not None:
            default = default.strip().strip("\"'")
        elif "value" in opts:
            default = opts["value"]
        params.append(ScriptParameter(
            name=m.group("name"), type=m.group("type"), line=number, options=opts,
            default=default, io=m.group("io") or "input",
        ))
    return params


def coerce(value, type_name=None):
    """Turn a command-line string into the value a script expects.

    A value that parses as a number is a number, ``true``/``false`` for
    Boolean parameters a bool, anything else a string.
    """
    t = (type_name or "").lower()
    if not isinstance(value, str):
        if isinstance(value, Path):
            return str(value)
        return value
    if t in _BOOL_TYPES:
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise ParameterError(f"{value!r} is not a Boolean")
    if t in _STRING_TYPES or t in _FILE_TYPES:
        return value
    if t in _INT_TYPES:
        try:
            return int(value)
        except ValueError:
            raise ParameterError(f"{value!r} is not an integer") from None
    if _NUMBER.match(value.strip()):
        v = float(value)
        if not math.isfinite(v):  # 1e999: the script would get "inf", an undefined variable
            raise ParameterError(f"{value!r} is too large for a number")
        return int(value.strip()) if re.match(r"^[+-]?[0-9]+$", value.strip()) else v
    if t in _FLOAT_TYPES:  # a typed number never silently becomes text
        raise ParameterError(f"{value!r} is not a number")
    return value


def literal_kind(text, language):
    """The kind of the script's own literal for a variable: ``"string"``, ``"number"`` or ``"boolean"``.

    None when the value is not a literal (``FIXME``, an expression, a call).
    """
    t = (text or "").strip()
    if language == JYTHON and t[:1] in "uUrRbB" and t[1:2] in ("'", '"'):
        t = t[1:]
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'":
        return "string"
    if _NUMBER.match(t):
        return "number"
    if t in (("true", "false") if language == MACRO else ("True", "False")):
        return "boolean"
    return None


def coerce_like(value, current, language):
    """A ``--set`` value for a top-level assignment whose value is now ``current``.

    Text stays text when the script's literal is a string (``label = "007"``);
    it is a number when the literal is a number and the text reads as one;
    true/false for a Boolean literal. With no literal to go by (``FIXME``, an
    expression) a value that parses as a number is a number, as before.
    """
    if not isinstance(value, str):
        return coerce(value)
    kind = literal_kind(current, language)
    if kind == "string":
        return value
    if kind == "boolean":
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ParameterError(f"{value!r} is not true or false (the script's value is {current.strip()})")
    if kind == "number" and not _NUMBER.match(value.strip()):
        raise ParameterError(f"{value!r} is not a number (the script's value is {current.strip()})")
    return coerce(value)


def literal(value, language):
    """``value`` as a literal of the script language."""
    if isinstance(value, bool):
        return ("true" if value else "false") if language == MACRO else ("True" if value else "False")
    if isinstance(value, (int, float)):
        return repr(value)
    s = str(value)
    if language == MACRO:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return "u" + json.dumps(s)  # a JSON string is a valid Python 2 unicode literal body


# ---------------------------------------------------------------- lexing
# Comments and string literals are found with one regular expression per
# language: a per-character loop in Python costs milliseconds on every run.
_MACRO_TOKENS = re.compile(
    r'//[^\n]*|/\*.*?(?:\*/|\Z)|"(?:[^"\\\n]|\\.)*"?' + r"|'(?:[^'\\\n]|\\.)*'?", re.S)
_PYTHON_TOKENS = re.compile(
    r'#[^\n]*|"""(?:[^\\]|\\.)*?(?:"""|\Z)' + r"|'''(?:[^\\]|\\.)*?(?:'''|\Z)"
    + r'|"(?:[^"\\\n]|\\.)*"?' + r"|'(?:[^'\\\n]|\\.)*'?", re.S)


def _code_mask(text, language):
    """Per character: 'c' code, 's' string, '/' comment."""
    pattern = _MACRO_TOKENS if language == MACRO else _PYTHON_TOKENS
    mask = bytearray(b"c" * len(text))
    for m in pattern.finditer(text):
        kind = b"/" if m.group(0)[0] in "/#" else b"s"
        mask[m.start():m.end()] = kind * (m.end() - m.start())
    return mask.decode("ascii")


_ASSIGN = re.compile(r"(?:var\s+)?([A-Za-z_]\w*)\s*=(?!=)\s*")
_OPENERS = {MACRO: "{", JYTHON: "([{"}
_CLOSERS = {MACRO: "}", JYTHON: ")]}"}


def _value_end(line, lmask, start):
    """End of an assignment's value: ';' at bracket depth 0, a comment, or the line's end."""
    end, inner = start, 0
    while end < len(line) and line[end] != "\n":
        k = lmask[end]
        if k == "/":
            break
        if k == "c":
            ch = line[end]
            if ch in "([{":
                inner += 1
            elif ch in ")]}":
                inner -= 1
            elif ch == ";" and inner == 0:
                break
        end += 1
    while end > start and line[end - 1] in " \t\r":
        end -= 1
    return end, inner != 0


def _top_level_assignments(text, mask, language):
    """Name -> (line index, value start, value end, multiline) of each name's first top-level assignment."""
    found = {}
    depth = 0
    offset = 0
    opens, closes = _OPENERS[language], _CLOSERS[language]
    for index, line in enumerate(text.splitlines(keepends=True)):
        lmask = mask[offset:offset + len(line)]
        offset += len(line)
        at_top = depth == 0 and (language == MACRO or line[:1] not in (" ", "\t"))
        first = len(line) - len(line.lstrip())
        if at_top and lmask[first:first + 1] == "c":
            m = _ASSIGN.match(line, first)
            if m and m.group(1) not in found:
                end, multiline = _value_end(line, lmask, m.end())
                found[m.group(1)] = (index, m.end(), end, multiline)
        code = line if lmask.count("c") == len(lmask) else "".join(
            ch for ch, k in zip(line, lmask) if k == "c")
        depth = max(0, depth + sum(code.count(c) for c in opens) - sum(code.count(c) for c in closes))
    return found


@functools.lru_cache(maxsize=64)
def _analyse(text, language):
    """Parameters and top-level assignments of a script (cached: batches rerun one script)."""
    return tuple(parse_parameters(text)), _top_level_assignments(text, _code_mask(text, language), language)


_FIXME = re.compile(r"\bFIXME\b")


def prepare_script(text, language, params=None, *, path="<code>", data_dir=None, arg=""):
    """Fill a script's parameters and resolve its data; return a :class:`PreparedScript`.

    Parameters
    ----------
    text : str
        The script source.
    language : {"ijm", "jython"}
    params : dict, optional
        Values by name, for ``#@`` parameters or top-level assignments.
        Strings are coerced as on the command line (see :func:`coerce`).
    path : str
        The script's path, for messages.
    data_dir : DataDir or path-like, optional
        Where remote URLs are looked up.
    arg : str
        The macro argument (``getArgument()``).

    Raises
    ------
    ParameterError
        An unknown parameter name, a parameter without value, or a ``FIXME``
        left unresolved.
    InputError
        A file parameter names a file that does not exist.
    """
    text = _strip_bom(text)  # a UTF-8 file read as plain UTF-8: "Undefined identifier" on line 1
    params = dict(params or {})
    data = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
    lines = text.splitlines(keepends=True)
    parameters, assignments = _analyse(text, language)
    parameters = copy.deepcopy(list(parameters))
    by_name = {p.name: p for p in parameters}

    unknown = [n for n in params if n not in by_name and n not in assignments]
    if unknown:
        known = sorted(set(by_name) | set(assignments))
        raise ParameterError(
            f"the script has no parameter or top-level variable {', '.join(map(repr, unknown))}"
            f" (it has: {', '.join(known) or 'none'})", name=unknown[0], path=path)

    values = {}
    file_params = set()
    # ---- #@ script parameters
    for p in parameters:
        if p.io == "output":
            if language == MACRO:
                lines[p.line - 1] = "// " + lines[p.line - 1].lstrip()
            continue
        t = p.type.lower()
        try:
            if p.name in params:
                value = coerce(params[p.name], p.type)
            elif p.default is not None:
                value = coerce(p.default, p.type)
            else:
                value = None
        except ParameterError as exc:
            given = "value" if p.name in params else "default value"
            raise ParameterError(f"script parameter '{p.name}' ({p.type}): its {given} {exc}",
                                 name=p.name, path=path, line=p.line) from None
        if value is None and t in _BOOL_TYPES:
            value = False
        elif value is None:
            if t not in (_INT_TYPES | _FLOAT_TYPES | _STRING_TYPES | _FILE_TYPES | _BOOL_TYPES):
                raise ParameterError(
                    f"script parameter '#@ {p.type} {p.name}' needs a SciJava service or object "
                    "that plain ImageJ cannot provide", name=p.name, path=path, line=p.line)
            raise ParameterError(
                f"script parameter '{p.name}' ({p.type}) has no value: pass params={{'{p.name}': ...}}"
                f" or --set {p.name}=VALUE", name=p.name, path=path, line=p.line)
        if t in _FILE_TYPES:
            file_params.add(p.name)
            if not p.is_directory and p.io == "input" and "save" not in str(p.options.get("style", "")):
                if not Path(str(value)).exists():
                    raise InputError(f"{path}: input '{p.name}' = {value}: no such file")
        values[p.name] = value
        if language == MACRO:
            eol = "\n" if lines[p.line - 1].endswith("\n") else ""
            lines[p.line - 1] = f"{p.name} = {literal(value, MACRO)};{eol}"

    # ---- top-level assignments (course templates)
    for name, value in params.items():
        if name in by_name:
            continue
        index, start, end, multiline = assignments[name]
        if multiline:
            raise ParameterError(f"cannot override '{name}': its value spans several lines",
                                 name=name, path=path, line=index + 1)
        try:
            value = coerce_like(value, lines[index][start:end], language)
        except ParameterError as exc:
            raise ParameterError(f"'{name}': {exc}", name=name, path=path, line=index + 1) from None
        values[name] = value
        line = lines[index]
        lines[index] = line[:start] + literal(value, language) + line[end:]

    prepared = "".join(lines)

    # ---- FIXME left in a top-level assignment
    original_lines = text.splitlines(keepends=True)
    for name, (index, start, end, _) in sorted(assignments.items(), key=lambda kv: kv[1][0]):
        if name in params or name in by_name:
            continue
        if _FIXME.search(original_lines[index][start:end]):
            raise ParameterError(
                f"'{name}' is FIXME: give it a value with params={{'{name}': ...}} or --set {name}=VALUE",
                name=name, path=path, line=index + 1)

    # ---- remote data
    urls = {}
    new_mask = _code_mask(prepared, language) if "http" in prepared else ""
    pieces = []
    last = 0
    for m in URL_PATTERN.finditer(prepared if new_mask else ""):
        if new_mask[m.start()] != "s":
            continue
        url = m.group(0)
        local = data.resolve_url(url)
        urls[url] = str(local) if local else None
        if local:
            pieces.append(prepared[last:m.start()])
            pieces.append(str(local).replace("\\", "/"))
            last = m.end()
    pieces.append(prepared[last:])
    prepared = "".join(pieces)

    return PreparedScript(path=str(path), language=language, original=text, text=prepared,
                          values=values, parameters=parameters, file_params=file_params,
                          urls=urls, arg=arg or "")


def script_names(text, language):
    """Names a caller can set: ``#@`` parameters and top-level assignments."""
    parameters, assignments = _analyse(_strip_bom(text), language)
    return {p.name for p in parameters} | set(assignments)
