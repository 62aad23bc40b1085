"""The ``fijirun`` command: a thin layer over the Python API.

``fijirun run SCRIPT`` runs one IJ Macro or Jython script unattended.
Exit status 0 on success; otherwise the error (message and line) goes to
stderr, or with ``--json`` into the single JSON object printed on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from . import __version__
from .arguments import UsageError, log_dir, validate
from .errors import FijirunError, ParameterError, RunError

__all__ = ["main", "build_parser"]


class Parser(argparse.ArgumentParser):
    """argparse, whose errors are :class:`UsageError` (one line, exit 2, JSON with ``--json``)."""

    def error(self, message):
        """Raise ``message`` as a :class:`UsageError` instead of printing it and exiting."""
        raise UsageError(message)


def build_parser():
    """The ``fijirun`` argument parser: the ``run``, ``check``, ``batch`` and ``regress`` commands.

    Returns
    -------
    Parser
        Each sub-command's ``func`` default is the ``cmd_*`` function that runs it.
    """
    parser = Parser(prog="fijirun", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"fijirun {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one IJ Macro (.ijm) or Jython (.py) script")
    run.add_argument("script")
    run.add_argument("--output", "-o", metavar="DIR", help="output folder (fills outputDir)")
    run.add_argument("--input", "-i", metavar="IMG", help="input image (fills input)")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                     help="a script parameter or top-level variable (repeatable)")
    run.add_argument("--arg", default="", help="the macro argument, getArgument()")
    run.add_argument("--language", choices=["ijm", "jython"], help="override the file extension")
    run.add_argument("--data-dir", metavar="DIR", help="local copies of data opened by URL")
    run.add_argument("--backend", default="imagej1", choices=["imagej1", "fiji"])
    run.add_argument("--fiji", metavar="PATH", help="Fiji.app for --backend fiji (or FIJI_HOME)")
    run.add_argument("--timeout", default=600.0, metavar="S", help="seconds (> 0)")
    run.add_argument("--memory", default="2g", help="JVM maximum heap, e.g. 4g")
    run.add_argument("--overwrite", action="store_true",
                     help="replace files in the output folder that fijirun did not write")
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    run.set_defaults(func=cmd_run)

    chk = sub.add_parser("check", help="check a run's outputs against the reference Analyze Particles")
    chk.add_argument("outdir", help="the run's output folder (with its run.json)")
    chk.add_argument("--image", metavar="IMG", help="the analysed input image (else run.json's)")
    chk.add_argument("--options", metavar="OPTS",
                     help='Analyze Particles options, e.g. "size=0-1000 pixel exclude" (else run.json\'s)')
    chk.add_argument("--measurements", metavar="KEYS",
                     help='Set Measurements options, e.g. "area centroid decimal=3" (else run.json\'s)')
    chk.add_argument("--threshold", metavar="LO-HI", help="threshold set before Analyze Particles")
    chk.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    chk.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    chk.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per output)")
    chk.set_defaults(func=cmd_check)

    bat = sub.add_parser("batch", help="run one script over many images on Dask (resumable)")
    bat.add_argument("script")
    bat.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders, glob patterns")
    bat.add_argument("--output", "-o", metavar="DIR", required=True,
                     help="batch folder: one sub-folder per image, manifest, combined results")
    bat.add_argument("--workers", "-n", metavar="N",
                     help="local worker processes (default: the CPU count)")
    bat.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, tcp://host:port")
    bat.add_argument("--timeout", default=600.0, metavar="S", help="seconds per image")
    bat.add_argument("--resume", action="store_true", help="continue the batch in DIR")
    bat.add_argument("--set", action="append", metavar="NAME=VALUE", default=[],
                     help="a script parameter (repeatable)")
    bat.add_argument("--check", action="store_true", help="check each image's outputs (fijirun check)")
    bat.add_argument("--data-dir", metavar="DIR", help="local copies of data opened by URL")
    bat.add_argument("--memory", default="2g", help="JVM maximum heap per worker, e.g. 4g")
    bat.add_argument("--jvm-option", action="append", metavar="OPT", dest="jvm_options",
                     help="a JVM option of each worker (repeatable; replaces the default "
                          "-XX:+UseSerialGC -XX:ActiveProcessorCount=1), e.g. "
                          "--jvm-option=-XX:TieredStopAtLevel=1")
    bat.add_argument("--backend", default="imagej1", choices=["imagej1", "fiji"],
                     help="each worker's engine: plain ImageJ, or a Fiji.app (its plugins)")
    bat.add_argument("--fiji", metavar="PATH", help="Fiji.app for --backend fiji (or FIJI_HOME)")
    bat.add_argument("--table", metavar="PATTERN",
                     help="which saved table of each image results.csv combines: a file name pattern, "
                          "e.g. '*_summary.csv' (default: the first table by name)")
    bat.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    bat.set_defaults(func=cmd_batch)

    reg = sub.add_parser("regress", help="run every IJ Macro / Jython activity of a course and classify it")
    reg.add_argument("course", metavar="COURSE_DIR")
    reg.add_argument("--output", "-o", metavar="DIR", required=True,
                     help="one fresh folder per activity, and regress.json")
    reg.add_argument("--data-dir", metavar="DIR", help="local copies of data opened by URL")
    reg.add_argument("--backend", default="imagej1", choices=["imagej1", "fiji"])
    reg.add_argument("--fiji", metavar="PATH", help="Fiji.app for --backend fiji (or FIJI_HOME)")
    reg.add_argument("--timeout", default=120.0, metavar="S", help="seconds per activity")
    reg.add_argument("--workers", "-n", default=1, metavar="N", help="worker processes")
    reg.add_argument("--markdown", action="store_true", help="also run ImageJ code blocks of Markdown files")
    reg.add_argument("--memory", default="2g", help="JVM maximum heap per worker, e.g. 4g")
    reg.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per activity)")
    reg.add_argument("--html", metavar="FILE", help="write an HTML matrix of the activities")
    reg.add_argument("--json", action="store_true", help="print the report as one JSON object")
    reg.add_argument("--config", metavar="FILE",
                     help="course configuration (default: COURSE_DIR/fijirun.toml when present)")
    reg.add_argument("--baseline", metavar="DIR",
                     help="an earlier regress output folder: what changed since is 'changed'")
    reg.add_argument("--update-baseline", action="store_true",
                     help="accept this run: it replaces the --baseline folder")
    reg.add_argument("--course", dest="course_name", metavar="NAME",
                     help="a lesson repository's course (_courses/NAME.md): run its modules only")
    reg.add_argument("--module", dest="modules", action="append", metavar="NAME",
                     help="a lesson repository's module (_modules/NAME.md) to run; repeatable")
    reg.add_argument("--annotations", choices=["github"],
                     help="print GitHub Actions annotations (::error file=...,line=...::)")
    reg.set_defaults(func=cmd_regress)
    return parser


def _session_options(args):
    options = {"data_dir": args.data_dir, "timeout": args.timeout, "memory": args.memory,
               "overwrite": args.overwrite}
    if args.fiji:
        options["fiji_dir"] = args.fiji
    return options


def _print_summary(result, out):
    out.write(f"ok: {result.script} on {result.backend} (ImageJ {result.imagej_version}), "
              f"{result.seconds:.2f} s\n")
    for path in result.outputs:
        out.write(f"  saved {path}\n")
    if not result.outputs:
        out.write("  saved nothing\n")
    s = result.summary()
    out.write(f"  results rows: {s['n_results_rows']}, ROIs: {s['n_rois']}, "
              f"label max: {s['label_max']}\n")
    for message in result.messages:
        out.write(f"  message: {message}\n")
    for warning in result.warnings:
        out.write(f"  warning: {warning.splitlines()[0]}\n")
    for path in result.saved_elsewhere:
        out.write(f"  saved outside the output folder: {path}\n")


def cmd_run(args):
    from .session import Session

    params = args.params
    summary = None
    try:
        with Session(args.backend, **_session_options(args)) as session:
            result = session.run(args.script, params, language=args.language, input=args.input,
                                 output_dir=args.output, arg=args.arg)
        summary = result.summary()
        code = 0
    except FijirunError as exc:
        # a value that does not fit is refused before anything starts: a usage error, as README says
        code = EXIT_USAGE if isinstance(exc, ParameterError) else EXIT_FAILED
        error = exc.to_dict() if isinstance(exc, RunError) else {
            "type": type(exc).__name__, "message": str(exc), "line": getattr(exc, "line", None),
            "source": None}
        summary = {"status": "failed", "backend": args.backend, "imagej_version": None,
                   "script": args.script, "outputs": [], "n_results_rows": 0, "n_rois": 0,
                   "label_max": None, "seconds": None, "error": error}
        if isinstance(exc, RunError) and exc.partial_outputs:
            summary["partial_outputs_discarded"] = exc.partial_outputs
        _say(f"{type(exc).__name__}: {exc}")
    except FileNotFoundError as exc:
        code = 1
        summary = {"status": "failed", "backend": args.backend, "imagej_version": None,
                   "script": args.script, "outputs": [], "n_results_rows": 0, "n_rois": 0,
                   "label_max": None, "seconds": None,
                   "error": {"type": "FileNotFoundError", "message": str(exc), "line": None,
                             "source": None}}
        _say(exc)
    if args.json:
        _emit_json(summary)
    elif code == 0:
        _print_summary(result, sys.stdout)
    return code


def cmd_check(args):
    """``fijirun check OUTDIR``: exit 0 when no output fails, 1 otherwise, 2 when checking cannot start."""
    from .check import CheckError, check
    from .check.report import print_summary, to_json, write_html, write_junit

    written = [p for p in (args.html, args.junit) if p]
    try:
        report = check(args.outdir, image=args.image, options=args.options,
                       measurements=args.measurements, threshold=args.threshold, exclude=written)
        if args.html:
            write_html(report, args.html)
        if args.junit:
            write_junit(report, args.junit)
    except CheckError as exc:
        _say(f"check: {exc}")
        if args.json:
            _emit_json(error_object("check", "CheckError", str(exc), EXIT_USAGE))
        return EXIT_USAGE
    if args.json:
        _emit_json(to_json(report))
    else:
        print_summary(report)
    return 0 if report.ok else 1


def cmd_batch(args):
    """``fijirun batch``: exit 0 when every image is ok, 1 when some failed, 2 when it cannot start."""
    from .batch import BatchError, batch

    try:
        frame = batch(args.script, args.inputs, args.output, workers=args.workers,
                      scheduler=args.scheduler, timeout=args.timeout, resume=args.resume,
                      params=args.params, check=args.check, data_dir=args.data_dir,
                      memory=args.memory, jvm_options=args.jvm_options,
                      progress=True, backend=args.backend, fiji_dir=args.fiji, table=args.table)
    except BatchError as exc:
        _say(f"batch: {exc}")
        if args.json:
            _emit_json(error_object("batch", "BatchError", str(exc), EXIT_USAGE))
        return EXIT_USAGE
    summary = frame.attrs["summary"]
    if args.json:
        _emit_json(summary)
    else:
        rate = summary["images_per_second"]
        sys.stdout.write(f"{summary['images']} images: {summary['ok']} ok, {summary['failed']} failed, "
                         f"{summary['timeout']} timeout ({summary['ran']} run, {summary['skipped']} "
                         f"skipped) in {summary['seconds']:.1f} s"
                         + (f", {rate:.2f} images/s" if rate else "") + "\n")
        for failure in summary["failures"]:  # one line each (ImageJ's messages hold newlines)
            error = " ".join(str(failure["error"]).split())
            sys.stdout.write(f"  {failure['status']}: {failure['input']}: {error}\n")
        choice = summary["table"]
        if choice["without_rows"]:
            which = f"matching {choice['pattern']!r}" if choice["pattern"] else "saved"
            sys.stdout.write(_one_line(
                f"  note: {len(choice['without_rows'])} ok image(s) have no rows in results.csv (no table "
                f"{which}, an empty one, or one that is no table; e.g. {choice['without_rows'][0]})") + "\n")
        if choice["several_tables"]:
            tables = choice["example"]
            sys.stdout.write(_one_line(
                f"  note: {choice['several_tables']} image(s) saved several tables ({', '.join(tables[:3])}); "
                f"results.csv combines the first by name ({tables[0]}): choose with --table PATTERN") + "\n")
        sys.stdout.write(f"  results: {summary['results_csv']}, manifest: {summary['manifest']}\n")
    return 0 if summary["failed"] == 0 and summary["timeout"] == 0 else 1


def cmd_regress(args):
    """``fijirun regress``: exit 1 when an activity failed, timed out or changed, else 0.

    2 when the command cannot start (including a course with no activity: nothing is written).
    """
    from .regress import regress
    from .regress.report import exit_code, github_annotations, print_table, to_json, write_html, write_junit

    def progress(record):
        if not args.json:
            sys.stderr.write(f"  {record['class']:<12} {record['path']}\n")

    try:
        from .ownership import guard_report

        out = Path(args.output).absolute()
        for path, what in ((args.junit, "JUnit report"), (args.html, "HTML report")):
            if path:
                guard_report(path, what)  # a report never overwrites a run's record or outputs
                where = Path(path).absolute()
                if out in where.parents and (where.parent != out or where.name == "regress.json"):
                    raise UsageError(f"the {what} {path} would be inside an activity's folder or replace "
                                     f"regress.json; write it beside {args.output} or at its top level",
                                     "--junit" if what.startswith("JUnit") else "--html")
        report = regress(args.course, args.output, data_dir=args.data_dir, backend=args.backend,
                         timeout=args.timeout, workers=args.workers, markdown=args.markdown,
                         memory=args.memory, fiji_dir=args.fiji, on_done=progress,
                         config=args.config, baseline=args.baseline, update_baseline=args.update_baseline,
                         course_name=args.course_name, modules=args.modules)
        if args.junit:
            write_junit(report, args.junit)
        if args.html:
            write_html(report, args.html)
    except (FileNotFoundError, FijirunError, ValueError) as exc:  # ConfigError, BaselineError, NoActivityError
        _say(f"regress: {exc}")  # also a report that cannot be written: ReportPathError
        if args.json:
            _emit_json(error_object("regress", type(exc).__name__, str(exc), EXIT_USAGE))
        return EXIT_USAGE
    if args.json:
        _emit_json(to_json(report))
    else:
        print_table(report)
    if args.annotations == "github":
        sys.stdout.write("".join(line + "\n" for line in github_annotations(report)))
    return exit_code(report)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the script stopped, everything cleaned up."""


