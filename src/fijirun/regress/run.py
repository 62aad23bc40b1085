"""Running a course's activities in isolation and classifying each.

Each activity is one Dask task (:func:`run_activity`) run by fijirun's shared
task runner (:mod:`fijirun.cluster`) on a LocalCluster of single-threaded
worker processes, each keeping one warm engine session:

* the engine stops a runaway script at ``timeout`` (``ScriptTimeout``) and
  the worker is then replaced, since a stopped script may leave the JVM wedged;
* an activity with no answer ``timeout + grace`` after it started has a
  wedged engine: it is abandoned (``timeout``) and its worker replaced;
* a worker that dies loses only its activity, which runs once more
  elsewhere; a second death is ``failed`` (the worker died).

Classes: ``passed`` (ran to the end, its saved outputs of known kinds pass
``fijirun check``), ``failed`` (an error: message and line), ``needs-plugin``
(an unrecognized command, with its update site when known), ``needs-data``
(an input neither local nor in the data directory), ``timeout``; against a
baseline also ``changed`` and ``removed`` (in the baseline, not in the course
now).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from pathlib import Path

from ..backends.process import script_still_running
from ..cluster import DEFAULT_GRACE
from ..prepare import _analyse, output_dir_name
from .baseline import BaselineError
from .discover import block_page, discover, renamed_blocks
from .folders import (
    ACTIVITY_RECORD,
    LOCKS,
    empty_folder,
    finish_unfinished,
    record_folder,
    recorded_path,
    remove_locks,
    sole_writer,
)

__all__ = ["CLASSES", "UPDATE_SITES", "BaselineError", "NoActivityError", "activity_tasks", "load_baseline",
           "regress", "run_activity", "run_alone", "update_site"]


class NoActivityError(ValueError):
    """A course, or the modules selected, holds no activity: nothing to run is no verdict.

    Attributes
    ----------
    course : Path
    markdown : bool
        Whether Markdown code blocks were looked at.
    """

    def __init__(self, course, markdown, lesson_modules=None):
        self.course, self.markdown = course, markdown
        if lesson_modules is not None:  # a lesson repository: its pages list the activities
            which = f"the modules {', '.join(lesson_modules)}" if lesson_modules else "its modules"
            where = f"{which} list no ImageJ activity"
        else:
            where = "no .ijm files, no ImageJ Jython .py files" + (
                ", no ImageJ code blocks in .md files" if markdown else " (--markdown: also .md code blocks)")
        super().__init__(f"no activities found in {course}: {where}")

PASSED, FAILED, NEEDS_PLUGIN, NEEDS_DATA, TIMEOUT = "passed", "failed", "needs-plugin", "needs-data", "timeout"
NEEDS_INPUT, CHANGED, XFAIL, XPASS, SKIPPED = "needs-input", "changed", "xfail", "xpass", "skipped"
NO_CODE = "no-code"  # a lesson page listed as an ImageJ activity without runnable code
REMOVED = "removed"  # in the baseline, not in the course (or the modules selected) now
CLASSES = (PASSED, CHANGED, REMOVED, FAILED, TIMEOUT, NEEDS_PLUGIN, NEEDS_DATA, NEEDS_INPUT, XFAIL, XPASS,
           SKIPPED, NO_CODE)
#: Classes of an activity that could not run here (never a result of its code).
NOT_RUN = (NEEDS_PLUGIN, NEEDS_DATA, NEEDS_INPUT, NO_CODE)
REPORT = "regress.json"
#: Characters of a script beyond which its text goes to its worker in a file, not in the task.
GRAPH_TEXT = 1 << 20

#: Fiji update site of well-known plugin commands.
UPDATE_SITES = {
    "IJPB-plugins": ("Connected Components Labeling", "Distance Transform Watershed",
                     "Distance Transform Watershed 3D", "Morphological Segmentation",
                     "Label Size Filtering", "Chamfer Distance Map", "Chamfer Distance Map 3D",
                     "Morphological Filters", "Morphological Filters (3D)", "Analyze Regions",
                     "Analyze Regions 3D", "Label Edition", "Remove Border Labels", "Fill Holes (Binary/Gray)",
                     "Set Label Map", "Labels To RGB", "Marker-controlled Watershed",
                     "Classic Watershed", "Geodesic Distance Map", "Extended Min & Max",
                     "Regional Min & Max", "Kill Borders", "Keep Largest Label", "Remove Largest Label",
                     "Label Overlay", "Intensity Measurements 2D/3D", "Label Morphological Filters"),
    "CLIJ2": ("CLIJ2 Macro Extensions",),
    "StarDist": ("Command From Macro",),
    "CSBDeep": ("Run your network",),
    "3D ImageJ Suite": ("3D Manager", "3D Simple Segmentation", "3D Watershed"),
}
_SITE_OF = {c.lower(): site for site, commands in UPDATE_SITES.items() for c in commands}
_PATHLIKE = re.compile(r"dir|folder|path|file|out|save|root|dest|directory", re.IGNORECASE)
_FIXME = re.compile(r"\bFIXME\b")
_FILE_NOT_FOUND = re.compile(r"(?:Opener: )?File not found:\s*(\S[^\n]*)")
# Fiji's Opener (1.53f) says this for a missing file too, the path on the last line
_NOT_OPENED = re.compile(r"Opener: File is not in a supported format, a reader\s+plugin is not "
                         r"available, or it was not found\.\s*(\S[^\n]*)\s*$")


def update_site(command):
    """The Fiji update site providing ``command``, or None when unknown."""
    return _SITE_OF.get(str(command).strip().lower())


def _error_line(exc):
    line = getattr(exc, "line", None)
    return int(line) if isinstance(line, int) else None


def _classify_error(exc):
    """(class, message, extra) of a run's error."""
    from ..errors import NeedsDataError, ScriptTimeout, UnrecognizedCommandError

    if isinstance(exc, UnrecognizedCommandError):
        site = update_site(exc.command)
        msg = f"needs plugin: {exc.command}" + (f" (Fiji update site {site})" if site else "")
        return NEEDS_PLUGIN, msg, {"plugin": exc.command, "update_site": site}
    if isinstance(exc, NeedsDataError):
        return NEEDS_DATA, exc.message, {"data": exc.name, "url": exc.url}
    if isinstance(exc, ScriptTimeout):
        return TIMEOUT, exc.message, {}
    message = getattr(exc, "message", None) or str(exc)
    missing = _FILE_NOT_FOUND.search(message)
    if missing is None:
        unopened = _NOT_OPENED.search(message)
        if unopened and not Path(unopened.group(1).strip()).exists():
            missing = unopened  # not there at all, rather than in an unknown format
    if missing:  # a local input that is not there (and not in the data dir)
        name = Path(missing.group(1).strip()).name
        return NEEDS_DATA, f"needs data {name} (file not found: {missing.group(1).strip()})", {"data": name}
    return FAILED, f"{type(exc).__name__}: {message}", {}


