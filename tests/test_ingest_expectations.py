"""The Great Expectations second opinion fails on planted data, passes on clean data, and a
failing blocking expectation rolls the whole ingest back with a value-free message. The frame GX
sees is built from exact aggregates: its type mix is checked against the exact divergence."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.contract import ENTITIES, TRANSACTIONS
from ledger.expectations import REFERENCES, SuiteConfig, apportion, run_suite
from ledger.ingest import BlockingCheckFailed, ensure_tables, ingest

AS_OF = datetime(2026, 2, 1)
CONFIG = SuiteConfig(daily_rows=(1, 5), freshness_days=30, min_history_rows=10)


def _insert(
    con: duckdb.DuckDBPyConnection,
    snapshot: str,
    rows: list[tuple[str, ...]],
    wallet: str | None = None,
) -> None:
    # Written straight into the ledger, past routing: the suite must catch what routing missed.
    for txn, day, user, tx_type in rows:
        con.execute(
            "INSERT INTO ledger.transactions (txn_id, occurred_at, user_id, wallet_id, tx_type, "
            "direction, asset, amount, fee, _source_file, _snapshot_id) "
            "VALUES (?, CAST(? AS TIMESTAMP), ?, ?, ?, 'in', 'USDT', 1, 0, 'f', ?)",
            [txn, day, user, wallet, tx_type, snapshot],
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


def test_the_suite_declares_its_own_references_and_covers_every_contract_reference() -> None:
    declared = {(e, col, ref) for e, refs in REFERENCES.items() for col, ref, _ in refs}
    contract = {
        (e.name, c.name, c.references) for e in ENTITIES.values() for c in e.columns if c.references
    }
    assert contract <= declared
    assert all(key == ENTITIES[ref].key for refs in REFERENCES.values() for _, ref, key in refs)


def test_orphans_are_counted_per_day_and_per_entity_and_null_references_are_not_orphans(
    con: duckdb.DuckDBPyConnection,
) -> None:
    con.execute("INSERT INTO ledger.wallets (wallet_id, user_id) VALUES ('W1', 'U1')")
    _insert(con, "orphans", [("O1", "2026-01-25", "U1", "top_up")], wallet="W404")
    _insert(con, "orphans", [("O2", "2026-01-26", "U1", "top_up")], wallet="W404")
    _insert(con, "orphans", [("O3", "2026-01-27", "U1", "top_up")], wallet="W1")
    _insert(con, "orphans", [("O4", "2026-01-27", "U1", "top_up")])
    [tx] = run_suite(con, ["transactions"], "orphans", CONFIG, as_of=AS_OF)
    assert tx.blocking_failures == ["wallet_id references no row of wallets (on 2 day(s))"]
    con.execute(
        "INSERT INTO ledger.loans (loan_id, user_id, _snapshot_id) "
        "VALUES ('L1', 'U1', 'loans'), ('L2', 'U2', 'loans')"
    )
    [loans] = run_suite(con, ["loans"], "loans", CONFIG, as_of=AS_OF)
    assert (loans.rows, loans.blocking_failures) == (2, ["user_id references no row of users"])


def test_a_reference_to_an_entity_the_ledger_does_not_send_is_not_checked(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _insert(con, "nowallets", [("N1", "2026-01-25", "U1", "top_up")], wallet="W404")
    [tx] = run_suite(con, ["transactions"], "nowallets", CONFIG, as_of=AS_OF)
    assert tx.blocking_failures == []
    # rows, user_id orphans, rows per day, freshness, type mix: wallet_id is not evaluated
    assert tx.evaluated == 5


@given(st.dictionaries(st.sampled_from("abcdefghi"), st.integers(0, 10**7)), st.integers(1, 500))
def test_apportioned_mix_keeps_the_exact_proportions(counts: dict[str, int], size: int) -> None:
    labels = apportion(counts, size)
    present = {k: n for k, n in counts.items() if n}
    total = sum(present.values())
    got = {k: labels.count(k) for k in set(labels)}
    if total <= size:
        assert got == present
        return
    # Every type present stays visible, even when there are more types than rows to show them.
    assert len(labels) == max(size, len(present)) and set(got) == set(present)
    for k, n in present.items():
        assert abs(got[k] - n * size / total) <= len(present)


def _observed_divergence(warnings: list[str]) -> float:
    [shown] = [w for w in warnings if w.startswith("transaction-type mix diverges")]
    found = re.search(r"observed ([0-9.e-]+)\)$", shown)
    assert found, shown
    return float(found.group(1))


def test_gx_sees_the_exact_type_mix_and_an_apportioned_one_close_to_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    history = {"top_up": 88, "withdrawal": 100, "swap": 100}  # + the fixture's 12 top-ups
    batch = {"top_up": 150, "withdrawal": 97, "swap": 3}
    for snapshot, counts in (("old", history), ("mix", batch)):
        con.execute(
            "INSERT INTO ledger.transactions (txn_id, occurred_at, user_id, tx_type, direction, "
            "asset, amount, fee, _source_file, _snapshot_id) "
            "SELECT ? || t || i, TIMESTAMP '2026-01-25', 'U1', t, 'in', 'USDT', 1, 0, 'f', ? "
            "FROM (SELECT unnest(?) AS t, unnest(?) AS n), range(n) r(i)",
            [snapshot, snapshot, list(counts), list(counts.values())],
        )
    exact = sum(n / 250 * math.log((n / 250) / (1 / 3)) for n in batch.values())
    strict = SuiteConfig(
        daily_rows=(1, 1_000), freshness_days=None, max_type_divergence=0.01, min_history_rows=10
    )
    [whole] = run_suite(con, ["transactions"], "mix", strict)
    [coarse] = run_suite(con, ["transactions"], "mix", replace(strict, mix_resolution=100))
    assert _observed_divergence(whole.warnings) == pytest.approx(exact, rel=1e-3)
    assert _observed_divergence(coarse.warnings) == pytest.approx(exact, abs=0.05)
    [calm] = run_suite(con, ["transactions"], "mix", replace(strict, max_type_divergence=0.5))
    assert calm.warnings == []
