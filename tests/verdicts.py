"""The differential verdict corpus: expected classes from fresh processes, and the runs to compare.

An activity's *expected* class is what ``fijirun regress`` says when the activity is
alone in a course, run by a fresh process (:func:`fresh_records`). Nothing is
hard-coded and nothing is cached between calls: each call runs the engine again.

The same activities are then run in other ways, which must agree with it:

* :func:`regress_records`: the whole corpus through ``fijirun regress``, in a
  shuffled order (:func:`shuffled_course`);
* :func:`session_records`: the whole corpus in sequence in one
  :class:`fijirun.Session` (in a child process, since a script may end the
  JVM with ``System.exit``), each activity classified by
  :func:`fijirun.regress.run.run_activity` with that session, i.e. the same
  dialog answers and the same :func:`~fijirun.regress.run._classify_error`
  as regress;
* :func:`batch_records`: the ``b*`` activities (a top-level ``input = "<URL>"``)
  through ``fijirun batch`` on local copies of their image.

:func:`burners` runs CPU-burning processes beside them (AWT event-thread timing).

Run as a script (``python tests/verdicts.py session ...``) it is the child process of
:func:`session_records` (one JSON line per activity on stdout).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "verdict_corpus"
DATA = Path(os.environ.get("FIJIRUN_DATA") or ROOT / "src" / "fijirun" / "data" / "images").resolve()
FIJI_DEFAULT = ROOT.parent / "shared" / "fiji" / "Fiji.app"
TIMEOUT = 5.0
BATCH_INPUT = "xy_8bit_binary_randomshapes.tif"
#: Failure classes (anything but passed).
FAILURES = ("failed", "needs-plugin", "needs-data", "timeout")

_PREFIX = re.compile(r"^(\d{3})_")
_INPUT_URL = re.compile(r'^input\s*=\s*"(https?://[^"]+)"', re.MULTILINE)


# ------------------------------------------------------------------ set-up
def fiji_dir():
    """The Fiji.app for the fiji backend (FIJI_HOME, else ../shared/fiji/Fiji.app), or None."""
    env = os.environ.get("FIJI_HOME")
    if env:
        return Path(env)
    return FIJI_DEFAULT if FIJI_DEFAULT.is_dir() else None


def backend_args(backend):
    """Extra CLI arguments of ``fijirun regress`` for a backend."""
    if backend == "fiji":
        return ["--backend", "fiji", "--fiji", str(fiji_dir())]
    return ["--backend", backend]


def session_options(backend, timeout=TIMEOUT):
    """Keyword arguments of :class:`fijirun.Session` for a backend (as regress builds them)."""
    options = {"backend": backend, "data_dir": str(DATA), "memory": "2g", "timeout": float(timeout)}
    if backend == "fiji":
        options["fiji_dir"] = str(fiji_dir())
    return options


def child_env():
    """The environment of child processes: this worktree's sources first."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([src] + [p for p in parts if p != src])
    env.setdefault("FIJIRUN_DATA", str(DATA))
    return env


def activities(corpus=CORPUS):
    """The corpus's activities (``fijirun.regress.discover``), by relative path."""
    from fijirun.regress import discover

    return {a.path: a for a in discover(corpus)}


def batch_activities(corpus=CORPUS):
    """Activities that take an input image: a top-level ``input = "<URL>"`` (``fijirun batch`` fills it)."""
    return sorted(p for p, a in activities(corpus).items() if _INPUT_URL.search(a.text))


@contextlib.contextmanager
def burners(n=2):
    """``n`` CPU-burning processes (``while True: pass``) for the duration; always killed."""
    procs = []
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            with contextlib.suppress(OSError):
                p.kill()
        for p in procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=10)


# ------------------------------------------------------------------ records
def normalize_message(message, *roots):
    """A message without what differs between runs: temporary paths, staging names, addresses."""
    if message is None:
        return None
    text = str(message)
    for root in roots:
        if root:
            text = text.replace(str(root), "<root>")
    text = re.sub(r"\.fijirun-staging-[0-9a-f]+", ".fijirun-staging-X", text)
    text = re.sub(r"(?:/tmp|/var/tmp)/[^\s'\"]*", "<tmp>", text)
    text = re.sub(r"@[0-9a-f]{5,}", "@X", text)
    text = re.sub(r"\b\d{3}_([A-Za-z]\w*\.(?:ijm|py))\b", r"\1", text)  # shuffled names
    text = re.sub(r"tcp://[\d.:]+", "tcp://X", text)
    text = re.sub(r"no answer [\d.]+ s", "no answer N s", text)
    # a dead worker (regress) and a dead session process (session_records) are the same ending
    text = re.sub(r"^the (?:worker|session process) died while running it.*", "the process died while running it",
                  text, flags=re.DOTALL)
    return text


