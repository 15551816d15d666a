"""Contribution bounding by a keyed, deterministic selection per wallet holder, in one DuckDB query.

For a report with cells ``dims`` and bounds ``(k, m)``, over the shared insight base
(:func:`privacy.dp.base.insight_base`):

1. each holder keeps at most ``k`` transactions per cell: the ones with the smallest
   ``HMAC(key, user_id | row reference)``;
2. the kept transactions collapse to one row per holder and cell: transaction count, the sum of
   each amount clipped per transaction to the measure's bounds and then capped at the measure's
   ``max_sum_per_cell``, and the clipped count;
3. each holder keeps at most ``m`` cells: the ones with the smallest ``HMAC(key, user_id | cell)``.

Steps 1 and 3 are window functions of the same statement; the HMAC is computed only for the
holder-cells over ``k`` and the holders over ``m`` (rare when the bounds fit the data), so the
query is a filter, a grouping and two partitioned counts. The selection is reproducible (same key,
same data, same rows) but not predictable without the key, so nobody can place transactions to be
the ones kept. Keys outside a dimension's public domain (and NULL keys) are dropped before step 3,
so they never use up a holder's cells. Amounts are held as integers in hundredths, so OpenDP sums
them exactly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from privacy.dp.base import BASE_COLUMNS
from privacy.dp.catalogue import Catalogue, Report
from privacy.dp.periods import Period
from privacy.pseudonyms import hmac_pads, hmac_sql

__all__ = [
    "AMOUNT_SCALE",
    "BoundedQuery",
    "SumSpec",
    "bounded_rows_sql",
    "selection_params",
    "sum_specs",
]

AMOUNT_SCALE = 100  # real-valued measures are summed in hundredths (integers)
_SEP = "chr(31)"


@dataclass(frozen=True)
class SumSpec:
    """A clipped sum column ``s<i>`` of the bounded rows: each transaction clipped to
    ``[lo, hi]``, a holder's subtotal in a cell capped at ``cap``."""

    name: str
    column: str
    lo: float
    hi: float
    cap: float
    scale: int  # multiplier to integers

    @property
    def lo_int(self) -> int:
        return round(self.lo * self.scale)

    @property
    def hi_int(self) -> int:
        return round(self.hi * self.scale)

    @property
    def cap_int(self) -> int:
        return round(self.cap * self.scale)

    def matches(self, column: str | None, bounds: tuple[float, float] | None, cap: float) -> bool:
        return (self.column, (self.lo, self.hi), self.cap) == (column, bounds, cap)


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


def cell_cap(report: Report, hi: float, cap: float | None) -> float:
    """The cap of a holder's clipped subtotal in one cell: declared, or ``k * hi``."""
    return cap if cap is not None else report.bounds.max_transactions_per_cell * hi


def sum_specs(report: Report) -> tuple[SumSpec, ...]:
    """One clipped sum per distinct (column, bounds, cap) of the report's sum and mean measures,
    in order of first use."""
    out: list[SumSpec] = []
    for m in report.measures:
        if m.kind in ("sum", "mean") and m.column and m.bounds:
            cap = cell_cap(report, m.bounds[1], m.max_sum_per_cell)
            if any(s.matches(m.column, m.bounds, cap) for s in out):
                continue
            scale = AMOUNT_SCALE if BASE_COLUMNS[m.column].dtype == "real" else 1
            out.append(SumSpec(f"s{len(out)}", m.column, m.bounds[0], m.bounds[1], cap, scale))
    return tuple(out)


