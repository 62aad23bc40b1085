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

from .model import FAIL, PASS, WARN, CheckError, CheckReport, Finding, OutputVerdict


def check(outdir, image=None, *, options=None, measurements=None, threshold=None, exclude=()):
    """Check a run's outputs against the reference Analyze Particles.

    Parameters
    ----------
    outdir : path-like
        A run's output folder (with its ``run.json`` when fijirun ran it).
    image : path-like, optional
        The analysed input image; overrides the one ``run.json`` records.
    options, measurements, threshold : str, optional
        Analyze Particles options, Set Measurements options/keys and the
        ``"lo-hi"`` threshold, when ``run.json`` lacks them or to override it.
    exclude : iterable of path-like
        Files in ``outdir`` that are not outputs (reports written there).

    Returns
    -------
    CheckReport

    Raises
    ------
    CheckError
        When ``outdir`` is not a folder or the record/options are unreadable.

    Notes
    -----
    The numerical libraries are imported on first call (``import fijirun``
    stays fast); see :func:`fijirun.check.core.check`.
    """
    from .core import check as _check

    return _check(outdir, image, options=options, measurements=measurements, threshold=threshold,
                  exclude=exclude)


def report_json(report):
    """The ``--json`` text of a :class:`CheckReport`."""
    from .core import report_json as _report_json

    return _report_json(report)

__all__ = ["check", "CheckReport", "OutputVerdict", "Finding", "CheckError", "report_json",
           "PASS", "WARN", "FAIL"]
