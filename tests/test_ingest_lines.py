"""A CSV row that parses but breaks a value rule is named by its line in the file, counted the way
the parser counts rejects: header = line 1, a quoted field spanning lines moves the rest down."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.contract import TRANSACTIONS
from ledger.ingest import ingest
from ledger.readers import _record_lines

COLUMNS = TRANSACTIONS.column_names


def _row(i: int, amount: str = "1.5", country: str = "") -> str:
    values = [f"T{i:05d}", "2026-01-02T10:00:00Z", "U1", "", "top_up", "in", "USDT", amount, "0"]
    values += [""] * (len(COLUMNS) - len(values))
    values[COLUMNS.index("country")] = country
    return ",".join(values)


def test_value_rule_rejects_carry_their_line_beside_parser_rejects(tmp_path: Path) -> None:
    lines = [_row(i) for i in range(12)]
    lines[3] = _row(3, amount="NaN")  # line 5
    lines.insert(5, "T77777,2026-01-02T10:00:00Z")  # line 7: too few columns (parser reject)
    lines[8] = _row(7, country='"two\nlines"')  # a quoted field over lines 10-11: loads
    lines[10] = _row(90, amount="-3")  # after the two-line record: line 13
    folder = tmp_path / "landing" / "transactions"
    folder.mkdir(parents=True)
    (folder / "day.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(lines) + "\n")
    con = duckdb.connect()
    report = ingest(con, tmp_path / "landing", suite=None)
    [outcome] = report.files
    assert outcome.rows_read == 13
    got = con.execute(
        "SELECT source_line, failed_rules FROM ledger.quarantine ORDER BY source_line"
    ).fetchall()
    lines_by_rule = {r[0]: r[1] for r in got}
    assert lines_by_rule[7] == ["csv_too_few_columns"]
    assert 5 in lines_by_rule and any("amount" in rule for rule in lines_by_rule[5])
    assert 13 in lines_by_rule and any("amount" in rule for rule in lines_by_rule[13])
    assert set(lines_by_rule) == {5, 7, 13}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab,;\n \t\x85\u2028é", max_size=12), max_size=12))
def test_line_counting_shortcut_agrees_with_the_csv_reader(parts: list[str]) -> None:
    """Files without quotes, CR or NUL are counted by newlines; the CSV reader must agree."""
    data = "\n".join(parts).encode("utf-8")
    fast = _record_lines(data, "utf-8", ",")
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=",")
    next(reader, None)
    starts, end = [], reader.line_num
    for _ in reader:
        starts.append(end + 1)
        end = reader.line_num
    assert fast == starts
