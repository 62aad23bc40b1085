"""Answering a script's interactive calls with its own defaults, in the prepared text.

Course scripts ask the learner for values (``getNumber("Threshold", 128)``,
``waitForUser``, ``Dialog.*``). For an unattended run each such call is
replaced, in the text handed to the engine (never on disk), by the default
the script gives; every line keeps its number. Each answer is recorded as
``{"line", "call", "value"}``.

IJ Macro: ``getNumber(p, d)`` → ``d``; ``getString(p, d)`` → ``d``;
``getBoolean(...)`` → ``true``; ``waitForUser(...)``, ``Dialog.create``,
``Dialog.addMessage``, ``Dialog.addHelp``, ``Dialog.show`` → a no-op;
``Dialog.add*`` queue their defaults, read back in order by
``Dialog.getNumber/getString/getCheckbox/getChoice/getRadioButton``;
``getDirectory("Choose...")`` → the activity's output folder.
Jython: ``IJ.getNumber(p, d)``, ``IJ.getString(p, d)`` → ``d``.
"""

from __future__ import annotations

import re

from ..prepare import MACRO, _code_mask

__all__ = ["answer_interactive"]

_MACRO_CALL = re.compile(
    r"(?<![\w.])(getNumber|getString|getBoolean|waitForUser|getDirectory|getDir"
    r"|Dialog\.(?:create|createNonBlocking|addNumber|addSlider|addString|addCheckbox|addChoice"
    r"|addRadioButtonGroup|addDirectory|addFile|addMessage|addHelp|show|getNumber|getString"
    r"|getCheckbox|getChoice|getRadioButton))\s*\(")
_JYTHON_CALL = re.compile(
    r"(?<![\w.])(IJ\.getNumber|IJ\.getString|WaitForUserDialog|NonBlockingGenericDialog|GenericDialog"
    r"|[A-Za-z_]\w*\.(?:addNumericField|addSlider|addStringField|addCheckbox|addChoice|addRadioButtonGroup"
    r"|addDirectoryField|addFileField|showDialog|wasCanceled|wasOKed|getNextNumber|getNextString"
    r"|getNextBoolean|getNextChoice|getNextRadioButton|show))\s*\(")
_JY_QUEUE = {"addNumericField": ("number", 1), "addSlider": ("number", 3), "addStringField": ("string", 1),
             "addDirectoryField": ("string", 1), "addFileField": ("string", 1),
             "addCheckbox": ("checkbox", 1), "addChoice": ("choice", 2), "addRadioButtonGroup": ("radio", 4)}
_JY_GET = {"getNextNumber": "number", "getNextString": "string", "getNextBoolean": "checkbox",
           "getNextChoice": "choice", "getNextRadioButton": "radio"}

#: getDirectory keywords that are not dialogs.
_DIR_KEYWORDS = {"home", "temp", "image", "imagej", "startup", "plugins", "macros", "luts", "file",
                 "cwd", "current", "downloads", "default", "preferences"}
_NOOP = "wait(0)"


def _call_args(text, mask, open_paren):
    """(end index after ')', [argument texts]) of a call whose '(' is at ``open_paren``."""
    depth, start, args = 0, open_paren + 1, []
    i = open_paren
    while i < len(text):
        if mask[i] == "c":
            ch = text[i]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
                if depth == 0:
                    args.append(text[start:i])
                    return i + 1, [a.strip() for a in args if a.strip() or len(args) > 1]
            elif ch == "," and depth == 1:
                args.append(text[start:i])
                start = i + 1
        i += 1
    return None, []


def _value(expr):
    """A literal argument as a Python value (for the report), else its text."""
    e = expr.strip()
    if len(e) >= 2 and e[0] == e[-1] and e[0] in "\"'":
        return e[1:-1]
    if e in ("true", "True"):
        return True
    if e in ("false", "False"):
        return False
    try:
        return int(e)
    except ValueError:
        pass
    try:
        return float(e)
    except ValueError:
        return e


def _first_item(expr):
    """The first item of a ``newArray(...)`` expression, or ``items[0]``."""
    m = re.match(r"newArray\s*\((.*)\)\s*$", expr, re.DOTALL)
    if m:
        inner = m.group(1)
        _, args = _call_args("(" + inner + ")", _code_mask("(" + inner + ")", MACRO), 0)
        if args:
            return args[0]
    if re.match(r"^[A-Za-z_]\w*$", expr):
        return f"{expr}[0]"
    m = re.match(r'^"([^"]*)"$', expr)  # split-style "a,b" lists are rare; take it whole
    return expr if m else None


# one operand as it stands: an unsigned number, a name, a name's element; or a string literal
_NUMBER_PRIMARY = re.compile(r"^\s*(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_]\w*(?:\[[^\[\]]*\])?)\s*$")
_STRING_LITERAL = re.compile(r"""^\s*(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\s*$""")


def _operand(replacement, language, numeric):
    """The answer as one operand where the call stood.

    Parenthesised, except where that would change it: ImageJ's macro language reads a
    parenthesised string as a number (``("a")`` is NaN), so there a string's answer
    (a literal, or an expression holding one) stands bare, and a number's or a
    checkbox's is parenthesised unless it is a number or a name
    (``getNumber("n", 10 + 5) * 2``, ``!Dialog.getCheckbox()`` of ``n > 5``).
    """
    if language == MACRO:
        if _NUMBER_PRIMARY.match(replacement):
            return replacement
        if not numeric and (_STRING_LITERAL.match(replacement) or '"' in replacement or "'" in replacement):
            return replacement
    return f"({replacement})"


def _quote(path):
    return '"' + str(path).replace("\\", "/").replace('"', '\\"') + '"'


