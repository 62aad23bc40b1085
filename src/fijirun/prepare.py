"""Preparing a script to run unattended, without editing the user's file.

What this module does to the text it is given (the file on disk is never
touched), keeping every line where it was so that ImageJ's line numbers stay
the user's line numbers:

* SciJava script parameters (``#@ File input``) are filled from ``params``;
  in IJ Macro the ``#@`` line becomes an assignment (plain ImageJ 1.x does not
  know script parameters), in Jython the values are handed to the interpreter.
* Course-template assignments at top level (``outputDir = FIXME``,
  ``min_size = 0``) are overridden by ``params``, at every assignment of the
  name whose value is a literal or ``FIXME`` (:func:`_to_override`); a text
  value keeps the type of the script's own literal (:func:`coerce_like`:
  ``label = "abc"`` stays text for ``007``). An unresolved ``FIXME`` is a
  :class:`~fijirun.errors.ParameterError` naming the variable.
* A value reaches the script exactly as given or is refused before the run
  (:func:`coerce`, :func:`literal`): never its ``str()``, never a number
  rounded into another type's range, never text that breaks its line.
* http(s) URLs in the script's own string literals are replaced by their
  copies in the data directory (:mod:`fijirun.data`), escaped for the
  language; URLs inside values given are left as given.

Script files are read by :func:`read_script_text`, the one place that decodes
them: UTF-8 (a byte-order mark is dropped), else Windows-1252 / Latin-1 as
course scripts written on Windows are; a leading byte-order mark in text given
directly is dropped by :func:`prepare_script` too.
"""

from __future__ import annotations

import codecs
import copy
import functools
import math
import numbers
import os
import re
from bisect import bisect_right
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
    "output_dir_name",
    "input_name",
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
# ASCII digits only: Python's int() and float() also read "1_000" and "٣", which no script language does
_NUMBER = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
#: Bits of each Java integer type a ``#@`` parameter may declare (BigInteger: a value reaches
#: the engine through JPype, which converts a Python int to a Java long at most).
_INT_BITS = {"byte": 8, "short": 16, "int": 32, "integer": 32, "long": 64, "biginteger": 64}
#: Beyond this an integer is not exact as a double, the only number type of the macro language.
_EXACT_IN_DOUBLE = 2**53


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


_KNOWN_TYPES = {"int", "integer", "long", "short", "byte", "biginteger", "float", "double", "bigdecimal",
                "number", "boolean", "bool", "string", "char", "character", "colorrgb", "file", "path",
                "file[]"}


def _legacy_parameter(line):
    """Whether a ``// @`` comment line reads as a parameter: a known type or a Java class name.

    ``// @author Jane Doe`` and ``// @see ...`` are ordinary comments (lower-case, unknown).
    """
    m = re.match(r"\s*//\s*@(?:input|output|both)?\s*([A-Za-z_][\w.]*(?:\[\])?)", line)
    return bool(m) and (m.group(1).lower() in _KNOWN_TYPES or m.group(1)[:1].isupper())


def parse_parameters(text, path=None):
    """The ``#@`` script parameters of a script, in order.

    ``#@`` lines count anywhere, as in SciJava; legacy ``// @Type name`` lines
    only in the script's header (the lines before its first line of code),
    where SciJava reads them: a ``// @`` further down, or ``// @author``,
    is an ordinary comment. A ``#@`` line that cannot be read is a
    :class:`~fijirun.errors.ParameterError` naming ``path`` and the line.
    """
    params = []
    in_header = True
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("#@"):
            pass
        elif in_header and re.match(r"//\s*@\w", stripped):
            if not _legacy_parameter(line):
                continue
        else:
            # SciJava stops reading "// @" lines at the first line with code in it
            if stripped and not stripped.startswith(("//", "/*", "*", "#")):
                in_header = False
            continue
        m = _PARAM_LINE.match(line)
        if not m or not m.group("name"):
            raise ParameterError(f"cannot read script parameter {line.strip()!r}", path=path, line=number)
        opts = _parse_options(m.group("opts"))
        choices = re.search(r"\bchoices\s*=\s*\{(.*?)\}", m.group("opts") or "")
        if choices:
            opts["choices"] = [a or b for a, b in re.findall(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'',
                                                              choices.group(1))]
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


