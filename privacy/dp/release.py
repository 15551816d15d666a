"""The release engine: one report, one buyer, one dataset period -> a charged, noisy release.

Order of events (each step can refuse; nothing is charged before step 4, no noise is drawn
before step 5):

1. resolve the request (report, buyer, period) against the catalogue;
2. check that the insights-purpose data holds every column the report reads;
3. build the OpenDP measurements (noise scales from rho, sensitivities by OpenDP);
4. check-and-charge the ledger in one transaction (an identical earlier request returns its stored
   release here, uncharged);
5. bound contributions, run the measurements (noise), post-process, store the release.

Post-processing only touches noisy values and public constants: counts and sums are rounded and
floored at zero, means are noisy sum / noisy count clipped to the measure's bounds, 95% intervals
come from OpenDP's accuracy of the noise distribution actually used (means join the 97.5%
intervals of sum and count by Bonferroni), cells whose noisy holder count is below
``min_noisy_users`` are suppressed. Intervals describe the noise only, not the bias from clipping
and contribution bounds; the noisy share of clipped amounts is reported beside them.
"""

from __future__ import annotations

import io
import itertools
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from privacy.dp.base import BASE_COLUMNS, check_sources, insight_base, snapshot_of
from privacy.dp.bounding import BoundedQuery, SumSpec, bounded_rows_sql, cell_cap, selection_params
from privacy.dp.catalogue import Catalogue, Measure, Report
from privacy.dp.ledger import (
    RELEASES_TABLE,
    Charge,
    LedgerEntry,
    charge,
    release_id_for,
)
from privacy.dp.mechanisms import (
    GroupedColumn,
    GroupedMeasurement,
    build_grouped,
    build_quantiles,
    build_total,
    zcdp_to_approx_dp,
)
from privacy.dp.periods import Period, PeriodError, parse_period

__all__ = [
    "WEIGHTS",
    "Release",
    "ReleaseRequestError",
    "StoredReleaseMissingError",
    "release_report",
    "release_reports",
]

WEIGHTS = {"users": 1.0, "n_tx": 3.0, "sum": 6.0, "quantile": 2.0, "clipped": 0.5}
"""Public split of a report's rho between its noisy quantities: holder counts have the smallest
sensitivity relative to their size, clipped sums the largest; the clipped share is a total over
all cells and needs little."""

INTERVAL_METHOD = (
    "95% interval of the noise actually added (OpenDP accuracy of the discrete Gaussian at "
    "alpha=0.05); means: noisy sum / noisy count with the 97.5% intervals of both joined "
    "(Bonferroni), clipped to the measure's bounds. Intervals exclude the bias from clipping "
    "amounts, capping a holder's subtotal per cell and the contribution bounds."
)


class ReleaseRequestError(ValueError):
    """The request names an unknown report, buyer or period; nothing was charged."""


class StoredReleaseMissingError(RuntimeError):
    """A release was charged but its result was never stored (it failed after the charge). Its
    noise is not drawn again: that would spend privacy without a ledger entry."""


@dataclass(frozen=True)
class Release:
    release_id: str
    report_id: str
    buyer: str
    period: str
    snapshot_id: str
    spec_hash: str
    entry: LedgerEntry
    charged: bool  # False for an identical re-request served from the store
    cells: pa.Table
    manifest: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class _Plan:
    grouped: GroupedMeasurement
    quantiles: GroupedMeasurement | None
    clipped: GroupedMeasurement | None
    query: BoundedQuery
    rho_opendp: float


def _resolve(
    catalogue: Catalogue, report_id: str, buyer: str, period: str
) -> tuple[Report, float, Period]:
    try:
        report = catalogue.report(report_id)
        budget = catalogue.buyer(buyer).rho
        return report, budget, parse_period(period)
    except (KeyError, PeriodError) as exc:
        raise ReleaseRequestError(str(exc.args[0]) + "; nothing was charged") from None


