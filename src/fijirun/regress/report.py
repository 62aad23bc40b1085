"""Reports of a regress run: terminal table, JSON, JUnit XML, HTML matrix."""

from __future__ import annotations

import html
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .accept import CHANGES_DIR
from .discover import block_page

__all__ = ["exit_code", "github_annotations", "print_table", "to_json", "write_html", "write_junit"]

_STYLE = {"passed": "green", "failed": "red", "needs-plugin": "yellow", "needs-data": "cyan",
          "timeout": "magenta", "changed": "bold red", "needs-input": "cyan", "xfail": "dim",
          "xpass": "yellow", "skipped": "dim", "no-code": "dim", "removed": "bold red"}
#: Classes that make ``fijirun regress`` exit 1.
FAILING = ("failed", "timeout", "changed", "removed")
#: Classes JUnit reports as skipped.
_SKIPPED = ("needs-plugin", "needs-data", "needs-input", "xfail", "skipped", "no-code")
_IMAGES = (".png", ".jpg", ".jpeg", ".gif")


def exit_code(report):
    """1 when any activity failed, timed out, changed since the baseline or is gone from it, else 0."""
    return 1 if any(report["counts"].get(c) for c in FAILING) else 0


def github_annotations(report):
    """GitHub Actions workflow commands: ``::error`` per failing activity, ``::warning`` per xpass.

    Paths are relative to the course root, as a workflow's checkout has them;
    a Markdown activity (``page.md#2``) points at its page and its block's line.
    """
    def esc(text, prop=False):
        text = str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        return text.replace(":", "%3A").replace(",", "%2C") if prop else text

    lines = []
    for a in report["activities"]:
        level = "error" if a["class"] in FAILING else "warning" if a["class"] == "xpass" else None
        if level is None:
            continue
        file = block_page(a["path"])
        line = a.get("line") or a.get("block_line")
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
    for module, activities in _groups(report["activities"]):
        if module is not None:
            table.add_section()
            table.add_row(f"[bold]{module}[/]", "", "", "", ", ".join(
                f"{sum(a['class'] == c for a in activities)} {c}" for c in sorted({a["class"] for a in activities})),
                "")
        for a in activities:
            style = _STYLE.get(a["class"], "")
            message = "\n".join(a["changes"]) if a.get("changes") else (a["message"] or "")
            name = a["path"] if module is None else f"{a.get('platform')}, {a.get('position')}\n{a['path']}"
            table.add_row(name, f"[{style}]{a['class']}[/]", str(a["line"] or ""),
                          f"{a['seconds']:.2f}" if a["seconds"] is not None else "",
                          message, _answers_text(a["answers"]))
    console.print(table)
    console.print(", ".join(f"{n} {c}" for c, n in report["counts"].items() if n or c == "passed")
                  + f" in {report['seconds']:.1f} s; report {Path(report['output']) / 'regress.json'}")
    base = report.get("baseline")
    if base:
        changed, removed = report["counts"].get("changed", 0), report["counts"].get("removed", 0)
        said = ([f"{changed} activities changed"] if changed else []) + (
            [f"{removed} activities of the baseline are gone"] if removed else [])
        console.print(f"compared with the baseline {base['folder']} (backend {base.get('backend')}): "
                      + (", ".join(said) or "no activity changed"))
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


def _groups(activities):
    """(module, its activities) in report order; a course without modules is one group (None)."""
    groups: dict = {}
    for a in activities:
        groups.setdefault(a.get("module"), []).append(a)
    return list(groups.items())