def _outputs(folder):
    """The activity's own outputs: not fijirun's records, the images its analyses analysed, its final state."""
    from ..analyses import SNAPSHOT_DIR
    from ..backends.final_state import STATE_DIR
    from ..provenance import RECORD_FILES

    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and str(p.relative_to(folder)) not in (*RECORD_FILES, ACTIVITY_RECORD)
                  and p.relative_to(folder).parts[0] not in (SNAPSHOT_DIR, STATE_DIR)
                  and ".fijirun-staging-" not in str(p) and ".fijirun-state-" not in str(p))


def _check(folder, outputs):
    """(verdict, reason) of ``fijirun check`` on the known-kind outputs, or (None, None)."""
    from ..outputs import output_kind

    if not any(output_kind(p) in ("table", "rois", "image") for p in outputs):
        return None, None
    from ..check import CheckError, check

    try:
        report = check(folder)
    except CheckError as exc:
        return "error", f"not checked: {exc}"
    failing = [o for o in report.outputs if o.verdict == "fail"]
    if failing:
        return "fail", "; ".join(f"{o.path}: {o.reason}" for o in failing)
    if report.recovered.get("mode") != "recorded":
        # not a full check: never a silent pass (counted apart, said in the message)
        return "partial", "check partial: no recorded particle analysis to recompute the outputs from"
    warned = [o for o in report.outputs if o.verdict == "warn"]
    return str(report.verdict), "; ".join(f"{o.path}: {o.reason}" for o in warned) or None


