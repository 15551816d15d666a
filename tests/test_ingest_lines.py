"""A CSV row that parses but breaks a value rule is named by its line in the file, counted the way
the parser counts rejects: header = line 1, a quoted field spanning lines moves the rest down."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ledger.contract import TRANSACTIONS
from ledger.ingest import ingest

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