def _sum_of(query: BoundedQuery, report: Report, m: Measure) -> SumSpec:
    assert m.bounds is not None
    cap = cell_cap(report, m.bounds[1], m.max_sum_per_cell)
    return next(s for s in query.sums if s.matches(m.column, m.bounds, cap))


def _grouped_columns(report: Report, query: BoundedQuery) -> list[GroupedColumn]:
    k = report.bounds.max_transactions_per_cell
    kinds = {m.kind for m in report.measures}
    cols = [GroupedColumn("users", 1, WEIGHTS["users"])]
    if kinds & {"count", "sum", "mean"}:
        cols.append(GroupedColumn("n_tx", k, WEIGHTS["n_tx"]))
    used = {_sum_of(query, report, m).name for m in report.measures if m.kind in ("sum", "mean")}
    for s in query.sums:
        if s.name in used:
            cols.append(GroupedColumn(s.name, s.cap_int, WEIGHTS["sum"]))
    return cols


def _quantile_names(report: Report) -> list[tuple[str, float]]:
    return [
        (f"{m.name}_p{round(a * 100):02d}", a)
        for m in report.measures
        if m.kind == "quantile"
        for a in m.alphas
    ]


def _keys(report: Report, catalogue: Catalogue, period: Period) -> pl.DataFrame:
    names = [d.column for d in report.dimensions]
    if not names:
        return pl.DataFrame()
    domains = [catalogue.domains[d.domain].keys(period) for d in report.dimensions]
    schema = {n: (pl.Int64 if BASE_COLUMNS[n].dtype == "int" else pl.String) for n in names}
    return pl.DataFrame(list(itertools.product(*domains)), schema=schema, orient="row")


def _plan(report: Report, catalogue: Catalogue, period: Period) -> _Plan:
    # The SQL's shape (columns, sums) does not depend on the base table it will read.
    query = bounded_rows_sql(report, catalogue, period, "base")
    cols = _grouped_columns(report, query)
    qnames = _quantile_names(report)
    w_grouped = sum(c.weight for c in cols)
    w_q = WEIGHTS["quantile"] * len(qnames)
    w_clip = WEIGHTS["clipped"] if query.has_clipped else 0.0
    unit = report.rho / (w_grouped + w_q + w_clip)
    dims = [d.column for d in report.dimensions]
    k = report.bounds.max_transactions_per_cell
    grouped = build_grouped(
        dims,
        [BASE_COLUMNS[d].dtype for d in dims],
        _keys(report, catalogue, period),
        cols,
        report.bounds.max_cells_per_user,
        unit * w_grouped,
    )
    quantiles = None
    if qnames:
        m = next(x for x in report.measures if x.kind == "quantile")
        assert m.bounds is not None and m.step is not None
        n = int(math.floor((m.bounds[1] - m.bounds[0]) / m.step + 1e-9)) + 1
        cands = [m.bounds[0] + i * m.step for i in range(n)]
        quantiles = build_quantiles("v", qnames, cands, k, unit * w_q)
    clipped = (
        build_total("clipped", k, report.bounds.max_cells_per_user, unit * w_clip)
        if query.has_clipped
        else None
    )
    rho = grouped.rho + sum(x.rho for x in (quantiles, clipped) if x is not None)
    if rho > report.rho * (1 + 1e-9):
        raise AssertionError(f"OpenDP map {rho} exceeds the charged rho {report.rho}")
    return _Plan(grouped, quantiles, clipped, query, rho)


def _noise_scales(report: Report, plan: _Plan) -> dict[str, float]:
    """Standard deviation of the noise per released quantity, in output units (quantiles: the
    scale of OpenDP's exponential mechanism on the candidates' scores)."""
    by = {c.name: c for c in plan.grouped.columns}
    out: dict[str, float] = {}
    for m in report.measures:
        if m.kind == "distinct_users":
            out[m.name] = by["users"].scale
        elif m.kind == "count":
            out[m.name] = by["n_tx"].scale
        elif m.kind in ("sum", "mean"):
            s = _sum_of(plan.query, report, m)
            out[f"{m.name}_sum" if m.kind == "mean" else m.name] = by[s.name].scale / s.scale
            if m.kind == "mean":
                out[f"{m.name}_count"] = by["n_tx"].scale
    if plan.quantiles is not None:
        out.update({c.name: c.scale for c in plan.quantiles.columns})
    if plan.clipped is not None:
        out["clipped_transactions_total"] = plan.clipped.columns[0].scale
    return out


