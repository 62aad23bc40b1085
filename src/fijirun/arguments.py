"""Checking the command line before anything starts.

Every ``fijirun`` command validates its options here first: no JVM, no Dask
cluster, no folder is made for an invocation that cannot work. A bad value is
a :class:`UsageError` naming the option and what is wrong with it, which the
command line turns into one line on stderr and exit status 2.

The checks are plain functions of one value each (``positive_seconds``,
``worker_count``, ``jvm_memory``, ``measurement_keys``, ``scheduler_address``
...) and :func:`validate`, which applies the right ones to a parsed
``argparse.Namespace`` of one command.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlsplit

from .files import file_problem

__all__ = [
    "UsageError",
    "positive_seconds",
    "worker_count",
    "jvm_memory",
    "memory_bytes",
    "set_values",
    "measurement_keys",
    "analyze_options",
    "threshold_range",
    "scheduler_address",
    "validate",
    "MIN_MEMORY",
    "MAX_TIMEOUT",
    "MAX_WORKERS",
    "CONNECT_TIMEOUT",
]

#: The smallest heap ImageJ is given: below it the JVM starts but ImageJ cannot open an image.
MIN_MEMORY = 64 * 2**20
#: The largest heap asked of any machine (a scheduler's workers may be larger than this one).
MAX_MEMORY = 2**40
#: Seconds: beyond this a timeout is no timeout (and overflows timers).
MAX_TIMEOUT = 1e6
#: Local worker processes: more than this is a typo, not a machine.
MAX_WORKERS = 256
#: Seconds to wait for a scheduler to accept a TCP connection.
CONNECT_TIMEOUT = 3.0


class UsageError(Exception):
    """A command-line value that cannot work; ``option`` names it (or None).

    ``kind`` is the error type reported in JSON: ``"UsageError"``, or for a
    missing input file ``"InputError"`` (as the run itself would say).
    """

    def __init__(self, message, option=None, kind="UsageError"):
        super().__init__(message)
        self.option = option
        self.kind = kind

    def __str__(self):
        message = self.args[0]
        return f"{self.option}: {message}" if self.option else message


# --------------------------------------------------------------------------- numbers

def positive_seconds(text, option="--timeout"):
    """A finite number of seconds > 0 (and at most :data:`MAX_TIMEOUT`)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        try:
            value = float(str(text).strip())
        except ValueError:
            raise UsageError(f"expected a number of seconds > 0, got {text!r}", option) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"expected a finite number of seconds > 0, got {text!r}", option)
    if value > MAX_TIMEOUT:
        raise UsageError(f"{text!r} seconds is more than the maximum {MAX_TIMEOUT:g}", option)
    return value


def local_worker_limit():
    """Local worker processes (each a JVM) this machine is allowed: 4 per CPU, at least 8."""
    return min(MAX_WORKERS, max(8, 4 * (os.cpu_count() or 1)))


def worker_count(text, option="--workers", limit=MAX_WORKERS):
    """A number of workers: an integer from 1 to ``limit``.

    ``limit`` is :data:`MAX_WORKERS`, or :func:`local_worker_limit` for
    processes started on this machine. None stays None.
    """
    if text is None:
        return None
    s = str(text).strip()
    if not re.fullmatch(r"[+]?[0-9]+", s):
        raise UsageError(f"expected a whole number of workers >= 1, got {text!r}", option)
    value = int(s)
    if value < 1:
        raise UsageError(f"expected a whole number of workers >= 1, got {text!r}", option)
    if value > limit:
        where = f" on this machine ({os.cpu_count()} CPUs)" if limit < MAX_WORKERS else ""
        raise UsageError(f"{text!r} workers is more than the maximum {limit}{where}", option)
    return value


_MEMORY = re.compile(r"(?P<n>[0-9]+)(?P<unit>[kKmMgGtT]?)")  # ASCII digits: "２g" is no heap size
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def memory_bytes(text):
    """Bytes of a JVM size (``512m``, ``2g``, ``1500M``), or None when it is not one."""
    m = _MEMORY.fullmatch(str(text).strip()) if text is not None else None
    if not m:
        return None
    return int(m.group("n")) * _UNITS[m.group("unit").lower()]


