"""Script files in the encodings course material comes in: UTF-8 with or without a
byte-order mark (Windows editors add one), Windows-1252 / Latin-1.

A BOM used to reach ImageJ as part of the first line ("Undefined identifier"
on line 1) and Latin-1 bytes stopped fijirun with a UnicodeDecodeError.
"""

from __future__ import annotations

import codecs
import json

import pytest

from fijirun.prepare import MACRO, decode_script_bytes, prepare_script, read_script_text, script_names
from fijirun.regress import discover

from conftest import run_cli_json

MACRO_TEXT = 'print("é");\nx = 1;\nprint("µm: " + x);\n'
LOG = "é\nµm: 1\n"

ENCODED = {
    "utf-8": MACRO_TEXT.encode("utf-8"),
    "utf-8-sig": codecs.BOM_UTF8 + MACRO_TEXT.encode("utf-8"),
    "utf-16": MACRO_TEXT.encode("utf-16"),  # with its BOM
    "cp1252": (MACRO_TEXT + 'print("– €");\n').encode("cp1252"),
    "latin-1": (MACRO_TEXT + "// \x81\n").encode("latin-1"),  # 0x81: no character in cp1252
}


@pytest.mark.parametrize("encoding", list(ENCODED))
def test_decode_script_bytes(encoding, tmp_path):
    data = ENCODED[encoding]
    text, found = decode_script_bytes(data)
    assert found == encoding
    assert text.startswith(MACRO_TEXT)
    assert "\ufeff" not in text
    path = tmp_path / "macro.ijm"
    path.write_bytes(data)
    assert read_script_text(path) == (text, encoding)


def test_decode_keeps_line_endings_and_a_bom_with_broken_utf8_falls_back():
    assert decode_script_bytes(b"a = 1;\r\nb = 2;\r\n") == ("a = 1;\r\nb = 2;\r\n", "utf-8")
    assert decode_script_bytes(codecs.BOM_UTF8 + b'print("\xe9");\n') == ('print("é");\n', "cp1252")
    assert decode_script_bytes(b"") == ("", "utf-8")


def test_read_script_text_of_a_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        read_script_text(tmp_path / "missing.ijm")


def test_prepare_script_drops_a_leading_bom():
    prepared = prepare_script("\ufeff#@ Integer size\nprint(size);\n", MACRO, {"size": 3})
    assert prepared.text == "size = 3;\nprint(size);\n"
    assert prepared.original == "#@ Integer size\nprint(size);\n"
    assert prepared.line_text(1) == "#@ Integer size"
    assert script_names("\ufeffoutputDir = FIXME;\n", MACRO) == {"outputDir"}
    # only a leading one: a BOM inside a string is the user's
    assert prepare_script('s = "\ufeff";\n', MACRO).text == 's = "\ufeff";\n'


def test_run_code_with_a_bom(ij_session):
    result = ij_session.run_code("\ufeff" + MACRO_TEXT, "ijm")
    assert result.ok
    assert result.log == LOG


def test_regress_discovers_latin1_and_bom_activities(tmp_path):
    (tmp_path / "latin1.ijm").write_bytes(ENCODED["latin-1"])
    (tmp_path / "bom.ijm").write_bytes(ENCODED["utf-8-sig"])
    (tmp_path / "bom.py").write_bytes(codecs.BOM_UTF8 + "from ij import IJ\nIJ.log(u'é')\n".encode())
    found = {a.path: a for a in discover(tmp_path)}
    assert sorted(found) == ["bom.ijm", "bom.py", "latin1.ijm"]
    assert found["latin1.ijm"].text == MACRO_TEXT + "// \x81\n"
    assert found["bom.ijm"].text == MACRO_TEXT
    assert found["bom.py"].text == "from ij import IJ\nIJ.log(u'é')\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "latin-1"])
def test_cli_runs_a_macro_file_in_any_encoding(encoding, tmp_path, data_dir):
    script = tmp_path / f"macro_{encoding}.ijm"
    script.write_bytes(ENCODED[encoding])
    out = tmp_path / "out"
    code, summary, err = run_cli_json("run", script, "--output", out, "--data-dir", data_dir)
    assert summary["status"] == "ok", (summary, err)
    assert summary["error"] is None
    assert code == 0, err
    record = json.loads((out / "run.json").read_text(encoding="utf-8"))
    expected = {"utf-8-sig": LOG, "cp1252": LOG + "– €\n", "latin-1": LOG}[encoding]
    assert record["log"] == expected
    assert record["status"] == "ok"