def _on_sigterm(_signum, _frame):
    raise Terminated()


#: Exit statuses of every command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143
_COMMANDS = ("run", "check", "batch", "regress")


def error_object(command, kind, message, code, **extra):
    """The one JSON object every command prints with ``--json`` when it cannot do its work."""
    error = {"type": kind, "message": message, "line": None, "source": None, **extra}
    obj = {"status": "error", "command": command, "exit_code": code, "error": error}
    if command == "run":  # the keys of run's own summary, so that readers of it need no case
        obj.update(backend=None, imagej_version=None, outputs=[], n_results_rows=0, n_rois=0,
                   label_max=None, seconds=None)
    elif command == "check":
        obj.update(verdict="error", outputs=[])
    return obj


_emitted: list[bool] = []


def _one_line(text):
    """``text`` on one line: a newline in a path or a message is shown escaped."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def _say(message):
    """One line on stderr, ``fijirun: message``."""
    sys.stderr.write(f"fijirun: {_one_line(message)}\n")


def _emit_json(obj):
    """Print a command's one JSON object (a dict, or JSON text) on stdout."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    sys.stdout.write(text + "\n")
    _emitted.append(True)


def _wants_json(argv):
    argv = list(argv)
    if "--" in argv:
        argv = argv[:argv.index("--")]
    return "--json" in argv