def run_activity(task):
    """Run one activity and classify it (a Dask task; also callable directly).

    Parameters
    ----------
    task : dict
        ``path`` (relative, for the report), ``file`` (absolute, for errors),
        ``language``, ``text``, ``outdir`` (the activity's fresh folder),
        ``timeout``, ``options`` (the session's).

    Returns
    -------
    dict
        ``path``, ``language``, ``class``, ``message``, ``line``, ``seconds``,
        ``outputs`` (paths relative to the regress output folder), ``answers``,
        ``check``, ``plugin``, ``update_site``, ``data``, ``worker``, ``pid`` and
        ``replace_worker``.
    """
    out = Path(task["outdir"])
    root = Path(task.get("root") or out.parent)
    with sole_writer(root / LOCKS / f"{out.name}.lock") as lock:
        if isinstance(lock, str):  # why the folder cannot be had
            record = _failed_record(task, f"the activity did not run: {lock} ({out})")
            record["pid"] = os.getpid()
            return dict(record, replace_worker=False)
        record = _run_activity(task, out, root)
        if record["replace_worker"] and script_still_running():
            lock.keep()  # its script still writes: a rerun waits for this process to end
        return record


def _run_activity(task, out, root):
    from ..errors import EngineShutDown, FijirunError, OutputExistsError
    from .answers import answer_interactive
    from .inputs import MissingInput, answer_parameters, resolve_relative_paths

    t0 = time.perf_counter()
    record = {"path": task["path"], "file": task["file"], "language": task["language"], "class": None,
              "message": None,
              "line": None, "seconds": None, "outputs": [], "answers": [], "check": None,
              "plugin": None, "update_site": None, "data": None, "pid": os.getpid(), "worker": None,
              "saved_elsewhere": [], "warnings": []}
    try:  # a fresh folder: nothing of an earlier attempt may pass for this one's outputs
        empty_folder(out, task["path"], task.get("run"))
    except (OutputExistsError, OSError) as exc:
        message = str(exc) if isinstance(exc, OutputExistsError) else f"cannot empty the activity's folder {out}: {exc}"
        record.update({"class": FAILED, "message": message,
                       "seconds": round(time.perf_counter() - t0, 3), "replace_worker": False})
        return record
    if task.get("topic"):  # on a worker
        from ..cluster.worker import announce_start, current_task

        record["worker"] = current_task()[1]
        announce_start(task, task["path"])
    language = task["language"]
    try:
        source = task["text"]
        if task.get("text_file"):  # a large script: read from its file, not sent through Dask's graph
            source = Path(task["text_file"]).read_bytes().decode("utf-8", "surrogatepass")
        text, answers = answer_interactive(source, language, output_dir=out)
        record["answers"] = answers
        # where a learner's relative paths and configured files are found
        folders = [Path(task["file"]).parent, task.get("course"), task.get("data_dir"),
                   Path(task["data_dir"]).parent if task.get("data_dir") else None]
        text, record["paths"] = resolve_relative_paths(text, language, folders)
        _, assignments = _analyse(text, language)
        out_name = output_dir_name(text, language, task["file"])  # the session gives it the activity's folder
        params, given = answer_parameters(text, task.get("params") or {}, folders,
                                          output_dir=out, skip=(out_name,))
        record["answers"] = answers + given
        lines = text.splitlines()
        for name, (index, start, end, _) in assignments.items():
            if name == out_name or not _FIXME.search(lines[index][start:end]):
                continue
            if name in params:
                continue
            if _PATHLIKE.search(name):  # another folder of the template: its own one
                folder = out / name
                folder.mkdir(exist_ok=True)
                params[name] = str(folder) + os.sep
        if task.get("session") is not None:
            session = task["session"]
        else:
            from ..cluster.worker import get_session

            session = get_session(task["options"])
        result = session.run_code(text, language, params, path=task["file"], output_dir=out,
                                  timeout=task["timeout"], raise_on_error=False)
        record["saved_elsewhere"] = list(result.saved_elsewhere)
        record["warnings"] = list(result.warnings)  # (not in the message: a thread's timing may vary)
        if result.ok:
            outputs = _outputs(out)
            verdict, reason = _check(out, outputs)
            record["check"] = verdict
            if verdict == "fail":
                record["class"], record["message"] = FAILED, f"check failed: {reason}"
            else:
                record["class"] = PASSED
                record["message"] = reason
            if result.saved_elsewhere:  # outside the regression's reach: said, never silent
                shown = ", ".join(result.saved_elsewhere[:3]) + (", ..." if len(result.saved_elsewhere) > 3 else "")
                note = f"saved outside its folder: {shown}"
                record["message"] = f"{record['message']}; {note}" if record["message"] else note
        else:
            cls, message, extra = _classify_error(result.error)
            record.update(extra)
            record["class"], record["message"] = cls, message
            record["line"] = _error_line(result.error)
    except EngineShutDown:
        raise  # its worker is closing: not the activity's doing; the client runs it again
    except MissingInput as exc:
        record["class"], record["message"], record["line"] = NEEDS_INPUT, str(exc), exc.line
    except FijirunError as exc:  # ParameterError (FIXME), InputError, OutputDirError...
        cls, message, extra = _classify_error(exc)
        record.update(extra)
        record["class"], record["message"], record["line"] = cls, message, _error_line(exc)
    except Exception as exc:  # noqa: BLE001 - one activity never stops the others
        record["class"], record["message"] = FAILED, f"{type(exc).__name__}: {exc}"
    record["outputs"] = [p.relative_to(root).as_posix() for p in _outputs(out)]
    running = script_still_running()
    with contextlib.suppress(OSError):  # without it, a later run into this folder asks first
        # a script still running may write on: the regression records its folder at the end
        record_folder(out, task["path"], task.get("run"), finished=not running)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    record["replace_worker"] = record["class"] == TIMEOUT or running
    return record


