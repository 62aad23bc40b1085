"""Sessions and run results: the public face of the engine.

A :class:`Session` owns a backend (one ImageJ) and runs scripts in it one
after another. For each run it prepares the script (:mod:`fijirun.prepare`),
gives ImageJ a private staging folder as the output folder, and when the run
succeeded moves what ImageJ wrote into the real output folder (atomically,
never replacing a file fijirun did not write), parses it and records the run
in ``run.json``. A failed run raises; its partial outputs are not moved.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .analyses import SNAPSHOT_DIR, SNAPSHOT_LIMIT, analysis_record, attribute_outputs
from .arguments import UsageError, positive_seconds
from .backends import get_backend_class
from .backends.final_state import STATE_DIR
from .data import DataDir
from .errors import InputError, OutputDirError, OutputExistsError, ParameterError, RunError
from .files import file_problem
from .outputs import count_table_rows, output_kind, read_image, read_rois, read_table, sha256
from .ownership import check_records, folder_state, foreign_files
from .prepare import (
    INPUT_NAMES,
    _params_dict,
    detect_language,
    input_name,
    output_dir_name,
    prepare_script,
    read_script_text,
)
from .provenance import (
    FAILED_LOG,
    FAILED_RECORD,
    RECORD_FILES,
    RUN_LOG,
    RUN_RECORD,
    cap_log,
    json_writer,
    record_digest,
    write_log_temp,
    write_temp,
)

__all__ = ["Session", "RunResult", "DEFAULT_TIMEOUT"]

#: Held by a run from its output folder's snapshot to its published outputs (see Session._run).
_ONE_RUN_AT_A_TIME = threading.RLock()


class _LazyOutputs(Mapping):
    """File name → parsed output, read from disk on first access.

    Parsing every table, ROI set and image after each run would cost more than
    ImageJ's own work on small images; most callers look at one or two.
    """

    def __init__(self, paths, reader):
        self._paths = dict(paths)
        self._reader = reader
        self._cache = {}

    def __getitem__(self, name):
        if name not in self._cache:
            self._cache[name] = self._reader(self._paths[name])
        return self._cache[name]

    def __iter__(self):
        return iter(self._paths)

    def __len__(self):
        return len(self._paths)

    def paths(self):
        """File name → path, without parsing anything."""
        return dict(self._paths)

    def __repr__(self):
        return f"<{len(self)} outputs: {', '.join(self._paths)}>"

DEFAULT_TIMEOUT = 600.0


@dataclass
class RunResult:
    """What one run did and saved.

    Attributes
    ----------
    status : {"ok", "failed"}
    outputs : list of Path
        Files the run wrote, in the output folder.
    saved_elsewhere : list of str
        Files the run's threads wrote outside the output folder (absolute paths;
        a relative path is the working folder's): not outputs, and not checked.
    tables : dict
        File name → pandas DataFrame, for results tables.
    rois : dict
        File name → list of ``roifile.ImagejRoi``, for ROI sets.
    images : dict
        File name → numpy array, for saved images (label masks).
    log : str
        ImageJ's Log window (plus Jython's printed output).
    commands : list of dict
        Every ImageJ command executed, with its options.
    analyses : list of dict
        Every particle analysis: its resolved options, the image analysed, what it produced.
    warnings : list of str
        What fijirun saw beyond the script's own output, also at the end of
        ``log``: a thread the script started still running when the run was
        read, an error printed by a thread outside the run. A run with
        warnings is still ``ok``; they say why it may not be the whole story.
    error : RunError or None
    """

    status: str
    script: str
    language: str
    backend: str
    imagej_version: str
    output_dir: Path | None
    outputs: list = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    rois: dict = field(default_factory=dict)
    images: dict = field(default_factory=dict)
    log: str = ""
    commands: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    saved_elsewhere: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)
    error: RunError | None = None
    record: dict = field(default_factory=dict)
    check: object = None
    snapshot_moves: list = field(default_factory=list, repr=False)  # (staged file, relative path)

    @property
    def state(self):
        """What the run left in ImageJ (open images, tables, ROI Manager, Log), or None.

        Files are relative to the output folder (``run.state/...``); see
        :mod:`fijirun.backends.final_state`.
        """
        return self.record.get("state")

    @property
    def analyses(self):
        """Every particle analysis of the run, as the engine recorded it (:mod:`fijirun.analyses`)."""
        return self.record.get("analyses", [])

    @property
    def ok(self):
        """Whether the run succeeded (``status == "ok"``)."""
        return self.status == "ok"

    @property
    def table(self):
        """The first results table, or None."""
        return next(iter(self.tables.values()), None)

    @property
    def roi_set(self):
        """The first ROI set, or None."""
        return next(iter(self.rois.values()), None)

    @property
    def label_mask(self):
        """The first saved integer image that looks like a label mask, or None.

        TIFF is preferred over lossy or 8-bit formats.
        """
        def rank(name):
            return (not name.lower().endswith((".tif", ".tiff")), name)
        for name in sorted(self.images, key=rank):
            arr = self.images[name]
            if arr.ndim == 2 and arr.dtype.kind in "ui":
                return arr
        return None

    def _table_rows(self):
        """Each table's row count, counted in the file when it was not parsed (no pandas)."""
        paths = getattr(self.tables, "paths", None)
        if paths is None:  # a RunResult made with DataFrames
            return [int(len(t)) for t in self.tables.values()]
        return [count_table_rows(p) for p in paths().values()]

    def summary(self):
        """The run in brief: the ``--json`` object of ``fijirun run``.

        Returns
        -------
        dict
            Status, backend, ImageJ version, script, output folder and files,
            row, ROI and label counts, seconds, messages, warnings, the files saved
            outside the output folder and the error (as
            :meth:`RunError.to_dict <fijirun.errors.RunError.to_dict>`), all
            JSON-serialisable.
        """
        mask = self.label_mask
        rows = self._table_rows()
        return {
            "status": self.status,
            "backend": self.backend,
            "imagej_version": self.imagej_version,
            "script": self.script,
            "output_dir": str(self.output_dir) if self.output_dir else None,
            "outputs": [str(p) for p in self.outputs],
            "n_results_rows": rows[0] if rows else 0,
            "n_results_rows_all_tables": sum(rows),
            "n_rois": int(len(self.roi_set)) if self.roi_set is not None else 0,
            "label_max": int(mask.max()) if mask is not None and mask.size else None,
            "seconds": round(self.seconds, 4),
            "messages": self.messages,
            "warnings": self.warnings,
            "saved_elsewhere": self.saved_elsewhere,
            "error": self.error.to_dict() if self.error else None,
        }


