"""Parameters without editing the user's file; data served from the data directory."""

import socket

import pytest

import fijirun
from fijirun.data import DataDir
from fijirun.prepare import JYTHON, MACRO, prepare_script

from conftest import ACTIVITIES, RANDOMSHAPES


def test_macro_script_parameters_on_plain_imagej(ij_session):
    r = ij_session.run(ACTIVITIES / "params.ijm", {"minSize": "12", "scale": "0.5"}, arg="hello")
    assert r.log.strip() == "minSize=12 label=default text scale=0.5 arg=hello"


def test_jython_script_parameters_are_typed(ij_session):
    r = ij_session.run(ACTIVITIES / "params.py", {"minSize": 3, "label": 'a "quoted" \\ label'},
                       input=RANDOMSHAPES)
    assert f'minSize=3 label=a "quoted" \\ label input={RANDOMSHAPES.name} exists=True' in r.log


def test_missing_parameter_value_is_named(ij_session):
    with pytest.raises(fijirun.ParameterError, match="'minSize'") as info:
        ij_session.run(ACTIVITIES / "params.ijm", {"scale": 1})
    assert info.value.line == 1


def test_unknown_parameter_is_rejected(ij_session):
    with pytest.raises(fijirun.ParameterError, match="no parameter or top-level variable 'minSzie'"):
        ij_session.run(ACTIVITIES / "params.ijm", {"minSzie": 1, "minSize": 1, "scale": 1})


@pytest.mark.parametrize("language", [MACRO, JYTHON])
def test_string_values_quoted_and_escaped(ij_session, language):
    nasty = 'He said "hi"\\ and left; // not a comment'
    code = ('title = "FIXME";\nprint(title);\n' if language == MACRO
            else 'title = "FIXME"\nprint(title)\n')
    r = ij_session.run_code(code, language, {"title": nasty})
    assert r.log.strip() == nasty


def test_numbers_stay_numbers(ij_session):
    r = ij_session.run_code("n = 0;\nprint(n * 2);\n", "ijm", {"n": "21"})
    assert r.log.strip() == "42"


@pytest.mark.parametrize("language", [MACRO, JYTHON])
@pytest.mark.parametrize("text, params, fragment, line", [
    # a typed number took any text (and "1;print(1)" went into the script as a string)
    ("#@ Double d\n", {"d": "abc"}, "script parameter 'd' (Double): its value 'abc' is not a number", 1),
    ("#@ Float f\n", {"f": "1;print(1)"}, "its value '1;print(1)' is not a number", 1),
    # 1e999 reached the script as inf: an "Undefined variable" on line 1
    ("#@ Double d\n", {"d": "1e999"}, "its value '1e999' is too large for a number", 1),
    ("#@ Integer (value=abc) n\n", {}, "script parameter 'n' (Integer): its default value 'abc' is not an integer", 1),
    # a template's literal keeps its type: a typo never becomes text silently
    ("x = 1;\nmin_size = 0;\n", {"min_size": "abc"}, "'min_size': 'abc' is not a number (the script's value is 0)", 2),
    ("min_size = 0;\n", {"min_size": "-1e999"}, "'-1e999' is too large for a number", 1),
])
def test_a_value_that_does_not_fit_its_parameter_names_it(text, params, fragment, line, language):
    from fijirun.errors import ParameterError

    with pytest.raises(ParameterError) as info:
        prepare_script(text, language, params, path="course.ijm")
    assert fragment in str(info.value)
    assert info.value.line == line


def test_a_boolean_literal_takes_true_or_false_only():
    from fijirun.errors import ParameterError

    assert "flag = false;" in prepare_script("flag = true;\n", MACRO, {"flag": "False"}).text
    with pytest.raises(ParameterError, match="'maybe' is not true or false"):
        prepare_script("flag = true;\n", MACRO, {"flag": "maybe"})


def test_preparation_keeps_line_numbers():
    text = "#@ Integer a\n// comment\nb = FIXME; // set me\nfunction f() {\n  b = 3;\n}\nprint(a + b);\n"
    prepared = prepare_script(text, MACRO, {"a": 1, "b": 2})
    assert prepared.text.splitlines() == ["a = 1;", "// comment", "b = 2; // set me", "function f() {",
                                          "  b = 3;", "}", "print(a + b);"]


def test_fixme_inside_a_function_is_not_a_template_variable():
    text = "function f() {\n  x = FIXME;\n}\n"
    assert prepare_script(text, MACRO).text == text


def test_url_resolution_by_path_then_by_name(tmp_path):
    (tmp_path / "image_data" / "sub").mkdir(parents=True)
    (tmp_path / "image_data" / "a.tif").write_bytes(b"1")
    (tmp_path / "image_data" / "sub" / "b.tif").write_bytes(b"2")
    d = DataDir(tmp_path)
    assert d.resolve_url("https://github.com/x/y/raw/master/image_data/a.tif") == tmp_path / "image_data" / "a.tif"
    assert d.resolve_url("https://example.org/elsewhere/b.tif") == tmp_path / "image_data" / "sub" / "b.tif"
    assert d.resolve_url("https://example.org/c%20d.tif") is None


def test_needs_data_when_the_url_is_nowhere(ij_session):
    with pytest.raises(fijirun.NeedsDataError) as info:
        ij_session.run(ACTIVITIES / "missing_url.ijm")
    assert info.value.name == "not_in_the_data_dir.tif"
    assert "needs data not_in_the_data_dir.tif" in str(info.value)


@pytest.fixture
def silent_server():
    """An HTTP address that accepts connections and never answers (a dropped query, a dead host)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/course/data/never_answers.tif"


@pytest.mark.parametrize("language", [MACRO, JYTHON])
def test_a_download_stopped_by_the_timeout_needs_data(ij_session, silent_server, language):
    # Offline, open(url) fails at once or waits seconds, by the network's timing:
    # either way the run needs data, never "timeout" one time and "needs-data" the next.
    code = (f'open("{silent_server}");\nrun("Measure");\n' if language == MACRO
            else f'from ij import IJ\nimp = IJ.openImage("{silent_server}")\nprint(imp)\n')
    r = ij_session.run_code(code, language, timeout=3, raise_on_error=False)
    assert type(r.error) is fijirun.NeedsDataError, r.error
    assert r.error.name == "never_answers.tif" and r.error.url == silent_server
    assert "did not finish within the 3 s timeout" in str(r.error)


def test_a_timeout_outside_any_download_stays_a_timeout(ij_session, silent_server):
    code = f'url = "{silent_server}";\nwhile (true) {{ wait(10); }}\n'
    r = ij_session.run_code(code, MACRO, timeout=2, raise_on_error=False)
    assert type(r.error) is fijirun.ScriptTimeout


def test_open_samples_served_from_data_dir(ij_session):
    r = ij_session.run(ACTIVITIES / "blobs_sample.ijm")
    assert r.log.strip() == "blobs.gif 256x254"


def test_jython_opens_url_from_data_dir(ij_session):
    code = ('from ij import IJ\nimp = IJ.openImage("https://imagej.net/images/blobs.gif")\n'
            'print("%s %d" % (imp.getTitle(), imp.getWidth()))\n')
    r = ij_session.run_code(code, "jython")
    assert "blobs.gif 256" in r.log
