"""Contribution bounding by a keyed, deterministic selection per wallet holder, in DuckDB.

For a report with cells ``dims`` and bounds ``(k, m)``:

1. each holder keeps at most ``k`` transactions per cell: the ones with the smallest
   ``HMAC(key, user_id | row_ref)``;
2. the kept transactions collapse to one row per holder and cell (transaction count, clipped
   subtotals, clipped count);
3. each holder keeps at most ``m`` cells: the ones with the smallest ``HMAC(key, user_id | cell)``.

The selection is reproducible (same key, same data, same rows) but not predictable without the
key, so nobody can place transactions to be the ones kept. The HMAC is computed only where a
holder exceeds a bound. Keys outside a dimension's public domain (and NULL keys) are dropped
before step 3, so they never use up a holder's cells. Amounts are clipped per transaction to the
measure's bounds and held as integers in hundredths, so OpenDP sums them exactly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from privacy.dp.base import BASE_COLUMNS, base_sql
from privacy.dp.catalogue import Catalogue, Report
from privacy.dp.periods import Period
from privacy.pseudonyms import hmac_pads, hmac_sql

__all__ = [
    "AMOUNT_SCALE",
    "BoundedQuery",
    "SumSpec",
    "bounded_rows_sql",
    "selection_params",
]

AMOUNT_SCALE = 100  # real-valued measures are summed in hundredths (integers)
_SEP = "chr(31)"


@dataclass(frozen=True)
class SumSpec:
    """A clipped sum column ``s<i>`` of the bounded rows."""

    name: str
    column: str
    lo: float
    hi: float
    scale: int  # multiplier to integers

    @property
    def lo_int(self) -> int:
        return round(self.lo * self.scale)

    @property
    def hi_int(self) -> int:
        return round(self.hi * self.scale)


@dataclass(frozen=True)
class BoundedQuery:
    sql: str  # per (holder, cell): dims..., n_tx, s0.., clipped
    values_sql: str | None  # per kept transaction: v (for quantiles), reports without dims only
    sums: tuple[SumSpec, ...]
    has_clipped: bool


def selection_params(key: bytes) -> dict[str, bytes]:
    """DuckDB parameters of the selection HMAC, under a sub-key of ``key`` bound to this use."""
    sub = hmac.new(key, b"ledgerlens/dp/contribution-selection/v1", hashlib.sha256).digest()
    inner, outer = hmac_pads(sub)
    return {"hmac_i": inner, "hmac_o": outer}


def _lit(v: str | int) -> str:
    if isinstance(v, int):
        return str(v)
    return "'" + v.replace("'", "''") + "'"


def _in(col: str, values: Sequence[str | int]) -> str:
    return f"{col} IN ({', '.join(_lit(v) for v in values)})"


def sum_specs(report: Report) -> tuple[SumSpec, ...]:
    """One clipped sum per distinct (column, bounds) of the report's sum, mean and quantile
    measures, in order of first use."""
    out: list[SumSpec] = []
    for m in report.measures:
        if m.kind in ("sum", "mean", "quantile") and m.column and m.bounds:
            if any(s.column == m.column and (s.lo, s.hi) == m.bounds for s in out):
                continue
            scale = AMOUNT_SCALE if BASE_COLUMNS[m.column].dtype == "real" else 1
            out.append(SumSpec(f"s{len(out)}", m.column, m.bounds[0], m.bounds[1], scale))
    return tuple(out)


def bounded_rows_sql(report: Report, catalogue: Catalogue, period: Period) -> BoundedQuery:
    """SQL of the bounded rows of ``report`` over ``period`` (run with :func:`selection_params`)."""
    k = report.bounds.max_transactions_per_cell
    m = report.bounds.max_cells_per_user
    dims = [d.column for d in report.dimensions]
    sums = sum_specs(report)
    quantile = next((x for x in report.measures if x.kind == "quantile"), None)
    value_cols = list(dict.fromkeys(s.column for s in sums))
    src = base_sql([*report.columns], period, _cohort_months(report, catalogue))
    where = [_in(f, vals) for f, vals in report.filters]
    where += [_in(d.column, catalogue.domains[d.domain].keys(period)) for d in report.dimensions]
    group = ", ".join(["user_id", *dims])
    fields = ", ".join(["'r': row_ref"] + [f"'v{i}': {c}" for i, c in enumerate(value_cols)])
    row_key = hmac_sql(f"user_id || {_SEP} || x.r")
    ctes = [
        f"b AS ({src})",
        "f AS (SELECT * FROM b" + (f" WHERE {' AND '.join(where)}" if where else "") + ")",
        f"g AS (SELECT {group}, count(*) AS _n, list({{{fields}}}) AS xs FROM f GROUP BY {group})",
        # A holder's transactions of a cell sorted by their HMAC (struct order: p first); only
        # cells over the bound pay for the HMAC.
        f"kept AS (SELECT {group}, CASE WHEN _n <= {k} THEN xs ELSE list_transform(list_sort("
        f"list_transform(xs, lambda x: {{'p': {row_key}, 'x': x}}))[1:{k}], lambda y: y.x) "
        "END AS ks FROM g)",
    ]
    aggs = ["len(ks)::BIGINT AS n_tx"]
    col_of = {c: f"v{i}" for i, c in enumerate(value_cols)}
    for sp in sums:
        v = f"round(x.{col_of[sp.column]} * {sp.scale})"
        aggs.append(
            f"coalesce(list_sum(list_transform(ks, lambda x: coalesce(least(greatest({v}, "
            f"{sp.lo_int}), {sp.hi_int}), 0))), 0)::BIGINT AS {sp.name}"
        )
    if sums:
        s0 = sums[0]
        x0 = f"x.{col_of[s0.column]}"
        v = f"round({x0} * {s0.scale})"
        aggs.append(
            f"len(list_filter(ks, lambda x: {x0} IS NULL OR {v} < {s0.lo_int} OR "
            f"{v} > {s0.hi_int}))::BIGINT AS clipped"
        )
    ctes.append(f"uc AS (SELECT {group}, {', '.join(aggs)} FROM kept)")
    out_cols = [*dims, "n_tx", *(sp.name for sp in sums)] + (["clipped"] if sums else [])
    cell_fields = ", ".join(f"'{c}': {c}" for c in out_cols)
    cell_text = "".join(f" || {_SEP} || coalesce(CAST(c.{d} AS VARCHAR), '')" for d in dims)
    cell_key = hmac_sql(f"user_id{cell_text}")
    ctes += [
        f"uu AS (SELECT user_id, list({{{cell_fields}}}) AS cs FROM uc GROUP BY user_id)",
        f"sel AS (SELECT CASE WHEN len(cs) <= {m} THEN cs ELSE list_transform(list_sort("
        f"list_transform(cs, lambda c: {{'p': {cell_key}, 'c': c}}))[1:{m}], lambda y: y.c) "
        "END AS cs FROM uu)",
    ]
    sql = (
        f"WITH {', '.join(ctes)} SELECT {', '.join(f'c.{c} AS {c}' for c in out_cols)} "
        "FROM (SELECT unnest(cs) AS c FROM sel)"
    )
    values_sql = None
    if quantile is not None and quantile.column:
        qv = f"x.{col_of[quantile.column]}"
        values_sql = (
            f"WITH {', '.join(ctes[:4])} SELECT CAST(x.{col_of[quantile.column]} AS DOUBLE) AS v "
            f"FROM (SELECT unnest(ks) AS x FROM kept) WHERE {qv} IS NOT NULL"
        )
    return BoundedQuery(sql, values_sql, sums, bool(sums))


def _cohort_months(report: Report, catalogue: Catalogue) -> int:
    for d in report.dimensions:
        dom = catalogue.domains[d.domain]
        if dom.calendar == "signup_cohorts":
            return dom.months
    return 6
