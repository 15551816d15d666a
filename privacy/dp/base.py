"""The insight base: one row per transaction of the insights-purpose minimised tables, with the
merchant, the holder's coarse attributes and the base-currency amount joined on.

Only ``minimised.insights_*`` tables are read (the insights purpose of the policy): pseudonymised
``user_id``, days (``occurred_date``), cities generalised to regions, city tiers, merchant
categories. Base-currency amounts join ``minimised.insights_prices`` on its ``price_id``
(``<asset>|<YYYY-MM-DD>``), because the policy generalises ``price_date`` to a month there; a dbt
model with the same columns can replace this SQL (:data:`BASE_COLUMNS` is the contract).
:func:`insight_base` materialises it once per batch of releases (a temporary table on the
connection), so reports share the joins instead of repeating them.

Every base column names the minimised columns it is computed from, so a report on a column the
insights data lacks is refused before anything is charged.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import duckdb

from privacy.dp.periods import Period

__all__ = [
    "BASE_COLUMNS",
    "BaseColumn",
    "MissingSourceError",
    "base_sql",
    "check_sources",
    "insight_base",
    "latest_period",
    "snapshot_of",
]

SCHEMA = "minimised"
T, U, M, P = "insights_transactions", "insights_users", "insights_merchants", "insights_prices"


class MissingSourceError(LookupError):
    """A column a report needs is not in the insights-purpose minimised data."""


@dataclass(frozen=True)
class BaseColumn:
    name: str
    dtype: str  # "text" | "int" | "real" | "date"
    sql: str  # expression over aliases t (transactions), u (users), m (merchants), p (prices)
    sources: tuple[tuple[str, str], ...]  # (minimised table, column) it reads
    description: str
    at: str = "t"  # alias whose subquery evaluates ``sql`` ("" for the joined row)


def _c(
    name: str,
    dtype: str,
    sql: str,
    sources: Iterable[tuple[str, str]],
    desc: str,
    at: str = "t",
) -> BaseColumn:
    return BaseColumn(name, dtype, sql, tuple(sources), desc, at)


# {period_start} / {period_end} / {cohort_floor} are DATE literals filled per period. ``sql`` is
# evaluated inside the subquery of its ``at`` alias (t: transactions, u: users, m: merchants,
# cal: the period's calendar, or "" for the joined row), so an expression on a small table is
# computed once per user, merchant or day rather than once per transaction.
_ALL: tuple[BaseColumn, ...] = (
    _c("occurred_date", "date", "t.occurred_date", [(T, "occurred_date")], "day (UTC)"),
    _c(
        "iso_week",
        "text",
        "strftime(cal.day, '%G-W%V')",
        [(T, "occurred_date")],
        "ISO week of the day, e.g. 2026-W02",
        "cal",
    ),
    _c("tx_type", "text", "t.tx_type", [(T, "tx_type")], "transaction type"),
    _c("direction", "text", "t.direction", [(T, "direction")], "in / out"),
    _c("asset", "text", "t.asset", [(T, "asset")], "asset code"),
    _c("amount", "real", "t.amount", [(T, "amount")], "amount in asset units"),
    _c(
        "amount_base",
        "real",
        "t.amount * p.price_base",
        [(T, "amount"), (T, "asset"), (T, "occurred_date"), (P, "price_id"), (P, "price_base")],
        "amount in the base currency (USD) at the day's close price",
        "",
    ),
    _c(
        "corridor",
        "text",
        "t.country",
        [(T, "country")],
        "destination country (ISO 3166-1 alpha-2) of a cross-border payment",
    ),
    _c("mcc", "text", "m.mcc", [(T, "merchant_id"), (M, "merchant_id"), (M, "mcc")], "MCC", "m"),
    _c(
        "merchant_category",
        "text",
        "m.category",
        [(T, "merchant_id"), (M, "merchant_id"), (M, "category")],
        "readable MCC category of the merchant",
        "m",
    ),
    _c(
        "merchant_size_tier",
        "text",
        "m.size_tier",
        [(T, "merchant_id"), (M, "merchant_id"), (M, "size_tier")],
        "micro / small / medium / large",
        "m",
    ),
    _c(
        "merchant_region",
        "text",
        "m.city_region",
        [(T, "merchant_id"), (M, "merchant_id"), (M, "city_region")],
        "region of the merchant's city",
        "m",
    ),
    _c(
        "merchant_age",
        "text",
        "(CASE WHEN m.onboarded_month IS NULL THEN NULL "
        "WHEN m.onboarded_month >= date_trunc('month', {period_start}) THEN 'new' "
        "ELSE 'established' END)",
        [(T, "merchant_id"), (M, "merchant_id"), (M, "onboarded_month")],
        "'new' if the merchant was onboarded in the period, else 'established'",
        "m",
    ),
    _c(
        "user_city_tier",
        "int",
        "u.city_tier",
        [(T, "user_id"), (U, "user_id"), (U, "city_tier")],
        "tier (1-5) of the holder's home city",
        "u",
    ),
    _c(
        "user_age_band",
        "text",
        "u.age_band",
        [(T, "user_id"), (U, "user_id"), (U, "age_band")],
        "age band of the holder",
        "u",
    ),
    _c(
        "user_region",
        "text",
        "u.home_city_region",
        [(T, "user_id"), (U, "user_id"), (U, "home_city_region")],
        "region of the holder's home city",
        "u",
    ),
    _c(
        "user_kyc_level",
        "int",
        "u.kyc_level",
        [(T, "user_id"), (U, "user_id"), (U, "kyc_level")],
        "KYC level 0-3",
        "u",
    ),
    _c(
        "signup_cohort",
        "text",
        "(CASE WHEN u.signup_month IS NULL THEN NULL "
        "WHEN u.signup_month >= {cohort_floor} THEN strftime(u.signup_month, '%Y-%m') "
        "ELSE 'earlier' END)",
        [(T, "user_id"), (U, "user_id"), (U, "signup_month")],
        "sign-up month of the holder (YYYY-MM) within the cohort window, else 'earlier'",
        "u",
    ),
)
BASE_COLUMNS: dict[str, BaseColumn] = {c.name: c for c in _ALL}
_KEYS = {"u": "user_id", "m": "merchant_id"}


def _date(d: object) -> str:
    return f"DATE '{d}'"


def base_sql(columns: Iterable[str], period: Period, cohort_months: int = 6) -> str:
    """SELECT of ``user_id`` (and ``uid``, a dense integer per holder), the lineage columns
    ``_source_file`` / ``_source_row`` (a stable per-transaction reference) and the given base
    columns, for the transactions of ``period``;
    joins only the tables those columns need, each reduced to its columns first."""
    cols = [BASE_COLUMNS[c] for c in dict.fromkeys(columns)]
    floor = period.months_back(cohort_months)[0] + "-01"
    fill = {
        "period_start": _date(period.start),
        "period_end": _date(period.end),
        "cohort_floor": _date(floor),
    }
    at: dict[str, list[BaseColumn]] = {}
    for c in cols:
        at.setdefault(c.at, []).append(c)
    select = [
        "t.user_id AS user_id",
        "t._source_file AS _source_file",
        "t._source_row AS _source_row",
        "h.uid AS uid",
    ]
    for c in cols:
        select.append(
            f"{c.at}.{c.name} AS {c.name}"
            if c.at not in ("t", "")
            else f"{c.sql.format(**fill)} AS {c.name}"
        )
    # A dense integer per holder: grouping and partitioning on it is cheaper than on the
    # 32-character pseudonym (kept for the selection HMAC).
    joins = [
        f"JOIN (SELECT user_id, CAST(row_number() OVER () AS INTEGER) AS uid FROM (SELECT "
        f"DISTINCT user_id FROM {SCHEMA}.{T} WHERE user_id IS NOT NULL)) h ON h.user_id = t.user_id"
    ]
    if any(s[0] == P for c in cols for s in c.sources):
        # price_id is '<asset>|<YYYY-MM-DD>': split on the small side, join on typed keys.
        joins.append(
            f"LEFT JOIN (SELECT split_part(price_id, '|', 1) AS asset, "
            f"TRY_CAST(split_part(price_id, '|', 2) AS DATE) AS day, price_base "
            f"FROM {SCHEMA}.{P}) p ON p.asset = t.asset AND p.day = t.occurred_date"
        )
    for alias, table in (("m", M), ("u", U)):
        if alias in at:
            inner = ", ".join(f"{c.sql.format(**fill)} AS {c.name}" for c in at[alias])
            key = _KEYS[alias]
            joins.append(
                f"LEFT JOIN (SELECT {key}, {inner} FROM {SCHEMA}.{table} {alias}) {alias} "
                f"ON {alias}.{key} = t.{key}"
            )
    if "cal" in at:
        inner = ", ".join(f"{c.sql} AS {c.name}" for c in at["cal"])
        joins.append(
            f"LEFT JOIN (SELECT CAST(cal.day AS DATE) AS day, {inner} FROM range("
            f"{fill['period_start']}, {fill['period_end']} + INTERVAL 1 DAY, INTERVAL 1 DAY) "
            f"cal(day)) cal ON cal.day = t.occurred_date"
        )
    return (
        f"SELECT {', '.join(select)} FROM {SCHEMA}.{T} t {' '.join(joins)} "
        f"WHERE t.user_id IS NOT NULL AND "
        f"t.occurred_date BETWEEN {fill['period_start']} AND {fill['period_end']}"
    )


@contextlib.contextmanager
def insight_base(
    con: duckdb.DuckDBPyConnection,
    columns: Iterable[str],
    period: Period,
    cohort_months: int = 6,
) -> Iterator[str]:
    """Materialise the base of ``period`` once as a temporary table (private to ``con``) and
    yield its name; every report of a batch reads it instead of re-joining the minimised
    tables. Dropped on exit, so a later batch sees the data as it is then."""
    name = f"dp_base_{uuid.uuid4().hex[:12]}"
    con.execute(f"CREATE TEMP TABLE {name} AS {base_sql(columns, period, cohort_months)}")
    try:
        yield name
    finally:
        con.execute(f"DROP TABLE IF EXISTS {name}")


def check_sources(con: duckdb.DuckDBPyConnection, columns: Iterable[str]) -> None:
    """Raise :class:`MissingSourceError` naming every minimised table/column the given base
    columns need and the warehouse lacks."""
    need = {(T, "user_id"), (T, "_source_file"), (T, "_source_row"), (T, "occurred_date")}
    for c in columns:
        need.update(BASE_COLUMNS[c].sources)
    have = {
        (r[0], r[1])
        for r in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = ?",
            [SCHEMA],
        ).fetchall()
    }
    missing = sorted(need - have)
    if missing:
        names = ", ".join(f"{SCHEMA}.{t}.{c}" for t, c in missing)
        raise MissingSourceError(
            f"the insights-purpose data lacks {names}; build the minimised insights tables "
            "(privacy.minimise for purpose insights_sale) or change the report"
        )


def latest_period(con: duckdb.DuckDBPyConnection) -> str | None:
    """The calendar month (``YYYY-MM``) of the latest insights-purpose transaction, the default
    dataset period of a release; None when there is none."""
    try:
        row = con.execute(f"SELECT max(occurred_date) FROM {SCHEMA}.{T}").fetchall()
    except duckdb.CatalogException:
        return None
    return None if not row or row[0][0] is None else row[0][0].strftime("%Y-%m")


def snapshot_of(con: duckdb.DuckDBPyConnection) -> str:
    """A content identity of the insights data: SHA-256 over the sorted ingest snapshot ids its
    tables hold (``snapset-<16 hex>``)."""
    ids: set[str] = set()
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = ? AND "
            "column_name = '_snapshot_id'",
            [SCHEMA],
        ).fetchall()
    }
    for table in (T, U, M, P):
        if table in present:
            rows = con.execute(f"SELECT DISTINCT _snapshot_id FROM {SCHEMA}.{table}").fetchall()
            ids.update(f"{table}:{r[0]}" for r in rows)
    digest = hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()
    return f"snapset-{digest[:16]}"