def write_junit(report, path):
    """JUnit XML: one test suite per module (one for a plain course), one testcase per activity.

    ``failed``, ``changed`` and ``removed`` are failures, ``timeout`` an error;
    needs-*, xfail, skipped and no-code are skipped.
    """
    suites = ET.Element("testsuites", name="fijirun-regress", tests=str(len(report["activities"])),
                        time=f"{report['seconds']:.3f}")
    for module, activities in _groups(report["activities"]):
        count = {c: sum(a["class"] == c for a in activities) for c in {a["class"] for a in activities}}
        suite = ET.SubElement(suites, "testsuite", name=module or "fijirun-regress",
                              tests=str(len(activities)),
                              failures=str(count.get("failed", 0) + count.get("changed", 0)
                                           + count.get("removed", 0)),
                              errors=str(count.get("timeout", 0)),
                              skipped=str(sum(count.get(c, 0) for c in _SKIPPED)),
                              time=f"{sum(a['seconds'] or 0 for a in activities):.3f}")
        for a in activities:
            name = a["path"] if not a.get("platform") else f"{a['platform']}, {a.get('position')}: {a['path']}"
            case = ET.SubElement(suite, "testcase", classname=report.get("backend", "imagej1"),
                                 name=name, time=f"{a['seconds'] or 0:.3f}")
            where = f" (line {a['line']})" if a["line"] else ""
            message = (a["message"] or "") + where
            if a["class"] == "failed":
                ET.SubElement(case, "failure", message=message, type="failed").text = message
            elif a["class"] == "changed":
                ET.SubElement(case, "failure", message=message, type="changed").text = "\n".join(
                    a.get("changes") or [])
            elif a["class"] == "removed":
                ET.SubElement(case, "failure", message=message, type="removed").text = message
            elif a["class"] == "timeout":
                ET.SubElement(case, "error", message=message, type="timeout").text = message
            elif a["class"] in _SKIPPED:
                ET.SubElement(case, "skipped", message=f"{a['class']}: {a['message']}")
            out = [f"class: {a['class']}"] + [f"output: {o}" for o in a["outputs"]]
            out += [f"change: {c}" for c in a.get("changes") or []]
            out += [f"answer: line {x['line']} {x['call']} -> {x['value']!r}" for x in a["answers"]]
            ET.SubElement(case, "system-out").text = "\n".join(out)
    from ..ownership import junit_text, write_report

    write_report(path, junit_text(suites), "JUnit report")  # never over a run's outputs or a person's file


def _preview(src, dest):
    """A PNG picture of a saved image: label masks in glasbey colours, grey images stretched."""
    import numpy as np

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
    from .pictures import write_picture

    write_picture(dest, rgb)


def _excerpt(file, line, around=2):
    """The script's lines around ``line`` (numbered, the line itself marked), or ""."""
    if not file or not line:
        return ""
    try:
        lines = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    lo, hi = max(1, line - around), min(len(lines), line + around)
    return "\n".join(f"{'>' if n == line else ' '}{n:4d}  {lines[n - 1]}" for n in range(lo, hi + 1))


def _pictures(a, root, path, esc):
    """(links to the activity's outputs, thumbnails of its images and of its changes)."""
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
            except Exception:  # noqa: BLE001 - an unreadable picture, or a file in the way of its
                continue      # thumbnail that fijirun did not write (kept): only a missing thumbnail
            src = Path(os.path.relpath(png, path.parent)).as_posix()
            pics.append(f'<a href="{esc(href)}"><img src="{esc(src)}" alt="{esc(o)}"></a>')
    for change in a.get("changes") or []:
        m = re.search(r"\(picture ([^)]+)\)", change)
        if m:
            src = Path(os.path.relpath(root / CHANGES_DIR / m.group(1), path.parent)).as_posix()
            pics.append(f'<a href="{esc(src)}"><img class="wide" src="{esc(src)}" alt="{esc(change)}" '
                        f'title="{esc(change)}"></a>')
    return links, pics


