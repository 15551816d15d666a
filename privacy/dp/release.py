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

from privacy.dp.base import BASE_COLUMNS, check_sources, snapshot_of
from privacy.dp.bounding import BoundedQuery, bounded_rows_sql, selection_params
from privacy.dp.catalogue import Catalogue, Report
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
    QuantileMeasurement,
    build_grouped,
    build_quantile,
    zcdp_to_approx_dp,
)
from privacy.dp.periods import Period, PeriodError, parse_period

__all__ = ["Release", "ReleaseRequestError", "StoredReleaseMissingError", "release_report"]

INTERVAL_METHOD = (
    "95% interval of the noise actually added (OpenDP accuracy of the discrete Gaussian at "
    "alpha=0.05); means: noisy sum / noisy count with the 97.5% intervals of both joined "
    "(Bonferroni), clipped to the measure's bounds. Intervals exclude the bias from clipping "
    "amounts and from the contribution bounds."
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
    quantiles: tuple[tuple[str, QuantileMeasurement], ...]
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


def _grouped_columns(report: Report, query: BoundedQuery) -> list[GroupedColumn]:
    k = report.bounds.max_transactions_per_cell
    kinds = {m.kind for m in report.measures}
    cols = [GroupedColumn("users", 1)]
    if kinds & {"count", "sum", "mean", "quantile"}:
        cols.append(GroupedColumn("n_tx", k))
    used = {(m.column, m.bounds) for m in report.measures if m.kind in ("sum", "mean") and m.bounds}
    for s in query.sums:
        if (s.column, (s.lo, s.hi)) in used:
            cols.append(GroupedColumn(s.name, k * s.hi_int))
    if query.has_clipped:
        cols.append(GroupedColumn("clipped", k))
    return cols


def _keys(report: Report, catalogue: Catalogue, period: Period) -> pl.DataFrame:
    names = [d.column for d in report.dimensions]
    if not names:
        return pl.DataFrame()
    domains = [catalogue.domains[d.domain].keys(period) for d in report.dimensions]
    schema = {n: (pl.Int64 if BASE_COLUMNS[n].dtype == "int" else pl.String) for n in names}
    return pl.DataFrame(list(itertools.product(*domains)), schema=schema, orient="row")


def _plan(report: Report, catalogue: Catalogue, period: Period) -> _Plan:
    query = bounded_rows_sql(report, catalogue, period)
    cols = _grouped_columns(report, query)
    qmeasures = [m for m in report.measures if m.kind == "quantile"]
    n_q = sum(len(m.alphas) for m in qmeasures)
    share = report.rho / (len(cols) + n_q)
    dims = [d.column for d in report.dimensions]
    grouped = build_grouped(
        dims,
        [BASE_COLUMNS[d].dtype for d in dims],
        _keys(report, catalogue, period),
        cols,
        report.bounds.max_cells_per_user,
        share * len(cols),
    )
    quantiles: list[tuple[str, QuantileMeasurement]] = []
    for m in qmeasures:
        assert m.bounds is not None and m.step is not None
        n = int(math.floor((m.bounds[1] - m.bounds[0]) / m.step + 1e-9)) + 1
        cands = [m.bounds[0] + i * m.step for i in range(n)]
        for a in m.alphas:
            quantiles.append(
                (
                    f"{m.name}_p{round(a * 100):02d}",
                    build_quantile(cands, a, report.bounds.max_transactions_per_cell, share),
                )
            )
    rho = grouped.rho + sum(q.rho for _, q in quantiles)
    if rho > report.rho * (1 + 1e-9):
        raise AssertionError(f"OpenDP map {rho} exceeds the charged rho {report.rho}")
    return _Plan(grouped, tuple(quantiles), query, rho)


def _noise_scales(report: Report, plan: _Plan) -> dict[str, float]:
    """Standard deviation of the noise per released quantity, in output units."""
    by = {c.name: c for c in plan.grouped.columns}
    out: dict[str, float] = {}
    for m in report.measures:
        if m.kind == "distinct_users":
            out[m.name] = by["users"].scale
        elif m.kind == "count":
            out[m.name] = by["n_tx"].scale
        elif m.kind in ("sum", "mean"):
            s = next(s for s in plan.query.sums if (s.column, (s.lo, s.hi)) == (m.column, m.bounds))
            out[f"{m.name}_sum" if m.kind == "mean" else m.name] = by[s.name].scale / s.scale
            if m.kind == "mean":
                out[f"{m.name}_count"] = by["n_tx"].scale
    for name, q in plan.quantiles:
        out[name] = q.scale
    if "clipped" in by:
        out["clipped_transactions"] = by["clipped"].scale
    return out


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
) -> Release:
    """Release ``report_id`` for ``buyer`` over dataset ``period`` (``YYYY-MM`` / ``YYYY-Qn``).

    ``selection_key`` keys the contribution selection (from the key vault). ``snapshot_id``
    defaults to :func:`privacy.dp.base.snapshot_of`. Raises :class:`ReleaseRequestError`,
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
    params = selection_params(selection_key)
    rows = pl.from_arrow(con.sql(plan.query.sql, params=params).to_arrow_table())
    assert isinstance(rows, pl.DataFrame)
    rows = rows.with_columns(
        [pl.col(d).cast(pl.Int64) for d in plan.grouped.dims if BASE_COLUMNS[d].dtype == "int"]
    )
    noisy = plan.grouped(rows)
    quantiles: dict[str, float] = {}
    if plan.quantiles:
        assert plan.query.values_sql is not None
        values = con.execute(plan.query.values_sql, params).fetchnumpy()["v"].tolist()
        quantiles = {name: q(values) for name, q in plan.quantiles}
    cells, clipped_share = _postprocess(report, plan, noisy, quantiles)
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
    report: Report, plan: _Plan, noisy: pl.DataFrame, quantiles: dict[str, float]
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
                s = next(
                    s for s in plan.query.sums if (s.column, (s.lo, s.hi)) == (m.column, m.bounds)
                )
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
    if "clipped" in by:
        tot = sum(float(r["n_tx"]) for r in raw)
        clip = sum(float(r["clipped"]) for r in raw)
        clipped_share = round(min(1.0, max(0.0, clip / tot)), 4) if tot > 0 else None
    return pa.Table.from_pylist(out), clipped_share
