"""The combined results table of a batch: never undone by a file that is not a table."""

import pytest

from fijirun.batch.combine import combine_tables, table_choice


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
    choice = table_choice(images)
    # a .csv and a .txt of one name are one table; only "a" held two different ones
    assert (choice["several_tables"], choice["example"], choice["without_table"]) == (
        1, ["a_results.csv", "a_results.txt", "a_summary.csv"], [])
    summary = combine_tables(tmp_path, images, "*_summary.csv")
    assert summary[["image", "Count"]].values.tolist() == [["a", 2]]
    assert table_choice(images, "*_summary.csv") == {"pattern": "*_summary.csv", "without_table": ["b"],
                                                     "several_tables": 0, "example": None}
    txt = combine_tables(tmp_path, images, "*.txt")
    assert txt["Area"].tolist() == [9, 16, 25]