def _cohort_months(catalogue: Catalogue) -> int:
    return next((d.months for d in catalogue.domains.values() if d.calendar == "signup_cohorts"), 6)


def release_reports(
    con: duckdb.DuckDBPyConnection,
    catalogue: Catalogue,
    report_ids: list[str],
    buyer: str,
    period: str,
    selection_key: bytes,
    *,
    snapshot_id: str | None = None,
    now: datetime | None = None,
) -> list[Release]:
    """Release several reports for one buyer and period over ONE materialised insight base (the
    joins are done once). Each release is charged on its own, in order; a refusal stops the
    batch with the earlier releases charged and stored."""
    reports = [_resolve(catalogue, r, buyer, period)[0] for r in report_ids]
    per = parse_period(period)
    columns = list(dict.fromkeys(c for r in reports for c in r.columns))
    check_sources(con, columns)
    snapshot = snapshot_id or snapshot_of(con)
    with insight_base(con, columns, per, _cohort_months(catalogue)) as base:
        return [
            release_report(
                con,
                catalogue,
                r.id,
                buyer,
                period,
                selection_key,
                snapshot_id=snapshot,
                now=now,
                base=base,
            )
            for r in reports
        ]


def release_report(
    con: duckdb.DuckDBPyConnection,
    catalogue: Catalogue,
    report_id: str,
    buyer: str,
    period: str,
    selection_key: bytes,
    *,
    snapshot_id: str | None = None,
    now: datetime | None = None,
    base: str | None = None,
) -> Release:
    """Release ``report_id`` for ``buyer`` over dataset ``period`` (``YYYY-MM`` / ``YYYY-Qn``).

    ``selection_key`` keys the contribution selection (from the key vault). ``snapshot_id``
    defaults to :func:`privacy.dp.base.snapshot_of`. ``base`` names an insight base of the
    period already materialised on ``con`` (:func:`release_reports`); without it one is built for
    this report after the charge. Raises :class:`ReleaseRequestError`,
    :class:`privacy.dp.base.MissingSourceError` or
    :class:`privacy.dp.ledger.BudgetExceededError` with nothing charged."""
    report, buyer_budget, per = _resolve(catalogue, report_id, buyer, period)
    if len(selection_key) < 16:
        raise ReleaseRequestError("the selection key must be at least 16 bytes (from the vault)")
    check_sources(con, report.columns)
    snapshot = snapshot_id or snapshot_of(con)
    spec_hash = report.spec_hash(catalogue, per)
    rid = release_id_for(buyer, spec_hash, snapshot)
    plan = _plan(report, catalogue, per)
    scales = _noise_scales(report, plan)
    epsilon = zcdp_to_approx_dp(report.rho, catalogue.delta)
    mechanism = (
        f"opendp {version('opendp')}: one Polars query (discrete Gaussian, zCDP) over "
        "per-holder-per-cell rows"
        + ("; private quantiles (exponential mechanism, zCDP)" if plan.quantiles else "")
        + ("; a noisy total of clipped transactions" if plan.clipped else "")
    )
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    entry, charged = charge(
        con,
        Charge(
            rid,
            buyer,
            report.id,
            spec_hash,
            snapshot,
            per.label,
            report.rho,
            epsilon,
            catalogue.delta,
            mechanism,
            scales,
        ),
        buyer_budget,
        catalogue.global_rho,
        stamp,
    )
    if not charged:
        return _stored(con, entry, report)
    if base is None:
        with insight_base(con, report.columns, per, _cohort_months(catalogue)) as own:
            query = bounded_rows_sql(report, catalogue, per, own)
            noisy, quantiles, clipped_total = _measure(con, query, selection_key, plan)
    else:
        query = bounded_rows_sql(report, catalogue, per, base)
        noisy, quantiles, clipped_total = _measure(con, query, selection_key, plan)
    cells, clipped_share = _postprocess(report, plan, noisy, quantiles, clipped_total)
    suppressed = [
        {d.column: r[d.column] for d in report.dimensions}
        for r in cells.to_pylist()
        if r["suppressed"]
    ]
    manifest: dict[str, Any] = {
        "release_id": rid,
        "report_id": report.id,
        "title": report.title,
        "description": report.description,
        "buyer": buyer,
        "period": per.label,
        "snapshot_id": snapshot,
        "spec_hash": spec_hash,
        "spec": report.resolved(catalogue, per),
        "privacy": {
            "unit": "wallet holder (pseudonymised user id), user-level",
            "rho": report.rho,
            "rho_opendp_map": plan.rho_opendp,
            "epsilon": epsilon,
            "delta": catalogue.delta,
            "mechanism": mechanism,
            "noise_scales": scales,
            "interval_method": INTERVAL_METHOD,
            "contribution_bounds": {
                "max_transactions_per_cell": report.bounds.max_transactions_per_cell,
                "max_cells_per_user": report.bounds.max_cells_per_user,
                "selection": "keyed HMAC-SHA256 per holder (deterministic, unpredictable)",
                "max_sum_per_cell": {
                    m.name: cell_cap(report, m.bounds[1], m.max_sum_per_cell)
                    for m in report.measures
                    if m.kind in ("sum", "mean") and m.bounds is not None
                },
                "bias": "public bounds near the 99th percentile of holder activity: transactions "
                "and cells beyond them, and amounts beyond the clipping bounds and caps, are not "
                "counted; intervals exclude this bias",
            },
            "rho_split_weights": {
                "holders": WEIGHTS["users"],
                "transactions": WEIGHTS["n_tx"],
                "each sum": WEIGHTS["sum"],
                "each quantile": WEIGHTS["quantile"],
                "clipped total": WEIGHTS["clipped"],
            },
            "clipped_share": clipped_share,
        },
        "suppression": {
            "min_noisy_users": report.min_noisy_users,
            "suppressed_cells": suppressed,
        },
        "ledger": {"seq": entry.seq, "entry_hash": entry.entry_hash, "prev_hash": entry.prev_hash},
        "created_at": stamp,
    }
    buf = io.BytesIO()
    pq.write_table(cells, buf)
    con.execute(
        f"INSERT INTO {RELEASES_TABLE} VALUES (?, ?, ?, ?, ?)",
        [rid, entry.entry_hash, stamp, json.dumps(manifest, sort_keys=True), buf.getvalue()],
    )
    return Release(
        rid, report.id, buyer, per.label, snapshot, spec_hash, entry, True, cells, manifest
    )


