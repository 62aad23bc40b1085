"""The combined results table of a batch: never undone by a file that is not a table."""

import pandas as pd
import pytest

from fijirun.batch.combine import (
    combine_tables,
    matches_no_table,
    table_choice,
    table_pattern_problem,
    write_combined,
)


def _image(outdir, name, filename, text):
    (outdir / name).mkdir(parents=True)
    (outdir / name / filename).write_text(text)
    return {"status": "ok", "outputs": [{"path": filename}]}


@pytest.mark.parametrize("same_header", [True, False])
def test_a_text_output_that_is_no_table_is_left_out(tmp_path, caplog, same_header):
    # a Jython script's notes.txt: the first line looks like a header, a later one has more fields
    header = " \tArea\tMean" if same_header else "cpus=2"
    images = {
        "a": _image(tmp_path, "a", "t.txt", " \tArea\tMean\n1\t10\t5.5\n2\t20\t6.5\n"),
        "b": _image(tmp_path, "b", "t.txt", f"{header}\n-Xlog:cds=off,cds+dynamic=off\n1\t2\t3\t4\t5\t6\n"),
        "c": _image(tmp_path, "c", "t.txt", " \tArea\tMean\n1\t30\t7.5\n"),
    }
    table = combine_tables(tmp_path, images)
    assert set(table["image"]) <= {"a", "b", "c"}  # never a shifted value in the image column
    good = table[table["image"] != "b"]
    assert good["image"].tolist() == ["a", "a", "c"]
    assert good["Area"].tolist() == [10, 20, 30] and good["row"].tolist() == [1, 2, 1]
    if same_header:
        assert "b" not in set(table["image"])
        assert "not a table" in caplog.text and str(tmp_path / "b" / "t.txt") in caplog.text
    else:  # its own header: read as RunResult.table reads it (pandas' implicit index)
        assert len(table[table["image"] == "b"]) == 2


def test_only_non_tables_give_an_empty_table(tmp_path):
    images = {"a": _image(tmp_path, "a", "notes.csv", "a,b\n1,2\n1,2,3,4\n")}
    table = combine_tables(tmp_path, images)
    assert list(table.columns) == ["image", "row"] and len(table) == 0


def _image_with(outdir, name, files):
    (outdir / name).mkdir(parents=True)
    for filename, text in files.items():
        (outdir / name / filename).write_text(text)
    return {"status": "ok", "outputs": [{"path": f} for f in files]}


def test_a_pattern_chooses_the_table_and_the_choice_is_reported(tmp_path):
    images = {
        "a": _image_with(tmp_path, "a", {"a_results.csv": " ,Area\n1,9\n2,16\n",
                                         "a_results.txt": " \tArea\n1\t9\n2\t16\n",
                                         "a_summary.csv": "Slice,Count\na,2\n"}),
        "b": _image_with(tmp_path, "b", {"b_results.csv": " ,Area\n1,25\n", "b_results.txt": " \tArea\n1\t25\n"}),
        "c": {"status": "failed", "outputs": []},
    }
    default = combine_tables(tmp_path, images)
    assert default["Area"].tolist() == [9, 16, 25]  # the first table by name: a_results.csv, b_results.csv
    choice = table_choice(images, None, default)
    # a .csv and a .txt of one name are one table; only "a" held two different ones
    assert (choice["several_tables"], choice["example"], choice["without_rows"]) == (
        1, ["a_results.csv", "a_results.txt", "a_summary.csv"], [])
    summary = combine_tables(tmp_path, images, "*_summary.csv")
    assert summary[["image", "Count"]].values.tolist() == [["a", 2]]
    assert table_choice(images, "*_summary.csv", summary) == {
        "pattern": "*_summary.csv", "without_rows": ["b"], "several_tables": 0, "example": None}
    assert combine_tables(tmp_path, images, "*.txt")["Area"].tolist() == [9, 16, 25]
    assert matches_no_table(images, "*_summary.csv") is None
    assert matches_no_table(images, "*_counts.csv") == ["a_results.csv", "a_results.txt", "a_summary.csv",
                                                        "b_results.csv", "b_results.txt"]


@pytest.mark.parametrize("header", ["row,value", " ,row,value", "row\tvalue"])
def test_a_column_named_row_is_kept_beside_the_row_number(tmp_path, header):
    """A plate's well table has its own 'row' (A, B...): combining crashed ('cannot insert row')
    or made two 'row' columns (the Parquet file was then not written)."""
    sep = "\t" if "\t" in header else ","
    numbered = header.startswith(" ")
    body = [sep.join(([str(i + 1)] if numbered else []) + [r, str(v)]) for i, (r, v) in enumerate([("A", 4), ("B", 5)])]
    images = {name: _image_with(tmp_path, name, {"wells.csv": "\n".join([header, *body]) + "\n"})
              for name in ("p1", "p2")}
    table = combine_tables(tmp_path, images)
    assert list(table.columns) == ["image", "row", "row.1", "value"]
    assert table["row"].tolist() == [1, 2, 1, 2] and table["row.1"].tolist() == ["A", "B", "A", "B"]
    out = tmp_path / "combined"
    out.mkdir()
    write_combined(out, table, {})
    assert pd.read_parquet(out / "results.parquet").columns.tolist() == list(table.columns)


def test_a_table_changed_since_its_run_is_left_out(tmp_path, caplog):
    """A resume combines again: a table replaced by a link, or edited, is not what the run wrote."""
    from fijirun.outputs import sha256

    images = {}
    for name in ("a", "b", "c"):
        images[name] = _image_with(tmp_path, name, {"t.csv": " ,Area\n1,7\n"})
        images[name]["outputs"][0]["sha256"] = sha256(tmp_path / name / "t.csv")
    (tmp_path / "b" / "t.csv").write_text(" ,Area\n1,999\n")
    foreign = tmp_path / "foreign.csv"
    foreign.write_text(" ,Area\n1,555\n")
    (tmp_path / "c" / "t.csv").unlink()
    (tmp_path / "c" / "t.csv").symlink_to(foreign)
    foreign_hash = sha256(foreign)
    images["c"]["outputs"][0]["sha256"] = foreign_hash  # even with the right bytes, a link is not the run's file
    table = combine_tables(tmp_path, images)
    assert table[["image", "Area"]].values.tolist() == [["a", 7]]
    assert "changed or replaced since its run wrote it" in caplog.text
    assert table_choice(images, None, table)["without_rows"] == ["b", "c"]


@pytest.mark.parametrize("pattern, fine", [
    ("*_summary.csv", True), ("*", True), ("tables/*.csv", True), ("*.c*", True), ("my table é.csv", True),
    ("", False), ("  ", False), ("/abs/*.csv", False), ("../*.csv", False), ("*.csv/", False),
    ("a\nb.csv", False), ("*.tif", False), ("*.zip", False), ("[" * 1001, False),
])
def test_table_pattern_problems(pattern, fine):
    problem = table_pattern_problem(pattern)
    assert (problem is None) == fine, problem
    if not fine:
        assert "\n" not in problem  # one line
