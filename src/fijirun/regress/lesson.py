"""Lesson repositories (Jekyll / Carpentries style): modules, activities, exercises, courses.

A course like NEUBIAS's training resources is a site, not a folder of
scripts. Its module pages ``_modules/<module>.md`` say in their YAML front
matter which activities and exercises they have, on which platform, with
paths relative to ``_includes/``::

    activities:                       # older pages
      - ["ImageJ GUI/Macro", "output_saving/activities/output_saving_macro.ijm", "java"]
    multiactivities:                  # newer pages: an overview, then one page per platform
      - ["output_saving/act1.md", [["ImageJ Macro", "output_saving/act1_imagej-macro.md", "markdown"],
                                   ['ImageJ Jython', output_saving/act1_imagej-jython.py]]]
    exercises:
      - ["ImageJ Macro", "output_saving/exercises/output_saving_imagejmacro.md"]

An entry is an ``.ijm`` file, an ImageJ Jython ``.py`` file, or a Markdown
page whose ImageJ code blocks are the code (exercise solutions are
blockquoted fences, :func:`fijirun.regress.discover.markdown_blocks`; a
fence holding only ``{% include path %}`` is that file). ``_courses/*.md``
pages list a course's modules in ``module_order``.

Every runnable block becomes an :class:`~fijirun.regress.discover.Activity`
named by its module's title, platform and position; an ImageJ entry with
no runnable code is kept as an activity without language (reported
``no-code``, never silently left out). Entries for other platforms (MATLAB,
napari...) are not ImageJ's and are left out.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..files import file_problem
from ..prepare import JYTHON, MACRO, read_script_text
from .discover import Activity, block_path, is_imagej_jython, markdown_blocks

__all__ = ["LessonError", "is_lesson", "lesson_activities", "course_modules", "module_names"]

_IMAGEJ_PLATFORM = re.compile(r"imagej|fiji|jython|ij macro|ijm", re.IGNORECASE)
_INCLUDE = re.compile(r"^\s*\{%-?\s*include\s+(\S+)\s*-?%\}\s*$")


class LessonError(ValueError):
    """A lesson page or selection that cannot be used (the message names it)."""


def is_lesson(root: Path) -> bool:
    """Whether ``root`` is laid out as a lesson repository (``_modules/`` and ``_includes/``)."""
    return (Path(root) / "_modules").is_dir() and (Path(root) / "_includes").is_dir()


def front_matter(path: Path) -> dict:
    """The YAML front matter of a Markdown page (``{}`` when it has none).

    Raises
    ------
    LessonError
        The front matter is not valid YAML or not a mapping, or the page
        cannot be read (a pipe, a link to nothing).
    """
    import yaml

    text = _read(path, "lesson page")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    except StopIteration:
        raise LessonError(f"{path}: the front matter (---) is never closed") from None
    try:
        data = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 2}" if mark is not None else ""
        raise LessonError(f"{path}:{where} front matter is not valid YAML: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise LessonError(f"{path}: the front matter is not a mapping of keys")
    return data


def module_names(root: Path) -> list:
    """The modules of the lesson (file stems of ``_modules/*.md``), sorted."""
    return sorted(p.stem for p in (Path(root) / "_modules").glob("*.md"))


def course_modules(root: Path, course: str) -> list:
    """The modules of a ``_courses/`` page (its ``module_order``), by course file stem or title.

    Raises
    ------
    LessonError
        No such course, or the page lists no modules.
    """
    pages = sorted((Path(root) / "_courses").glob("*.md"))
    for page in pages:
        fm = front_matter(page)
        if course in (page.stem, str(fm.get("title", ""))):
            modules = fm.get("module_order") or fm.get("modules")
            if not isinstance(modules, list) or not modules:
                raise LessonError(f"{page}: the course lists no modules (module_order)")
            return [str(m) for m in modules]
    known = ", ".join(p.stem for p in pages) or "none"
    raise LessonError(f"no course {course!r} in {Path(root) / '_courses'} (courses: {known})")


def _entries(fm: dict, page: Path) -> list:
    """(kind, position, platform, include path) of the page's activities and exercises."""
    out = []
    for i, entry in enumerate(fm.get("activities") or [], 1):
        if isinstance(entry, list) and len(entry) >= 2:
            out.append(("activity", f"activity {i}", str(entry[0]), str(entry[1])))
    for i, entry in enumerate(fm.get("multiactivities") or [], 1):
        if isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[1], list):
            for sub in entry[1]:
                if isinstance(sub, list) and len(sub) >= 2:
                    out.append(("activity", f"activity {i}", str(sub[0]), str(sub[1])))
    for i, entry in enumerate(fm.get("exercises") or [], 1):
        if isinstance(entry, list) and len(entry) >= 2:
            out.append(("exercise", f"exercise {i}", str(entry[0]), str(entry[1])))
    for key in ("activities", "multiactivities", "exercises"):
        value = fm.get(key)
        if value is not None and not isinstance(value, list):
            raise LessonError(f"{page}: '{key}' must be a list, not {type(value).__name__}")
    return out


def _read(path: Path, what: str) -> str:
    """The text of a lesson's file; a LessonError naming it when it cannot be read (a pipe, a link to nothing)."""
    try:
        return read_script_text(path)[0]
    except OSError as exc:
        raise LessonError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def _expand_includes(code: str, includes: Path) -> str:
    """A fence holding only ``{% include file %}`` is that file."""
    lines = [line for line in code.splitlines() if line.strip()]
    if len(lines) == 1:
        m = _INCLUDE.match(lines[0])
        if m and os.path.lexists(includes / m.group(1)):
            return _read(includes / m.group(1), "included file")  # not a regular file: a LessonError
    return code


def lesson_activities(root: Path, modules=None) -> list:
    """The activities and exercise solutions of a lesson repository's modules.

    Parameters
    ----------
    root : Path
        The repository (with ``_modules/`` and ``_includes/``).
    modules : sequence of str, optional
        Module names (file stems) to take; default all.

    Returns
    -------
    list of Activity
        In module order, then page order; paths relative to ``root``.

    Raises
    ------
    LessonError
        An unknown module, or a module page that cannot be read.
    """
    root = Path(root).resolve()
    includes = root / "_includes"
    names = module_names(root)
    if modules is not None:
        unknown = [m for m in modules if m not in names]
        if unknown:
            raise LessonError(f"no module {unknown[0]!r} in {root / '_modules'} "
                              f"(modules: {', '.join(names) or 'none'})")
        names = list(modules)
    found = []
    # a file two modules list (a shared exercise) is one activity, under the first module
    # listing it: two tasks of one name stopped the whole regression
    listed: set = set()
    for name in names:
        page = root / "_modules" / f"{name}.md"
        fm = front_matter(page)
        title = str(fm.get("title") or name)
        for kind, position, platform, rel in _entries(fm, page):
            file = includes / rel
            path = file.relative_to(root).as_posix() if file.is_relative_to(root) else rel
            common = {"module": title, "platform": platform, "kind": kind, "position": position}
            imagej = bool(_IMAGEJ_PLATFORM.search(platform))
            if os.path.lexists(file) and not file.is_file():  # a pipe, a folder, a link to nothing
                raise LessonError(f"{page} lists {rel}, and {file_problem(file)}")
            if not file.is_file():
                if imagej and path not in listed:
                    listed.add(path)
                    found.append(Activity(path, None, f"the page lists {rel}, which does not exist",
                                          file, **common))
                continue
            text = _read(file, "activity")
            suffix = file.suffix.lower()
            runnable = []
            if suffix == ".ijm":
                runnable = [Activity(path, MACRO, text, file, **common)]
            elif suffix == ".py" and is_imagej_jython(text):
                runnable = [Activity(path, JYTHON, text, file, **common)]
            elif suffix == ".md":
                for n, (line, language, code) in enumerate(markdown_blocks(text), 1):
                    code = _expand_includes(code, includes)
                    runnable.append(Activity(block_path(path, n), language, "\n" * line + code, file, line=line,
                                             **common))
            if runnable:
                found.extend(a for a in runnable if a.path not in listed)
                listed.update(a.path for a in runnable)
            elif imagej and path not in listed:
                listed.add(path)
                why = ("a GUI activity: no code to run" if "gui" in platform.lower() else
                       f"{suffix} scripts are not run (IJ Macro and Jython only)" if suffix not in (".md", ".py")
                       else "no ImageJ code block or script on this page")
                found.append(Activity(path, None, why, file, **common))
    return found
