"""Table row counts without pandas agree with the parsed tables (the CLI's summary uses them)."""

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fijirun.outputs import count_table_rows, read_table

_cell = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: f"{v:.3f}"),
    st.text(alphabet="ab ,\t\n\"xyz-é", max_size=8),  # labels: delimiters, quotes, line breaks
    st.just(""),
    st.sampled_from([" ", "\t", "  \t ", '" "']),  # whitespace-only cells: pandas' blank lines
)


@settings(max_examples=300, deadline=None)
@given(sep=st.sampled_from([",", "\t"]), n_cols=st.integers(1, 5), rows=st.data(),
       row_numbers=st.booleans(), blank_lines=st.lists(st.integers(0, 30), max_size=3))
def test_row_count_matches_pandas(tmp_path_factory, sep, n_cols, rows, row_numbers, blank_lines):
    body = rows.draw(st.lists(st.lists(_cell, min_size=n_cols, max_size=n_cols), max_size=25))
    header = ["Label"] + [f"C{i}" for i in range(1, n_cols)]
    if row_numbers:  # ImageJ's unnamed row-number column
        header = [" "] + header
        body = [[str(i + 1)] + row for i, row in enumerate(body)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    lines = []
    for row in body:
        line = io.StringIO()
        csv.writer(line, delimiter=sep, lineterminator="\n").writerow(row)
        lines.append(line.getvalue())
    for at in blank_lines:  # blank lines between records, which pandas skips
        lines.insert(min(at, len(lines)), "\n")
    path = tmp_path_factory.mktemp("t") / ("t.csv" if sep == "," else "t.txt")
    path.write_text(buf.getvalue() + "".join(lines), encoding="utf-8")
    assume_parsable(path)
    assert count_table_rows(path) == len(read_table(path))


def assume_parsable(path):
    from hypothesis import assume

    try:
        read_table(path)
    except Exception:  # noqa: BLE001 - a table pandas itself refuses is no comparison
        assume(False)


@pytest.mark.parametrize("name", ["empty.csv", "header_only.csv"])
def test_empty_tables(tmp_path, name):
    path = tmp_path / name
    path.write_text("" if name == "empty.csv" else " ,Area,Mean\n")
    assert count_table_rows(path) == len(read_table(path)) == 0


def test_tables_saved_by_imagej(ij_session, tmp_path):
    # ImageJ's own writing: labels with delimiters and quotes, a row-number column, 3 formats
    macro = (
        'for (i = 0; i < 7; i++) {\n'
        '  setResult("Label", i, "cell, " + i + " \\"a\\"\tb");\n'
        '  setResult("Area", i, i * 1.5);\n'
        '}\n'
        'updateResults();\n'
    )
    out = tmp_path / "out"
    code = ('#@ File (style="directory") outputDir\n' + macro
            + 'saveAs("Results", outputDir + "/t.csv");\n'
            + 'saveAs("Results", outputDir + "/t.txt");\n'
            + 'saveAs("Results", outputDir + "/t.xls");\n')
    result = ij_session.run_code(code, "ijm", output_dir=out)
    assert sorted(result.tables) == ["t.csv", "t.txt", "t.xls"]
    for name in result.tables:
        assert count_table_rows(out / name) == len(read_table(out / name)) == 7, name
    assert result.summary()["n_results_rows"] == 7
    assert result.summary()["n_results_rows_all_tables"] == 21
