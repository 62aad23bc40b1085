"""A parameter value reaches the script exactly as given, or is refused before the run.

Each test here failed on the code before it (9fd2237): a value silently changed, lost or
taken elsewhere, or an error that was not a ParameterError naming the file and line.
Most are pure preparation (no engine); a few run one small script in the shared session.
"""

from __future__ import annotations

import ast
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fijirun
from fijirun.errors import ParameterError
from fijirun.prepare import JYTHON, MACRO, literal, prepare_script

from conftest import DATA


def refused(text, language, params, *, path="course.ijm", **kwargs):
    with pytest.raises(ParameterError) as info:
        prepare_script(text, language, params, path=path, **kwargs)
    return info.value


# --------------------------------------------------------------------- 1. every assignment

def test_a_variable_assigned_twice_gets_the_value_given_everywhere(ij_session):
    # only the first assignment was overridden: the Log said 50, run.json 100
    code = 'min_size = 0;\n// students: change this\nmin_size = 50;\nprint("min_size=" + min_size);\n'
    r = ij_session.run_code(code, "ijm", {"min_size": "100"})
    assert r.log.strip() == "min_size=100"
    assert r.parameters == {"min_size": 100}


@pytest.mark.parametrize("text, expected", [
    ('outputDir = "";\noutputDir = FIXME;\n', 'outputDir = "/o/";\noutputDir = "/o/";\n'),
    ('outputDir = FIXME; outputDir = "/x/";\n', 'outputDir = "/o/"; outputDir = "/o/";\n'),
    # computed from the variable itself: it uses the value, left as it is
    ('outputDir = FIXME;\noutputDir = outputDir + "sub/";\n', 'outputDir = "/o/";\noutputDir = outputDir + "sub/";\n'),
])
def test_every_literal_assignment_is_overridden(text, expected):
    assert prepare_script(text, MACRO, {"outputDir": "/o/"}).text == expected


def test_a_name_assigned_later_on_a_line_can_be_set():
    assert prepare_script("a = 1; b = 2;\n", MACRO, {"b": "5"}).text == "a = 1; b = 5;\n"
    assert prepare_script("a = 1; b = 2\n", JYTHON, {"b": "5"}).text == "a = 1; b = 5\n"


def test_a_later_assignment_computed_otherwise_is_refused_naming_its_line():
    err = refused('outputDir = "";\nx = 1;\noutputDir = getDirectory("home");\n', MACRO, {"outputDir": "/o/"})
    assert err.line == 3 and "assigned on lines 1, 3" in str(err) and "course.ijm:3:" in str(err)


def test_a_fixme_in_a_later_assignment_is_found():
    err = refused('outputDir = "";\noutputDir = FIXME;\n', MACRO, {})
    assert err.line == 2 and "'outputDir' is FIXME" in str(err)


# --------------------------------------------------------------------- 2. Python values

@pytest.mark.parametrize("value, expected", [
    (np.int64(5), "6"), (np.float64(0.5), "1.5"), (np.float32(0.25), "1.25"), (Fraction(1, 2), "1.5"),
])
def test_numpy_and_other_numbers_stay_numbers(ij_session, value, expected):
    # np.int64(5) became the string "5": n + 1 was "51"
    r = ij_session.run_code("n = 0;\nprint(n + 1);\n", "ijm", {"n": value})
    assert r.log.strip() == expected


def test_numpy_bool_and_paths():
    assert prepare_script("flag = false;\n", MACRO, {"flag": np.True_}).text == "flag = true;\n"
    assert prepare_script('d = "";\n', MACRO, {"d": Path("/a/b")}).text == 'd = "/a/b";\n'


@pytest.mark.parametrize("value", [None, b"bytes", [1, 2], {"a": 1}, (1,), {1}, 3 + 4j, object()])
@pytest.mark.parametrize("text", ["n = 0;\n", "#@ String n\n", "#@ Integer n\n"])
def test_values_with_no_form_in_a_script_are_refused(text, value):
    err = refused(text, MACRO, {"n": value})
    assert err.line == 1 and err.name == "n" and "has no form in a script" in str(err)


@pytest.mark.parametrize("text, language, value, fragment", [
    ("#@ Integer d\n", MACRO, 0.1, "0.1 is not an integer"),
    ("#@ Integer d\n", JYTHON, float("nan"), "nan is not an integer"),
    ("#@ Integer d\n", JYTHON, float("inf"), "inf is not an integer"),
    ("#@ Integer d\n", JYTHON, 2**31, "out of range for a Java integer"),
    ("#@ Long d\n", JYTHON, 2**63, "out of range for a Java long"),
    ("#@ Double d\n", MACRO, float("nan"), "nan is not a finite number"),
    ("d = 0;\n", MACRO, float("inf"), "inf is not a finite number"),
    ("d = 0\n", JYTHON, float("nan"), "nan is not a finite number"),
    ("d = 0\n", JYTHON, 10**30, "out of range for a Java long"),
    ("d = 0;\n", MACRO, 10**400, "too large for a number"),
    ("#@ Boolean d\n", MACRO, 2, "is not a Boolean"),
    ("#@ File d\n", MACRO, 5, "is not a path"),
])
def test_python_values_that_do_not_fit_are_refused(text, language, value, fragment):
    err = refused(text, language, {"d": value})
    assert fragment in str(err) and err.line == 1


