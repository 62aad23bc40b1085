"""Reports of a regress run: terminal table, JSON, JUnit XML, HTML matrix."""

from __future__ import annotations

import html
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .accept import CHANGES_DIR

__all__ = ["exit_code", "github_annotations", "print_table", "to_json", "write_html", "write_junit"]

_STYLE = {"passed": "green", "failed": "red", "needs-plugin": "yellow", "needs-data": "cyan",
          "timeout": "magenta", "changed": "bold red", "needs-input": "cyan", "xfail": "dim",
          "xpass": "yellow", "skipped": "dim"}
#: Classes that make ``fijirun regress`` exit 1.
FAILING = ("failed", "timeout", "changed")
#: Classes JUnit reports as skipped.
_SKIPPED = ("needs-plugin", "needs-data", "needs-input", "xfail", "skipped")
_IMAGES = (".png", ".jpg", ".jpeg", ".gif")


def exit_code(report):
    """1 when any activity failed, timed out or changed since the baseline, else 0."""
    return 1 if any(report["counts"].get(c) for c in FAILING) else 0


def github_annotations(report):
    """GitHub Actions workflow commands: ``::error`` per failing activity, ``::warning`` per xpass.

    Paths are relative to the course root, as a workflow's checkout has them;
    a Markdown activity (``page.md:12``) points at its page and line.
    """
    def esc(text, prop=False):
        text = str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if prop else text

    lines = []
    for a in report["activities"]:
        level = "error" if a["class"] in FAILING else "warning" if a["class"] == "xpass" else None
        if level is None:
            continue
        file, _, block = a["path"].partition(":")
        line = a.get("line") or (int(block) if block.isdigit() else None)
        where = f"file={esc(file, True)}" + (f",line={line}" if line else "")
        title = f"fijirun regress: {a['class']}"
        message = a.get("message") or a["class"]
        if a.get("changes"):
            message = "\n".join(a["changes"])
        lines.append(f"::{level} {where},title={esc(title, True)}::{esc(message)}")
    return lines


def _answers_text(answers):
    return ", ".join(f"{a['call']}@{a['line']}={a['value']!r}" if a.get("line") else f"{a['call']}={a['value']!r}"
                     for a in answers)


