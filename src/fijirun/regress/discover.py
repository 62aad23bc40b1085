"""Finding a course's activities: IJ Macros, ImageJ Jython scripts, Markdown fences.

A ``.py`` file is an activity when it is ImageJ Jython: it imports from
ImageJ / Fiji / Java packages (``ij``, ``net.imagej``, ``sc.fiji``,
``loci``, ``java``...) or declares ``#@`` script parameters, and imports no
CPython-only library (numpy, scikit-image, napari...). CPython helpers are
left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..prepare import JYTHON, MACRO, read_script_text

__all__ = ["Activity", "block_page", "block_path", "discover", "is_imagej_jython", "markdown_blocks", "renamed_blocks"]

#: Top-level packages only a JVM provides (ImageJ, Fiji, SciJava, Bio-Formats, Java).
JYTHON_PREFIXES = ("ij", "net.imagej", "sc.fiji", "loci", "fiji", "java.", "javax.", "org.scijava",
                   "io.scif", "mcib3d", "inra.ijpb", "trainableSegmentation", "mpicbg", "ini.trakem2")
#: Libraries that only exist for CPython.
CPYTHON_ROOTS = {"numpy", "np", "skimage", "scipy", "napari", "pandas", "matplotlib", "tifffile",
                 "imageio", "cv2", "torch", "tensorflow", "sklearn", "seaborn", "xarray", "dask",
                 "zarr", "aicsimageio", "bioio", "cellpose", "stardist", "pyclesperanto_prototype",
                 "pyclesperanto", "imagej", "scyjava", "jpype", "IPython", "PIL", "h5py", "nd2",
                 "czifile", "plotly", "fijirun", "pytest", "jupyter"}

_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w., \t]+))", re.MULTILINE)
_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\n`]*)$")

_MD_MACRO = {"ijm", "imagej macro", "imagej-macro", "ij macro", "ij1 macro", "ijmacro", "macro",
             "imagej", "ij1"}
_MD_JYTHON = {"jython", "py", "python", "python2"}


@dataclass
class Activity:
    """One runnable activity.

    Attributes
    ----------
    path : str
        Relative to the course folder (POSIX); a Markdown block is
        ``file.md#N``, the page's N-th ImageJ code block (1, 2, ...): a name
        that text added or removed around the blocks does not change.
    language : {"ijm", "jython"} or None
        None for a lesson page listed as an ImageJ activity that holds no
        runnable code (``text`` then says why).
    text : str
        The code; a Markdown block is padded with empty lines so that its
        line numbers are the Markdown file's.
    file : Path
        The file it comes from.
    module, platform : str or None
        In a lesson repository (:mod:`fijirun.regress.lesson`): the module's
        title and the platform the page names (``"ImageJ Macro"``).
    kind : {"activity", "exercise"}
        An exercise is a solution block of an exercise page.
    position : str or None
        Where the module page lists it: ``"activity 2"``, ``"exercise 1"``.
    line : int or None
        A Markdown block's line in its page (its opening fence).
    """

    path: str
    language: str | None  # None: a lesson page without runnable code (text says why)
    text: str
    file: Path
    module: str | None = None
    platform: str | None = None
    kind: str = "activity"
    position: str | None = None
    line: int | None = None  # a Markdown block's opening fence, in its page


def _imports(text):
    mods = []
    for m in _IMPORT.finditer(text):
        if m.group(1):
            mods.append(m.group(1))
        else:
            mods.extend(part.strip().split()[0] for part in m.group(2).split(",") if part.strip())
    return mods


def is_imagej_jython(text):
    """Whether Python source is ImageJ Jython (not a CPython script)."""
    mods = _imports(text)
    if any(m.split(".")[0] in CPYTHON_ROOTS for m in mods):
        return False
    if any(m == p or m.startswith(p.rstrip(".") + ".") or (p.endswith(".") and m.startswith(p))
           for m in mods for p in JYTHON_PREFIXES):
        return True
    return bool(re.search(r"^[ \t]*#@", text, re.MULTILINE))


_QUOTE = re.compile(r"^((?:[ \t]*>[ \t]?)*)")
_JAVA_CODE = re.compile(r"^\s*(?:import\s+[\w.]+\s*;|(?:public|private|protected)?\s*(?:static\s+)?class\s+\w+)",
                        re.MULTILINE)


def _unquoted(line):
    """(blockquote depth, the line without its ``>`` markers)."""
    prefix = _QUOTE.match(line).group(1)
    return prefix.count(">"), line[len(prefix):]


def _block_language(info, code):
    """The language of a fenced block, or None when it is not ImageJ code."""
    info = info.strip("{}. ")
    if info in _MD_MACRO or info.split(" ")[0] in _MD_MACRO:
        return MACRO
    # ImageJ course pages highlight IJ Macro as Java or JavaScript; real Java has imports / classes
    info = info.split(" ")[0]
    if info in ("java", "javascript", "js") and not _JAVA_CODE.search(code):
        return MACRO
    if info in _MD_JYTHON and is_imagej_jython(code):
        return JYTHON
    return None


def markdown_blocks(text):
    """``(line of the opening fence, language, code)`` for each ImageJ code block of Markdown.

    Fences inside blockquotes (``> ```java`` … ``> ```, as lesson pages write
    exercise solutions) are read without their ``>`` markers.
    """
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        depth, line = _unquoted(lines[i])
        m = _FENCE.match(line)
        if not m:
            i += 1
            continue
        fence, info = m.group(2), m.group(3).strip().lower()
        start = i
        i += 1
        body = []
        while i < len(lines):
            d, inner = _unquoted(lines[i])
            if inner.strip().startswith(fence) or (depth and d < depth):
                break  # the closing fence, or the blockquote ended without one
            body.append(inner)
            i += 1
        i += 1
        code = "\n".join(body) + "\n"
        language = _block_language(info, code)
        if language is not None:
            blocks.append((start + 1, language, code))
    return blocks


def _skipped(rel, exclude):
    return any(part.startswith(".") or part in ("__pycache__", "node_modules") for part in rel.parts[:-1]) \
        or any(rel.parts[:len(e.parts)] == e.parts for e in exclude)


def discover(course_dir, *, markdown=False, exclude=()):
    """The activities of a course folder, sorted by path.

    Parameters
    ----------
    course_dir : path-like
    markdown : bool
        Also take ImageJ macro / Jython code blocks of Markdown files.
    exclude : iterable of path-like
        Folders to leave out (the regress output folder when it is inside).

    Returns
    -------
    list of Activity
    """
    root = Path(course_dir).resolve()
    excl = []
    for e in exclude:
        try:
            excl.append(Path(e).resolve().relative_to(root))
        except ValueError:
            pass
    found = []
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(root)
        if _skipped(rel, excl) or rel.name.startswith("."):
            continue
        suffix = f.suffix.lower()
        if suffix not in (".ijm", ".py") and not (markdown and suffix == ".md"):
            continue
        try:
            text, _ = read_script_text(f)
        except OSError:
            continue
        if suffix == ".ijm":
            found.append(Activity(rel.as_posix(), MACRO, text, f))
        elif suffix == ".py":
            if is_imagej_jython(text):
                found.append(Activity(rel.as_posix(), JYTHON, text, f))
        else:
            for n, (line, language, code) in enumerate(markdown_blocks(text), 1):
                found.append(Activity(block_path(rel.as_posix(), n), language, "\n" * line + code, f, line=line))
    return found


def block_path(page, n):
    """The activity path of a Markdown page's ``n``-th ImageJ code block: ``page.md#n``."""
    return f"{page}#{n}"


_BLOCK = re.compile(r"^(.+\.md)#(\d+)$", re.IGNORECASE)
_OLD_BLOCK = re.compile(r"^(.+\.md):(\d+)$", re.IGNORECASE)


def block_page(path):
    """The page of a Markdown block's activity path (``page.md#2`` → ``page.md``), else the path."""
    m = _BLOCK.match(path)
    return m.group(1) if m else path


def renamed_blocks(paths):
    """Old Markdown block names (``page.md:LINE``, before blocks were numbered) → ``page.md#N``.

    A page's blocks numbered in the order of their lines, as discovery
    numbers them: a record of every block of a page maps exactly.
    """
    pages: dict = {}
    for path in paths:
        m = _OLD_BLOCK.match(path)
        if m:
            pages.setdefault(m.group(1), []).append((int(m.group(2)), path))
    return {path: block_path(page, n) for page, blocks in pages.items()
            for n, (_, path) in enumerate(sorted(blocks), 1)}
