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
    options : str, optional
        Analyze Particles options (``"size=0-1000 pixel exclude"``), when
        ``run.json`` is absent or to override it.
    measurements : str, optional
        Set Measurements options or keys (``"area centroid perimeter decimal=3"``).
    threshold : str or tuple, optional
        ``"lo-hi"`` or ``(lo, hi)``: the threshold set before Analyze Particles
        (``setThreshold``); two finite numbers, lo <= hi.
    exclude : iterable of path-like
        Files in ``outdir`` that are not outputs (reports written there).

    Returns
    -------
    CheckReport
        ``report.verdict`` is ``"pass"``, ``"warn"`` or ``"fail"``; one
        :class:`OutputVerdict` per output (and per missing declared output).

    Raises
    ------
    CheckError
        When ``outdir`` is not a folder, ``run.json`` is unreadable, or
        ``options``, ``measurements`` or ``threshold`` are refused -- by the
        same checks as the command line's (:mod:`fijirun.arguments`).

    Notes
    -----
    The numerical libraries are imported on first call (``import fijirun``
    stays fast): the work is done by :func:`fijirun.check.core.check`.

    Examples
    --------
    >>> report = check("out", image="blobs.tif")      # doctest: +SKIP
    >>> report.verdict, [(o.path, o.verdict, o.reason) for o in report.outputs]
    """
    from .core import check as _check

    return _check(outdir, image, options=options, measurements=measurements, threshold=threshold,
                  exclude=exclude)


def report_json(report):
    """The ``--json`` text of a :class:`CheckReport`.

    Parameters
    ----------
    report : CheckReport
        What :func:`check` returned.

    Returns
    -------
    str
        One JSON object (:meth:`CheckReport.to_dict`), numpy values as numbers.
    """
    from .core import report_json as _report_json

    return _report_json(report)

__all__ = ["check", "CheckReport", "OutputVerdict", "Finding", "CheckError", "report_json",
           "PASS", "WARN", "FAIL"]