def print_table(report, file=None):
    """A rich table of the activities, then the counts."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, width=160)
    table = Table(title=f"fijirun regress: {report['course']}")
    for col in ("activity", "class", "line", "seconds", "message", "answers"):
        table.add_column(col, overflow="fold")
    for a in report["activities"]:
        style = _STYLE.get(a["class"], "")
        message = "\n".join(a["changes"]) if a.get("changes") else (a["message"] or "")
        table.add_row(a["path"], f"[{style}]{a['class']}[/]", str(a["line"] or ""),
                      f"{a['seconds']:.2f}" if a["seconds"] is not None else "",
                      message, _answers_text(a["answers"]))
    console.print(table)
    console.print(", ".join(f"{n} {c}" for c, n in report["counts"].items() if n or c == "passed")
                  + f" in {report['seconds']:.1f} s; report {Path(report['output']) / 'regress.json'}")
    base = report.get("baseline")
    if base:
        changed = report["counts"].get("changed", 0)
        console.print(f"compared with the baseline {base['folder']} (backend {base.get('backend')}): "
                      + (f"{changed} activities changed" if changed else "no activity changed"))
    checks = report.get("checks") or {}
    if report["counts"].get("passed"):
        console.print("passed activities' outputs: " + ", ".join(
            f"{n} {what}" for what, n in (("fully checked", checks.get("full", 0)),
                                          ("checked with warnings", checks.get("warn", 0)),
                                          ("checked partially (no record)", checks.get("partial", 0)),
                                          ("not checkable (check error)", checks.get("error", 0)),
                                          ("without outputs to check", checks.get("none", 0))) if n))


def to_json(report):
    """The ``--json`` text."""
    return json.dumps(report)


def write_junit(report, path):
    """JUnit XML: one testcase per activity; needs-plugin / needs-data are skipped."""
    from ..ownership import guard_report

    guard_report(path, "JUnit report")  # never over a run's record or outputs
    counts = report["counts"]
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="fijirun-regress",
                          tests=str(len(report["activities"])),
                          failures=str(counts.get("failed", 0) + counts.get("changed", 0)),
                          errors=str(counts.get("timeout", 0)),
                          skipped=str(sum(counts.get(c, 0) for c in _SKIPPED)),
                          time=f"{report['seconds']:.3f}")
    for a in report["activities"]:
        case = ET.SubElement(suite, "testcase", classname=report.get("backend", "imagej1"),
                             name=a["path"], time=f"{a['seconds'] or 0:.3f}")
        where = f" (line {a['line']})" if a["line"] else ""
        message = (a["message"] or "") + where
        if a["class"] == "failed":
            ET.SubElement(case, "failure", message=message, type="failed").text = message
        elif a["class"] == "changed":
            ET.SubElement(case, "failure", message=message, type="changed").text = "\n".join(a.get("changes") or [])
        elif a["class"] == "timeout":
            ET.SubElement(case, "error", message=message, type="timeout").text = message
        elif a["class"] in _SKIPPED:
            ET.SubElement(case, "skipped", message=f"{a['class']}: {a['message']}")
        out = [f"class: {a['class']}"] + [f"output: {o}" for o in a["outputs"]]
        out += [f"change: {c}" for c in a.get("changes") or []]
        out += [f"answer: line {x['line']} {x['call']} -> {x['value']!r}" for x in a["answers"]]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def _preview(src, dest):
    """A PNG picture of a saved image: label masks in glasbey colours, grey images stretched."""
    import numpy as np
    from PIL import Image

    from ..luts import glasbey_lut
    from ..outputs import read_image

    arr = np.asarray(read_image(src))
    while arr.ndim > 2 and arr.shape[-1] not in (3, 4):
        arr = arr[0]
    if arr.ndim == 2 and arr.dtype.kind in "ui" and arr.max() > 1 and len(np.unique(arr)) <= 4096 \
            and arr.max() < 65536 and not (arr.dtype == np.uint8 and len(np.unique(arr)) > 64):
        lut = glasbey_lut("glasbey_on_dark")
        rgb = lut[np.where(arr == 0, 0, (arr - 1) % 255 + 1).astype(np.intp)]
    elif arr.ndim == 2:
        a = arr.astype(float)
        lo, hi = float(a.min()), float(a.max())
        rgb = ((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)).astype(np.uint8)
    else:
        rgb = arr[..., :3].astype(np.uint8)
    dest.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(dest)


def write_html(report, path):
    """A self-contained HTML matrix: one row per activity, links to its outputs, its pictures."""
    from ..ownership import guard_report

    guard_report(path, "HTML report")  # never over a run's record or outputs
    path = Path(path).resolve()
    root = Path(report["output"])
    esc = html.escape
    rows = []
    for a in report["activities"]:
        links, pics = [], []
        for o in a["outputs"]:
            href = Path(os.path.relpath(root / o, path.parent)).as_posix()
            links.append(f'<a href="{esc(href)}">{esc(Path(o).name)}</a>')
            if o.lower().endswith(_IMAGES):
                pics.append(f'<a href="{esc(href)}"><img src="{esc(href)}" alt="{esc(o)}"></a>')
            elif o.lower().endswith((".tif", ".tiff")):
                png = path.parent / f"{path.stem}_pictures" / (o.replace("/", "__") + ".png")
                try:
                    _preview(root / o, png)
                except Exception:  # noqa: BLE001 - an unreadable picture is only a missing thumbnail
                    continue
                src = Path(os.path.relpath(png, path.parent)).as_posix()
                pics.append(f'<a href="{esc(href)}"><img src="{esc(src)}" alt="{esc(o)}"></a>')
        answers = "<br>".join(esc(f"line {x['line']}: {x['call']} → {x['value']!r}") for x in a["answers"])
        for change in a.get("changes") or []:
            m = re.search(r"\(picture ([^)]+)\)", change)
            if m:
                src = Path(os.path.relpath(root / CHANGES_DIR / m.group(1), path.parent)).as_posix()
                pics.append(f'<a href="{esc(src)}"><img src="{esc(src)}" alt="{esc(change)}" '
                            f'title="{esc(change)}"></a>')
        message = "<br>".join(esc(c) for c in a["changes"]) if a.get("changes") else esc(a["message"] or "")
        rows.append(
            f'<tr class="{esc(a["class"])}"><td>{esc(a["path"])}</td><td>{esc(a["language"])}</td>'
            f'<td class="cls">{esc(a["class"])}</td><td>{a["line"] or ""}</td>'
            f'<td>{message}</td><td>{answers}</td>'
            f'<td>{a["seconds"] if a["seconds"] is not None else ""}</td>'
            f'<td>{"<br>".join(links)}</td><td>{"".join(pics)}</td></tr>')
    counts = " · ".join(f"{esc(c)}: {n}" for c, n in report["counts"].items())
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>fijirun regress</title><style>
body{{font-family:sans-serif;margin:1em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} img{{max-height:96px;margin:2px}}
.passed .cls{{background:#c8f0c8}} .failed .cls{{background:#f6c0c0}} .timeout .cls{{background:#f0c8f0}}
.needs-plugin .cls{{background:#fbeaa0}} .needs-data .cls{{background:#c8e8f6}}
.changed .cls{{background:#f6a0a0;font-weight:bold}} .needs-input .cls{{background:#c8e8f6}}
.xfail .cls,.skipped .cls{{background:#e8e8e8}} .xpass .cls{{background:#fbeaa0}}
</style></head><body>
<h1>fijirun regress</h1>
<p>course <code>{esc(report["course"])}</code>, backend {esc(report.get("backend", ""))},
{len(report["activities"])} activities in {report["seconds"]:.1f} s — {counts}</p>
<table><tr><th>activity</th><th>language</th><th>class</th><th>line</th><th>message</th>
<th>answers</th><th>seconds</th><th>outputs</th><th>pictures</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    path.write_text(page, encoding="utf-8")
