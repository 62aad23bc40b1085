"""A course's regression settings: ``fijirun.toml`` at the course root (or ``--config``).

.. code-block:: toml

    [regress]
    timeout = 60                        # seconds per activity
    tolerance = { rtol = 0, atol = 1e-6 }   # float pixels vs the baseline
    log-sanitize = [["Elapsed: .*", "Elapsed: <t>"], "^Memory.*"]   # [pattern, replacement] or pattern

    [activities."day2/endless.ijm"]      # a glob on the activity's path (``*`` also crosses ``/``)
    xfail = "loops until the user presses Esc"    # reported xfail; xpass when it passes

    [activities."day3/*.py"]
    skip = "needs a GPU"
    timeout = 300

    [activities."day2/lesson.md#2"]      # a Markdown page's 2nd ImageJ code block ("day2/lesson.md": all)
    skip = "needs a GPU"

    [activities."day1/measure.ijm".params]
    inputImageFile = "image_data/xy_16bit__bacteria_cords_thick.tif"   # relative: the course root

Every activity whose path matches a glob takes its settings, later tables
overriding earlier ones. Unknown keys are refused, so that a typo does not
silently mean "no setting".
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .baseline import Tolerance
from .discover import block_page

__all__ = ["CONFIG_NAME", "ActivityConfig", "ConfigError", "CourseConfig", "load_config"]

CONFIG_NAME = "fijirun.toml"
_REGRESS_KEYS = {"timeout", "tolerance", "log-sanitize"}
_ACTIVITY_KEYS = {"xfail", "skip", "timeout", "params", "tolerance", "log-sanitize"}
_OLD_BLOCK = re.compile(r"^(.+\.md):\d+$", re.IGNORECASE)  # how Markdown blocks were named before


class ConfigError(ValueError):
    """A course configuration that cannot be used; the message names the file and the key."""


@dataclass
class ActivityConfig:
    """The settings of one activity (see the module's documentation)."""

    xfail: str | None = None
    skip: str | None = None
    timeout: float | None = None
    params: dict = field(default_factory=dict)
    tolerance: Tolerance = field(default_factory=Tolerance)
    sanitizers: list = field(default_factory=list)  # (pattern, replacement)


@dataclass
class CourseConfig:
    """A course's configuration: defaults and per-activity (glob) settings."""

    path: Path | None = None
    timeout: float | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    sanitizers: list = field(default_factory=list)
    activities: list = field(default_factory=list)  # (glob, dict) in file order

    def for_activity(self, path: str) -> ActivityConfig:
        """The settings of the activity at ``path`` (relative, with ``/``)."""
        out = ActivityConfig(timeout=self.timeout, tolerance=self.tolerance,
                             sanitizers=list(self.sanitizers))
        for pattern, table in self.activities:
            if not (fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(block_page(path), pattern)):
                continue
            for key in ("xfail", "skip", "timeout"):
                if key in table:
                    setattr(out, key, table[key])
            if "params" in table:
                out.params = dict(out.params, **table["params"])
            if "tolerance" in table:
                out.tolerance = table["tolerance"]
            out.sanitizers = out.sanitizers + table.get("log-sanitize", [])
        return out


def _where(path, key):
    return f"{path}: {key}"


def _timeout(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(f"{where}: a timeout is a number of seconds > 0, not {value!r}")
    return float(value)


def _tolerance(value, where):
    if not isinstance(value, dict) or set(value) - {"rtol", "atol"}:
        raise ConfigError(f"{where}: tolerance is {{ rtol = ..., atol = ... }}, not {value!r}")
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"{where}.{k}: a number >= 0, not {v!r}")
    return Tolerance(float(value.get("rtol", 0.0)), float(value.get("atol", 0.0)))


def _sanitizers(value, where):
    if not isinstance(value, list):
        raise ConfigError(f"{where}: a list of patterns or [pattern, replacement] pairs, not {value!r}")
    out = []
    for item in value:
        pattern, replacement = (item, "<sanitized>") if isinstance(item, str) else (
            tuple(item) if isinstance(item, list) and len(item) == 2
            and all(isinstance(x, str) for x in item) else (None, None))
        if pattern is None:
            raise ConfigError(f"{where}: {item!r} is neither a pattern nor a [pattern, replacement] pair")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{where}: bad pattern {pattern!r}: {exc}") from None
        out.append((pattern, replacement))
    return out


def _reason(value, where):
    if value is True:
        return "(no reason given)"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: the reason, as a non-empty string, not {value!r}")
    return value


def load_config(course: Path, path: Path | None = None) -> CourseConfig:
    """The course's configuration: ``path``, else ``course/fijirun.toml``, else the defaults.

    Raises
    ------
    ConfigError
        The file is missing (given explicitly), is not TOML, or holds an
        unknown key or a bad value; the message names the file and the key.
    """
    if path is None:
        path = Path(course) / CONFIG_NAME
        if not path.is_file():
            return CourseConfig()
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder; a pipe would block the reader
        raise ConfigError(f"{path}: not a configuration file (not a regular file)")
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8
        raise ConfigError(f"{path}: not valid TOML: not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                          f"offset {exc.start})") from None
    unknown = set(data) - {"regress", "activities"}
    if unknown:
        raise ConfigError(f"{path}: unknown section {sorted(unknown)[0]!r} (known: regress, activities)")
    config = CourseConfig(path=path)
    regress = data.get("regress", {})
    if not isinstance(regress, dict):
        raise ConfigError(f"{path}: [regress] must be a table")
    for key in sorted(set(regress) - _REGRESS_KEYS):
        raise ConfigError(f"{_where(path, 'regress.' + key)}: unknown key (known: {', '.join(sorted(_REGRESS_KEYS))})")
    if "timeout" in regress:
        config.timeout = _timeout(regress["timeout"], _where(path, "regress.timeout"))
    if "tolerance" in regress:
        config.tolerance = _tolerance(regress["tolerance"], _where(path, "regress.tolerance"))
    if "log-sanitize" in regress:
        config.sanitizers = _sanitizers(regress["log-sanitize"], _where(path, "regress.log-sanitize"))
    activities = data.get("activities", {})
    if not isinstance(activities, dict):
        raise ConfigError(f"{path}: [activities] must hold tables named by globs")
    for pattern, table in activities.items():
        where = _where(path, f"activities.{pattern!r}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        old_block = _OLD_BLOCK.match(pattern)
        if old_block:  # would match nothing now: never a silently lost setting
            raise ConfigError(f"{where}: Markdown blocks are named by number now, not by line: "
                              f"'{old_block.group(1)}#1' is the page's first ImageJ code block, "
                              f"'{old_block.group(1)}' all of them")
        for key in sorted(set(table) - _ACTIVITY_KEYS):
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(_ACTIVITY_KEYS))})")
        clean = {}
        for key in ("xfail", "skip"):
            if key in table:
                clean[key] = _reason(table[key], f"{where}.{key}")
        if "timeout" in table:
            clean["timeout"] = _timeout(table["timeout"], f"{where}.timeout")
        if "tolerance" in table:
            clean["tolerance"] = _tolerance(table["tolerance"], f"{where}.tolerance")
        if "log-sanitize" in table:
            clean["log-sanitize"] = _sanitizers(table["log-sanitize"], f"{where}.log-sanitize")
        if "params" in table:
            params = table["params"]
            if not isinstance(params, dict) or any(isinstance(v, (dict, list)) for v in params.values()):
                raise ConfigError(f"{where}.params: a table of NAME = value (string, number, boolean)")
            clean["params"] = dict(params)
        config.activities.append((pattern, clean))
    return config