def write_html(report, path):
    """A self-contained HTML report that fits a laptop screen.

    A summary per module (counts by class) first, buttons that show or hide
    each class, then the activities grouped by module: class, message (a
    failure with its script line and the lines around it, a change with its
    diff lines), answers, outputs and pictures (changed images: baseline,
    this run, differing pixels). Long text wraps; nothing is wider than the
    window.
    """
    from ..ownership import REPORT_MARK, guard_report, write_report

    guard_report(path, "HTML report")  # before the work: never over a run's outputs or a person's file
    path = Path(path).resolve()
    root = Path(report["output"])
    esc = html.escape
    groups = _groups(report["activities"])
    present = [c for c, n in report["counts"].items() if n]
    # ---- summary per module
    head = "".join(f"<th>{esc(c)}</th>" for c in present)
    summary = []
    for i, (module, acts) in enumerate(groups):
        cells = "".join(f'<td class="n {esc(c)}">{sum(a["class"] == c for a in acts) or ""}</td>' for c in present)
        summary.append(f'<tr><td><a href="#m{i}">{esc(module or "(course)")}</a>'
                       f'</td><td class="n">{len(acts)}</td>{cells}</tr>')
    total = "".join(f'<td class="n {esc(c)}"><b>{report["counts"][c]}</b></td>' for c in present)
    summary.append(f'<tr class="total"><td><b>course</b></td><td class="n"><b>{len(report["activities"])}'
                   f'</b></td>{total}</tr>')
    # ---- the activities, by module
    rows = []
    for i, (module, acts) in enumerate(groups):
        rows.append(f'<tr class="module" id="m{i}"><th colspan="5">{esc(module or "(course)")} — '
                    f'{len(acts)} {"activity" if len(acts) == 1 else "activities"}</th></tr>')
        for a in acts:
            links, pics = _pictures(a, root, path, esc)
            if a.get("changes"):
                message = "<br>".join(esc(c) for c in a["changes"])
            else:
                message = esc(a["message"] or "")
            code = _excerpt(a.get("file"), a.get("line")) if a["class"] in ("failed", "xfail") else ""
            if code:
                message += f'<pre class="code">{esc(code)}</pre>'
            answers = "<br>".join(esc(f"line {x['line']}: {x['call']} → {x['value']!r}" if x.get("line")
                                      else f"{x['call']} → {x['value']!r}") for x in a["answers"])
            what = " · ".join(esc(str(x)) for x in (a.get("platform"), a.get("position")) if x)
            seconds = f"{a['seconds']:.2f} s" if a["seconds"] is not None else ""
            rows.append(
                f'<tr class="act {esc(a["class"])}"><td><div class="path">{esc(a["path"])}</div>'
                f'<div class="what">{what}</div><div class="what">{esc(a["language"] or "")} {seconds}</div></td>'
                f'<td class="cls">{esc(a["class"])}</td><td>{message}'
                + (f'<div class="answers">answers: {answers}</div>' if answers else "")
                + f'</td><td>{"<br>".join(links)}</td><td>{"".join(pics)}</td></tr>')
    buttons = "".join(f'<label class="{esc(c)}"><input type="checkbox" checked data-class="{esc(c)}"> '
                      f'{esc(c)} ({report["counts"][c]})</label>' for c in present)
    base = report.get("baseline")
    compared = (f"<p>compared with the baseline <code>{esc(base['folder'])}</code> (backend "
                f"{esc(str(base.get('backend')))})</p>" if base else "")
    page = f"""<!DOCTYPE html>
{REPORT_MARK}
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>fijirun regress</title><style>
body{{font-family:sans-serif;margin:1em auto;max-width:1400px;padding:0 1em;overflow-wrap:anywhere}}
table{{border-collapse:collapse;width:100%;table-layout:fixed}}
td,th{{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}}
table.summary{{width:auto;max-width:100%}} table.summary td.n{{text-align:right;min-width:3em}}
col.path{{width:24%}} col.cls{{width:8%}} col.msg{{width:40%}} col.out{{width:12%}} col.pic{{width:16%}}
img{{max-height:80px;max-width:100%;margin:2px}} img.wide{{max-height:none}}
pre.code{{white-space:pre-wrap;background:#f6f6f6;padding:4px;margin:4px 0;font-size:90%}}
.what,.answers{{color:#555;font-size:90%}} .path{{font-family:monospace}}
tr.module th{{background:#eef;font-size:110%}} tr.hidden{{display:none}}
.filters label{{margin-right:.6em;padding:2px 6px;border-radius:4px;display:inline-block}}
.passed .cls,label.passed{{background:#c8f0c8}} .failed .cls,label.failed,td.n.failed{{background:#f6c0c0}}
.timeout .cls,label.timeout{{background:#f0c8f0}} .changed .cls,label.changed,td.n.changed{{background:#f6a0a0}}
.removed .cls,label.removed,td.n.removed{{background:#f6a0a0}}
.needs-plugin .cls,label.needs-plugin{{background:#fbeaa0}} .needs-data .cls,label.needs-data{{background:#c8e8f6}}
.needs-input .cls,label.needs-input{{background:#c8e8f6}} .xpass .cls,label.xpass{{background:#fbeaa0}}
.xfail .cls,.skipped .cls,.no-code .cls,label.xfail,label.skipped,label.no-code{{background:#e8e8e8}}
</style></head><body>
<h1>fijirun regress</h1>
<p>course <code>{esc(report["course"])}</code>, backend {esc(report.get("backend", ""))},
{len(report["activities"])} activities in {report["seconds"]:.1f} s</p>{compared}
<h2>Summary</h2>
<table class="summary"><tr><th>module</th><th>activities</th>{head}</tr>
{chr(10).join(summary)}
</table>
<h2>Activities</h2>
<p class="filters">show: {buttons}</p>
<table class="acts"><colgroup><col class="path"><col class="cls"><col class="msg"><col class="out"><col class="pic">
</colgroup><tr><th>activity</th><th>class</th><th>message</th><th>outputs</th><th>pictures</th></tr>
{chr(10).join(rows)}
</table>
<script>
for (const box of document.querySelectorAll(".filters input")) {{
  box.addEventListener("change", () => {{
    for (const row of document.querySelectorAll("tr.act." + box.dataset.class))
      row.classList.toggle("hidden", !box.checked);
  }});
}}
</script>
</body></html>
"""
    write_report(path, page, "HTML report")
