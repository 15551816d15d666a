"""The Great Expectations second opinion fails on planted data, passes on clean data, and a
failing blocking expectation rolls the whole ingest back with a value-free message."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ledger.contract import TRANSACTIONS
from ledger.expectations import SuiteConfig, run_suite
from ledger.ingest import BlockingCheckFailed, ensure_tables, ingest

AS_OF = datetime(2026, 2, 1)
CONFIG = SuiteConfig(daily_rows=(1, 5), freshness_days=30, min_history_rows=10)


def _insert(con: duckdb.DuckDBPyConnection, snapshot: str, rows: list[tuple[str, ...]]) -> None:
    for txn, day, user, tx_type in rows:
        con.execute(
            "INSERT INTO ledger.transactions (txn_id, occurred_at, user_id, tx_type, direction, "
            "asset, amount, fee, _source_file, _snapshot_id) "
            "VALUES (?, CAST(? AS TIMESTAMP), ?, ?, 'in', 'USDT', 1, 0, 'f', ?)",
            [txn, day, user, tx_type, snapshot],
        )


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_tables(con)
    con.execute("INSERT INTO ledger.users (user_id, signup_date) VALUES ('U1', DATE '2025-01-01')")
    history = [(f"H{i}", "2026-01-20", "U1", "top_up") for i in range(12)]
    _insert(con, "old", history)
    return con


def test_clean_batch_passes_and_planted_defects_each_fail(con: duckdb.DuckDBPyConnection) -> None:
    _insert(con, "clean", [(f"C{i}", "2026-01-25", "U1", "top_up") for i in range(3)])
    planted = [(f"P{i}", "2026-01-26", "U1", "withdrawal") for i in range(6)]  # 6 rows in a day
    planted += [("P9", "2025-06-01", "U404", "withdrawal")]  # an orphan, on a stale day
    _insert(con, "planted", planted)
    clean, bad = (
        run_suite(con, ["transactions"], snap, CONFIG, as_of=AS_OF)[0]
        for snap in ("clean", "planted")
    )
    assert (clean.blocking_failures, clean.warnings) == ([], [])
    assert sorted(bad.blocking_failures) == [
        "rows per day outside [1, 5] (on 1 day(s))",
        "user_id references no row of users (on 1 day(s))",
    ]
    assert bad.warnings[0].startswith("transaction-type mix diverges from history")


def test_stale_and_empty_batches_warn(con: duckdb.DuckDBPyConnection) -> None:
    _insert(con, "stale", [("S1", "2025-01-01", "U1", "top_up")])
    [stale] = run_suite(con, ["transactions"], "stale", CONFIG, as_of=AS_OF)
    assert stale.warnings == [
        "newest transaction older than 30 days (observed 2025-01-01 00:00:00)"
    ]
    [empty] = run_suite(con, ["transactions"], "nothing", CONFIG, as_of=AS_OF)
    assert "batch loaded no rows" in " ".join(empty.warnings)


def test_a_failing_blocking_expectation_leaves_the_ledger_unchanged(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    (landing / "transactions").mkdir(parents=True)

    def day(name: str, n: int) -> None:
        rows = [
            dict.fromkeys(TRANSACTIONS.column_names)
            | {
                "txn_id": f"{name}{i}",
                "occurred_at": "2026-11-20T10:00:00Z",
                "user_id": "U1",
                "tx_type": "top_up",
                "direction": "in",
                "asset": "USDT",
                "amount": 1.0,
                "fee": 0.0,
                "ip_address": "203.0.113.77",
            }
            for i in range(n)
        ]
        pq.write_table(pa.Table.from_pylist(rows), landing / "transactions" / f"{name}.parquet")

    con = duckdb.connect()
    suite = SuiteConfig(daily_rows=(1, 3))
    day("a", 2)
    ingest(con, landing, suite=suite)
    state = (
        "SELECT (SELECT list(txn_id ORDER BY txn_id) FROM ledger.transactions), "
        "(SELECT count(*) FROM ledger.quarantine), (SELECT list(file_path) FROM ledger.files)"
    )
    before = con.execute(state).fetchall()
    day("b", 4)
    with pytest.raises(BlockingCheckFailed) as failed:
        ingest(con, landing, suite=suite)
    assert con.execute(state).fetchall() == before
    message = str(failed.value)
    assert "rows per day outside [1, 3]" in message and "ledger is unchanged" in message
    assert "203.0.113" not in message
    with pytest.raises(BlockingCheckFailed):  # not recorded as loaded: it is checked again
        ingest(con, landing, suite=suite)
