"""Ingest: every defect lands in quarantine under the right rule, counts reconcile, re-ingest is a
no-op, and a file that cannot be parsed is rejected whole while the others load."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger.contract import TRANSACTIONS, USERS
from ledger.ingest import IngestReport, discover
from ledger.ingest import ingest as run_ingest


def ingest(con: duckdb.DuckDBPyConnection, landing: Path) -> IngestReport:
    # The GX second opinion has its own tests (test_ingest_expectations.py); skip its cost here.
    return run_ingest(con, landing, suite=None)


def _txn(i: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "txn_id": f"T{i:05d}",
        "occurred_at": "2026-01-02T10:00:00Z",
        "user_id": "U0000001",
        "wallet_id": "W0000001-ETH",
        "tx_type": "top_up",
        "direction": "in",
        "asset": "USDT",
        "amount": 10.0 + i,
        "fee": 0.0,
        "counterparty": None,
        "merchant_id": None,
        "loan_id": None,
        "to_asset": None,
        "country": None,
        "device_id": "dev-1",
        "ip_address": "10.0.0.1",
    }
    row.update(over)
    return row


DEFECTS: dict[str, dict[str, object]] = {
    "amount_not_positive": {"amount": 0.0},
    "unknown_asset": {"asset": "DOGEX"},
    "malformed_timestamp": {"occurred_at": "2026-13-45T99:00:00Z"},
    "future_timestamp": {"occurred_at": "2031-01-01T00:00:00Z"},
    "missing_user_id": {"user_id": None},
    "missing_merchant_id": {"tx_type": "merchant_payment", "direction": "out"},
    "direction_mismatch": {"direction": "out"},
    "unknown_tx_type": {"tx_type": "airdrop"},
    "negative_fee": {"fee": -1.0},
}


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    (root / "transactions").mkdir(parents=True)
    rows = [_txn(i) for i in range(20)]
    for offset, overrides in enumerate(DEFECTS.values()):
        rows.append(_txn(100 + offset, **overrides))
    rows.append(_txn(3))  # duplicate of row 3 in the same file: the later one is quarantined
    pq.write_table(pa.Table.from_pylist(rows), root / "transactions" / "2026-01-02.parquet")
    header = ",".join(TRANSACTIONS.column_names)
    blank = [""] * (len(TRANSACTIONS.column_names) - 9)
    with (root / "transactions" / "2026-01-03.csv").open("w") as fh:
        fh.write(header + "\n")
        good = ["T20000", "2026-01-03T10:00:00+08:00", "U0000001", "", "top_up", "in", "USDT"]
        fh.write(",".join([*good, "12.5", "0", *blank]) + "\n")
        fh.write(",".join([*good[:0], "T20001", *good[1:], '"12,5O"', "0", *blank]) + "\n")
    with (root / "transactions" / "2026-01-04.jsonl").open("w") as fh:
        fh.write(json.dumps(_txn(30000, txn_id="T00003")) + "\n")  # duplicate across files
        fh.write(json.dumps(_txn(30001)) + "\n")
    (root / "transactions" / "2026-01-05.parquet").write_bytes(b"this is not parquet")
    return root


def _con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(tmp_path / "warehouse.duckdb"))


def test_each_defect_lands_in_quarantine_under_its_rule(landing: Path, tmp_path: Path) -> None:
    con = _con(tmp_path)
    ingest(con, landing)
    quarantined = {
        (f, row): rules
        for f, row, rules in con.execute(
            "SELECT source_file, source_row, failed_rules FROM ledger.quarantine"
        ).fetchall()
    }
    for offset, rule in enumerate(DEFECTS):
        assert quarantined[("transactions/2026-01-02.parquet", 20 + offset)] == [rule]
    assert quarantined[("transactions/2026-01-02.parquet", 29)] == ["duplicate_txn_id"]
    assert quarantined[("transactions/2026-01-03.csv", 1)] == ["unparseable_amount"]
    assert quarantined[("transactions/2026-01-04.jsonl", 0)] == ["duplicate_txn_id"]
    assert len(quarantined) == len(DEFECTS) + 3
    raw = json.loads(
        con.execute(
            "SELECT raw_record FROM ledger.quarantine WHERE source_file LIKE '%csv'"
        ).fetchone()[0]
    )
    assert raw["amount"] == "12,5O" and raw["txn_id"] == "T20001"


def test_counts_reconcile_and_offsets_become_utc(landing: Path, tmp_path: Path) -> None:
    con = _con(tmp_path)
    report = ingest(con, landing)
    loaded = [f for f in report.files if f.status == "loaded"]
    assert len(loaded) == 3
    for f in loaded:
        assert f.rows_read == f.rows_loaded + f.rows_quarantined
    total = con.execute("SELECT count(*) FROM ledger.transactions").fetchone()[0]
    quarantine = con.execute("SELECT count(*) FROM ledger.quarantine").fetchone()[0]
    assert report.rows_read == total + quarantine == 30 + 2 + 2
    files = con.execute(
        "SELECT sum(rows_read), sum(rows_loaded) + sum(rows_quarantined) FROM ledger.files"
    ).fetchone()
    assert files[0] == files[1] == report.rows_read
    ts = con.execute(
        "SELECT CAST(occurred_at AS VARCHAR) FROM ledger.transactions WHERE txn_id = 'T20000'"
    ).fetchone()[0]
    assert ts == "2026-01-03 02:00:00"


def test_unparseable_file_is_rejected_whole_and_named(landing: Path, tmp_path: Path) -> None:
    con = _con(tmp_path)
    report = ingest(con, landing)
    [rejected] = report.by_status("rejected")
    assert rejected.relpath == "transactions/2026-01-05.parquet"
    assert "2026-01-05.parquet" in (rejected.error or "") and "parquet" in (rejected.error or "")
    status = con.execute(
        "SELECT status, error IS NOT NULL FROM ledger.files WHERE file_path LIKE '%01-05%'"
    ).fetchone()
    assert status == ("rejected", True)
    assert (
        con.execute(
            "SELECT count(*) FROM ledger.transactions WHERE _source_file LIKE '%01-05%'"
        ).fetchone()[0]
        == 0
    )


def test_reingesting_the_same_files_is_a_no_op(landing: Path, tmp_path: Path) -> None:
    con = _con(tmp_path)
    state = (
        "SELECT (SELECT count(*) FROM ledger.transactions), (SELECT count(*) FROM ledger.quarantine),"
        " (SELECT list(file_path || status || ingested_at ORDER BY file_path) FROM ledger.files)"
    )
    first = ingest(con, landing)
    before = con.execute(state).fetchone()
    second = ingest(con, landing)
    assert con.execute(state).fetchone() == before
    statuses = {f.relpath: f.status for f in second.files}
    assert statuses.pop("transactions/2026-01-05.parquet") == "rejected"  # still, not retried
    assert set(statuses.values()) == {"unchanged"}
    assert second.snapshot_id is None and first.snapshot_id is not None
    snapshots = con.execute("SELECT count(*) FROM ledger.snapshots").fetchone()[0]
    assert snapshots == 1


def test_new_file_gets_a_new_snapshot_and_keeps_old_rows(landing: Path, tmp_path: Path) -> None:
    con = _con(tmp_path)
    first = ingest(con, landing)
    pq.write_table(
        pa.Table.from_pylist([_txn(40000)]), landing / "transactions" / "2026-01-06.parquet"
    )
    second = ingest(con, landing)
    assert second.snapshot_id not in (None, first.snapshot_id)
    assert [f.relpath for f in second.by_status("loaded")] == ["transactions/2026-01-06.parquet"]
    assert (
        con.execute("SELECT count(DISTINCT _snapshot_id) FROM ledger.transactions").fetchone()[0]
        == 2
    )


def test_missing_required_column_rejects_the_file_with_the_column_named(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "users").mkdir(parents=True)
    table = pa.table({"user_id": ["U1"], "full_name": ["Ann Lee"]})
    pq.write_table(table, landing / "users" / "users.parquet")
    report = ingest(_con(tmp_path), landing)
    [rejected] = report.by_status("rejected")
    error = rejected.error or ""
    assert "signup_date" in error and "users/users.parquet" in error
    assert "mobile" not in error.split(";")[0] and "Ann Lee" not in error


def test_discover_orders_reference_entities_before_transactions(landing: Path) -> None:
    (landing / "users").mkdir()
    pq.write_table(
        pa.table({c: pa.array([], pa.string()) for c in USERS.column_names}),
        landing / "users" / "users.parquet",
    )
    entities = [f.entity for f in discover(landing)]
    assert entities[0] == "users" and set(entities[1:]) == {"transactions"}
