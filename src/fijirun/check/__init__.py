"""Checking a run's outputs against the reference Analyze Particles.

>>> import fijirun
>>> report = fijirun.check("out")                   # doctest: +SKIP
>>> report.verdict                                    # "pass", "warn" or "fail"
>>> [(o.path, o.kind, o.verdict, o.reason) for o in report.outputs]

Modules, one concern each:

``discover``  the outputs in a folder, and those ``run.json`` declares
``recover``   ``run.json`` / command-line options → reference options
``compare``   tables, ROI sets and label masks against the reference
``lint``      file formats: lossy, overflowing, RGB, delimiters
``pictures``  overlays, glasbey label masks, diff maps, scatter plots
``report``    terminal table, JSON, self-contained HTML, JUnit XML
"""

from .core import check, report_json
from .model import FAIL, PASS, WARN, CheckError, CheckReport, Finding, OutputVerdict

__all__ = ["check", "CheckReport", "OutputVerdict", "Finding", "CheckError", "report_json",
           "PASS", "WARN", "FAIL"]
