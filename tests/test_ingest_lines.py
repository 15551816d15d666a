"""A CSV row that parses but breaks a value rule is named by its line in the file, counted the way
the parser counts rejects: header = line 1, a quoted field spanning lines moves the rest down."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.contract import TRANSACTIONS
from ledger.ingest import ingest
from ledger.readers import _record_lines, jsonl_lines

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


def _reader_starts(data: bytes) -> list[int]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=",")
    next(reader, None)
    starts, end = [], reader.line_num
    for _ in reader:
        starts.append(end + 1)
        end = reader.line_num
    return starts


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="ab,;\n \t\x85\u2028é", max_size=12), max_size=12))
def test_line_counting_shortcut_agrees_with_the_csv_reader(parts: list[str]) -> None:
    """Files without quotes, CR or NUL are counted by newlines; the CSV reader must agree."""
    data = "\n".join(parts).encode("utf-8")
    assert _record_lines(data, "utf-8", ",") == _reader_starts(data)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet='ab,"\n ;', max_size=6), min_size=2, max_size=2), max_size=10
    )
)
def test_line_counting_with_quoted_fields_agrees_with_the_csv_reader(
    rows: list[list[str]],
) -> None:
    """Quoted files are counted by newlines only when the parser found one record per line; a
    quoted field over several lines leaves lines over, and then the CSV reader counts."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["x", "y"])
    writer.writerows(rows)
    data = out.getvalue().encode("utf-8")
    starts = _reader_starts(data)
    assert _record_lines(data, "utf-8", ",", len(starts)) == starts
    assert _record_lines(data, "utf-8", ",") == starts


def _lines_bytewise(data: bytes) -> tuple[list[str | None], list[str], list[int]]:
    texts: list[str | None] = []
    raws: list[str] = []
    lines: list[int] = []
    for number, chunk in enumerate(data.split(b"\n"), start=1):
        if chunk.strip():
            raw = chunk.rstrip(b"\r")
            try:
                texts.append(raw.decode("utf-8"))
                raws.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(None)
                raws.append(raw.decode("utf-8", errors="backslashreplace"))
            lines.append(number)
    return texts, raws, lines


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet='{}"a: \t\r\n\x0b\x0c\xa0\u2028\u3000é', max_size=10), max_size=10)
)
def test_jsonl_lines_decoded_whole_agree_with_line_by_line(parts: list[str]) -> None:
    """A UTF-8 file is split as text; line numbers, texts and blank lines match bytewise splitting
    (Unicode spaces are content, not blank)."""
    data = "\n".join(parts).encode("utf-8")
    assert jsonl_lines(data) == _lines_bytewise(data)


def test_jsonl_with_a_broken_utf16_mark_is_rejected_alone(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "transactions"
    folder.mkdir(parents=True)
    (folder / "bad.jsonl").write_bytes(b"\xff\xfe" + b"\x00\xd8")
    good = {c: "" for c in COLUMNS} | {"txn_id": "T1", "occurred_at": "2026-01-02T10:00:00Z"}
    good |= {"user_id": "U1", "tx_type": "top_up", "direction": "in", "asset": "USDT"}
    good |= {"amount": "1.5", "fee": "0"}
    (folder / "good.jsonl").write_text(json.dumps(good) + "\n")
    con = duckdb.connect()
    report = ingest(con, tmp_path / "landing", suite=None)
    by_file = {f.relpath: f for f in report.files}
    bad, ok = by_file["transactions/bad.jsonl"], by_file["transactions/good.jsonl"]
    assert bad.status == "rejected" and "UTF-16" in (bad.error or "")
    assert ok.status == "loaded" and ok.rows_read == 1