def _measure(
    con: duckdb.DuckDBPyConnection, query: BoundedQuery, selection_key: bytes, plan: _Plan
) -> tuple[pl.DataFrame, dict[str, float], float | None]:
    """Bound contributions (``query`` over the insight base) and run the measurements of
    ``plan``: the only place noise is drawn."""
    params = selection_params(selection_key)
    rows = pl.from_arrow(con.sql(query.sql, params=params).to_arrow_table())
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(
        [pl.col(d).cast(pl.Int64) for d in plan.grouped.dims if BASE_COLUMNS[d].dtype == "int"]
    )
    noisy = plan.grouped(rows.drop("clipped") if "clipped" in rows.columns else rows)
    quantiles: dict[str, float] = {}
    if plan.quantiles is not None:
        assert query.values_sql is not None
        values = pl.from_arrow(con.sql(query.values_sql, params=params).to_arrow_table())
        assert isinstance(values, pl.DataFrame)
        quantiles = {k: float(v) for k, v in plan.quantiles(values).row(0, named=True).items()}
    clipped_total = None
    if plan.clipped is not None:
        clipped_total = float(plan.clipped(rows.select("clipped")).item())
    return noisy, quantiles, clipped_total


def _stored(con: duckdb.DuckDBPyConnection, entry: LedgerEntry, report: Report) -> Release:
    rows = con.execute(
        f"SELECT manifest, cells FROM {RELEASES_TABLE} WHERE release_id = ? AND entry_hash = ?",
        [entry.release_id, entry.entry_hash],
    ).fetchall()
    if not rows:
        raise StoredReleaseMissingError(
            f"release {entry.release_id} (ledger seq {entry.seq}) was charged but not stored; "
            "it is not recomputed (fresh noise would be an uncharged release). Change the "
            "snapshot or the report to release again."
        )
    manifest = json.loads(rows[0][0])
    cells = pq.read_table(io.BytesIO(bytes(rows[0][1])))
    return Release(
        entry.release_id,
        report.id,
        entry.buyer,
        entry.period,
        entry.snapshot_id,
        entry.spec_hash,
        entry,
        False,
        cells,
        manifest,
    )