def _plain(value):
    """A value given from Python as str, bool, int or float (numpy scalars and paths too).

    Anything else (None, bytes, a list, a dict, a complex number) has no
    faithful form in the script: a :class:`~fijirun.errors.ParameterError`,
    never its ``str()`` ("None", "b'...'") or an error from inside JPype.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
        if isinstance(value, str):
            return value
    elif isinstance(value, bool) or (getattr(getattr(value, "dtype", None), "kind", None) == "b"
                                     and getattr(value, "ndim", None) == 0):
        return bool(value)  # numpy.bool_ is no int and no bool
    elif isinstance(value, numbers.Integral):
        return int(value)
    elif isinstance(value, numbers.Real):
        return float(value)
    raise ParameterError(f"{value!r} ({type(value).__name__}) has no form in a script: "
                         "give text, a number, True/False or a path")


def _java_int(value, t):
    """An int of the declared Java type ``t``, or a ParameterError saying its range."""
    bits = _INT_BITS.get(t, 64)
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if not low <= value <= high:
        raise ParameterError(f"{value!r} is out of range for a Java {t} ({low} to {high})")
    return value


def _number(value, t, language):
    """A Python int or float (already plain) for a parameter of type ``t`` ('' for a template variable)."""
    if t in _INT_TYPES:
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise ParameterError(f"{value!r} is not an integer")
            value = int(value)
        return _java_int(value, t)
    if isinstance(value, int):
        try:
            as_double = float(value)
        except OverflowError:
            raise ParameterError(f"{value!r} is too large for a number") from None
        if t in _FLOAT_TYPES:
            return as_double
        if language == MACRO and abs(value) > _EXACT_IN_DOUBLE:
            return as_double  # what the macro holds (its numbers are doubles), recorded as such
        if language != MACRO:
            return _java_int(value, "long")  # the value is also handed to Jython through a Java long
        return value
    if not math.isfinite(value) and not (language == JYTHON and t in _FLOAT_TYPES):
        # only a Jython #@ Double reaches its script as a value; in text nan/inf are undefined names
        raise ParameterError(f"{value!r} is not a finite number")
    return value


def coerce(value, type_name=None, language=None):
    """Turn a value given for a parameter into the value a script expects.

    Text (the command line's ``--set``): a value that parses as a number
    (ASCII digits) is a number, ``true``/``false`` for Boolean parameters a
    bool, anything else a string. Python values keep their type (numpy
    scalars become Python numbers, paths text) and must fit the declared
    type: an integer for ``#@ Integer`` within Java's range for it, a finite
    number where the script's text holds it.

    Raises
    ------
    ParameterError
        The value does not fit (the message names the value, not the parameter).
    """
    t = (type_name or "").lower()
    value = _plain(value)
    if not isinstance(value, str):
        if t in _BOOL_TYPES:
            if isinstance(value, bool) or value in (0, 1):
                return bool(value)
            raise ParameterError(f"{value!r} is not a Boolean")
        if isinstance(value, bool):
            if t in _INT_TYPES | _FLOAT_TYPES | _STRING_TYPES | _FILE_TYPES:
                raise ParameterError(f"{value!r} is not a {type_name}")
            return value
        if t in _FILE_TYPES:
            raise ParameterError(f"{value!r} is not a path")
        if t in _STRING_TYPES:
            return str(value)
        return _number(value, t, language)
    if t in _BOOL_TYPES:
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise ParameterError(f"{value!r} is not a Boolean")
    if t in _STRING_TYPES or t in _FILE_TYPES:
        return value
    if t in _INT_TYPES:
        if not _INTEGER.fullmatch(value.strip()):
            raise ParameterError(f"{value!r} is not an integer")
        return _java_int(int(value.strip()), t)
    if _NUMBER.fullmatch(value.strip()):
        v = float(value)
        if not math.isfinite(v):  # 1e999: the script would get "inf", an undefined variable
            raise ParameterError(f"{value!r} is too large for a number")
        if _INTEGER.fullmatch(value.strip()):
            return _number(int(value.strip()), t, language)
        return v
    if t in _FLOAT_TYPES:  # a typed number never silently becomes text
        raise ParameterError(f"{value!r} is not a number")
    return value


def _check_range(value, p):
    """A ``#@`` parameter's ``choices={...}``, ``min=`` and ``max=``, as SciJava's dialog would enforce."""
    choices = p.options.get("choices")
    if isinstance(choices, list) and choices and str(value) not in choices:
        raise ParameterError(f"{value!r} is not one of its choices ({', '.join(map(repr, choices))})")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok in (("min", lambda lim: value >= lim), ("max", lambda lim: value <= lim)):
            limit = str(p.options.get(key, "")).strip()
            if _NUMBER.fullmatch(limit) and not ok(float(limit)):
                raise ParameterError(f"{value!r} is {'below its min' if key == 'min' else 'above its max'}"
                                     f" {limit}")


def literal_kind(text, language):
    """The kind of the script's own literal for a variable: ``"string"``, ``"number"`` or ``"boolean"``.

    None when the value is not a literal (``FIXME``, an expression, a call).
    """
    t = (text or "").strip()
    if language == JYTHON and t[:1] in "uUrRbB" and t[1:2] in ("'", '"'):
        t = t[1:]
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "\"'" and _is_one_string(t):
        return "string"
    if _NUMBER.fullmatch(t):
        return "number"
    if t in (("true", "false") if language == MACRO else ("True", "False")):
        return "boolean"
    return None


def _is_one_string(t):
    """Whether ``t`` (quoted at both ends) is one string literal, not ``"a" + b + "c"``."""
    m = re.fullmatch(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\''
                     r'|"""(?:[^\\]|\\.)*?"""|\'\'\'(?:[^\\]|\\.)*?\'\'\'', t, re.S)
    return m is not None


def coerce_like(value, current, language):
    """A ``--set`` value for a top-level assignment whose value is now ``current``.

    Text stays text when the script's literal is a string (``label = "007"``);
    it is a number when the literal is a number and the text reads as one;
    true/false for a Boolean literal. With no literal to go by (``FIXME``, an
    expression) a value that parses as a number is a number, as before.
    Python values keep their own type (see :func:`coerce`).
    """
    if not isinstance(value, str):
        return coerce(value, language=language)
    kind = literal_kind(current, language)
    if kind == "string":
        return value
    if kind == "boolean":
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ParameterError(f"{value!r} is not true or false (the script's value is {current.strip()})")
    if kind == "number" and not _NUMBER.fullmatch(value.strip()):
        raise ParameterError(f"{value!r} is not a number (the script's value is {current.strip()})")
    return coerce(value, language=language)


def _text(s):
    """``s``, refused when it holds a lone surrogate (no script and no Java string can carry it)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ParameterError(f"{s!r} is not valid Unicode text (a lone surrogate)") from None
    return s


def _escape(s, quotes="\"'"):
    """``s`` escaped for the inside of a string literal: backslash, quotes and line breaks.

    A raw line break would end the literal and move every later line number.
    """
    s = s.replace("\\", "\\\\")
    for q in quotes:
        s = s.replace(q, "\\" + q)
    return s.replace("\n", "\\n").replace("\r", "\\r")


def _jython_string(s):
    r"""A Jython 2.7 unicode literal of ``s``: ASCII only, ``\U0001d6fc`` for characters beyond the BMP.

    (``json.dumps`` writes such a character as a surrogate pair, which Jython's
    unicode-escape decoding refuses.)
    """
    out = []
    for ch in s:
        o = ord(ch)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= o < 0x7F:
            out.append(ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return 'u"' + "".join(out) + '"'


def literal(value, language):
    """``value`` (a str, bool, int or float) as a literal of the script language."""
    if isinstance(value, bool):
        return ("true" if value else "false") if language == MACRO else ("True" if value else "False")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"{value!r} is not a finite number")
        return repr(value)
    s = _text(str(value))
    if language == MACRO:
        return '"' + _escape(s, quotes='"') + '"'
    return _jython_string(s)


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


def _string_tokens(text, language):
    """(start, end) of each string literal, in order."""
    pattern = _MACRO_TOKENS if language == MACRO else _PYTHON_TOKENS
    return [(m.start(), m.end()) for m in pattern.finditer(text) if m.group(0)[0] not in "/#"]


_ASSIGN = re.compile(r"(?:var\s+)?([A-Za-z_]\w*)\s*=(?!=)\s*")
_OPENERS = {MACRO: "{", JYTHON: "([{"}
_CLOSERS = {MACRO: "}", JYTHON: ")]}"}
# A line of code ending with one of these goes on on the next line (``x = "a/" +``).
_TRAILING_OPERATOR = re.compile(r"(?<![+-])[-+*/%&|^<>=?:,(]\s*$|\\\s*$")
_LEADING_OPERATOR = re.compile(r"\s*(?:[-+*/%&|^?:.]|<|>)(?![-+])")


@dataclass(frozen=True)
class _Assignment:
    """One top-level assignment ``name = value``: its value is ``line[start:end]`` of line ``index``.

    ``last`` is the index of the statement's last line (``index`` unless it spans several).
    """

    index: int
    start: int
    end: int
    last: int

    @property
    def multiline(self):
        return self.last != self.index


def _value_end(line, lmask, start):
    """End of an assignment's value: (end, depth change, stop, terminated by ';').

    The value ends at ';' at bracket depth 0, a comment, or the line's end;
    ``end`` leaves out trailing blanks, ``stop`` is where the scan stopped.
    """
    end, inner = start, 0
    while end < len(line) and line[end] not in "\r\n":
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
    stop = end
    while end > start and line[end - 1] in " \t\r":
        end -= 1
    return end, inner, stop, stop < len(line) and line[stop] == ";"


def _top_level_assignments(text, mask, language):
    """Name -> tuple of :class:`_Assignment`, every top-level assignment of each name in order.

    Several on one line (``a = 1; b = 2;``) count. A statement goes on on the
    next line when a bracket is open, its line ends with an operator or a
    backslash, a string is open (Jython's triple quotes), or (macro) the next
    line starts with an operator: its assignment spans several lines.
    """
    found = {}
    depth = 0
    offset = 0
    opens, closes = _OPENERS[language], _CLOSERS[language]
    lines = text.splitlines(keepends=True)
    masks = []
    for line in lines:
        masks.append(mask[offset:offset + len(line)])
        offset += len(line)
    codes = [line if lmask.count("c") == len(lmask) else "".join(
        ch if k == "c" else " " for ch, k in zip(line, lmask)) for line, lmask in zip(lines, masks)]
    continued = False  # the previous line's statement goes on on this line
    pending = []  # (name, index, start, end) of assignments whose statement has not ended yet
    for index, line in enumerate(lines):
        lmask = masks[index]
        at_top = depth == 0 and not continued and (language == MACRO or line[:1] not in (" ", "\t"))
        first = len(line) - len(line.lstrip())
        pos = first
        last_terminated, open_brackets = True, False
        while at_top and pos < len(line) and lmask[pos:pos + 1] == "c":
            m = _ASSIGN.match(line, pos)
            if not m:
                break
            end, inner, stop, terminated = _value_end(line, lmask, m.end())
            pending.append((m.group(1), index, m.end(), end))
            last_terminated, open_brackets = terminated, inner > 0  # (1 +  : a macro's ( is open
            if not terminated:
                break
            pos = stop + 1
            while pos < len(line) and line[pos] in " \t":
                pos += 1
        code = codes[index]
        depth = max(0, depth + sum(code.count(c) for c in opens) - sum(code.count(c) for c in closes))
        code_end = code.rstrip()
        continued = bool(
            depth > 0 or open_brackets
            or (code_end and _TRAILING_OPERATOR.search(code_end)
                and (language == MACRO or code_end.endswith("\\")))
            or (language == JYTHON and line.endswith("\n") and lmask[-1:] == "s")  # an open """ string
            or (language == MACRO and pending and not last_terminated and code_end
                and _starts_with_operator(codes, index + 1)))
        if not continued:
            for name, start_index, start, end in pending:
                found.setdefault(name, []).append(_Assignment(start_index, start, end, index))
            pending = []
    for name, start_index, start, end in pending:  # a statement open at the end of the text
        found.setdefault(name, []).append(_Assignment(start_index, start, end, len(lines)))
    return {name: tuple(entries) for name, entries in found.items()}


def _starts_with_operator(codes, index):
    """Whether the next line with code (from ``index``) starts with a binary operator."""
    for code in codes[index:]:
        if code.strip():
            return bool(_LEADING_OPERATOR.match(code))
    return False


@functools.lru_cache(maxsize=64)
def _analysis(text, language, path=None):
    """Parameters and every top-level assignment of a script (cached: batches rerun one script)."""
    return tuple(parse_parameters(text, path)), _top_level_assignments(
        text, _code_mask(text, language), language)


def _analyse(text, language, path=None):
    """Parameters and, by name, the first top-level assignment as (line index, start, end, multiline).

    The form :mod:`fijirun.regress` reads; :func:`_analysis` has every assignment.
    """
    parameters, assignments = _analysis(text, language, path)
    return parameters, {name: (a[0].index, a[0].start, a[0].end, a[0].multiline)
                        for name, a in assignments.items()}


_FIXME = re.compile(r"\bFIXME\b")


def _statement(lines, masks, a):
    """The text of an assignment's value, comments left out (every line of a multi-line one)."""
    if not a.multiline:
        return lines[a.index][a.start:a.end]
    parts = []
    for i in range(a.index, min(a.last + 1, len(lines))):
        line = lines[i][a.start:] if i == a.index else lines[i]
        lmask = masks[i][a.start:] if i == a.index else masks[i]
        parts.append("".join(ch for ch, k in zip(line, lmask) if k != "/"))
    return "".join(parts)


def _names_in(text, mask_text, language):
    """The identifiers in the code (not strings or comments) of ``text``."""
    mask = _code_mask(mask_text, language)
    return set(re.findall(r"[A-Za-z_]\w*", "".join(ch if k == "c" else " " for ch, k in zip(text, mask))))


def _to_override(name, entries, lines, path, language):
    """The assignments of ``name`` that a given value replaces.

    The first one, and every later one whose value is a literal or holds
    ``FIXME`` (``min_size = 0; ... min_size = 50;``: the script uses the
    last). A later one computed from the variable itself (``outputDir =
    outputDir + "sub/"``) is left, it uses the value; any other later one would
    make the script use something else than the value given: refused.
    """
    chosen = [entries[0]]
    for a in entries[1:]:
        value = lines[a.index][a.start:a.end]
        if a.multiline:
            if name in _names_in(value, value, language):
                continue
        elif literal_kind(value, language) is not None or _FIXME.search(value):
            chosen.append(a)
            continue
        elif name in _names_in(value, value, language):
            continue
        raise ParameterError(
            f"cannot override '{name}': it is assigned on lines "
            f"{', '.join(str(e.index + 1) for e in entries)}, and line {a.index + 1} gives it "
            f"a value computed otherwise ({value.strip()}{' ...' if a.multiline else ''}), which the "
            "script would use instead", name=name, path=path, line=a.index + 1)
    for a in chosen:
        if a.multiline:
            raise ParameterError(f"cannot override '{name}': its value spans several lines",
                                 name=name, path=path, line=a.index + 1)
    return chosen


def _folder_like(value, language):
    """Whether a template variable's value can be a folder: not a literal that is plainly no path."""
    kind = literal_kind(value, language)
    if kind is None:
        return True  # FIXME, getDirectory(...), an expression
    if kind != "string":
        return False
    body = value.strip().lstrip("uUrRbB")[1:-1]
    return body == "" or "/" in body or "\\" in body or _FIXME.search(body) is not None


def _find_name(names, candidates):
    for c in candidates:
        if c in names:
            return c
    lower = {n.lower(): n for n in names}
    for c in candidates:
        if c.lower() in lower:
            return lower[c.lower()]
    return None


def output_dir_name(text, language, path=None):
    """The script's output-folder variable (``outputDir``, ...) that ``output_dir=`` fills, or None.

    A variable of one of the :data:`OUTPUT_DIR_NAMES` counts only when it can
    be a folder: a ``#@ File`` or ``#@ String`` parameter, or a top-level
    assignment of ``FIXME``, an expression, or a string that is empty or
    has a path separator. ``output = "Masks";`` (a choice for ``show=``) is
    left alone.
    """
    text = _strip_bom(text)
    parameters, assignments = _analysis(text, language, path)
    lines = text.splitlines(keepends=True)
    names = set()
    for p in parameters:
        if p.io != "output" and p.type.lower() in _FILE_TYPES | _STRING_TYPES:
            names.add(p.name)
    by_name = {p.name for p in parameters}
    for name, entries in assignments.items():
        a = entries[0]
        if name not in by_name and _folder_like(lines[a.index][a.start:a.end], language):
            names.add(name)
    return _find_name(names, OUTPUT_DIR_NAMES)


def input_name(text, language, path=None):
    """The script's input variable (``input``, ...) that ``input=`` fills, or None."""
    return _find_name(script_names(text, language, path), INPUT_NAMES)


def _resolve_urls(value, data, urls):
    """``value`` with each http(s) URL the data directory has replaced by its local path."""
    def local(m):
        found = data.resolve_url(m.group(0))
        urls[m.group(0)] = str(found) if found else None
        return str(found) if found else m.group(0)
    return URL_PATTERN.sub(local, value)


def _params_dict(params, path):
    """``params`` as a dict of names to values; a ParameterError for anything else."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        try:
            params = dict(params)
        except (TypeError, ValueError):
            raise ParameterError(f"params must be a mapping of names to values, not {type(params).__name__}",
                                 path=path) from None
    bad = [n for n in params if not isinstance(n, str)]
    if bad:
        raise ParameterError(f"parameter names must be text, not {bad[0]!r}", path=path)
    return params


def prepare_script(text, language, params=None, *, path="<code>", data_dir=None, arg=""):
    """Fill a script's parameters and resolve its data; return a :class:`PreparedScript`.

    Parameters
    ----------
    text : str
        The script source.
    language : {"ijm", "jython"}
    params : dict, optional
        Values by name, for ``#@`` parameters or top-level assignments.
        Strings are coerced as on the command line, Python values checked
        (see :func:`coerce`). A top-level variable assigned several times is
        overridden everywhere its value is a literal (see :func:`_to_override`).
    path : str
        The script's path, for messages.
    data_dir : DataDir or path-like, optional
        Where remote URLs are looked up. Only URLs in the script's own text
        (and ``#@`` defaults) are replaced; values given are used as given.
    arg : str or None
        The macro argument (``getArgument()``); None is "".

    Raises
    ------
    ParameterError
        An unknown parameter name, a parameter without value, a value that
        does not fit, a ``FIXME`` left unresolved, an ``arg`` that is not text,
        or a value for an ``#@output`` parameter.
    InputError
        A file parameter names a file that does not exist.
    """
    text = _strip_bom(text)  # a UTF-8 file read as plain UTF-8: "Undefined identifier" on line 1
    arg = "" if arg is None else arg
    if not isinstance(arg, str):  # JPype would refuse it with a TypeError of its own mid-run
        raise ParameterError(f"arg must be text (str), not {type(arg).__name__}", name="arg", path=path)
    _text(arg)
    params = _params_dict(params, path)
    data = data_dir if isinstance(data_dir, DataDir) else DataDir(data_dir)
    lines = text.splitlines(keepends=True)
    parameters, assignments = _analysis(text, language, path)
    parameters = copy.deepcopy(list(parameters))
    by_name = {p.name: p for p in parameters}

    unknown = [n for n in params if n not in by_name and n not in assignments]
    if unknown:
        known = sorted(set(by_name) | set(assignments))
        raise ParameterError(
            f"the script has no parameter or top-level variable {', '.join(map(repr, unknown))}"
            f" (it has: {', '.join(known) or 'none'})", name=unknown[0], path=path)

    values = {}
    urls = {}
    file_params = set()
    edits = {}  # line index -> [(start, end, new text)], applied to the user's lines at the end

    def edit(index, start, end, new):
        edits.setdefault(index, []).append((start, end, new))

    # ---- #@ script parameters
    for p in parameters:
        if p.io == "output":
            if p.name in params:  # SciJava fills it from the script; a value given would be dropped
                raise ParameterError(f"'{p.name}' is an output of the script (#@output): it takes no value",
                                     name=p.name, path=path, line=p.line)
            if language == MACRO:
                edit(p.line - 1, 0, len(lines[p.line - 1]), "// " + lines[p.line - 1].lstrip())
            continue
        t = p.type.lower()
        try:
            if p.name in params:
                value = coerce(params[p.name], p.type, language)
            elif p.default is not None:
                value = coerce(p.default, p.type, language)
                if isinstance(value, str) and "http" in value:  # the script's own text: its data
                    value = _resolve_urls(value, data, urls)
            else:
                value = None
            if value is not None:
                _check_range(value, p)
                if isinstance(value, str):
                    _text(value)
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
            line = lines[p.line - 1]
            eol = line[len(line.rstrip("\r\n")):]
            edit(p.line - 1, 0, len(line), f"{p.name} = {literal(value, MACRO)};{eol}")

    # ---- top-level assignments (course templates)
    for name, given in params.items():
        if name in by_name:
            continue
        entries = assignments[name]
        chosen = _to_override(name, entries, lines, path, language)
        typed = next((a for a in entries if literal_kind(lines[a.index][a.start:a.end], language)), entries[0])
        try:
            value = coerce_like(given, lines[typed.index][typed.start:typed.end], language)
            new = literal(value, language)
        except ParameterError as exc:
            raise ParameterError(f"'{name}': {exc}", name=name, path=path, line=typed.index + 1) from None
        values[name] = value
        for a in chosen:
            edit(a.index, a.start, a.end, new)

    # ---- FIXME left in a top-level assignment
    masks = []
    offset = 0
    full_mask = _code_mask(text, language) if "FIXME" in text or "http" in text else ""
    for line in lines:
        masks.append(full_mask[offset:offset + len(line)] if full_mask else "c" * len(line))
        offset += len(line)
    if "FIXME" in text:
        left = [(a.index, name) for name, entries in assignments.items()
                if name not in params and name not in by_name
                for a in entries if _FIXME.search(_statement(lines, masks, a))]
        if left:
            index, name = min(left)
            raise ParameterError(
                f"'{name}' is FIXME: give it a value with params={{'{name}': ...}} or --set {name}=VALUE",
                name=name, path=path, line=index + 1)

    # ---- remote data: URLs in the user's own string literals (never inside a value given)
    if full_mask and "http" in text:
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        tokens = _string_tokens(text, language)
        token_starts = [s for s, _ in tokens]
        for m in URL_PATTERN.finditer(text):
            if full_mask[m.start()] != "s":
                continue
            index = bisect_right(starts, m.start()) - 1
            start, end = m.start() - starts[index], m.end() - starts[index]
            if any(s < end and start < e for s, e, _ in edits.get(index, ())):
                continue  # replaced by a value
            url = m.group(0)
            local = data.resolve_url(url)
            urls[url] = str(local) if local else None
            if local:
                token = tokens[bisect_right(token_starts, m.start()) - 1][0]
                raw = language == JYTHON and text[token - 1:token].lower() == "r" and token > 0
                local_text = str(local)
                escaped = _escape(local_text)
                if raw and escaped != local_text:
                    raise ParameterError(
                        f"cannot put the local copy of {url}, {local_text}, into a raw string: its path "
                        "has a backslash, a quote or a line break", path=path, line=index + 1)
                edit(index, start, end, local_text if raw else escaped)

    for index, changes in edits.items():
        line = lines[index]
        for start, end, new in sorted(changes, reverse=True):
            line = line[:start] + new + line[end:]
        lines[index] = line
    prepared = "".join(lines)

    return PreparedScript(path=str(path), language=language, original=text, text=prepared,
                          values=values, parameters=parameters, file_params=file_params,
                          urls=urls, arg=arg or "")


def script_names(text, language, path=None):
    """Names a caller can set: ``#@`` parameters and top-level assignments."""
    parameters, assignments = _analysis(_strip_bom(text), language, path)
    return {p.name for p in parameters} | set(assignments)