def _command_of(argv):
    return next((a for a in argv if a in _COMMANDS), None)


def _usage_error(exc, command, as_json):
    where = f"{command}: " if command else ""
    _say(f"{where}{exc}")
    if as_json:
        extra = {"option": exc.option} if exc.option else {}
        sys.stdout.write(json.dumps(error_object(command, exc.kind, str(exc), EXIT_USAGE, **extra)) + "\n")
    return EXIT_USAGE


_RESOURCE_TRACKER_WARNINGS = "ignore::UserWarning:multiprocessing.resource_tracker"


def _tidy_stderr():
    """Keep libraries' own log lines and warnings off the command's stderr; a warning on one line."""
    import logging
    import warnings

    # Python's default shows a warning with the file, line and source line that raised it:
    # a user of the command sees what it says, on one line like every other message
    warnings.formatwarning = lambda message, *_args, **_kwargs: (
        f"fijirun: warning: {_one_line(message)}\n")

    # tifffile's ("ImageJ series metadata invalid or corrupted file"): the command's own
    # one-line error says what is wrong with the file; asyncio's reports of Dask connections
    # a closing cluster cut ("Future exception was never retrieved ... CommClosedError")
    for name in ("tifffile", "asyncio"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
    # multiprocessing's resource tracker (a process of its own, started with this
    # interpreter's -W options) counts the semaphores of a cluster that SIGTERM cut short
    # while it started: it removes them, and its count is no user's business
    if _RESOURCE_TRACKER_WARNINGS not in sys.warnoptions:
        sys.warnoptions.append(_RESOURCE_TRACKER_WARNINGS)


def _stopped(command, as_json, kind, message, code):
    """Ctrl-C or SIGTERM: one line on stderr, and with --json the command's one object."""
    _say(message)
    if as_json and not _emitted:
        _emit_json(error_object(command, kind, message, code))
    return code


def _write_crash_log(command, argv):
    """The traceback of an internal error, in a log file of its own; its path (or None)."""
    import time
    import traceback

    text = (f"fijirun {__version__} {command or ''}: internal error\n"
            f"argv: {json.dumps(list(argv))}\npid: {os.getpid()}\n"
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n{traceback.format_exc()}")
    name = f"fijirun-{command or 'main'}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    import tempfile

    for folder in (log_dir(), Path(tempfile.gettempdir())):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / name
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def _internal_error(exc, command, argv, as_json):
    path = _write_crash_log(command, argv)
    message = " ".join(str(exc).split()) or "(no message)"
    where = f"details in {path}" if path else "no log could be written"
    sys.stderr.write(f"fijirun: internal error: {type(exc).__name__}: {message} ({where})\n")
    if as_json:
        sys.stdout.write(json.dumps(error_object(
            command, "InternalError", f"{type(exc).__name__}: {message}", EXIT_FAILED,
            exception=type(exc).__name__, log=str(path) if path else None)) + "\n")
    return EXIT_FAILED


def main(argv=None):
    """Parse, validate and run one command; return its exit status (never raises).

    0 ok; 1 failed (a run, an image, an output, an activity) or an internal
    error (traceback in a log file); 2 a usage error (nothing started);
    130 Ctrl-C; 143 SIGTERM.
    """
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    as_json = _wants_json(argv)
    command = _command_of(argv)
    _emitted.clear()
    _tidy_stderr()
    try:
        # The JVM runs with -Xrs (no signal handlers of its own): SIGTERM is ours too.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        command = args.command
        as_json = bool(getattr(args, "json", False))
        validate(command, args)
        return args.func(args)
    except UsageError as exc:
        return _usage_error(exc, command, as_json)
    except Terminated:
        return _stopped(command, as_json, "Terminated", "terminated (SIGTERM)", EXIT_TERMINATED)
    except KeyboardInterrupt:
        return _stopped(command, as_json, "KeyboardInterrupt", "interrupted", EXIT_INTERRUPTED)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - no traceback reaches a user
        if _emitted:
            as_json = False  # the command already printed its object
        return _internal_error(exc, command, argv, as_json)


def run_and_exit(argv=None):
    """Console entry point: exit without the JVM's slow shutdown.

    The command owns its process: once its output is flushed nothing is left
    to save, so it leaves at once; the Xvfb it started dies with it
    (``PR_SET_PDEATHSIG``) and the ImageJ home folder is removed first.
    """
    code = main(argv)
    from .backends.process import exit_now

    exit_now(code if isinstance(code, int) and 0 <= code <= 255 else EXIT_FAILED)


if __name__ == "__main__":
    run_and_exit()