def verdict(record, *roots):
    """The comparable part of a regress record: class, normalised message, line."""
    return {"class": record["class"], "message": normalize_message(record.get("message"), *roots),
            "line": record.get("line")}


def diff(expected, got, *, what="class", context=""):
    """Lines describing each activity whose ``what`` ("class" or "all") differs; [] when all agree."""
    lines = []
    for path in sorted(expected):
        e, g = expected[path], got.get(path)
        if g is None:
            lines.append(f"  {path}: fresh {e['class']!r}, missing from the run")
            continue
        keys = ("class",) if what == "class" else ("class", "message", "line")
        if any(e[k] != g[k] for k in keys):
            lines.append(f"  {path}: fresh {e['class']!r} (line {e['line']}: {_short(e['message'])}) "
                         f"but got {g['class']!r} (line {g['line']}: {_short(g['message'])})")
            lines.extend(f"    {which} process{label}: {r[key]}" for which, r in (("fresh", e), ("run's", g))
                         for key, label in (("detail", ""), ("first_attempt", "'s first attempt")) if r.get(key))
    for path in sorted(set(got) - set(expected)):
        lines.append(f"  {path}: not in the fresh records (got {got[path]['class']!r})")
    if lines and context:
        lines.insert(0, context)
    return lines


def _short(message, n=160):
    if message is None:
        return "-"
    message = " ".join(str(message).split())
    return message if len(message) <= n else message[:n] + "..."


# ------------------------------------------------------------------ regress
def run_regress(course, out, backend, *, workers=1, timeout=TIMEOUT, cli_timeout=900):
    """``fijirun regress COURSE -o OUT --json`` in a fresh process; the report dict."""
    cmd = [sys.executable, "-m", "fijirun", "regress", str(course), "--output", str(out),
           "--data-dir", str(DATA), "--timeout", str(timeout), "--workers", str(workers), "--json",
           *backend_args(backend)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cli_timeout, env=child_env(),
                          stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"regress printed no report (exit {proc.returncode}): "
                           f"stdout {proc.stdout[-2000:]!r} stderr {proc.stderr[-3000:]!r}")
    return json.loads(lines[-1])


# One activity alone in a fresh Python process, run as a regress worker runs it (warm
# engine, then fijirun.regress.run_activity) but without a Dask cluster around it:
# seconds less per activity. A process that dies is classified as a dead worker is.
_ALONE = """
import json, sys
from fijirun.regress.run import activity_tasks, run_alone
course, out, backend, timeout, fiji = sys.argv[1:6]
tasks = activity_tasks(course, out, data_dir={data!r}, backend=backend, timeout=float(timeout),
                       fiji_dir=fiji or None)
assert len(tasks) == 1, tasks
print("VERDICT " + json.dumps(run_alone(tasks[0])), flush=True)
"""


def _fresh_one(path, backend, timeout, corpus):
    """One activity alone in a fresh process; a process that dies gets one more attempt, as
    regress gives an activity whose worker died one more attempt elsewhere (a second death
    is its verdict)."""
    first = _fresh_attempt(path, backend, timeout, corpus)
    if "detail" not in first:
        return path, first
    second = _fresh_attempt(path, backend, timeout, corpus)
    second["first_attempt"] = first["detail"]  # not compared; shown when a test then fails
    return path, second


def _fresh_attempt(path, backend, timeout, corpus):
    src = Path(corpus) / path
    with tempfile.TemporaryDirectory(prefix="verdict-fresh-") as tmp:
        course = Path(tmp) / "course"
        (course / Path(path).parent).mkdir(parents=True)
        shutil.copy2(src, course / path)
        fiji = str(fiji_dir()) if backend == "fiji" else ""
        proc = subprocess.run([sys.executable, "-c", _ALONE.format(data=str(DATA)), str(course),
                               str(Path(tmp) / "out"), backend, str(timeout), fiji],
                              capture_output=True, text=True, timeout=600, env=child_env(),
                              stdin=subprocess.DEVNULL)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("VERDICT ")]
        if lines:
            record = json.loads(lines[-1][len("VERDICT "):])
        else:  # the process died with its activity (System.exit on Java >= 24, a native crash)
            record = {"class": "failed", "message": "the process died while running it", "line": None}
        if record.get("path", path) != path:
            raise RuntimeError(f"{path} alone gave {record!r}")
        result = verdict(record, tmp)
        if not lines:  # why, for the report of a test that then differs (not compared)
            result["detail"] = f"exit {proc.returncode}; stderr: {' '.join(proc.stderr[-1500:].split())}"
        return result