def _seconds(value, name):
    """A timeout checked as the command line checks ``--timeout`` (:func:`fijirun.arguments.positive_seconds`).

    ``0`` is no "use the default" and ``-1`` no "run to the end": both are
    refused, as ``nan``, ``inf``, more than ``MAX_TIMEOUT`` and text.
    """
    try:
        return positive_seconds(value, name)
    except UsageError as exc:
        raise ParameterError(f"{name}={value!r}: {exc.args[0]}", name=name) from None


class Session:
    """One ImageJ, kept warm, running scripts unattended.

    Parameters
    ----------
    backend : {"imagej1", "fiji"}
        Where scripts run. ``imagej1`` (default): ImageJ 1.x from the OS
        packages, in this process.
    data_dir : path-like, optional
        Local copies of data that scripts open by URL, and of ImageJ's
        sample images.
    timeout : float
        Default per-run timeout in seconds: finite, > 0, at most
        ``fijirun.arguments.MAX_TIMEOUT`` (else :class:`ParameterError`).
    memory : str
        JVM maximum heap (``-Xmx``), e.g. ``"2g"``.
    overwrite : bool
        Allow a run to replace files in its output folder that fijirun did
        not write. Off by default: such a run fails and keeps its outputs
        aside in ``fijirun-unsaved-*``.
    capture_state : bool
        Keep what each run with an output folder left in ImageJ (open
        images, tables, ROI Manager, Log) in its ``run.state/`` and
        ``run.json`` (:mod:`fijirun.backends.final_state`): what
        ``fijirun regress --baseline`` compares. On by default; batches
        turn it off.
    **backend_options
        Passed to the backend (``ij_jar``, ``jython_jar``, ``fiji_dir``,
        ``java_home``, ``batch_mode``, ``jvm_options``). A process has one
        JVM: ``memory`` and ``jvm_options`` apply when it starts.

    Raises
    ------
    ValueError
        ``backend`` is not a known backend.
    ParameterError
        ``timeout`` is not a number of seconds as above.
    FileNotFoundError
        ``data_dir`` does not exist.

    Examples
    --------
    >>> import fijirun
    >>> with fijirun.Session(data_dir="../shared/data") as s:  # doctest: +SKIP
    ...     r = s.run("fiji_macros/output_saving.ijm",
    ...               input="../shared/data/xy_8bit_binary_randomshapes.tif",
    ...               output_dir="out")
    ...     print(len(r.table), r.label_mask.max())
    6 6
    """

    def __init__(self, backend="imagej1", *, data_dir=None, timeout=DEFAULT_TIMEOUT, memory="2g",
                 overwrite=False, capture_state=True, **backend_options):
        self.data_dir = DataDir(data_dir)
        self.capture_state = bool(capture_state)
        self.timeout = _seconds(timeout, "timeout")
        self.overwrite = overwrite
        self.backend_name = backend
        cls = get_backend_class(backend)
        self.backend = cls(self.data_dir, memory=memory, **backend_options)
        self.startup_seconds = None

    # ------------------------------------------------------------ lifecycle
    def start(self):
        """Start the backend now (otherwise the first run does).

        Returns
        -------
        Session
            ``self``, started.

        Raises
        ------
        EngineError
            Java, ImageJ or a display cannot be found or started.
        """
        if self.startup_seconds is None:
            t = time.perf_counter()
            self.backend.start()
            self.startup_seconds = time.perf_counter() - t
        return self

    def warm_up(self, languages=("ijm", "jython")):
        """Do ImageJ's first-time work now (classes, the first window and dialog, Jython).

        Batch and regression workers call it before their first task, so that a
        short timeout never counts a JVM's first-time costs against a script.

        Parameters
        ----------
        languages : sequence of {"ijm", "jython"}
            The script languages to warm up.

        Returns
        -------
        Session
            ``self``, started.
        """
        self.start()
        self.backend.warm_up(tuple(languages))
        return self

    def close(self):
        """Let go of the backend; the JVM itself lives until the process exits."""
        self.backend.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    @property
    def imagej_version(self):
        """ImageJ's version string, e.g. ``"1.53t"`` (starts the backend)."""
        return self.start().backend.imagej_version

    # ------------------------------------------------------------ running
    def run(self, script, params=None, *, language=None, input=None, output_dir=None, arg="",
            timeout=None, check=False, raise_on_error=True):
        """Run a script file.

        Parameters
        ----------
        script : path-like
            An IJ Macro (``.ijm``) or Jython (``.py``) file.
        params : dict, optional
            Values for ``#@`` parameters and top-level assignments
            (``outputDir = FIXME``): text, numbers (numpy's too), booleans or
            paths, each reaching the script exactly or refused (see
            :func:`fijirun.prepare.coerce`).
        language : {"ijm", "jython"}, optional
            Overrides the file extension.
        input : path-like, optional
            A regular file; fills the script's input variable (``input``, ...)
            with its absolute path, the name as given (links not resolved).
        output_dir : path-like, optional
            Fills the script's output folder variable (``outputDir``, ...) when
            it can be a folder (:func:`fijirun.prepare.output_dir_name`);
            outputs are collected from this folder.
        arg : str
            The macro argument (``getArgument()``).
        timeout : float, optional
            Seconds, finite and > 0 (at most ``fijirun.arguments.MAX_TIMEOUT``);
            the session's default otherwise.
        check : bool
            Check the outputs against the reference (``fijirun.check``).
        raise_on_error : bool
            Raise the run's error (default) or return a failed RunResult.

        Returns
        -------
        RunResult
            What the run did and saved.

        Raises
        ------
        FileNotFoundError
            The script cannot be read.
        ParameterError
            A parameter is unresolved, unknown or malformed; ``input`` for a
            script with no input variable; the output folder given both as
            ``output_dir`` and as a parameter; ``timeout``, ``params`` or
            ``arg`` of the wrong kind (nothing ran).
        InputError
            An input file (``input``, a ``#@ File``) does not exist or is no
            regular file (nothing ran).
        OutputDirError
            The output folder cannot be created or written, or holds a record
            fijirun did not write (nothing ran then); or the outputs cannot be
            published: :class:`OutputExistsError` when they would replace files
            fijirun did not write (they are kept in ``fijirun-unsaved-*``).
        EngineError
            The backend cannot start (:class:`EngineShutDown`: it was shut
            down while the script ran, as its process ended).
        RunError
            The script failed, with ``raise_on_error`` (a subclass says how:
            :class:`MacroError`, :class:`ScriptTimeout`, ...).
        CheckError
            With ``check``: the outputs cannot be checked.
        """
        path = Path(script)
        try:
            text, _encoding = read_script_text(path)
        except OSError as exc:
            raise FileNotFoundError(f"cannot read script {script}: {exc.strerror or exc}") from None
        return self._run(text, detect_language(path, language), params, path=str(path), input=input,
                         output_dir=output_dir, arg=arg, timeout=timeout, check=check,
                         raise_on_error=raise_on_error)

    def run_code(self, code, language, params=None, *, path="<code>", **kwargs):
        """Run script text; see :meth:`run`.

        Parameters
        ----------
        code : str
            The script's text.
        language : {"ijm", "jython"}
            The script's language.
        params : dict, optional
            As for :meth:`run`.
        path : str
            Names the script in errors and ``run.json`` (the file the text came from).
        **kwargs
            :meth:`run`'s keywords: ``input``, ``output_dir``, ``arg``,
            ``timeout``, ``check``, ``raise_on_error``.

        Returns
        -------
        RunResult
            What the run did and saved.

        Raises
        ------
        ParameterError
            ``language`` is not ``"ijm"`` or ``"jython"``; otherwise as :meth:`run`.
        """
        return self._run(code, detect_language(None, language), params, path=str(path), **kwargs)

    def _run(self, text, language, params, *, path, input=None, output_dir=None, arg="",
             timeout=None, check=False, raise_on_error=True):
        # One run at a time in a process (its one ImageJ runs one script at a time
        # anyway), from the output folder's snapshot to the publishing of the outputs:
        # a run waiting its turn with an older snapshot took the files the run before
        # it published into the same folder for someone else's.
        with _ONE_RUN_AT_A_TIME:
            result, output_dir = self._run_serially(text, language, params, path=path, input=input,
                                                    output_dir=output_dir, arg=arg, timeout=timeout)
        if check and result.ok and output_dir is not None:
            from .check import check as check_outputs

            result.check = check_outputs(output_dir)
        if result.error is not None and raise_on_error:
            raise result.error
        return result

    def _run_serially(self, text, language, params, *, path, input, output_dir, arg, timeout):
        """A run, its record and its published outputs; (RunResult, the output folder or None)."""
        started = _dt.datetime.now(_dt.timezone.utc)
        t0 = time.perf_counter()
        params = dict(_params_dict(params, path))
        timeout = self.timeout if timeout is None else _seconds(timeout, "timeout")
        if input is not None:
            if not isinstance(input, (str, os.PathLike)):
                raise ParameterError(f"input= must be a path, not {input!r}", name="input", path=path)
            name = input_name(text, language, path)
            if name is None:  # as an unknown --set name: a value that would silently do nothing
                raise ParameterError(f"input= / --input was given, but the script has no input parameter "
                                     f"(none of {', '.join(INPUT_NAMES)})", name="input", path=path)
            problem = file_problem(input)
            if problem is not None:
                raise InputError(f"{path}: input '{name}': {problem}")
            # absolute, but the name given: a link's target has another name (getTitle, file names)
            given = os.path.abspath(os.fspath(input))
            if name in params and os.path.abspath(os.fspath(params[name])) != given:
                raise ParameterError(f"'{name}' is given twice: {params[name]!r} as a parameter and "
                                     f"{os.fspath(input)!r} as the input; give one", name=name, path=path)
            params[name] = given
        out_name = output_dir_name(text, language, path)
        if out_name and out_name in params:
            if not isinstance(params[out_name], (str, os.PathLike)):  # Path(5): a raw TypeError
                raise ParameterError(f"'{out_name}' is the output folder: give a path, not "
                                     f"{params[out_name]!r}", name=out_name, path=path)
            if output_dir is None:
                output_dir = params[out_name]
            elif os.path.abspath(os.fspath(params[out_name])) != os.path.abspath(os.fspath(output_dir)):
                raise ParameterError(f"'{out_name}' is given twice: {params[out_name]!r} as a parameter and "
                                     f"{os.fspath(output_dir)!r} as the output folder; give one",
                                     name=out_name, path=path)
        staging = state = analysis_dir = state_dir = None
        if output_dir is not None:
            output_dir = self._prepare_output_dir(output_dir)
            state = folder_state(output_dir)
            if not self.overwrite:
                check_records(state)  # a record file that is not fijirun's: fail before anything runs
            if out_name:
                staging = output_dir / f".fijirun-staging-{uuid.uuid4().hex[:12]}"
                staging.mkdir()
                params[out_name] = str(staging) + os.sep
                # the images each particle analysis analysed (fijirun.analyses), published with the outputs
                analysis_dir = Path(f"{staging}-analyses")
                analysis_dir.mkdir()
            if self.capture_state:  # what the run leaves in ImageJ, published as run.state/
                state_dir = output_dir / f".fijirun-state-{uuid.uuid4().hex[:12]}"
                state_dir.mkdir()
        try:
            try:
                prepared = prepare_script(text, language, params, path=path, data_dir=self.data_dir, arg=arg)
                self.start()
                t_run = time.perf_counter()
                outcome = self.backend.run(prepared, timeout=timeout,
                                           analysis_dir=analysis_dir, state_dir=state_dir)
                t_after = time.perf_counter()
                result = self._collect(prepared, outcome, output_dir, staging, out_name, state_dir)
            except BaseException:
                for folder in (staging, analysis_dir, state_dir):
                    if folder is not None:
                        shutil.rmtree(folder, ignore_errors=True)
                raise
            result.seconds = time.perf_counter() - t0
            result.timings = {"prepare": t_run - t0, "imagej": outcome.seconds,
                              "collect": time.perf_counter() - t_after, "total": result.seconds}
            result.record.update(started=started.isoformat(), seconds=result.seconds, timings=result.timings)
            if state is not None:
                result.record["sequence"] = state.next_sequence
                t_pub = time.perf_counter()
                if result.ok:
                    self._publish(staging, output_dir, result, state)
                else:
                    self._write_failure(output_dir, result.record, result.log, state)
                result.timings["publish"] = time.perf_counter() - t_pub
        finally:
            for folder in (staging, analysis_dir, state_dir):
                if folder is not None and folder.exists():
                    shutil.rmtree(folder, ignore_errors=True)
        return result, output_dir

    def _prepare_output_dir(self, output_dir):
        output_dir = Path(output_dir).resolve()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputDirError(f"cannot create output folder {output_dir}: {exc.strerror}") from None
        if not output_dir.is_dir():
            raise OutputDirError(f"output folder {output_dir} is not a folder")
        if not os.access(output_dir, os.W_OK | os.X_OK):
            raise OutputDirError(f"output folder {output_dir} is not writable")
        return output_dir

    def _collect(self, prepared, outcome, output_dir, staging, out_name, state_dir=None):
        """Parse what the run did and build its record; outputs stay staged until :meth:`_publish`."""
        error = outcome.error
        staged = []
        if staging is not None:
            written = sorted(p for p in staging.rglob("*") if p.is_file())
            if error is not None:
                error.partial_outputs = [str(p.relative_to(staging)) for p in written]
                shutil.rmtree(staging, ignore_errors=True)
            else:
                staged = written
        outputs = [output_dir / p.relative_to(staging) for p in staged]
        values = dict(prepared.values)
        if out_name and staging is not None:
            values[out_name] = str(output_dir) + os.sep
        result = RunResult(
            status="failed" if error else "ok", script=prepared.path, language=prepared.language,
            backend=self.backend_name, imagej_version=self.backend.imagej_version,
            output_dir=output_dir, outputs=outputs, log=outcome.log,
            commands=self._unstage(outcome.commands, staging, output_dir),
            messages=outcome.messages, warnings=list(outcome.warnings), parameters=values, error=error,
            saved_elsewhere=_saved_elsewhere(outcome.writes, output_dir, staging, state_dir),
        )
        by_kind = {"table": {}, "rois": {}, "image": {}}
        for p in outputs:
            kind = output_kind(p)
            if kind in by_kind:
                by_kind[kind][str(p.relative_to(output_dir))] = p
        result.tables = _LazyOutputs(by_kind["table"], read_table)
        result.rois = _LazyOutputs(by_kind["rois"], read_rois)
        result.images = _LazyOutputs(by_kind["image"], read_image)
        result.record = self._record(prepared, result, staging, staged)
        result.record["analyses"], result.snapshot_moves = self._analyses(outcome, staging, staged,
                                                                          keep=error is None)
        if outcome.state is not None and error is None:
            result.record["state"], moves = self._final_state(outcome.state, state_dir)
            result.snapshot_moves += moves
        return result

    @staticmethod
    def _final_state(state, folder):
        """The run's final state for run.json (files as ``run.state/...`` with hashes), and its moves."""
        state = dict(state)
        moves = []

        def publish(entry):
            if entry and entry.get("file"):
                path = Path(folder) / entry["file"]
                rel = f"{STATE_DIR}/{entry['file']}"
                entry.update(file=rel, sha256=sha256(path), bytes=path.stat().st_size)
                moves.append((path, rel))

        for entry in state["images"] + state["tables"] + [state["rois"], state["log"]]:
            publish(entry)
        return state, moves

    @staticmethod
    def _analyses(outcome, staging, staged, keep):
        """The run's particle analyses for run.json, and the snapshot files to publish (source, rel)."""
        analyses = [analysis_record(raw) for raw in outcome.analyses]
        moves = []
        for a in analyses:
            for key, path in a.pop("_files").items():
                if not path or not Path(path).is_file():
                    a[key] = None
                    continue
                path = Path(path)
                size = path.stat().st_size
                entry = {"path": f"{SNAPSHOT_DIR}/{path.name}", "sha256": sha256(path), "bytes": size}
                if not keep or size > SNAPSHOT_LIMIT:
                    entry["path"] = None
                    entry["note"] = ("not kept: the run failed" if not keep else
                                     f"not kept: larger than {SNAPSHOT_LIMIT} bytes; hashed only")
                else:
                    moves.append((path, entry["path"]))
                a[key] = entry
        names = {}
        if staging is not None:
            for p in staged:
                names[str(p)] = str(p.relative_to(staging))
                names[os.path.realpath(p)] = str(p.relative_to(staging))
        attribute_outputs(analyses, outcome.writes,
                          lambda w: names.get(w) or names.get(os.path.realpath(w)))
        return analyses, moves

    # ------------------------------------------------------------ publishing (the ownership rule)
    def _publish(self, staging, output_dir, result, state):
        """Move a good run's outputs, its Log and its record into place, or nothing at all.

        Files in the way must be fijirun's (:mod:`fijirun.ownership`); the record
        and Log are written to temporary files before anything moves, then all
        is renamed in with ``run.json`` last, and rolled back if a rename fails:
        the folder never holds outputs without the record that claims them.
        """
        record = result.record
        rels = [o["path"] for o in record["outputs"]]
        snapshots = [rel for _, rel in result.snapshot_moves]
        reserved = [r for r in rels if r in RECORD_FILES or r.split("/")[0] in (SNAPSHOT_DIR, STATE_DIR)]
        conflicts = [] if self.overwrite else foreign_files(
            state, [r for r in rels if r not in reserved] + snapshots)
        if reserved or conflicts:
            keep = self._keep_aside(staging, output_dir)
            why = []
            if conflicts:
                why.append(f"the run would overwrite {', '.join(conflicts)} in {output_dir}, not written "
                           "by fijirun or changed since fijirun wrote it")
            if reserved:
                why.append(f"the script saved {', '.join(reserved)}, a name fijirun keeps for its run "
                           f"records ({', '.join(RECORD_FILES)}, {SNAPSHOT_DIR}/, {STATE_DIR}/)")
            exc = OutputExistsError("; ".join(why) + (f"; its outputs are kept in {keep}" if keep else "")
                                    + (" (use overwrite=True / --overwrite to replace)" if conflicts else ""))
            self._publish_failed(exc, result, output_dir, state, keep)
            raise exc
        new = set(rels) | set(snapshots)
        # run.state/ describes the last run only: an earlier run's state files go
        stale_state = {rel: digest for rel, digest in state.outputs.items()
                       if rel.split("/")[0] == STATE_DIR and rel not in new}
        record["earlier_outputs"] = [
            {"path": rel, "sha256": digest} for rel, digest in sorted(state.outputs.items())
            if rel not in new and rel not in RECORD_FILES and rel not in stale_state
            and (output_dir / rel).is_file()
            and not (output_dir / rel).is_symlink() and sha256(output_dir / rel) == digest]
        try:
            files = self._write_record_files(output_dir, record, result.log, RUN_RECORD, RUN_LOG)
        except OSError as exc:
            keep = self._keep_aside(staging, output_dir)
            err = OutputDirError(f"cannot write the run record in {output_dir}: "
                                 f"{exc.strerror or exc}; nothing was published"
                                 + (f", the run's outputs are kept in {keep}" if keep else ""))
            self._publish_failed(err, result, output_dir, state, keep)
            raise err from None
        moves = ([(staging / rel, output_dir / rel) for rel in rels]
                 + [(src, output_dir / rel) for src, rel in result.snapshot_moves] + files)
        try:
            _commit(output_dir, moves)
        except OSError as exc:
            keep = self._keep_aside(staging, output_dir)
            err = OutputDirError(f"cannot move the run's outputs into {output_dir}: {exc}; nothing was "
                                 "published" + (f", the run's outputs are kept in {keep}" if keep else ""))
            self._publish_failed(err, result, output_dir, state, keep)
            raise err from None
        for rel, digest in stale_state.items():
            path = output_dir / rel
            if path.is_file() and not path.is_symlink() and sha256(path) == digest:
                path.unlink(missing_ok=True)

    @staticmethod
    def _keep_aside(staging, output_dir):
        """Rename the staging folder to ``fijirun-unsaved-*`` (None when it holds nothing)."""
        if staging is None or not staging.is_dir():
            return None
        if not any(staging.iterdir()):
            staging.rmdir()
            return None
        keep = output_dir / f"fijirun-unsaved-{_dt.datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        staging.rename(keep)
        return keep

    def _publish_failed(self, exc, result, output_dir, state, keep):
        """Record a run that ran well but could not be published, as a failed run."""
        result.status = "failed"
        record = dict(result.record, status="failed", outputs=[],
                      error={"type": type(exc).__name__, "message": str(exc), "line": None, "source": None},
                      kept_aside={"folder": str(keep), "outputs": result.record["outputs"]} if keep else None)
        record.pop("earlier_outputs", None)
        self._write_failure(output_dir, record, result.log, state)

    def _write_failure(self, output_dir, record, log, state):
        """Write a failed run's record beside the good run's: ``run.failed.json`` and ``run.failed.log``.

        Best effort: when they cannot be written (a file fijirun does not own,
        a full disk) the run's own error is what the caller raises; a warning says why.
        """
        record = dict(record, status="failed")
        if not self.overwrite and foreign_files(state, [FAILED_RECORD, FAILED_LOG]):
            warnings.warn(f"the failed run is not recorded: {FAILED_RECORD} or {FAILED_LOG} in {output_dir} "
                          "is not fijirun's", RuntimeWarning, stacklevel=3)
            return
        try:
            _commit(output_dir, self._write_record_files(output_dir, record, log, FAILED_RECORD, FAILED_LOG))
        except OSError as exc:
            warnings.warn(f"the failed run is not recorded in {output_dir}: {exc}", RuntimeWarning,
                          stacklevel=3)

    @staticmethod
    def _write_record_files(output_dir, record, log, record_name, log_name):
        """Write the Log and the record to temporary files; return [(temporary, final)] to rename."""
        log_tmp, info = write_log_temp(output_dir, log_name, log or "")
        try:
            record["log_file"] = {"path": log_name, **info}
            record["log"], record["log_truncated"] = cap_log(log or "", log_name)
            record.pop("digest", None)
            record["digest"] = record_digest(record)
            rec_tmp, _ = write_temp(output_dir, record_name, json_writer(record))
        except BaseException:
            log_tmp.unlink(missing_ok=True)
            raise
        return [(log_tmp, output_dir / log_name), (rec_tmp, output_dir / record_name)]

    @staticmethod
    def _unstage(commands, staging, output_dir):
        if staging is None:
            return commands
        s = str(staging) + os.sep
        return [{k: v.replace(s, str(output_dir) + os.sep).replace(str(staging), str(output_dir))
                 for k, v in c.items()} for c in commands]

    def _record(self, prepared, result, staging, staged):
        inputs = []
        for name in sorted(prepared.file_params):
            p = Path(str(prepared.values.get(name, "")))
            if p.is_file():
                inputs.append({"parameter": name, "path": str(p.resolve()), "sha256": sha256(p)})
        for url, local in prepared.urls.items():
            if local:
                inputs.append({"url": url, "path": local, "sha256": sha256(local)})
        script_path = Path(prepared.path)
        return {
            "fijirun": __version__,
            "status": result.status,
            "script": {
                "path": str(script_path.resolve()) if prepared.path != "<code>" else "<code>",
                "language": prepared.language,
                "sha256": __import__("hashlib").sha256(prepared.original.encode()).hexdigest(),
            },
            "backend": self.backend_name,
            "versions": self.backend.versions(),
            "parameters": result.parameters,
            "arg": prepared.arg,
            "commands": result.commands,
            "inputs": inputs,
            "outputs": [{"path": str(p.relative_to(staging)), "sha256": sha256(p),
                         "bytes": p.stat().st_size} for p in staged],
            "messages": result.messages,
            "warnings": result.warnings,
            "saved_elsewhere": result.saved_elsewhere,
            "error": dict(result.error.to_dict(), partial_outputs=result.error.partial_outputs)
                     if result.error else None,
            # "log" (capped) and "log_file" (the whole Log) are added when the record is written
        }