def _postprocess(
    report: Report,
    plan: _Plan,
    noisy: pl.DataFrame,
    quantiles: dict[str, float],
    clipped_total: float | None,
) -> tuple[pa.Table, float | None]:
    by = {c.name: c for c in plan.grouped.columns}
    dims = [d.column for d in report.dimensions]
    if dims:
        noisy = noisy.sort(dims)
    raw = noisy.to_dicts()
    out: list[dict[str, Any]] = []
    for r in raw:
        users = float(r["users"])
        row: dict[str, Any] = {d: r[d] for d in dims}
        suppressed = users < report.min_noisy_users
        for m in report.measures:
            if m.kind in ("distinct_users", "count"):
                col = by["users" if m.kind == "distinct_users" else "n_tx"]
                v = float(r[col.name])
                row[m.name] = max(0, round(v))
                row[f"{m.name}_lo"] = max(0, math.floor(v - col.accuracy95))
                row[f"{m.name}_hi"] = max(0, math.ceil(v + col.accuracy95))
            elif m.kind in ("sum", "mean"):
                assert m.bounds is not None
                s = _sum_of(plan.query, report, m)
                sc, total = by[s.name], float(r[s.name])
                if m.kind == "sum":
                    row[m.name] = round(max(0.0, total) / s.scale, 2)
                    row[f"{m.name}_lo"] = round(max(0.0, total - sc.accuracy95) / s.scale, 2)
                    row[f"{m.name}_hi"] = round(max(0.0, total + sc.accuracy95) / s.scale, 2)
                else:
                    cnt, cc = float(r["n_tx"]), by["n_tx"]
                    lo_b, hi_b = m.bounds
                    if cnt >= 1:
                        mean = min(hi_b, max(lo_b, total / s.scale / cnt))
                        lo = (total - sc.accuracy975) / s.scale / (cnt + cc.accuracy975)
                        den = cnt - cc.accuracy975
                        hi = (total + sc.accuracy975) / s.scale / den if den > 0 else hi_b
                        row[m.name] = round(mean, 2)
                        row[f"{m.name}_lo"] = round(min(hi_b, max(lo_b, lo)), 2)
                        row[f"{m.name}_hi"] = round(min(hi_b, max(lo_b, hi)), 2)
                    else:
                        row[m.name] = row[f"{m.name}_lo"] = row[f"{m.name}_hi"] = None
        for name in quantiles:
            row[name] = round(quantiles[name], 2)
        if suppressed:
            for key in list(row):
                if key not in dims:
                    row[key] = None
        row["suppressed"] = suppressed
        row["suppression_reason"] = (
            f"fewer than {report.min_noisy_users} holders (noisy count)" if suppressed else None
        )
        out.append(row)
    clipped_share: float | None = None
    if clipped_total is not None and "n_tx" in by:
        tot = sum(float(r["n_tx"]) for r in raw)
        clipped_share = round(min(1.0, max(0.0, clipped_total / tot)), 4) if tot > 0 else None
    return pa.Table.from_pylist(out), clipped_share