def _jython_dialog(text, m, name, short, args, queues, dialogs):
    """(replacement, recorded value) of a Jython GenericDialog / WaitForUserDialog call, or (None, None).

    Dialogs are built as written (never shown); ``showDialog()`` / ``show()`` become ``None``,
    ``wasCanceled()`` ``False``, ``wasOKed()`` ``True`` and ``getNext*()`` the defaults of the
    ``add*`` calls, in order.
    """
    if "." not in name:  # a constructor: remember the name it is bound to
        bound = re.search(r"([A-Za-z_]\w*)\s*=\s*$", text[text.rfind("\n", 0, m.start()) + 1:m.start()])
        if bound:
            dialogs.add(bound.group(1))
        for q in queues.values():
            q.clear()
        return None, None
    if name.rsplit(".", 1)[0] not in dialogs:
        return None, None
    if short in _JY_QUEUE:
        key, index = _JY_QUEUE[short]
        if len(args) > index:
            queues[key].append(args[index])
        elif short in ("addChoice", "addRadioButtonGroup") and len(args) >= 2:
            queues[key].append(f"{args[1]}[0]")
        return None, None  # the field is added, only its answer matters
    if short in ("showDialog", "show"):
        return "None", "OK" if short == "showDialog" else "continue"
    if short == "wasCanceled":
        return "False", None
    if short == "wasOKed":
        return "True", None
    if short in _JY_GET and queues[_JY_GET[short]]:
        value = queues[_JY_GET[short]].pop(0)
        return value, value
    return None, None


def answer_interactive(text, language, *, output_dir=None):
    """Replace interactive calls by their defaults.

    Parameters
    ----------
    text : str
        Script source.
    language : {"ijm", "jython"}
    output_dir : path-like, optional
        The answer to ``getDirectory("Choose a folder")``.

    Returns
    -------
    (str, list of dict)
        The answered text (same number of lines) and the answers
        ``{"line", "call", "value"}`` in order.
    """
    pattern = _MACRO_CALL if language == MACRO else _JYTHON_CALL
    if not pattern.search(text):
        return text, []
    mask = _code_mask(text, language)
    pieces, answers, last = [], [], 0
    queues = {"number": [], "string": [], "checkbox": [], "choice": [], "radio": []}
    dialogs = set()  # Jython names bound to a GenericDialog / WaitForUserDialog
    for m in pattern.finditer(text):
        if m.start() < last or mask[m.start()] != "c":
            continue
        name = m.group(1)
        end, args = _call_args(text, mask, m.end() - 1)
        if end is None:
            continue
        line = text.count("\n", 0, m.start()) + 1
        replacement, value = None, None
        short = name.split(".")[-1]
        chained = re.match(r"\s*\.show\s*\(\s*\)", text[end:]) if name == "WaitForUserDialog" else None
        if chained:  # WaitForUserDialog(...).show()
            end += chained.end()
            replacement, value = "None", "continue"
        elif language != MACRO and name not in ("IJ.getNumber", "IJ.getString"):
            replacement, value = _jython_dialog(text, m, name, short, args, queues, dialogs)
            if replacement is None:
                continue
        elif name in ("getNumber", "getString", "IJ.getNumber", "IJ.getString"):
            if len(args) >= 2:
                replacement = value = args[1]
        elif name == "getBoolean":
            replacement = value = "true"
        elif name == "waitForUser":
            replacement, value = _NOOP, "continue"
        elif name in ("getDirectory", "getDir"):
            arg = _value(args[0]) if args else ""
            if output_dir is not None and isinstance(arg, str) and arg.strip().lower() not in _DIR_KEYWORDS:
                replacement = value = _quote(str(output_dir).rstrip("/\\") + "/")
        elif short in ("create", "createNonBlocking", "addMessage", "addHelp"):
            replacement = _NOOP
            for q in queues.values():
                q.clear() if short.startswith("create") else None
        elif short == "show":
            replacement, value = _NOOP, "OK"
        elif short == "addNumber" and len(args) >= 2:
            queues["number"].append(args[1])
            replacement = _NOOP
        elif short == "addSlider" and len(args) >= 4:
            queues["number"].append(args[3])
            replacement = _NOOP
        elif short in ("addString", "addDirectory", "addFile") and len(args) >= 2:
            queues["string"].append(args[1])
            replacement = _NOOP
        elif short == "addCheckbox" and len(args) >= 2:
            queues["checkbox"].append(args[1])
            replacement = _NOOP
        elif short == "addChoice" and len(args) >= 2:
            queues["choice"].append(args[2] if len(args) >= 3 else _first_item(args[1]))
            replacement = _NOOP
        elif short == "addRadioButtonGroup" and len(args) >= 2:
            queues["radio"].append(args[4] if len(args) >= 5 else _first_item(args[1]))
            replacement = _NOOP
        elif short.startswith("get") and name.startswith("Dialog."):
            key = {"getNumber": "number", "getString": "string", "getCheckbox": "checkbox",
                   "getChoice": "choice", "getRadioButton": "radio"}[short]
            if queues[key] and queues[key][0] is not None:
                replacement = value = queues[key].pop(0)
        if replacement is None:
            continue  # left alone: the engine reports the dialog
        if replacement not in (_NOOP, "None", "False", "True"):
            replacement = _operand(replacement, language, numeric=short in ("getNumber", "getCheckbox", "getBoolean"))
        if value is not None:
            answers.append({"line": line, "call": name, "value": _value(value)})
        # keep the line count: the call's own newlines follow the replacement
        pieces.append(text[last:m.start()])
        pieces.append(replacement + "\n" * text.count("\n", m.start(), end))
        last = end
    pieces.append(text[last:])
    return "".join(pieces), answers