def session_options(data_dir, backend, timeout, memory, fiji_dir=None):
    """The engine options of a regression's workers (hashable values)."""
    options = {"backend": backend, "data_dir": str(Path(data_dir).resolve()) if data_dir else None,
               "memory": memory, "timeout": float(timeout)}
    if fiji_dir:
        options["fiji_dir"] = str(fiji_dir)
    return options


def course_activities(course, *, markdown=False, exclude=(), course_name=None, modules=None):
    """A course's activities: a lesson repository's modules (:mod:`.lesson`), else every script.

    ``course_name`` (a ``_courses/`` page) and ``modules`` select modules of a
    lesson repository; they are an error elsewhere.
    """
    from .lesson import LessonError, course_modules, is_lesson, lesson_activities

    course = Path(course).resolve()
    if not is_lesson(course):
        if course_name or modules:
            raise LessonError(f"{course} is not a lesson repository (no _modules/ and _includes/): "
                              "--course and --module select a lesson's modules")
        return discover(course, markdown=markdown, exclude=exclude)
    selected = list(modules or [])
    if course_name:
        selected += [m for m in course_modules(course, course_name) if m not in selected]
    return lesson_activities(course, selected or None)


def _refuse_foreign_report(path):
    """Refuse a regression whose ``regress.json`` would replace a file fijirun did not write."""
    from ..ownership import ReportPathError, own_json

    if os.path.lexists(path) and not own_json(path, _REPORT_KEYS):
        raise ReportPathError(f"{path} was not written by fijirun (a person's file, a link, a pipe or a "
                              "folder): a regression writes its report there; move it away, or use another "
                              "output folder")


# the keys of every regress.json fijirun writes
_REPORT_KEYS = ("course", "output", "backend", "activities", "counts", "seconds")


def activity_tasks(course, out, *, data_dir=None, backend="imagej1", timeout=120.0, memory="2g",
                   fiji_dir=None, markdown=False, config=None, exclude=(), course_name=None, modules=None):
    """The tasks (one per activity discovered in ``course``) that :func:`run_activity` runs.

    ``config`` (a :class:`~fijirun.regress.config.CourseConfig`) gives each
    task its ``timeout``, ``params``, ``xfail`` and ``skip``.
    """
    from .config import CourseConfig

    course, out = Path(course).resolve(), Path(out).resolve()
    config = config or CourseConfig()
    options = session_options(data_dir, backend, timeout, memory, fiji_dir)
    tasks = []
    activities = course_activities(course, markdown=markdown, exclude=[out, *exclude], course_name=course_name,
                                   modules=modules)
    folders = activity_folders([a.path for a in activities])
    for a in activities:
        settings = config.for_activity(a.path)
        tasks.append({"path": a.path, "file": str(a.file), "language": a.language, "text": a.text,
                      "outdir": str(out / folders[a.path]), "root": str(out),
                      "timeout": float(settings.timeout or timeout), "options": options,
                      "course": str(course), "data_dir": options["data_dir"],
                      "params": settings.params, "xfail": settings.xfail, "skip": settings.skip,
                      "where": {"module": a.module, "platform": a.platform, "kind": a.kind,
                                "position": a.position, "block_line": a.line}})
    return tasks


