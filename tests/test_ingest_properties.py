"""Property tests of ingest over generated landing batches.

Hypothesis builds batches with hostile file names, three formats in any letter case, several
encodings, truncated and corrupted files, short and long CSV rows, NaN/inf and out-of-range
amounts, invisible characters in keys and duplicate keys within and across files and runs; then
deletes and renames files between runs. After every run: rows read = rows loaded + rows
quarantined per file and in total (from what was written), every quarantine row names its file
and row or line, no key is loaded twice, only unreadable files are rejected, and a run with
nothing new changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.ingest import IngestReport, ingest

NAME_CHARS = st.sampled_from(list("ab09-_ ?*[]{}'\",;é张") + ["\u200b"])
KEYS = [f"T{i}" for i in range(12)] + ["T1\u200b", "T2\x07"]
AMOUNTS = st.one_of(
    st.floats(min_value=0.01, max_value=1e6),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, -5.0, 1e15]),
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, object]:
    return {
        "txn_id": draw(st.sampled_from(KEYS)),
        "occurred_at": draw(
            st.sampled_from(["2026-01-02T10:00:00Z", "2026-01-03 08:00:00+08:00", "0001-01-01"])
        ),
        "user_id": draw(st.sampled_from(["U1", "U2", "U9"])),
        "tx_type": "top_up",
        "direction": "in",
        "asset": draw(st.sampled_from(["USDT", "ETH", "DOGEX"])),
        "amount": draw(AMOUNTS),
        "fee": 0.0,
    }


@dataclass
class Spec:
    name: str
    fmt: str
    rows: list[dict[str, object]]
    damage: str  # none | truncate | corrupt | short_row | long_row | bad_line
    encoding: str

    @property
    def unreadable(self) -> bool:
        """Files that cannot be read at all: only these may be rejected."""
        return self.fmt == "parquet" and self.damage in ("truncate", "corrupt")


@st.composite
def file_specs(draw: st.DrawFn, index: int) -> Spec:
    fmt = draw(st.sampled_from(["parquet", "csv", "jsonl"]))
    ext = draw(st.sampled_from([fmt, fmt.upper(), fmt.capitalize()]))
    stem = draw(st.text(NAME_CHARS, min_size=1, max_size=8)).strip() or "x"
    return Spec(
        name=f"{index}{stem}.{ext}",
        fmt=fmt,
        rows=draw(st.lists(records(), min_size=1, max_size=6)),
        damage=draw(
            st.sampled_from(["none", "none", "truncate", "corrupt", "short_row", "long_row"])
        ),
        encoding=draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])),
    )


def _bytes(spec: Spec) -> bytes:
    columns = list(spec.rows[0])
    if spec.fmt == "parquet":
        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(spec.rows), buffer)
        data = buffer.getvalue()
    elif spec.fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for i, row in enumerate(spec.rows):
            values = [str(row[c]) for c in columns]
            if i == len(spec.rows) - 1 and spec.damage == "short_row":
                values = values[:3]
            if i == 0 and spec.damage == "long_row":
                values = [*values, "extra"]
            writer.writerow(values)
        data = out.getvalue().encode(spec.encoding)
    else:
        lines = [json.dumps(r, ensure_ascii=False) for r in spec.rows]
        if spec.damage in ("short_row", "long_row"):
            lines.insert(len(lines) // 2, '{"txn_id": "T1", "amount": ')
        data = ("\n".join(lines) + "\n").encode(
            "utf-8" if spec.encoding == "utf-16" else spec.encoding
        )
    if spec.damage == "corrupt" and spec.fmt == "parquet":
        data = b"not parquet at all" + data[20:-8]
    elif spec.damage == "corrupt":
        # Damage past the header: the header is what makes a CSV readable at all.
        cut = data.find(b"\n") + 1 if spec.fmt == "csv" else 0
        middle = cut + (len(data) - cut) // 2
        data = data[:middle] + b"\x00\xff garbage \xfe" + data[middle:]
    if spec.damage == "truncate":
        header = data.find(b"\n") + 1 if spec.fmt == "csv" else 0
        data = data[: max(header + 1, int(len(data) * 0.7))]
        if spec.fmt == "csv" and spec.encoding == "utf-16":
            data = data[: len(data) - len(data) % 2]
    return data


def _write(landing: Path, specs: list[Spec]) -> dict[str, Spec]:
    folder = landing / "transactions"
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        (folder / spec.name).write_bytes(_bytes(spec))
    return {f"transactions/{s.name}": s for s in specs}


def _users(landing: Path) -> None:
    (landing / "users").mkdir(parents=True, exist_ok=True)
    table = pa.table({"user_id": ["U1", "U2"], "signup_date": ["2025-01-01", "2025-02-01"]})
    pq.write_table(table, landing / "users" / "users.parquet")


def _state(con: duckdb.DuckDBPyConnection) -> tuple[object, ...]:
    return tuple(
        con.execute(q).fetchall()
        for q in (
            "SELECT * FROM ledger.transactions ORDER BY ALL",
            "SELECT * EXCLUDE (quarantined_at) FROM ledger.quarantine ORDER BY ALL",
            "SELECT * FROM ledger.files ORDER BY ALL",
            "SELECT count(*) FROM ledger.snapshots",
        )
    )


def _check_invariants(
    con: duckdb.DuckDBPyConnection, report: IngestReport, specs: dict[str, Spec]
) -> None:
    for f in report.by_status("loaded"):
        assert f.rows_read == f.rows_loaded + f.rows_quarantined, f
        table = "transactions" if f.entity == "transactions" else f.entity
        written = con.execute(
            f"SELECT (SELECT count(*) FROM ledger.{table} WHERE _source_file = $f "
            "AND _snapshot_id = $s) + (SELECT count(*) FROM ledger.quarantine "
            "WHERE source_file = $f AND snapshot_id = $s)",
            {"f": f.relpath, "s": report.snapshot_id},
        ).fetchone()
        assert written == (f.rows_read,), f
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    for f in report.by_status("rejected"):
        spec = specs.get(f.relpath)
        assert spec is not None and spec.unreadable, f"a readable file was rejected: {f.error}"
    for relpath, spec in specs.items():
        if spec.unreadable:
            statuses = {o.status for o in report.files if o.relpath == relpath}
            assert statuses <= {"rejected", "unchanged", "missing"}, (relpath, statuses)
    totals = con.execute(
        "SELECT sum(rows_read), sum(rows_loaded + rows_quarantined) FROM ledger.files "
        "WHERE status = 'loaded'"
    ).fetchone()
    assert totals is not None and totals[0] == totals[1]
    ledger_rows = con.execute(
        "SELECT (SELECT count(*) FROM ledger.transactions) + (SELECT count(*) FROM ledger.users)"
        " + (SELECT count(*) FROM ledger.quarantine)"
    ).fetchone()
    assert ledger_rows is not None and (totals[0] or 0) == ledger_rows[0]
    nameless = con.execute(
        "SELECT count(*) FROM ledger.quarantine WHERE source_file IS NULL "
        "OR (source_row IS NULL AND source_line IS NULL) OR raw_record IS NULL"
    ).fetchone()
    assert nameless == (0,)
    twice = con.execute(
        "SELECT count(*) - count(DISTINCT txn_id) FROM ledger.transactions"
    ).fetchone()
    assert twice == (0,)
    bad_keys = con.execute(
        "SELECT count(*) FROM ledger.transactions WHERE txn_id IN ('T1\u200b', 'T2\x07') "
        "OR isnan(amount) OR isinf(amount) OR occurred_at < DATE '1900-01-01' "
        "OR user_id NOT IN ('U1', 'U2')"
    ).fetchone()
    assert bad_keys == (0,)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    first=st.lists(st.integers(0, 10**6), min_size=1, max_size=4).flatmap(
        lambda xs: st.tuples(*(file_specs(i) for i in range(len(xs))))
    ),
    second=st.lists(st.integers(0, 10**6), max_size=2).flatmap(
        lambda xs: st.tuples(*(file_specs(10 + i) for i in range(len(xs))))
    ),
    delete=st.booleans(),
    rename=st.booleans(),
)
def test_every_run_reconciles_and_a_rerun_changes_nothing(
    first: tuple[Spec, ...], second: tuple[Spec, ...], delete: bool, rename: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        _users(landing)
        con = duckdb.connect()
        specs = _write(landing, list(first))
        report = ingest(con, landing, suite=None)
        _check_invariants(con, report, specs)
        loaded = [f.relpath for f in report.by_status("loaded") if f.entity == "transactions"]

        gone: str | None = None
        if delete and loaded:
            gone = loaded[0]
            (landing / gone).unlink()
        if rename and len(loaded) > 1:
            old = landing / loaded[1]
            new = old.with_name("renamed ?*[" + old.name)
            old.rename(new)
            specs[new.relative_to(landing).as_posix()] = specs[loaded[1]]
        specs.update(_write(landing, list(second)))
        before = con.execute("SELECT count(*) FROM ledger.transactions").fetchone()
        report = ingest(con, landing, suite=None)
        _check_invariants(con, report, specs)
        if gone is not None:
            [missing] = [f for f in report.files if f.relpath == gone]
            assert missing.status == "missing"
        if rename and len(loaded) > 1:
            renamed = [f for f in report.files if f.relpath.startswith("transactions/renamed")]
            assert [f.status for f in renamed] == ["unchanged"]
        after = con.execute("SELECT count(*) FROM ledger.transactions").fetchone()
        assert before is not None and after is not None and after[0] >= before[0]

        state = _state(con)
        rerun = ingest(con, landing, suite=None)
        assert _state(con) == state
        assert rerun.snapshot_id is None and rerun.rows_read == 0
