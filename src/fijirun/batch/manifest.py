"""The batch manifest: one JSON file in the output folder, the state of every image.

``DIR/manifest.json`` records the script (path and SHA-256), the parameters
and, per image, its input, status (``pending``, ``ok``, ``failed``,
``timeout``), error, seconds, attempts, worker, output files with SHA-256 and
the check verdict. Only the batch's client writes it, always atomically
(a temporary file renamed over the old one): a reader, a crash or Ctrl-C
sees the previous state or the new one, never half of one.

``--resume`` trusts it: an image whose entry is ``ok`` and whose output files
are all still there is skipped; every other image runs (again).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from pathlib import Path

from .. import __version__
from ..files import file_problem
from ..provenance import write_json_atomic
from .combine import refuse_foreign_combined
from .inputs import BatchError

__all__ = ["Manifest", "MANIFEST", "TMP_DIR", "STATUSES", "DONE", "script_sha256", "tmp_root",
           "remove_tmp"]

MANIFEST = "manifest.json"
#: Temporary folders of images in progress, inside the output folder (same file system).
TMP_DIR = ".fijirun-tmp"
STATUSES = ("pending", "ok", "failed", "timeout")
DONE = ("ok", "failed", "timeout")


def _now():
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def script_sha256(script):
    """SHA-256 of a script file's bytes."""
    return hashlib.sha256(Path(script).read_bytes()).hexdigest()


def _jsonable(params):
    return json.loads(json.dumps(params or {}, default=str))