def run_alone(task):
    """Run one activity in this process as a regression worker would (warm engine, then the task)."""
    from ..cluster.worker import get_session

    get_session(task["options"]).warm_up([task["language"]])
    return run_activity(task)


def activity_folder(path):
    """The readable output sub-folder name of an activity path (``/`` as ``__``); not unique alone.

    ``a/b.ijm`` and ``a__b.ijm`` (or ``a b.ijm`` and ``a_b.ijm``) have the same
    readable name: :func:`activity_folders` makes a course's names unique.
    """
    return re.sub(r"[^\w.-]+", "_", path.replace("/", "__").replace(":", "_L"))


def activity_folders(paths):
    """Each activity path's own folder name: its readable name, unless another path of the course has it too.

    Paths whose readable names are the same (ignoring case, as macOS and
    Windows file systems do) each get the first 10 hex digits of their
    path's SHA-256 appended (``a__b.ijm-3f0c...``): every activity has a
    folder of its own, and a path's name depends only on which paths collide
    with it, not on their order.
    """
    import hashlib
    from collections import Counter

    readable = {p: activity_folder(p) for p in paths}
    taken = Counter(name.casefold() for name in readable.values())
    return {p: (name if taken[name.casefold()] == 1
                else f"{name}-{hashlib.sha256(p.encode('utf-8')).hexdigest()[:10]}")
            for p, name in readable.items()}


def _removed_records(old, tasks, course, markdown, course_name, modules):
    """A ``removed`` record for each activity of the baseline that this regression does not have.

    With ``--course`` / ``--module``, only the baseline's activities of the
    modules selected: the others were not asked for.
    """
    now = {t["path"] for t in tasks}
    titles = None
    if course_name or modules:
        from .lesson import course_modules, front_matter

        names = list(modules or []) + (list(course_modules(course, course_name)) if course_name else [])
        titles = {str(front_matter(course / "_modules" / f"{n}.md").get("title") or n) for n in names}
    removed = []
    for path, rec in old["records"].items():
        if path in now or (titles is not None and rec.get("module") not in titles):
            continue
        hint = ""
        if not markdown and block_page(path) != path and rec.get("module") is None:
            hint = " (Markdown code blocks run with --markdown)"
        record = _failed_record({"path": path, "file": rec.get("file"), "language": rec.get("language")},
                                f"gone: in the baseline ({rec['class']}), not in the course now{hint}")
        record.update({key: rec.get(key) for key in ("module", "platform", "kind", "position")})
        record.update({"class": REMOVED, "baseline": rec["class"], "folder": None})
        removed.append(record)
    return removed


def _lost_record(task, outcome):
    """The record of an activity that did not finish on its worker (stuck, died, lost)."""
    record = _failed_record(task, outcome.message)
    record["worker"] = outcome.worker
    if outcome.status == "stuck":
        record["class"], record["seconds"] = TIMEOUT, outcome.seconds
    return record


def _failed_record(task, message):
    return {"path": task["path"], "file": task["file"], "language": task["language"], "class": FAILED,
            "message": message,
            "line": None, "seconds": None, "outputs": [], "answers": [], "check": None,
            "plugin": None, "update_site": None, "data": None, "worker": None, "pid": None,
            "saved_elsewhere": [], "warnings": []}


def _skipped_record(task):
    record = _failed_record(task, f"skipped: {task['skip']}")
    record["class"] = SKIPPED
    return record


def _no_code_record(task):
    record = _failed_record(task, task["text"])  # discovery said why there is nothing to run
    record["class"] = NO_CODE
    return record


def _expectation(record, task):
    """Apply the configuration's known failure: ``xfail`` / ``xpass``."""
    if not task.get("xfail") or record["class"] == SKIPPED:
        return
    if record["class"] in (PASSED, CHANGED):
        record["class"] = XPASS
        record["message"] = f"passed, though a known failure: {task['xfail']}"
    else:
        record["expected"] = record["class"]
        record["class"] = XFAIL
        record["message"] = f"known failure ({task['xfail']}): {record['message']}"