def test_non_finite_double_reaches_a_jython_parameter():
    assert np.isnan(prepare_script("#@ Double d\n", JYTHON, {"d": float("nan")}).values["d"])


def test_a_huge_integer_is_the_double_a_macro_holds():
    p = prepare_script("n = 0;\n", MACRO, {"n": 10**30})
    assert p.values["n"] == 1e30 and p.text == "n = 1e+30;\n"


def test_arg_must_be_text(ij_session):
    # a JPype TypeError from inside the run before
    with pytest.raises(ParameterError, match="arg must be text"):
        ij_session.run_code("print(getArgument());\n", "ijm", arg=5)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)))
def test_numbers_round_trip_through_their_literal(value):
    for language in (MACRO, JYTHON):
        v = prepare_script("n = 0\n", language, {"n": value}).values["n"]
        lit = literal(v, language)
        assert ast.literal_eval(lit.lstrip("+")) == (float(value) if language == MACRO and abs(value) > 2**53
                                                     else value)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_text_round_trips_through_a_jython_literal(value):
    # Python 3 reads a Jython 2.7 unicode literal as Jython does; ASCII only, one line
    lit = literal(value, JYTHON)
    assert lit.isascii() and "\n" not in lit and "\r" not in lit
    assert ast.literal_eval(lit) == value


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_a_macro_literal_stays_on_its_line(value):
    lit = literal(value, MACRO)
    assert "\r" not in lit and "\n" not in lit  # the line breaks ImageJ's tokenizer counts


def test_a_lone_surrogate_is_refused():
    err = refused("#@ String s\n", MACRO, {"s": "a\udc80"})
    assert "not valid Unicode text" in str(err) and err.line == 1


# --------------------------------------------------------------------- 4. strings that broke the text

def test_a_carriage_return_stays_inside_the_macro_string(ij_session):
    r = ij_session.run_code('#@ String label\nprint("[" + label + "]");\nprint(nosuch);\n', "ijm",
                            {"label": "x\ry"}, raise_on_error=False)
    assert r.log.startswith("[x\ry]")
    assert r.error is not None and r.error.line == 3  # line numbers did not move


def test_a_character_beyond_the_bmp_in_a_jython_template(ij_session):
    r = ij_session.run_code('label = "abc"\nprint(label.encode("utf-8").decode("utf-8") == label, len(label))\n'
                            'print(label)\n', "jython", {"label": "\U0001d6fc-tubulin"})
    lines = r.log.strip().splitlines()
    assert lines[0] == "(True, 9)" and lines[1] == "\U0001d6fc-tubulin"


# --------------------------------------------------------------------- 5. data folders with quotes

@pytest.mark.parametrize("folder", ['da"ta', "it's", "back\\slash"])
@pytest.mark.parametrize("language", [MACRO, JYTHON])
def test_a_data_folder_with_quotes_or_backslashes(ij_session, tmp_path, folder, language):
    data = tmp_path / folder
    data.mkdir()
    shutil.copy(DATA / "blobs.gif", data / "blobs.gif")
    code = ('open("https://imagej.net/images/blobs.gif");\nprint(getInfo("image.directory"));\n'
            if language == MACRO else
            "from ij import IJ\nimp = IJ.openImage('https://imagej.net/images/blobs.gif')\n"
            "print(imp.getOriginalFileInfo().directory)\n")
    with fijirun.Session(data_dir=data, timeout=120) as s:  # the warm JVM of ij_session
        r = s.run_code(code, language)
    assert r.log.strip().rstrip("/") == str(data)


def test_a_raw_jython_string_cannot_take_a_quoted_path(tmp_path):
    data = tmp_path / "it's"
    data.mkdir()
    shutil.copy(DATA / "blobs.gif", data / "blobs.gif")
    err = refused("p = r'https://imagej.net/images/blobs.gif'\n", JYTHON, {}, data_dir=data, path="a.py")
    assert err.line == 1 and "raw string" in str(err)


# --------------------------------------------------------------------- 6. URLs in values