def fresh_records(backend, *, paths=None, timeout=TIMEOUT, parallel=2, corpus=CORPUS):
    """Each activity's verdict when it runs alone in a fresh process (as a regress worker runs it).

    Returns
    -------
    dict
        ``{path: {"class", "message", "line"}}``.
    """
    paths = sorted(paths or activities(corpus))
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        return dict(pool.map(lambda p: _fresh_one(p, backend, timeout, corpus), paths))


def shuffled_course(dest, paths, rng, corpus=CORPUS):
    """Copy ``paths`` into ``dest`` as ``NNN_<name>`` in a random order (regress sorts by path).

    Returns
    -------
    dict
        ``{copied relative path: original path}``.
    """
    order = list(paths)
    rng.shuffle(order)
    names = {}
    for i, path in enumerate(order):
        rel = Path(path)
        new = rel.parent / f"{i:03d}_{rel.name}"
        (dest / new.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(corpus) / path, dest / new)
        names[new.as_posix()] = path
    return names


def regress_records(backend, tmp, rng, *, workers=2, timeout=TIMEOUT, paths=None, corpus=CORPUS):
    """The whole corpus through one ``fijirun regress`` in a shuffled order.

    Returns
    -------
    (dict, list, dict)
        ``{original path: verdict}``, the order run, the report.
    """
    tmp = Path(tmp)
    course = tmp / "course"
    names = shuffled_course(course, sorted(paths or activities(corpus)), rng, corpus)
    report = run_regress(course, tmp / "out", backend, workers=workers, timeout=timeout)
    got = {names[r["path"]]: verdict(r, tmp) for r in report["activities"]}
    order = [names[k] for k in sorted(names)]
    return got, order, report


# ------------------------------------------------------------------ one Session
def _session_child(args):
    """Child process: run activities in sequence in one session, one JSON line each."""
    from fijirun.regress.run import run_activity
    from fijirun.session import Session

    options = json.loads(args.options)
    corpus = Path(args.corpus)
    root = Path(args.out)
    found = activities(corpus)
    session = Session(**options).start()
    print(json.dumps({"event": "ready", "pid": os.getpid()}), flush=True)
    for i, path in enumerate(args.paths):
        a = found[path]
        print(json.dumps({"event": "start", "index": i, "path": path}), flush=True)
        task = {"path": path, "file": str(a.file), "language": a.language, "text": a.text,
                "outdir": str(root / f"{i:04d}"), "root": str(root), "timeout": float(options["timeout"]),
                "options": options, "session": session}
        record = run_activity(task)
        record.pop("replace_worker", None)
        print(json.dumps({"event": "done", "index": i, "record": record}), flush=True)
        shutil.rmtree(task["outdir"], ignore_errors=True)
    print(json.dumps({"event": "end"}), flush=True)
    from fijirun.backends.process import exit_now

    exit_now(0)  # no JVM shutdown wait; its ImageJ home removed


def session_records(backend, order, tmp, *, timeout=TIMEOUT, corpus=CORPUS, on_record=None,
                    child_timeout=None):
    """Run ``order`` (activity paths, repeats allowed) in sequence in one Session (a child process).

    When the child process dies (``System.exit``, a crash), the activity it was running
    is ``failed`` with "the session process died", as regress reports a dead worker, and
    the rest runs in a new child (a new session).

    Returns
    -------
    (list, int)
        ``[(path, verdict)]`` in run order, and how many sessions were started.
    """
    tmp = Path(tmp)
    results = []
    remaining = list(order)
    sessions = 0
    options = session_options(backend, timeout)
    while remaining:
        sessions += 1
        out = tmp / f"session{sessions}"
        out.mkdir(parents=True, exist_ok=True)
        argv_file = tmp / f"session{sessions}.paths.json"
        argv_file.write_text(json.dumps(remaining))
        cmd = [sys.executable, str(Path(__file__).resolve()), "session", "--corpus", str(corpus),
               "--out", str(out), "--options", json.dumps(options), "--paths-file", str(argv_file)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=child_env(), stdin=subprocess.DEVNULL)
        stderr_chunks = []
        reader = threading.Thread(target=lambda chunks=stderr_chunks, p=proc: chunks.append(p.stderr.read()),
                                  daemon=True)
        reader.start()
        # a child that stops answering (a wedged engine) is killed: its activity then "died"
        watchdog = threading.Timer(child_timeout or (120 + len(remaining) * (timeout + 30)), proc.kill)
        watchdog.start()
        current, done, ended = None, 0, False
        try:
            for line in proc.stdout:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                msg = json.loads(line)
                if msg["event"] == "start":
                    current = msg["path"]
                elif msg["event"] == "done":
                    rec = verdict(msg["record"], out, tmp)
                    results.append((remaining[msg["index"]], rec))
                    if on_record:
                        on_record(remaining[msg["index"]], rec)
                    done = msg["index"] + 1
                    current = None
                elif msg["event"] == "end":
                    ended = True
        finally:
            watchdog.cancel()
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(timeout=60)
            reader.join(timeout=10)
            shutil.rmtree(out, ignore_errors=True)
        if ended:
            break
        if current is None:  # died between activities, or before the first one
            if done == 0:
                raise RuntimeError(f"the session process died before running anything (exit "
                                   f"{proc.returncode}): {''.join(stderr_chunks)[-3000:]}")
            remaining = remaining[done:]
            continue
        rec = {"class": "failed", "line": None,
               "message": normalize_message(f"the session process died while running it (exit {proc.returncode})")}
        results.append((current, rec))
        if on_record:
            on_record(current, rec)
        remaining = remaining[done + 1:]
    return results, sessions