def _against_baseline(record, task, baseline, settings, pictures):
    """Compare a finished activity with its baseline run: ``changed`` and its diff."""
    from .baseline import compare_runs

    old = baseline["records"].get(record["path"])
    if old is None:
        record["baseline"] = "new: not in the baseline"
        return
    record["baseline"] = old["class"]
    old_folder = baseline["folder"] / old["folder"]
    owner = recorded_path(old_folder)
    if owner is not None and owner != old["recorded_path"]:  # an old baseline's shared folder
        record["class"] = CHANGED
        record["changes"] = [f"not comparable: the baseline's folder {old_folder} holds the run of {owner}, "
                             f"not of {old['recorded_path']} (their folder names were the same when the "
                             "baseline was recorded): update the baseline"]
        record["message"] = record["changes"][0]
        return
    if record["class"] != PASSED:
        if old["class"] != PASSED:
            return
        if record["class"] in NOT_RUN and not task.get("xfail"):
            # it ran and passed, and now it cannot run at all (a plugin or data gone, a block
            # emptied): a change, never a quiet exit 0; a configured xfail or skip is the user's word
            now = record["class"]
            record["class"], record["changes"] = CHANGED, [f"class: passed -> {now}"]
            record["message"] = f"{now} now, passed in the baseline: {record['message']}"
        else:
            record["message"] = f"{record['message']} (passed in the baseline)"
        return
    if old["class"] != PASSED:
        record["class"], record["changes"] = CHANGED, [f"class: {old['class']} -> passed"]
        record["message"] = f"passed; {old['class']} in the baseline ({old.get('message')})"
        return
    folder = Path(task["outdir"]).name
    changes = compare_runs(old_folder, Path(task["outdir"]),
                           tolerance=settings.tolerance, sanitizers=settings.sanitizers,
                           pictures=pictures, name=folder)
    if changes:
        record["class"], record["changes"] = CHANGED, changes
        record["message"] = changes[0] + (f" (and {len(changes) - 1} more)" if len(changes) > 1 else "")


def load_baseline(folder):
    """An earlier regress output folder as a baseline: its report's records by path.

    Raises
    ------
    BaselineError
        The folder holds no readable ``regress.json``.
    """
    import json

    folder = Path(folder).resolve()
    if os.path.lexists(folder / REPORT) and not (folder / REPORT).is_file():  # a pipe would block
        raise BaselineError(f"{folder / REPORT}: not a readable regress report (not a regular file)")
    try:
        with open(folder / REPORT, encoding="utf-8") as f:
            report = json.load(f)
        # a baseline's removed activities are no runs; Markdown blocks named by line before, by number now
        ran = [_baseline_record(a) for a in report["activities"] if a["class"] != REMOVED]
        renamed = renamed_blocks(a["path"] for a in ran)
        records = {renamed.get(a["path"], a["path"]): a for a in ran}
    except FileNotFoundError:
        raise BaselineError(f"{folder}: not a regress output folder (no {REPORT})") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BaselineError(f"{folder / REPORT}: not a readable regress report: {exc}") from None
    return {"folder": folder, "records": records, "backend": report.get("backend"),
            "versions": report.get("versions")}


def _baseline_record(record):
    """A baseline's record as this run compares with it: the class it ran with, its folder's name.

    A baseline written before folder names were made unique has no
    ``folder``: its activity's folder is the readable name of its path.
    """
    record = _as_ran(record)
    folder = record.get("folder")
    if not (isinstance(folder, str) and folder not in ("", ".", "..") and Path(folder).name == folder):
        folder = activity_folder(record["path"])
    return dict(record, folder=folder, recorded_path=record["path"])


def _as_ran(record):
    """A baseline record with the class its run had before comparisons and expectations."""
    cls = record["class"]
    if cls in (CHANGED, XPASS):  # ran to the end (changed, then accepted; or a known failure passing)
        cls = PASSED
    elif cls == XFAIL:
        cls = record.get("expected") or FAILED
    return dict(record, **{"class": cls})


