"""Showing a check: terminal table (rich), JSON, one self-contained HTML page, JUnit XML."""

from __future__ import annotations

import base64
import datetime as _dt
import xml.etree.ElementTree as ET

from .core import report_json
from .model import FAIL, PASS, WARN, CheckError

__all__ = ["print_summary", "to_json", "write_html", "render_html", "write_junit"]

_STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red"}

to_json = report_json


def print_summary(report, console=None):
    """One rich table of outputs and verdicts, then the overall verdict."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"fijirun check {report.outdir}", title_justify="left")
    table.add_column("output", overflow="fold")
    table.add_column("kind")
    table.add_column("verdict")
    table.add_column("reason", overflow="fold")
    for o in report.outputs:
        table.add_row(escape(o.path), o.kind, f"[{_STYLE[o.verdict]}]{o.verdict}[/]", escape(o.reason))
    console.print(table)
    for a in report.assumptions:
        console.print(f"  assumed: {a}", highlight=False, markup=False)
    c = report.counts()
    console.print(f"[{_STYLE[report.verdict]}]{report.verdict}[/]: {c[PASS]} pass, {c[WARN]} warn, "
                  f"{c[FAIL]} fail")


# --------------------------------------------------------------------------- HTML

_TEMPLATE = """<!DOCTYPE html>
{{ mark | safe }}
<html lang="en"><head><meta charset="utf-8">
<title>fijirun check: {{ verdict }} — {{ outdir }}</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
 table { border-collapse: collapse; margin: 1em 0; }
 td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
 .pass { background: #d8f5d0; } .warn { background: #fff2c2; } .fail { background: #ffd2d2; }
 .verdict { font-weight: bold; text-transform: uppercase; }
 figure { display: inline-block; margin: 0.5em; vertical-align: top; }
 figure img { max-width: 520px; border: 1px solid #ddd; }
 figcaption { font-size: 0.85em; color: #555; }
 code { background: #f4f4f4; padding: 0 3px; }
 section { border-top: 1px solid #ddd; margin-top: 1.5em; }
</style></head>
<body>
<h1>fijirun check: <span class="verdict {{ verdict }}">{{ verdict }}</span></h1>
<p><code>{{ outdir }}</code> — {{ counts.pass }} pass, {{ counts.warn }} warn, {{ counts.fail }} fail;
checked {{ when }}.</p>
<table id="verdicts">
<tr><th>output</th><th>kind</th><th>verdict</th><th>reason</th></tr>
{% for o in outputs %}<tr class="{{ o.verdict }}"><td><a href="#o{{ loop.index }}">{{ o.path }}</a></td>
<td>{{ o.kind }}</td><td class="verdict">{{ o.verdict }}</td><td>{{ o.reason }}</td></tr>
{% endfor %}</table>
<h2>What ImageJ ran (recovered)</h2>
<table>{% for k, v in recovered.items() %}<tr><th>{{ k }}</th><td><code>{{ v }}</code></td></tr>{% endfor %}</table>
{% if assumptions %}<h3>Assumptions</h3><ul>{% for a in assumptions %}<li>{{ a }}</li>{% endfor %}</ul>{% endif %}
{% if pictures %}<h2>Reference</h2>
{% for name, uri in pictures %}<figure><img src="{{ uri }}" alt="{{ name }}"><figcaption>{{ name }}</figcaption></figure>{% endfor %}
{% endif %}
{% for o in outputs %}<section id="o{{ loop.index }}">
<h2 class="{{ o.verdict }}">{{ o.path }} <small>({{ o.kind }}: {{ o.verdict }})</small></h2>
<ul>{% for f in o.findings %}<li class="{{ f.verdict }}"><b>{{ f.verdict }}</b> — {{ f.message }}</li>{% endfor %}</ul>
{% for name, uri in o.pictures %}<figure><img src="{{ uri }}" alt="{{ name }}"><figcaption>{{ name }}</figcaption></figure>{% endfor %}
{% if o.mismatches %}<table><tr><th>row</th><th>column</th><th>file</th><th>reference</th></tr>
{% for m in o.mismatches %}<tr class="fail"><td>{{ m.row }}</td><td>{{ m.column }}</td><td>{{ m.file }}</td><td>{{ m.reference }}</td></tr>{% endfor %}
</table>{% endif %}
</section>{% endfor %}
</body></html>
"""


def _data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(report):
    """The report as one HTML page, pictures embedded as data URIs."""
    import jinja2

    from .pictures import make_pictures

    make_pictures(report)
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    outputs = [{"path": o.path, "kind": o.kind, "verdict": o.verdict, "reason": o.reason,
                "findings": o.findings, "mismatches": o.details.get("mismatches", [])[:20],
                "pictures": [(k, _data_uri(v)) for k, v in o.pictures.items()]}
               for o in report.outputs]
    from ..ownership import REPORT_MARK

    return env.from_string(_TEMPLATE).render(
        mark=REPORT_MARK, verdict=report.verdict, outdir=str(report.outdir), counts=report.counts(),
        when=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), outputs=outputs,
        recovered=report.recovered, assumptions=report.assumptions,
        pictures=[(k, _data_uri(v)) for k, v in getattr(report, "pictures", {}).items()])


def _write(path, text, what):
    """Write a report by fijirun's rule (:func:`fijirun.ownership.write_report`), as a CheckError."""
    from ..ownership import ReportPathError, write_report

    try:
        return write_report(path, text, what)
    except ReportPathError as exc:
        raise CheckError(str(exc)) from None


def write_html(report, path):
    """Write the self-contained HTML report; returns its path."""
    return _write(path, render_html(report), "HTML report")


# --------------------------------------------------------------------------- JUnit

def write_junit(report, path):
    """JUnit XML: one ``testsuite``, one ``testcase`` per output.

    ``fail`` is a ``<failure>`` with the reason; ``warn`` passes, with the
    reason in ``<system-out>`` (CI shows it without failing the build).
    """
    counts = report.counts()
    suites = ET.Element("testsuites", name="fijirun check", tests=str(len(report.outputs)),
                        failures=str(counts[FAIL]))
    suite = ET.SubElement(suites, "testsuite", name=f"fijirun check {report.outdir}",
                          tests=str(len(report.outputs)), failures=str(counts[FAIL]), errors="0",
                          skipped="0", timestamp=_dt.datetime.now().isoformat(timespec="seconds"))
    for o in report.outputs:
        case = ET.SubElement(suite, "testcase", classname=f"fijirun.check.{o.kind}", name=o.path, time="0")
        if o.verdict == FAIL:
            failure = ET.SubElement(case, "failure", message=o.reason, type=o.kind)
            failure.text = "\n".join(f"{f.verdict}: {f.message}" for f in o.findings)
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"{f.verdict}: {f.message}" for f in o.findings)
    ET.indent(suites)
    from ..ownership import junit_text

    return _write(path, junit_text(suites), "JUnit report")