def _size(n):
    for unit, factor in (("t", 2**40), ("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor}{unit}"
    return f"{n} bytes"


def jvm_memory(text, option="--memory"):
    """A JVM heap size as ``-Xmx`` takes it: digits and a unit k, m, g or t (any case).

    At least :data:`MIN_MEMORY` (64m) and at most 1t. Returns the text as given.
    """
    n = memory_bytes(text)
    if n is None:
        raise UsageError(f"expected a JVM size such as 512m, 2g or 1500M, got {text!r}", option)
    if n < MIN_MEMORY:
        raise UsageError(f"{text!r} is too small for ImageJ (at least {_size(MIN_MEMORY)})", option)
    if n > MAX_MEMORY:
        raise UsageError(f"{text!r} is more than the maximum {_size(MAX_MEMORY)}", option)
    return str(text).strip()


# --------------------------------------------------------------------------- text

_NAME = re.compile(r"[A-Za-z_]\w*")


def set_values(items, option="--set"):
    """``NAME=VALUE`` strings → dict (values stay text; the script decides their type)."""
    params = {}
    for item in items or []:
        name, sep, value = str(item).partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"expected NAME=VALUE, got {item!r}", option)
        if not _NAME.fullmatch(name):
            raise UsageError(f"{name!r} is not a variable name", option)
        params[name] = value
    return params


def _option_tokens(text):
    from .check.recover import parse_options

    return parse_options(text)


def _text(value, what, option):
    """``value`` when it is text (the Python API passes anything), else a UsageError."""
    if not isinstance(value, str):
        raise UsageError(f"expected {what}, got {type(value).__name__} {value!r}", option)
    return value


def measurement_keys(text, option="--measurements"):
    """A Set Measurements option string whose every key is one ImageJ knows."""
    from .reference import MEASUREMENT_KEYS

    _text(text, "Set Measurements keys (a string)", option)

    valued = {"decimal", "redirect"}
    flags = {"display", "limit", "invert", "stack", "nan", "add", "scientific", "feret",
             *MEASUREMENT_KEYS}
    if not str(text).strip():
        raise UsageError("expected Set Measurements keys, e.g. \"area centroid decimal=3\", got ''",
                         option)
    for raw in str(text).split():
        key, sep, value = raw.partition("=")
        key = key.lower()
        if key in valued:
            if key == "decimal" and not re.fullmatch(r"[0-9]", value.strip()):
                raise UsageError(f"decimal= expects 0 to 9, got {raw!r}", option)
            continue
        if key not in flags or sep:
            raise UsageError(f"unknown measurement {raw!r}; known: "
                             + " ".join(sorted(flags | {k + "=" for k in valued})), option)
    return text


def analyze_options(text, option="--options"):
    """An Analyze Particles option string with readable ``size=`` / ``circularity=``."""
    from .check.model import CheckError
    from .check.recover import parse_size

    _text(text, "an Analyze Particles option string", option)
    opts = _option_tokens(text)
    for key in ("size", "circularity"):
        if key in opts:
            try:
                lo, hi = parse_size(opts[key])
            except CheckError:
                raise UsageError(f"cannot read {key}={opts[key]!r}: expected MIN-MAX", option) from None
            if math.isnan(lo) or math.isnan(hi) or lo < 0 or hi < lo:
                raise UsageError(f"{key}={opts[key]!r} is not a range MIN-MAX with 0 <= MIN <= MAX",
                                 option)
    return text


def threshold_range(text, option="--threshold"):
    """``LO-HI`` (or, from the Python API, a pair of numbers) with two finite numbers, LO <= HI."""
    if isinstance(text, (tuple, list)):
        pair = [v for v in text if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(text) != 2 or len(pair) != 2 or not all(math.isfinite(v) for v in pair) or pair[0] > pair[1]:
            raise UsageError(f"expected (LOWER, UPPER): two finite numbers, LOWER <= UPPER, got {text!r}", option)
        return text
    _text(text, "LOWER-UPPER", option)
    m = re.fullmatch(r"\s*(-?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*[-,]\s*(-?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*", str(text))
    try:
        lo, hi = (float(m.group(1)), float(m.group(2))) if m else (None, None)
    except ValueError:
        lo = hi = None
    if lo is None or not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise UsageError(f"expected LOWER-UPPER (two numbers, LOWER <= UPPER), got {text!r}", option)
    return text


# --------------------------------------------------------------------------- places

def existing_file(text, option, kind="UsageError"):
    problem = file_problem(str(text)) if str(text).strip() else f"no such file: {text}"
    if problem is not None:
        raise UsageError(problem, option, kind)
    return text


def existing_dir(text, option, what="folder"):
    p = Path(str(text))
    if not str(text).strip() or not p.exists():
        raise UsageError(f"no such {what}: {text}", option)
    if not p.is_dir():
        raise UsageError(f"{text} is not a folder", option)
    return text


def creatable_dir(text, option, kind="UsageError"):
    """A folder that exists or could be created: no file in the way (nothing is created)."""
    if not str(text).strip():
        raise UsageError("expected a folder, got ''", option, kind)
    p = Path(str(text)).absolute()
    for part in (p, *p.parents):  # creating it would write through a link to nothing, or loop
        if part.is_symlink() and not part.exists():
            raise UsageError(f"cannot create output folder {text}: {file_problem(part)}", option, kind)
    if p.exists() and not p.is_dir():
        raise UsageError(f"cannot create output folder {text}: it is a file", option, kind)
    for parent in (p, *p.parents):
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"cannot create output folder {text}: {parent} is a file", option, kind)
            if not os.access(parent, os.W_OK | os.X_OK):
                what = "it is not writable" if parent == p else f"{parent} is not writable"
                raise UsageError(f"cannot create output folder {text}: {what}", option, kind)
            break
    return text


def writable_file(text, option):
    """A file to write: its folder exists and it is not a folder itself."""
    if not str(text).strip():
        raise UsageError("expected a file name, got ''", option)
    if str(text).endswith(("/", os.sep)):
        raise UsageError(f"{text} names a folder (it ends with '/'), not a file", option)
    p = Path(str(text)).absolute()
    if p.is_symlink() and not p.exists():
        raise UsageError(file_problem(text), option)
    if p.is_dir():
        raise UsageError(f"{text} is a folder, not a file", option)
    if not p.parent.is_dir():
        raise UsageError(f"no such folder: {p.parent}", option)
    return text


def _report_files(args):
    """``--html`` and ``--junit``: files to write, and not the same one (one would replace the other)."""
    given = {option: getattr(args, option) for option in ("html", "junit") if getattr(args, option) is not None}
    for option, text in given.items():
        writable_file(text, f"--{option}")
    if len(given) == 2 and os.path.abspath(given["html"]) == os.path.abspath(given["junit"]):
        raise UsageError(f"--html and --junit name the same file {given['html']}: one would replace the other",
                         "--junit")


def _resolve(host, port, timeout):
    """The addresses of ``host:port`` (``socket.getaddrinfo``) within ``timeout`` seconds (it has no deadline)."""
    result = {}

    def look_up():
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=look_up, name="fijirun-resolve", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"cannot resolve {host} within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["infos"]


def scheduler_address(text, option="--scheduler", timeout=CONNECT_TIMEOUT, connect=True):
    """A Dask scheduler address ``[tcp://]host:port`` that accepts a TCP connection.

    Returns ``tcp://host:port``. Also ``tls://`` (only connected to, not
    handshaken). The connection is closed at once.
    """
    s = str(text).strip()
    if not s:
        raise UsageError("expected a scheduler address tcp://HOST:PORT, got ''", option)
    if "://" not in s:
        s = "tcp://" + s
    try:
        parts = urlsplit(s)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"cannot read the address {text!r}: {exc}", option) from None
    if parts.scheme not in ("tcp", "tls"):
        raise UsageError(f"unsupported protocol {parts.scheme!r} in {text!r}: use tcp://HOST:PORT",
                         option)
    host = parts.hostname
    if not host or port is None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"expected tcp://HOST:PORT, got {text!r}", option)
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port} is not in 1-65535", option)
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise UsageError(f"{host!r} is not an IPv4 address", option) from None
    address = f"{parts.scheme}://{parts.netloc}"
    if not connect:
        return address
    try:
        infos = _resolve(host, port, timeout)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"cannot resolve {host!r} in {text!r}: {exc}", option) from None
    error = None
    for family, kind, proto, _name, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(sockaddr)
            return address
        except OSError as exc:
            error = exc
    reason = "no answer" if isinstance(error, (socket.timeout, TimeoutError)) else (
        getattr(error, "strerror", None) or str(error))
    raise UsageError(f"no scheduler at {address} ({reason} within {timeout:g} s)", option)