def regress(course_dir, output, *, data_dir=None, backend="imagej1", timeout=120.0, workers=1,
            markdown=False, memory="2g", fiji_dir=None, grace=DEFAULT_GRACE, on_done=None,
            config=None, baseline=None, update_baseline=False, pictures=None, course_name=None,
            modules=None):
    """Run every activity of a course unattended and classify it.

    Parameters
    ----------
    course_dir : path-like
        The course repository (searched recursively).
    output : path-like
        Where each activity gets a fresh folder (``output/<activity>``) and
        ``regress.json`` is written.
    data_dir : path-like, optional
        Local copies of the data the activities open by URL.
    backend : {"imagej1", "fiji"}
    timeout : float
        Seconds per activity (the configuration may say otherwise per activity).
    workers : int
        Dask worker processes (one thread each, one warm engine each).
    markdown : bool
        Also run ImageJ code blocks of Markdown files.
    grace : float
        Seconds beyond ``timeout`` before a silent worker is abandoned and replaced.
    on_done : callable, optional
        Called with each activity's record as it finishes.
    config : path-like, optional
        The course configuration; default ``course_dir/fijirun.toml`` when
        present (:mod:`fijirun.regress.config`).
    baseline : path-like, optional
        An earlier regress output folder: activities that pass in both and
        whose outputs, final state or Log differ are ``changed``
        (:mod:`fijirun.regress.baseline`).
    update_baseline : bool
        Accept this run: it replaces the baseline folder (whose files must
        all be fijirun's).
    pictures : path-like, optional
        Where pictures of changed images' differing pixels go.
    course_name : str, optional
        In a lesson repository (:mod:`fijirun.regress.lesson`): run the
        modules of this ``_courses/`` page only.
    modules : sequence of str, optional
        In a lesson repository: run these modules only (with ``course_name``:
        also these).

    Returns
    -------
    dict
        ``{"course", "output", "backend", "activities": [...], "counts", "seconds"}``
        (also written to ``output/regress.json``).

    Raises
    ------
    ConfigError, BaselineError
        The configuration or the baseline cannot be used.
    NoActivityError
        The course (or the selected modules) holds no activity; nothing is written.
    """
    from ..provenance import write_json_atomic
    from .config import load_config

    t0 = time.perf_counter()
    course = Path(course_dir).resolve()
    if not course.is_dir():
        raise FileNotFoundError(f"no such course folder: {course_dir}")
    settings = load_config(course, Path(config) if config else None)
    if update_baseline and not baseline:
        raise BaselineError("update_baseline: there is no baseline to update (give baseline)")
    old = load_baseline(baseline) if baseline else None
    out = Path(output).resolve()
    if old is not None:  # refused before anything runs: no work wasted, nothing copied into itself
        if old["folder"] == out:
            raise BaselineError(f"{out}: the baseline cannot be this run's own output folder")
        if out in old["folder"].parents:
            raise BaselineError(f"the baseline {old['folder']} is inside this run's output folder {out}: "
                                "use a baseline folder outside it (or an output folder beside the baseline)")
        if old["folder"] in out.parents:
            raise BaselineError(f"this run's output folder {out} is inside the baseline {old['folder']}: "
                                "use an output folder outside it")
        if update_baseline:
            from .accept import check_replaceable

            check_replaceable(old["folder"])  # a person's note in it: said now, not after the whole course
    tasks = activity_tasks(course, out, data_dir=data_dir, backend=backend, timeout=timeout,
                           memory=memory, fiji_dir=fiji_dir, markdown=markdown, config=settings,
                           exclude=[old["folder"]] if old else [], course_name=course_name, modules=modules)
    if not tasks:  # nothing to run is no verdict: refused before anything is written
        from .lesson import is_lesson

        selection = None
        if is_lesson(course):
            selection = list(modules or []) + ([f"of course {course_name}"] if course_name else [])
        raise NoActivityError(course, markdown, selection)
    _refuse_foreign_report(out / REPORT)  # before anything runs: regress.json is replaced at the end
    if old is not None and pictures is None:
        from .accept import CHANGES_DIR
        from .pictures import not_a_picture_folder

        pictures = out / CHANGES_DIR
        if not_a_picture_folder(pictures):
            raise BaselineError(f"{pictures} is a link or a file, not fijirun's folder of change pictures: "
                                "move it away, or use another output folder")
    out.mkdir(parents=True, exist_ok=True)
    if pictures is not None and old is not None:
        from .pictures import is_picture

        for stale in pictures.glob("*.png") if pictures.is_dir() else []:  # an earlier run's, fijirun's only
            if is_picture(stale):
                stale.unlink()
    token = uuid.uuid4().hex  # this regression: its reruns take over what its attempts left
    for task in tasks:
        task["run"] = token
    options = tasks[0]["options"] if tasks else session_options(data_dir, backend, timeout, memory, fiji_dir)
    n = max(1, int(workers or 1))
    by_path = {}

    def finished(task, record):
        record.pop("replace_worker", None)
        record.update(task.get("where") or {})  # module, platform, kind, position
        record["folder"] = Path(task["outdir"]).name  # its own (a baseline's comparison finds it by this)
        if old is not None:
            _against_baseline(record, task, old, settings.for_activity(task["path"]), pictures)
        _expectation(record, task)
        by_path[task["path"]] = record
        if on_done is not None:
            on_done(record)

    for task in tasks:
        if task.get("skip"):
            finished(task, _skipped_record(task))
        elif task["language"] is None:
            finished(task, _no_code_record(task))
    to_run = [t for t in tasks if not t.get("skip") and t["language"] is not None]
    if to_run:
        from ..cluster import TaskJob, TaskRunner, connect
        from ..cluster.worker import PLUGIN_NAME, SessionPlugin

        def outcome_of(job, outcome):
            finished(job.task, outcome.record if outcome.status == "finished"
                     else _lost_record(job.task, outcome))

        texts = None  # large scripts' texts, read by the workers from files (Dask warns of a large graph)
        try:
            jobs = []
            for t in to_run:
                if len(t["text"]) > GRAPH_TEXT:
                    if texts is None:
                        from ..tempdirs import make_temp_dir

                        texts = make_temp_dir("regress")
                    spilled = texts / f"{Path(t['outdir']).name}.txt"
                    spilled.write_bytes(t["text"].encode("utf-8", "surrogatepass"))
                    t = dict(t, text=None, text_file=str(spilled))
                jobs.append(TaskJob(t["path"], run_activity, t, timeout=t["timeout"]))
            with connect(min(n, len(to_run)), what="regress") as (client, _):
                client.register_plugin(SessionPlugin(options, {t["language"] for t in to_run}),
                                       name=PLUGIN_NAME)
                TaskRunner(client, timeout=float(timeout), grace=float(grace), on_outcome=outcome_of).run(jobs)
        finally:  # the workers are gone: nothing writes into the folders any more
            for task in to_run:
                finish_unfinished(Path(task["outdir"]), token)
            remove_locks(out)
            if texts is not None:
                import shutil

                shutil.rmtree(texts, ignore_errors=True)
    records = [by_path[t["path"]] for t in tasks]
    if old is not None:  # what the baseline had and this run has not is said, and fails the run
        for record in _removed_records(old, tasks, course, markdown, course_name, modules):
            records.append(record)
            if on_done is not None:
                on_done(record)
    counts = {c: 0 for c in CLASSES}
    # how the passed activities' outputs were checked: a pass without a full check is said
    checks = {"full": 0, "warn": 0, "partial": 0, "error": 0, "none": 0}
    for r in records:
        if r["class"] == PASSED:
            checks[{"pass": "full", None: "none"}.get(r.get("check"), r.get("check"))] += 1
    for r in records:
        counts[r["class"]] += 1
    by_module = {}
    for r in records:
        if r.get("module"):
            by_module.setdefault(r["module"], {c: 0 for c in CLASSES})[r["class"]] += 1
    report = {"course": str(course), "output": str(out), "backend": backend,
              "data_dir": options["data_dir"], "timeout": float(timeout), "workers": n,
              "config": str(settings.path) if settings.path else None,
              "baseline": ({"folder": str(old["folder"]), "backend": old["backend"]} if old else None),
              "activities": records, "counts": counts, "checks": checks, "modules": by_module,
              "selection": {"course": course_name, "modules": list(modules or [])},
              "seconds": round(time.perf_counter() - t0, 3)}
    from ..ownership import guard_report

    guard_report(out / REPORT, "regression report", marked=False)  # in its own folder
    write_json_atomic(out / REPORT, report)
    if old is not None and update_baseline:
        from .accept import replace_baseline

        report["baseline"]["updated"] = str(replace_baseline(out, old["folder"]))
    return report
