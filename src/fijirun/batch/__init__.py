"""Headless batch jobs on Dask: one script over many images.

``fijirun.batch(script, inputs, output)`` runs an IJ Macro or Jython script
on every image (files, folders, globs) with one warm engine per Dask worker
process, each image in its own output folder, a manifest updated after each
image (``--resume`` continues), combined results (CSV, Parquet) and a
summary. Importing this package does not import Dask.

Modules
-------
inputs
    Files, folders, globs → images with stable output folder names.
manifest
    ``manifest.json``: atomic updates, resume.
worker
    Inside a worker: running the script on one image, publishing its folder.
run
    The client: manifest, progress and summary around fijirun's shared
    task runner (:mod:`fijirun.cluster`: deadlines, retries, worker
    replacement).
combine
    The combined results table and the summary.
"""

from .inputs import BatchError, BatchInput, collect_inputs, output_name
from .run import BATCH_JVM_OPTIONS, batch, local_cluster

__all__ = ["batch", "local_cluster", "BATCH_JVM_OPTIONS", "BatchError", "BatchInput", "collect_inputs", "output_name"]