def test_a_url_in_a_value_is_kept_as_given(ij_session):
    value = "see https://imagej.net/images/blobs.gif now"  # the data folder has blobs.gif
    r = ij_session.run_code("#@ String label\nprint(label);\n", "ijm", {"label": value})
    assert r.log.strip() == value
    p = prepare_script('label = "x";\nopen("https://imagej.net/images/blobs.gif");\n', MACRO,
                       {"label": value}, data_dir=DATA)
    assert value in p.text and str(DATA / "blobs.gif") in p.text  # the script's own URL still is


# --------------------------------------------------------------------- 7. values over several lines

@pytest.mark.parametrize("text, language", [
    ('outputDir = "/home/student/" +\n    FIXME;\n', MACRO),
    ('outputDir = "/home/student/"\n    + FIXME;\n', MACRO),
    ("outputDir = \\\n    FIXME\n", JYTHON),
    ('outputDir = """\nFIXME"""\n', JYTHON),
    ('outputDir = ("/home/" +\n    FIXME);\n', MACRO),  # an open bracket (found before too)
])
def test_an_assignment_over_several_lines(text, language):
    assert refused(text, language, {}).line == 1  # FIXME found before the run
    err = refused(text, language, {"outputDir": "/o/"})
    assert "its value spans several lines" in str(err) and err.line == 1


def test_i_plus_plus_ends_no_statement():
    assert prepare_script("i = 0\ni++\nn = 1;\n", MACRO, {"n": 2}).text == "i = 0\ni++\nn = 2;\n"


# --------------------------------------------------------------------- 8. "// @" comments

@pytest.mark.parametrize("text", [
    'print("hi");\n// @author Jane Doe\n',
    'print("hi");\n/*\n// @String name\n*/\n',
    "// @author Jane Doe\n// @see elsewhere\nprint(1);\n",
])
def test_ordinary_at_comments_are_no_parameters(text):
    assert prepare_script(text, MACRO, {}).text == text


def test_a_legacy_header_parameter_still_counts():
    assert prepare_script("// @String name\nprint(name);\n", MACRO, {"name": "x"}).text.startswith('name = "x";')


def test_an_unreadable_parameter_names_file_and_line(ij_session, tmp_path):
    script = tmp_path / "bad.ijm"
    script.write_text("x = 1;\n#@ junk (\n")
    with pytest.raises(ParameterError) as info:
        ij_session.run(script)
    assert info.value.line == 2 and info.value.path == str(script) and f"{script}:2:" in str(info.value)


# --------------------------------------------------------------------- 15. the rest

@pytest.mark.parametrize("text, value, fragment", [
    ("#@ Integer x\n", "99999999999999999999", "out of range for a Java integer"),
    ("#@ Long x\n", "99999999999999999999", "out of range for a Java long"),
    ("#@ Integer x\n", "1_000", "'1_000' is not an integer"),
    ("#@ Integer x\n", "\u0663", "is not an integer"),
    ("x = 0;\n", "\u0663", "is not a number"),
    ('#@ String (choices={"a", "b"}) x\n', "zzz", "not one of its choices ('a', 'b')"),
    ("#@ Integer (min=0, max=10) x\n", "-99", "-99 is below its min 0"),
    ("#@ Double (min=0, max=10) x\n", "10.5", "10.5 is above its max 10"),
    ("#@output String x\n", "v", "is an output of the script"),
])
def test_values_a_dialog_would_not_take(text, value, fragment):
    err = refused(text, MACRO, {"x": value})
    assert fragment in str(err) and err.line == 1


def test_a_choice_is_taken():
    assert prepare_script('#@ String (choices={"a b", "c"}) x\n', MACRO, {"x": "a b"}).values == {"x": "a b"}


# --------------------------------------------------------------------- text round trips through the engine

_CODE_UNITS = {
    MACRO: 's = "x";\nout = "";\nfor (i = 0; i < lengthOf(s); i++) out = out + charCodeAt(s, i) + ",";\n'
           'print("[" + out + "]");\n',
    JYTHON: 's = "x"\nprint("[" + "".join("%d," % ord(c) for c in s) + "]")\n',
}


@pytest.mark.parametrize("language", [MACRO, JYTHON])
def test_text_reaches_the_script_exactly(ij_session, language):
    # hypothesis inside: one warm session, each example one small run
    @settings(max_examples=40, deadline=None)
    @given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=12))
    def check(value):
        r = ij_session.run_code(_CODE_UNITS[language], language, {"s": value})
        if language == MACRO:  # a Java string: UTF-16 code units
            units = value.encode("utf-16-le")
            expected = [int.from_bytes(units[i:i + 2], "little") for i in range(0, len(units), 2)]
        else:
            expected = [ord(c) for c in value]
        assert r.log.strip() == "[" + "".join(f"{u}," for u in expected) + "]"

    check()