class Manifest:
    """The state of a batch, kept in ``DIR/manifest.json``.

    Parameters
    ----------
    outdir : path-like
        The batch output folder.
    data : dict
        The manifest's content.

    Use :meth:`open` to create or load one.
    """

    def __init__(self, outdir, data):
        self.outdir = Path(outdir)
        self.path = self.outdir / MANIFEST
        self.data = data
        self._last_write = 0.0
        self._write_cost = 0.0

    # ------------------------------------------------------------ creation
    @classmethod
    def open(cls, outdir, script, params=None, *, resume=False):
        """Create the manifest of a new batch, or load it to resume.

        Parameters
        ----------
        outdir : path-like
        script : path-like
        params : dict, optional
        resume : bool
            Continue the batch recorded in ``outdir``. Without it an existing
            manifest is an error (a batch never silently mixes with another).

        Raises
        ------
        BatchError
            A manifest exists and ``resume`` is false; or the manifest was
            written for another script or other parameters.
        """
        outdir = Path(outdir).resolve()
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BatchError(f"cannot create output folder {outdir}: {exc.strerror or exc}") from None
        if not os.access(outdir, os.W_OK | os.X_OK):
            raise BatchError(f"cannot write into output folder {outdir}: it is not writable")
        path = outdir / MANIFEST
        digest = script_sha256(script)
        params = _jsonable(params)
        if os.path.lexists(path) and not path.is_file():  # never replaced: it is not a manifest of ours
            raise BatchError(f"{file_problem(path)}: a batch keeps its {MANIFEST} "
                             "there; move it away, or use another output folder")
        if path.is_file():
            if not resume:
                raise BatchError(f"{outdir} already holds a batch ({MANIFEST}): "
                                 "use --resume to continue it, or another output folder")
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise BatchError(f"cannot read {path}: {exc}") from None
            problem = _shape_problem(data)
            if problem is not None:
                raise BatchError(f"{path} is not a fijirun batch manifest ({problem})")
            if data.get("script", {}).get("sha256") != digest:
                raise BatchError(f"{path} was written for another script "
                                 f"({data.get('script', {}).get('path')}); the script changed since")
            if data.get("params", {}) != params:
                raise BatchError(f"{path} was written with other parameters "
                                 f"({data.get('params')}, now {params})")
            combined = data.get("combined")
            refuse_foreign_combined(outdir, combined if isinstance(combined, dict) else {})
            return cls(outdir, data)
        refuse_foreign_combined(outdir, {})  # before anything is written: never a person's results.csv
        data = {
            "kind": "fijirun-batch",
            "fijirun": __version__,
            "script": {"path": str(Path(script).resolve()), "sha256": digest},
            "params": params,
            "created": _now(),
            "updated": _now(),
            "runs": [],
            "images": {},
        }
        return cls(outdir, data)

    # ------------------------------------------------------------ planning
    @property
    def images(self):
        """The images' entries by output name (the manifest's ``images``)."""
        return self.data["images"]

    def is_done(self, name):
        """Whether ``name`` finished ``ok`` and all its recorded outputs still exist."""
        entry = self.images.get(name)
        if not entry or entry.get("status") != "ok":
            return False
        folder = self.outdir / name
        return folder.is_dir() and all((folder / o["path"]).is_file() for o in entry.get("outputs", []))

    def plan(self, items):
        """Register the inputs; return those that must run (not done yet).

        Parameters
        ----------
        items : list of BatchInput

        Returns
        -------
        todo, skipped : list of BatchInput
        """
        todo, skipped = [], []
        for item in items:
            if self.is_done(item.name):
                skipped.append(item)
                continue
            entry = self.images.get(item.name)
            previous = entry.get("status") if entry else None
            self.images[item.name] = {
                "input": str(item.path), "status": "pending", "error": None, "seconds": None,
                "attempts": 0, "worker": None, "finished": None, "outputs": [], "check": None,
                "saved_elsewhere": [], "previous_status": previous,
            }
            todo.append(item)
        return todo, skipped

    def begin_run(self, **info):
        """Record the start of a batch invocation (``runs`` list)."""
        run = {"started": _now(), "finished": None, "interrupted": False, **info}
        self.data["runs"].append(run)
        return run

    # ------------------------------------------------------------ updating
    def record(self, name, **entry):
        """Update one image's entry (status, error, seconds, outputs...)."""
        current = self.images.setdefault(name, {})
        current.update(entry)
        if entry.get("status") in DONE:
            current.setdefault("finished", None)
            current["finished"] = current.get("finished") or _now()

    def counts(self):
        """Images by status, over the whole manifest."""
        out = dict.fromkeys(STATUSES, 0)
        for entry in self.images.values():
            out[entry.get("status", "pending")] = out.get(entry.get("status", "pending"), 0) + 1
        return out

    def save(self, force=True):
        """Write the manifest atomically.

        Parameters
        ----------
        force : bool
            Write now. Otherwise the write is skipped when the previous one
            was less than 20 write-durations ago (a manifest of many thousand
            images costs milliseconds to write; small ones are written after
            every image).
        """
        now = time.monotonic()
        if not force and now - self._last_write < 20 * self._write_cost:
            return False
        self.data["updated"] = _now()
        t = time.perf_counter()
        _write_compact(self.path, self.data)
        self._write_cost = time.perf_counter() - t
        self._last_write = time.monotonic()
        return True

    @staticmethod
    def load(outdir):
        """The manifest of ``outdir`` as a dict (read only)."""
        with open(Path(outdir) / MANIFEST, encoding="utf-8") as f:
            return json.load(f)


def _write_compact(path, data):
    """Atomic JSON write, one line (a manifest of thousands of images stays cheap)."""
    write_json_atomic(path, data, compact=True)


def tmp_root(outdir):
    """The folder of in-progress images (``DIR/.fijirun-tmp``)."""
    return Path(outdir) / TMP_DIR


def remove_tmp(outdir):
    """Remove what unfinished images left in ``DIR/.fijirun-tmp``."""
    import shutil

    root = tmp_root(outdir)
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)
    return not root.exists()


def _shape_problem(data):
    """What makes ``data`` no manifest this module wrote (None when it has the shape)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if data.get("kind", "fijirun-batch") != "fijirun-batch":
        return f"its kind is {data.get('kind')!r}"
    shapes = {"script": dict, "params": dict, "runs": list, "images": dict}
    for key, kind in shapes.items():
        if not isinstance(data.get(key), kind):
            return f"its {key!r} is not a JSON {'object' if kind is dict else 'array'}"
    if not isinstance(data.get("combined", {}), dict) or not all(isinstance(r, dict) for r in data["runs"]):
        return "its 'combined' or 'runs' entries are not JSON objects"
    for name, entry in data["images"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs", []), list) or not all(
                isinstance(o, dict) and isinstance(o.get("path"), str) for o in entry.get("outputs", [])):
            return f"its entry for {name!r} is not an image entry"
    return None
