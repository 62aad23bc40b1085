"""Verdicts: what ``fijirun check`` says about each output and about the run.

Three verdicts, ordered ``pass`` < ``warn`` < ``fail``; a report's verdict is
the worst of its outputs'. Only ``fail`` makes the command exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FijirunError

__all__ = ["PASS", "WARN", "FAIL", "VERDICTS", "worst", "Finding", "OutputVerdict", "CheckReport",
           "CheckError"]

PASS, WARN, FAIL = "pass", "warn", "fail"
VERDICTS = (PASS, WARN, FAIL)


class CheckError(FijirunError):
    """Checking could not start (no such folder, unreadable run.json, bad options)."""


def worst(verdicts):
    """The worst of some verdicts.

    Parameters
    ----------
    verdicts : iterable of {"pass", "warn", "fail"}
        The verdicts to rank.

    Returns
    -------
    str
        ``fail`` over ``warn`` over ``pass``; ``pass`` when there are none.
    """
    rank = {v: i for i, v in enumerate(VERDICTS)}
    return max(verdicts, key=rank.__getitem__, default=PASS)


@dataclass
class Finding:
    """One observation about an output: its verdict and a one-line message."""

    verdict: str
    message: str

    def to_dict(self):
        """The finding as a JSON object: ``{"verdict", "message"}``."""
        return {"verdict": self.verdict, "message": self.message}


@dataclass
class OutputVerdict:
    """The verdict on one output file.

    Attributes
    ----------
    path : str
        Path relative to the checked folder.
    kind : {"table", "rois", "mask", "image", "other"}
    verdict : {"pass", "warn", "fail"}
        The worst of ``findings``.
    reason : str
        One line: the message of the first finding with the worst verdict.
    findings : list of Finding
        Everything that was checked (format lint first, then comparisons).
    details : dict
        Numbers behind the findings (JSON-serialisable), e.g. mismatching
        rows, pixel counts, the label set.
    pictures : dict
        Picture name → PNG bytes (filled only when a report needs them).
    data : dict
        Arrays behind the pictures (saved and reference values); not in JSON.
    """

    path: str
    kind: str
    findings: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    pictures: dict = field(default_factory=dict, repr=False)
    data: dict = field(default_factory=dict, repr=False)

    def add(self, verdict, message):
        """Record a finding.

        Parameters
        ----------
        verdict : {"pass", "warn", "fail"}
            The finding's verdict.
        message : str
            One line saying what was found.

        Returns
        -------
        OutputVerdict
            ``self``, to chain calls.

        Raises
        ------
        ValueError
            ``verdict`` is not one of :data:`VERDICTS`.
        """
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        self.findings.append(Finding(verdict, message))
        return self

    @property
    def verdict(self):
        """The worst verdict of the findings (``pass`` when there are none)."""
        return worst(f.verdict for f in self.findings)

    @property
    def reason(self):
        """Up to two messages of the findings with the worst verdict, joined by ``"; "``.

        For a pass, the comparisons' messages come before the format lint's.
        ``"nothing to check"`` when there are no findings.
        """
        v = self.verdict
        messages = [f.message for f in self.findings if f.verdict == v]
        if not messages:
            return "nothing to check"
        if v == PASS:  # the comparisons say more than the format lint (first)
            messages = messages[1:] + messages[:1]
        return "; ".join(messages[:2])

    def to_dict(self):
        """The output's verdict as a JSON object (``pictures`` and ``data`` left out)."""
        return {"path": self.path, "kind": self.kind, "verdict": self.verdict,
                "reason": self.reason, "findings": [f.to_dict() for f in self.findings],
                "details": self.details}


@dataclass
class CheckReport:
    """The verdicts on every output of one run folder.

    Attributes
    ----------
    outdir : Path
    outputs : list of OutputVerdict
    recovered : dict
        What ImageJ ran, as recovered (image, threshold, Analyze Particles
        options, measurements, decimals) and where each piece came from.
    assumptions : list of str
        Rules applied where the record was silent (documented in the README).
    reference : object
        The :class:`fijirun.reference.ParticleAnalysis` compared against, or None.
    """

    outdir: Path
    outputs: list = field(default_factory=list)
    recovered: dict = field(default_factory=dict)
    assumptions: list = field(default_factory=list)
    reference: object = field(default=None, repr=False)
    image: object = field(default=None, repr=False)
    run_record: dict | None = field(default=None, repr=False)
    pictures: dict = field(default_factory=dict, repr=False)

    @property
    def verdict(self):
        """The worst verdict of the outputs; ``fail`` when there are no outputs."""
        return worst(o.verdict for o in self.outputs) if self.outputs else FAIL

    @property
    def ok(self):
        """True when nothing failed (warnings allowed): exit status 0."""
        return self.verdict != FAIL

    def __getitem__(self, path):
        for o in self.outputs:
            if o.path == path or Path(o.path).name == path:
                return o
        raise KeyError(path)

    def counts(self):
        """The number of outputs with each verdict.

        Returns
        -------
        dict
            ``{"pass": n, "warn": n, "fail": n}``.
        """
        out = {v: 0 for v in VERDICTS}
        for o in self.outputs:
            out[o.verdict] += 1
        return out

    def to_dict(self):
        """The report as the ``--json`` object: verdict, counts, what was recovered, and every output's verdict."""
        return {
            "verdict": self.verdict,
            "outdir": str(self.outdir),
            "counts": self.counts(),
            "recovered": self.recovered,
            "assumptions": self.assumptions,
            "outputs": [o.to_dict() for o in self.outputs],
        }