# --------------------------------------------------------------------------- commands

def script_file(text, language=None, option="SCRIPT"):
    """An existing script whose language is known (``.ijm``/``.py``... or ``--language``)."""
    from .errors import ParameterError
    from .prepare import detect_language

    existing_file(text, option)
    try:
        detect_language(text, language)
    except ParameterError as exc:
        raise UsageError(str(exc), option) from None
    return text


def _common(args):
    if getattr(args, "timeout", None) is not None:
        args.timeout = positive_seconds(args.timeout)
    if getattr(args, "memory", None) is not None:
        args.memory = jvm_memory(args.memory)
    if getattr(args, "data_dir", None) is not None:
        existing_dir(args.data_dir, "--data-dir")
    if getattr(args, "fiji", None) is not None:
        existing_dir(args.fiji, "--fiji", "Fiji.app folder")


def validate(command, args):
    """Check a parsed command line in place (numbers converted); raise :class:`UsageError`.

    Cheap checks first; the scheduler's reachability (a TCP connect of at most
    :data:`CONNECT_TIMEOUT` seconds) last.
    """
    if command == "run":
        script_file(args.script, args.language)
        _common(args)
        if args.input is not None:
            existing_file(args.input, "--input", kind="InputError")
        if args.output is not None:
            creatable_dir(args.output, "--output", kind="OutputDirError")  # as the run would say
        args.params = set_values(args.set)
    elif command == "check":
        if not str(args.outdir).strip() or not Path(args.outdir).exists():
            raise UsageError(f"no such output folder: {args.outdir}", "OUTDIR")
        existing_dir(args.outdir, "OUTDIR", "output folder")
        if args.image is not None:
            existing_file(args.image, "--image")
        if args.options is not None:
            analyze_options(args.options)
        if args.measurements is not None:
            measurement_keys(args.measurements)
        if args.threshold is not None:
            threshold_range(args.threshold)
        _report_files(args)
    elif command == "batch":
        script_file(args.script)
        _common(args)
        args.workers = worker_count(args.workers, limit=MAX_WORKERS if args.scheduler
                                    else local_worker_limit())
        creatable_dir(args.output, "--output")
        args.params = set_values(args.set)
        if args.table is not None:
            from .batch.combine import table_pattern_problem

            problem = table_pattern_problem(args.table)
            if problem is not None:
                raise UsageError(problem, "--table")
        for opt in args.jvm_options or []:
            if not str(opt).startswith("-") or not str(opt).strip("-"):
                raise UsageError(f"a JVM option starts with '-', got {opt!r}", "--jvm-option")
        if args.scheduler is not None:
            args.scheduler = scheduler_address(args.scheduler)
    elif command == "regress":
        existing_dir(args.course, "COURSE_DIR", "course folder")
        _common(args)
        args.workers = worker_count(args.workers, limit=local_worker_limit())
        creatable_dir(args.output, "--output")
        _report_files(args)
        if args.config is not None:
            existing_file(args.config, "--config")
        if args.baseline is not None:
            existing_dir(args.baseline, "--baseline", "baseline folder")  # regress() refuses the output folder
        if args.update_baseline and args.baseline is None:
            raise UsageError("--update-baseline needs --baseline DIR (the folder to replace)",
                             "--update-baseline")
        if args.annotations and args.json:
            # GitHub reads annotations from stdout, where --json puts its one object
            raise UsageError("--annotations cannot be combined with --json (both use stdout)",
                             "--annotations")
    return args


def log_dir() -> Path:
    """Where internal-error logs go: ``<fijirun cache>/logs``."""
    root = os.environ.get("FIJIRUN_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) / "fijirun" if xdg else Path.home() / ".cache" / "fijirun"
    return base / "logs"
