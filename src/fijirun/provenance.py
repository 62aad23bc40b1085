"""``run.json``: what a run executed, with which settings, on which files.

The course asks learners to keep the settings they used; fijirun keeps them
for every run: script and hash, effective parameters, every ImageJ command
with its options, input and output files with hashes, versions, backend.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["RUN_RECORD", "write_json_atomic", "read_run_record", "owned_outputs"]

RUN_RECORD = "run.json"


def write_json_atomic(path, data, *, compact=False):
    """Write JSON so that readers see the old file or the new one, never half of one.

    ``compact`` writes one line (a manifest of thousands of images stays cheap).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if compact:
                json.dump(data, f, separators=(",", ":"), default=str)
            else:
                json.dump(data, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_run_record(output_dir):
    """The run.json of a folder, or None."""
    path = Path(output_dir) / RUN_RECORD
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def owned_outputs(output_dir):
    """Files (relative paths) a previous fijirun run wrote in this folder: these may be replaced."""
    record = read_run_record(output_dir) or {}
    return {o["path"] for o in record.get("outputs", [])}
