"""input=, output_dir=, timeout= and params= of Session.run, and ParameterError on the command line.

Each test here failed on the code before it (9fd2237): a value silently ignored, taken for
something it is not, or turned into another, or a ParameterError that exited 1.
"""

from __future__ import annotations

import pytest

import fijirun
from fijirun.errors import InputError, ParameterError
from fijirun.prepare import MACRO, output_dir_name

from conftest import RANDOMSHAPES, run_cli_json


def test_params_must_be_a_mapping(ij_session):
    with pytest.raises(ParameterError, match="params must be a mapping"):
        ij_session.run_code("x = 1;\n", "ijm", "abc")


def test_a_twenty_digit_integer_on_the_command_line(tmp_path):
    big = "99999999999999999999"
    plain = tmp_path / "big2.ijm"
    plain.write_text("n = 0;\nprint(n);\n")
    code, obj, _ = run_cli_json("run", plain, "--set", f"n={big}")
    assert code == 0, obj  # a macro number is a double: 1e20 fits (an InternalError before)
    typed = tmp_path / "typed.ijm"
    typed.write_text("#@ Integer d\nprint(d);\n")
    code, obj, err = run_cli_json("run", typed, "--set", f"d={big}")
    assert code == 2 and obj["error"]["type"] == "ParameterError"
    assert obj["error"]["line"] == 1 and "'d' (Integer)" in obj["error"]["message"]
    assert f"{typed}:1:" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("text, name", [
    ('output = "Masks";\n', None),
    ("output = 3;\n", None),
    ('output = "";\n', "output"),
    ('output = "/home/me/out/";\n', "output"),
    ("outputDir = FIXME;\n", "outputDir"),
    ('outputDir = getDirectory("home");\n', "outputDir"),
    ("#@ Integer output\n", None),
    ('#@ File (style="directory") output\n', "output"),
])
def test_only_a_folder_variable_is_the_output_folder(text, name):
    assert output_dir_name(text, MACRO) == name


def test_output_masks_stays_masks(ij_session, tmp_path):
    r = ij_session.run_code('output = "Masks";\nprint(output);\n', "ijm", output_dir=tmp_path / "out")
    assert r.log.strip() == "Masks"


def test_input_without_an_input_variable_is_refused(ij_session):
    with pytest.raises(ParameterError, match="no input parameter .*inputFile"):
        ij_session.run_code('print("arg=" + getArgument());\n', "ijm", input=RANDOMSHAPES)


def test_input_keeps_the_name_of_a_link(ij_session, tmp_path):
    link = tmp_path / "my image.tif"
    link.symlink_to(RANDOMSHAPES)
    r = ij_session.run_code("input = FIXME;\nprint(File.getNameWithoutExtension(input));\n", "ijm", input=link)
    assert r.log.strip() == "my image"
    assert r.parameters["input"] == str(link)


def test_input_given_twice_is_refused(ij_session, tmp_path):
    # params' value was used and input= silently ignored
    with pytest.raises(ParameterError, match="'input' is given twice"):
        ij_session.run_code("input = FIXME;\nprint(input);\n", "ijm", {"input": str(tmp_path / "other.tif")},
                            input=RANDOMSHAPES)


def test_a_missing_input_is_an_input_error_before_the_run(ij_session, tmp_path):
    with pytest.raises(InputError, match="no such file: /nope.tif"):
        ij_session.run_code("input = FIXME;\nopen(input);\n", "ijm", input="/nope.tif")
    with pytest.raises(InputError, match="is a folder"):
        ij_session.run_code("input = FIXME;\nopen(input);\n", "ijm", input=tmp_path)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), 1e300, "abc", True])
def test_a_bad_timeout_is_refused(ij_session, timeout):
    with pytest.raises(ParameterError, match="timeout="):
        ij_session.run_code("x = 1;\n", "ijm", timeout=timeout)


def test_a_bad_session_timeout_is_refused():
    with pytest.raises(ParameterError, match="timeout='x'"):
        fijirun.Session(timeout="x")


def test_output_dir_given_twice_is_refused(ij_session, tmp_path):
    with pytest.raises(ParameterError, match="'outputDir' is given twice"):
        ij_session.run_code("outputDir = FIXME;\n", "ijm", {"outputDir": str(tmp_path / "a")},
                            output_dir=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_parameter_error_on_the_command_line_exits_2(tmp_path):
    script = tmp_path / "p.ijm"
    script.write_text("n = 0;\nprint(n);\n")
    code, obj, err = run_cli_json("run", script, "--set", "n=abc")
    assert code == 2 and obj["error"]["type"] == "ParameterError" and obj["error"]["line"] == 1
    assert len(err.strip().splitlines()) == 1


def test_a_folder_or_input_that_is_no_path_is_refused(ij_session):
    # Path(5) was a raw TypeError
    with pytest.raises(ParameterError, match="'outputDir' is the output folder: give a path, not 5"):
        ij_session.run_code("outputDir = FIXME;\n", "ijm", {"outputDir": 5})
    with pytest.raises(ParameterError, match="input= must be a path, not 5"):
        ij_session.run_code("input = FIXME;\n", "ijm", input=5)