# ------------------------------------------------------------------ batch
def _error_exception(error):
    """The fijirun exception a batch manifest's ``error`` dict stands for (for _classify_error)."""
    from fijirun import errors

    kind = getattr(errors, error.get("type") or "", None)
    message = error.get("message") or ""
    line = error.get("line")
    if kind is errors.UnrecognizedCommandError:
        m = re.search(r'Unrecognized command: "([^"]*)"', message)
        return errors.UnrecognizedCommandError(m.group(1) if m else message, line=line)
    if kind is errors.NeedsDataError:
        m = re.match(r"needs data (\S+)", message)
        exc = errors.NeedsDataError(m.group(1) if m else message, line=line)
        exc.message = message
        return exc
    if isinstance(kind, type) and issubclass(kind, errors.RunError):
        return kind(message, line=line)
    if isinstance(kind, type) and issubclass(kind, errors.FijirunError):
        exc = kind(message)
        exc.line = line
        return exc
    return errors.RunError(f"{error.get('type')}: {message}", line=line)


def batch_verdict(entry):
    """A batch manifest entry (``status``, ``error``, ``check``) as a regress verdict."""
    from fijirun.outputs import output_kind
    from fijirun.regress.run import _classify_error

    if entry["status"] == "ok":
        checked = any(output_kind(Path(o["path"])) in ("table", "rois", "image") for o in entry.get("outputs") or [])
        if checked and entry.get("check") == "fail":  # regress checks only outputs of known kinds
            return {"class": "failed", "message": "check failed", "line": None}
        return {"class": "passed", "message": None, "line": None}
    if entry["status"] == "timeout":
        return {"class": "timeout", "message": (entry.get("error") or {}).get("message"), "line": None}
    cls, message, _ = _classify_error(_error_exception(entry.get("error") or {}))
    return {"class": cls, "message": normalize_message(message), "line": (entry.get("error") or {}).get("line")}


def batch_records(path, tmp, *, images=3, workers=1, timeout=TIMEOUT, corpus=CORPUS):
    """``fijirun batch ACTIVITY img_0.tif ... --check`` on copies of the course image.

    Returns
    -------
    (list, dict)
        One verdict per image, and the batch's summary.
    """
    tmp = Path(tmp)
    inputs = tmp / "inputs"
    inputs.mkdir(parents=True)
    for i in range(images):
        shutil.copy2(DATA / BATCH_INPUT, inputs / f"img_{i}.tif")
    out = tmp / "batch"
    cmd = [sys.executable, "-m", "fijirun", "batch", str(Path(corpus) / path), str(inputs),
           "--output", str(out), "--workers", str(workers), "--timeout", str(timeout),
           "--data-dir", str(DATA), "--check", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=child_env(),
                          stdin=subprocess.DEVNULL)
    lines = [line for line in proc.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"batch printed no summary (exit {proc.returncode}): {proc.stderr[-3000:]}")
    summary = json.loads(lines[-1])
    manifest = json.loads((out / "manifest.json").read_text())
    entries = manifest["images"]
    entries = list(entries.values()) if isinstance(entries, dict) else entries
    return [batch_verdict(e) for e in entries], summary


# ------------------------------------------------------------------ child entry point
def _main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("session", help="child: run activities in one session, JSON lines")
    s.add_argument("--corpus", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--options", required=True)
    s.add_argument("--paths-file", required=True)
    f = sub.add_parser("fresh", help="print each activity's fresh-process verdict as JSON")
    f.add_argument("--backend", default="imagej1")
    f.add_argument("--timeout", type=float, default=TIMEOUT)
    f.add_argument("paths", nargs="*")
    args = p.parse_args(argv)
    if args.cmd == "session":
        args.paths = json.loads(Path(args.paths_file).read_text())
        _session_child(args)
    else:
        print(json.dumps(fresh_records(args.backend, paths=args.paths or None, timeout=args.timeout),
                         indent=1, sort_keys=True))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    _main()