def bounded_rows_sql(
    report: Report, catalogue: Catalogue, period: Period, base: str
) -> BoundedQuery:
    """SQL of the bounded rows of ``report`` over ``period``, reading the materialised insight
    base table ``base`` (run with :func:`selection_params`)."""
    k = report.bounds.max_transactions_per_cell
    m = report.bounds.max_cells_per_user
    dims = [d.column for d in report.dimensions]
    sums = sum_specs(report)
    quantile = next((x for x in report.measures if x.kind == "quantile"), None)
    where = [_in(f, vals) for f, vals in report.filters]
    where += [_in(d.column, catalogue.domains[d.domain].keys(period)) for d in report.dimensions]
    cell = ", ".join(["uid", *dims])
    fcols = ["uid", "user_id", "_source_file", "_source_row", *dims]
    for sp in sums:
        v = f"round({sp.column} * {sp.scale})"
        fcols.append(
            f"CAST(coalesce(least(greatest({v}, {sp.lo_int}), {sp.hi_int}), 0) AS BIGINT) AS x_{sp.name}"
        )
        fcols.append(
            f"({sp.column} IS NULL OR {v} < {sp.lo_int} OR {v} > {sp.hi_int}) AS o_{sp.name}"
        )
    if quantile is not None and quantile.column:
        fcols.append(f"CAST({quantile.column} AS DOUBLE) AS qv")
    row_key = hmac_sql(f"user_id || {_SEP} || _source_file || ':' || CAST(_source_row AS VARCHAR)")
    cell_text = "".join(f" || {_SEP} || coalesce(CAST({d} AS VARCHAR), '')" for d in dims)
    cell_key = hmac_sql(f"user_id{cell_text}")
    aggs = ["count(*) AS n_tx"]
    for sp in sums:
        aggs.append(f"sum(x_{sp.name}) AS r_{sp.name}")
        aggs.append(f"count(*) FILTER (WHERE o_{sp.name}) AS c_{sp.name}")
    filt = f" WHERE {' AND '.join(where)}" if where else ""
    # A report that counts holders only needs one row per holder-cell: no transaction selection.
    per_tx = any(x.kind != "distinct_users" for x in report.measures)
    kept = (
        # Only holder-cells over the bound pay for the HMAC ranking.
        f"kept AS (SELECT * FROM f ANTI JOIN r USING ({cell}) UNION ALL SELECT * FROM f SEMI "
        f"JOIN r USING ({cell}) QUALIFY row_number() OVER (PARTITION BY {cell} ORDER BY "
        f"{row_key}) <= {k})"
        if per_tx
        else "kept AS (SELECT * FROM f)"
    )
    ctes = [
        f"f AS (SELECT {', '.join(fcols)} FROM {base}{filt})",
        f"r AS (SELECT {cell} FROM f GROUP BY {cell} HAVING count(*) > {k})",
        kept,
        f"uc AS (SELECT {cell}, any_value(user_id) AS user_id, {', '.join(aggs)}, "
        f"count(*) OVER (PARTITION BY uid) AS _cells FROM kept GROUP BY {cell})",
        f"sel AS (SELECT * FROM uc WHERE _cells <= {m} UNION ALL SELECT * FROM uc WHERE _cells > "
        f"{m} QUALIFY row_number() OVER (PARTITION BY uid ORDER BY {cell_key}) <= {m})",
    ]
    out = [*dims, f"CAST(least(n_tx, {k}) AS BIGINT) AS n_tx"]
    for sp in sums:
        out.append(f"CAST(least(r_{sp.name}, {sp.cap_int}) AS BIGINT) AS {sp.name}")
    if sums:
        s0 = sums[0].name
        # A capped subtotal clips every transaction of the holder-cell.
        out.append(
            f"CAST(CASE WHEN r_{s0} > {sums[0].cap_int} THEN n_tx ELSE c_{s0} END AS BIGINT) "
            "AS clipped"
        )
    sql = f"WITH {', '.join(ctes)} SELECT {', '.join(out)} FROM sel"
    values_sql = None
    if quantile is not None and quantile.column:
        values_sql = f"WITH {', '.join(ctes[:3])} SELECT qv AS v FROM kept WHERE qv IS NOT NULL"
    return BoundedQuery(sql, values_sql, sums, bool(sums))