def _commit(output_dir, moves):
    """Rename each (source, destination) in order; on an error put everything back and raise.

    A file replaced is first moved into a private folder, so that a failed
    rename half-way restores the folder exactly as it was.
    """
    backup = output_dir / f".fijirun-replaced-{uuid.uuid4().hex[:12]}"
    done = []
    try:
        for src, dest in moves:
            dest.parent.mkdir(parents=True, exist_ok=True)
            old = None
            if dest.exists() or dest.is_symlink():
                old = backup / dest.relative_to(output_dir)
                old.parent.mkdir(parents=True, exist_ok=True)
                os.replace(dest, old)
            done.append((src, dest, old))
            os.replace(src, dest)
    except BaseException:
        restored = True
        for src, dest, old in reversed(done):
            try:
                if not src.exists() and (dest.exists() or dest.is_symlink()):
                    os.replace(dest, src)
                if old is not None:
                    os.replace(old, dest)
            except OSError:
                restored = False
        for src, _dest in moves:  # temporary record files
            if src.name.endswith(".tmp") and src.parent == output_dir:
                src.unlink(missing_ok=True)
        if restored:
            shutil.rmtree(backup, ignore_errors=True)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _saved_elsewhere(writes, output_dir, *private):
    """The files a run's threads wrote outside its output folder (absolute, sorted); [] without one.

    A relative path is the JVM's working folder's, as ImageJ resolves it. A course's
    script that saves beside itself, or where a dialog's answer pointed, is said,
    not hidden: its file is not among the outputs.
    """
    if output_dir is None:
        return []
    cwd = ""
    if not all(os.path.isabs(written) for written in writes):
        from jpype import JClass

        cwd = str(JClass("java.lang.System").getProperty("user.dir"))
    roots = [os.path.realpath(p) for p in (output_dir, *private) if p is not None]
    elsewhere = set()
    for written in writes:
        path = os.path.realpath(os.path.join(cwd, written))
        if not any(path == r or path.startswith(r + os.sep) for r in roots) and os.path.isfile(path):
            elsewhere.add(path)  # a file that is still there: not a temporary file or a folder
    return sorted(elsewhere)
