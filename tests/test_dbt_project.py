"""The dbt project built over a tiny hand-made ledger: every mart number below is computed by hand.

Ledger days: 2026-01-01, 01-02, 01-10, 01-25 and 05-01 (the ledger's last day). Prices: USDT 1.0 and
ETH 2000/2100/2200/2300/2400 on those days; PTS has no price, so one reward is unpriced.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from assets.dbt_project import DBT_PROJECT_DIR
from ledger.contract import ENTITIES

D1, D2, D3, D4, D5 = (
    date(2026, 1, 1),
    date(2026, 1, 2),
    date(2026, 1, 10),
    date(2026, 1, 25),
    date(2026, 5, 1),
)
ETH_PRICE = {D1: 2000.0, D2: 2100.0, D3: 2200.0, D4: 2300.0, D5: 2400.0}

PII_COLUMNS = {
    "full_name",
    "mobile",
    "email",
    "resident_id",
    "date_of_birth",
    "gender",
    "home_city",
    "device_id",
    "ip_address",
    "address",
    "counterparty",
}

USERS = [
    {
        "user_id": u,
        "full_name": f"Name {u}",
        "mobile": "+86 138 0000 0000",
        "gender": "F",
        "date_of_birth": date(1990, 1, 1),
        "home_city": "Shanghai",
        "city_tier": tier,
        "kyc_level": kyc,
        "signup_date": date(2025, 12, 1),
        "ip_address": "10.0.0.1",
    }
    for u, tier, kyc in (("U1", 1, 3), ("U2", 2, 2), ("U3", 4, 1))
]
WALLETS = [
    {
        "wallet_id": "W1-ETH",
        "user_id": "U1",
        "chain": "ETH",
        "address": "0xabc",
        "created_date": date(2025, 12, 1),
    },
    {
        "wallet_id": "W1-TRON",
        "user_id": "U1",
        "chain": "TRON",
        "address": "Tabc",
        "created_date": date(2025, 12, 1),
    },
    {
        "wallet_id": "W2-ETH",
        "user_id": "U2",
        "chain": "ETH",
        "address": "0xdef",
        "created_date": date(2025, 12, 2),
    },
]
MERCHANTS = [
    {
        "merchant_id": m,
        "merchant_name": f"Shop {m}",
        "mcc": mcc,
        "category": cat,
        "city": "Beijing",
        "size_tier": "small",
        "chargeback_rate": 0.01,
        "refund_rate": 0.02,
        "onboarded_date": date(2025, 1, 1),
    }
    for m, mcc, cat in (
        ("M1", "5411", "Grocery"),
        ("M2", "7995", "Gambling"),
        ("M3", "1234", "Unknown"),
    )
]
PRICES = [
    {"price_id": f"{asset}|{day}", "price_date": day, "asset": asset, "price_base": price}
    for day in ETH_PRICE
    for asset, price in (("USDT", 1.0), ("ETH", ETH_PRICE[day]))
]


def _loan(loan_id: str, user: str, applied: date, principal: float, term: int) -> dict[str, Any]:
    return {
        "loan_id": loan_id,
        "user_id": user,
        "applied_at": datetime.combine(applied, datetime.min.time()),
        "principal": principal,
        "asset": "USDT",
        "term_days": term,
        "due_date": applied + timedelta(days=term),
    }


LOANS = [
    _loan("L1", "U1", D2, 100.0, 30),  # due 02-01, repaid 60 + 40 by 01-25: on_time
    _loan("L2", "U2", D1, 50.0, 10),  # due 01-11, 20 repaid, due + 90 = 04-11 < 05-01: default
    _loan("L3", "U3", D4, 30.0, 90),  # due 04-25, due + 90 after the ledger ends: open
    _loan("L4", "U3", D1, 10.0, 59),  # due 03-01, repaid on 05-01 (61 days late): late_30
]

# (txn, day, user, tx_type, direction, asset, amount, fee, extra columns)
_TXNS: list[tuple[str, date, str, str, str, str, float, float, dict[str, Any]]] = [
    ("T01", D1, "U1", "top_up", "in", "USDT", 500, 0, {"counterparty": "Tsender"}),
    ("T02", D1, "U2", "top_up", "in", "ETH", 0.1, 0.001, {"counterparty": "0xsender"}),
    ("T03", D1, "U2", "loan_disbursement", "in", "USDT", 50, 0, {"loan_id": "L2"}),
    ("T04", D1, "U3", "loan_disbursement", "in", "USDT", 10, 0, {"loan_id": "L4"}),
    ("T05", D1, "U1", "p2p_transfer", "out", "USDT", 100, 1, {"counterparty": "U2"}),
    ("T06", D1, "U1", "merchant_payment", "out", "USDT", 40, 0, {"merchant_id": "M1"}),
    ("T07", D2, "U1", "loan_disbursement", "in", "USDT", 100, 0, {"loan_id": "L1"}),
    ("T08", D2, "U2", "merchant_payment", "out", "USDT", 30, 0, {"merchant_id": "M2"}),
    ("T09", D2, "U2", "merchant_payment", "out", "USDT", 10, 0, {"merchant_id": "M1"}),
    ("T10", D2, "U3", "reward_points", "in", "PTS", 500, 0, {}),
    ("T11", D2, "U2", "p2p_transfer", "out", "USDT", 20, 0.5, {"counterparty": "U3"}),
    ("T12", D2, "U2", "swap", "out", "ETH", 0.05, 0.0005, {"to_asset": "USDT"}),
    ("T13", D3, "U1", "loan_repayment", "out", "USDT", 60, 0, {"loan_id": "L1"}),
    ("T14", D3, "U2", "loan_repayment", "out", "USDT", 20, 0, {"loan_id": "L2"}),
    ("T15", D3, "U1", "merchant_payment", "out", "USDT", 25, 0, {"merchant_id": "M1"}),
    ("T16", D3, "U3", "merchant_payment", "out", "USDT", 5, 0, {"merchant_id": "M2"}),
    ("T17", D3, "U1", "withdrawal", "out", "USDT", 50, 1, {"counterparty": "Treceiver"}),
    ("T18", D4, "U1", "loan_repayment", "out", "USDT", 40, 0, {"loan_id": "L1"}),
    ("T19", D4, "U3", "loan_disbursement", "in", "USDT", 30, 0, {"loan_id": "L3"}),
    ("T20", D4, "U3", "p2p_transfer", "out", "USDT", 15, 0, {"counterparty": "U1"}),
    ("T21", D4, "U2", "cross_border_payment", "out", "USDT", 20, 0.2, {"country": "PH"}),
    ("T22", D4, "U2", "top_up", "in", "ETH", 0.01, 0, {"counterparty": "0xsender"}),
    ("T23", D5, "U3", "loan_repayment", "out", "USDT", 10, 0, {"loan_id": "L4"}),
    ("T24", D5, "U1", "merchant_payment", "out", "ETH", 0.01, 0, {"merchant_id": "M2"}),
    ("T25", D5, "U2", "withdrawal", "out", "USDT", 5, 0.1, {"counterparty": "0xreceiver"}),
]
TRANSACTIONS = [
    {
        "txn_id": txn,
        "occurred_at": datetime.combine(day, datetime.min.time()) + timedelta(hours=9, minutes=i),
        "user_id": user,
        "tx_type": tx_type,
        "direction": direction,
        "asset": asset,
        "amount": float(amount),
        "fee": float(fee),
        "device_id": "dev-1",
        "ip_address": "10.0.0.2",
        **extra,
    }
    for i, (txn, day, user, tx_type, direction, asset, amount, fee, extra) in enumerate(_TXNS)
]

ROWS: dict[str, list[dict[str, Any]]] = {
    "users": USERS,
    "wallets": WALLETS,
    "merchants": MERCHANTS,
    "prices": PRICES,
    "loans": LOANS,
    "transactions": TRANSACTIONS,
}


def _load_ledger(con: duckdb.DuckDBPyConnection, schema: str, drop: set[str]) -> None:
    """Create `schema` with the six landed tables (DDL from ENTITIES), minus the `drop` columns."""
    con.execute(f"create schema {schema}")
    for name, entity in ENTITIES.items():
        columns = [c for c in entity.columns if c.name not in drop]
        ddl = ", ".join(f"{c.name} {c.dtype}" for c in columns)
        con.execute(f"create table {schema}.{name} ({ddl})")
        placeholders = ", ".join("?" for _ in columns)
        con.executemany(
            f"insert into {schema}.{name} values ({placeholders})",
            [[row.get(c.name) for c in columns] for row in ROWS[name]],
        )
    # As minimisation does: a merchant's city is generalised to its region.
    con.execute(f"alter table {schema}.merchants rename column city to city_region")


@dataclass(frozen=True)
class Build:
    warehouse: Path
    result: dbtRunnerResult

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        # dbt-duckdb may keep its in-process database open: a read-only connection would clash.
        with duckdb.connect(str(self.warehouse)) as con:
            return con.execute(sql).fetchall()

    def statuses(self) -> dict[str, str]:
        return {r.node.name: str(r.status) for r in self.result.result.results}


def _dbt(
    tmp: Path, warehouse: Path, args: list[str], dbt_vars: dict[str, str] | None = None
) -> dbtRunnerResult:
    # As the Dagster asset does: the warehouse path reaches dbt as a var, never through the env.
    all_vars = {"ledger_schema": "ledger", "ledger_table_prefix": "", **(dbt_vars or {})}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        env.setenv("DBT_LOG_PATH", str(tmp / "logs"))
        return dbtRunner().invoke(
            [
                *args,
                "--vars",
                json.dumps({**all_vars, "warehouse": str(warehouse)}),
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(tmp / "target"),
            ]
        )


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    tmp = tmp_path_factory.mktemp("dbt")
    warehouse = tmp / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        _load_ledger(con, "ledger", drop=set())
    yield Build(
        warehouse,
        _dbt(tmp, warehouse, ["build"]),
    )


def test_dbt_build_succeeds_with_only_the_unpriced_reward_warning(build: Build) -> None:
    assert build.result.success, build.result.exception
    warned = {name for name, status in build.statuses().items() if status == "warn"}
    assert warned == {"not_null_int_transactions_normalised_amount_base"}


def test_balances_are_the_cumulative_net_flows_computed_by_hand(build: Build) -> None:
    rows = build.query(
        "select user_id, round(current_balance_base, 6), round(min_balance_base, 6), tx_count,"
        " active_days, round(total_inflow_base, 6), round(total_outflow_base, 6),"
        " round(total_fees_base, 6), wallet_count, loan_count from marts.accounts order by 1"
    )
    assert rows == [
        ("U1", 274.0, 274.0, 10, 5, 615.0, 339.0, 2.0, 2, 1),
        ("U2", 264.15, 264.15, 11, 5, 373.0, 105.0, 3.85, 1, 1),
        ("U3", 30.0, 10.0, 7, 5, 60.0, 30.0, 0.0, 0, 2),
    ]
    # U2's running balance: +348, -61.55 (swap counts only through its fee), -20, +2.8, -5.1
    daily = build.query(
        "select activity_date, round(balance_base, 6) from intermediate.int_account_balances_daily"
        " where user_id = 'U2' order by 1"
    )
    assert daily == [(D1, 348.0), (D2, 286.45), (D3, 266.45), (D4, 269.25), (D5, 264.15)]


def test_p2p_transfers_count_as_inflow_for_the_receiver(build: Build) -> None:
    flows = build.query(
        "select user_id, activity_date, round(inflow_base, 6), tx_count, unpriced_tx_count"
        " from intermediate.int_account_flows_daily"
        " where (user_id, activity_date) in (('U2', DATE '2026-01-01'), ('U3', DATE '2026-01-02'),"
        " ('U1', DATE '2026-01-25')) order by 1"
    )
    assert flows == [
        ("U1", D4, 15.0, 2, 0),
        ("U2", D1, 350.0, 3, 0),  # 200 top-up + 50 loan + 100 from U1
        ("U3", D2, 20.0, 2, 1),  # 20 from U2; the PTS reward has no price
    ]


def test_loan_outcomes_follow_from_the_repayments(build: Build) -> None:
    rows = build.query(
        "select loan_id, outcome, is_bad, repaid_amount, repaid_at, days_late, repayment_count"
        " from marts.loans order by 1"
    )
    assert rows == [
        ("L1", "on_time", 0, 100.0, D4, 0, 2),
        ("L2", "default", 1, 20.0, None, 110, 1),
        ("L3", "open", None, 0.0, None, 6, 0),
        ("L4", "late_30", 1, 10.0, D5, 61, 1),
    ]


def test_daily_activity_counts_each_type_per_day(build: Build) -> None:
    rows = build.query(
        "select activity_date, tx_type, tx_count, distinct_users, round(volume_base, 6),"
        " round(fees_base, 6), unpriced_tx_count from marts.daily_activity order by 1, 2"
    )
    assert len(rows) == 20
    assert rows[:4] == [
        (D1, "loan_disbursement", 2, 2, 60.0, 0.0, 0),
        (D1, "merchant_payment", 1, 1, 40.0, 0.0, 0),
        (D1, "p2p_transfer", 1, 1, 100.0, 1.0, 0),
        (D1, "top_up", 2, 2, 700.0, 2.0, 0),
    ]
    assert (D2, "merchant_payment", 2, 1, 40.0, 0.0, 0) in rows
    assert (D2, "reward_points", 1, 1, 0.0, 0.0, 1) in rows
    assert sum(r[2] for r in rows) == len(TRANSACTIONS)


def test_merchants_carry_volume_payers_and_mcc_risk(build: Build) -> None:
    rows = build.query(
        "select merchant_id, category, mcc_risk_level, payment_count, distinct_payers,"
        " round(total_volume_base, 6), active_months, avg_monthly_volume_base"
        " from marts.merchants order by 1"
    )
    assert rows == [
        ("M1", "grocery", "low", 3, 2, 75.0, 1, 75.0),
        ("M2", "gambling", "high", 3, 3, 59.0, 2, 29.5),
        ("M3", "unknown", "medium", 0, 0, 0.0, 0, None),  # MCC missing from the seed
    ]
    shares = build.query(
        "select user_id, round(high_risk_spend_share, 6), top_spend_category from marts.accounts"
        " order by 1"
    )
    assert shares == [
        ("U1", round(24 / 89, 6), "grocery"),
        ("U2", 0.75, "gambling"),
        ("U3", 1.0, "gambling"),
    ]


def test_staging_never_exposes_pii_columns(build: Build) -> None:
    columns = build.query(
        "select table_name, column_name from information_schema.columns"
        " where table_schema in ('staging', 'intermediate', 'marts')"
    )
    assert columns
    # The credit events carry the credit-purpose device pseudonym the features count (the
    # integration test checks no raw device id reaches it); no other PII column name survives.
    pseudonymous = {("credit_events", "device_id")}
    assert not [
        c for c in columns if c[1] in PII_COLUMNS - {"counterparty"} and c not in pseudonymous
    ]
    assert ("stg_ledger__transactions", "counterparty") not in columns


def test_staging_runs_over_privacy_minimised_sources(build: Build, tmp_path: Path) -> None:
    warehouse = tmp_path / "minimised.duckdb"
    shutil.copy(build.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        # Minimisation for credit keeps counterparty and device_id as pseudonyms, drops the rest.
        _load_ledger(con, "ledger_min", drop=PII_COLUMNS - {"counterparty", "device_id"})
    result = _dbt(
        tmp_path,
        warehouse,
        ["run", "--select", "staging"],
        {"ledger_schema": "ledger_min"},
    )
    assert result.success, result.exception


def test_a_duplicated_transaction_fails_the_key_test(build: Build, tmp_path: Path) -> None:
    warehouse = tmp_path / "duplicated.duckdb"
    shutil.copy(build.warehouse, warehouse)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "insert into ledger.transactions select * from ledger.transactions where txn_id = 'T05'"
        )
    result = _dbt(tmp_path, warehouse, ["test", "--select", "stg_ledger__transactions"])
    assert not result.success
    statuses = {r.node.name: str(r.status) for r in result.result.results}
    assert statuses["unique_stg_ledger__transactions_txn_id"] == "fail"
    assert [name for name, status in statuses.items() if status == "fail"] == [
        "unique_stg_ledger__transactions_txn_id"
    ]
