"""OpenDP measurements of a report, all on OpenDP's Polars API: one query for every grouped
aggregate, one for the report's quantiles (over the kept transactions) and one for the total of
clipped transactions (the clipped share, over all cells at once).

The per-(holder, cell) rows the grouped query reads are contribution-bounded beforehand
(:mod:`privacy.dp.bounding`): one row per holder and cell, at most ``max_cells_per_user`` cells per
holder, each row's subtotals inside declared bounds. Those facts are declared to OpenDP as the
privacy unit (``Bound(per_group=1)``, ``Bound(num_groups=m)``) and as the sum bounds; OpenDP
derives every sensitivity and the rho of the measurement from them. Noise comes from OpenDP's
samplers only (integer columns: discrete Gaussian). The noise scale is found without OpenDP's
generic binary search (seconds per query): the zCDP loss of a Gaussian is proportional to
``1 / scale**2``, so one measurement at ``global_scale=1`` gives the scale for the target rho, and
OpenDP's own privacy map of the final measurement is checked to be within the target. The
columns of a query split its rho by public weights (counts of holders need less than sums).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import opendp.accuracy as acc
import opendp.combinators as comb
import opendp.domains as dom
import opendp.extras.polars as dpl
import opendp.measurements as meas_
import opendp.measures as measures
import opendp.metrics as metrics
import polars as pl
from opendp.context import unit_of
from opendp.mod import enable_features

__all__ = [
    "POPULATION_BOUND",
    "GroupedColumn",
    "GroupedMeasurement",
    "build_grouped",
    "build_quantiles",
    "build_total",
    "integer_gaussian_accuracy",
    "zcdp_to_approx_dp",
]

# opendp.prelude would import scikit-learn (seconds): import the modules used, alone.
enable_features("contrib")

POPULATION_BOUND = 10**9
"""Public upper bound on the rows of any cell (holders of the platform); OpenDP needs one for
integer sums (overflow)."""

_MAX_ADJUST = 64
_dp_expr: Any = dpl.DPExpr  # untyped in opendp 0.16
_EXACT_ACCURACY_UP_TO = 1e4


@dataclass(frozen=True)
class GroupedColumn:
    """One noisy column of the grouped query: ``upper`` bounds each row's value (rows are
    per holder and cell, values in ``[0, upper]``); ``weight`` is its public share of the
    query's rho (relative to the other columns)."""

    name: str
    upper: int  # per-row bound; 1 for the row count
    weight: float = 1.0
    scale: float = 0.0  # OpenDP's noise scale (standard deviation) for this column
    distribution: str = ""
    accuracy95: float = 0.0  # |noise| <= this with probability >= 95% (OpenDP accuracy)
    accuracy975: float = 0.0  # the same at 97.5% (two intervals joined by Bonferroni)


@dataclass(frozen=True)
class GroupedMeasurement:
    measurement: Any  # opendp Measurement (LazyFrame -> OnceFrame)
    d_in: Any
    rho: float  # OpenDP's privacy map at d_in, <= the target
    columns: tuple[GroupedColumn, ...]
    dims: tuple[str, ...]

    def __call__(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Run on the bounded rows: one output row per public key (or one row without
        dimensions), noise drawn here."""
        out = self.measurement(rows.lazy()).collect()
        assert isinstance(out, pl.DataFrame)
        return out


def _scale_for(make: Any, d_in: Any, rho: float) -> tuple[Any, float, float]:
    unit = make(1.0)
    rho1 = float(unit.map(d_in))
    if rho1 == 0:
        raise ValueError("the measurement has zero sensitivity; nothing to protect")
    scale = math.sqrt(rho1 / rho)
    for attempt in range(_MAX_ADJUST):
        meas = make(scale)
        got = float(meas.map(d_in))
        if got <= rho:
            return meas, scale, got
        scale *= 1 + 1e-12 * 2.0**attempt
    raise RuntimeError(f"no noise scale meets rho={rho}")  # pragma: no cover


def _resolve(meas: Any, columns: Sequence[GroupedColumn]) -> tuple[GroupedColumn, ...]:
    summary = {r["column"]: r for r in acc.summarize_polars_measurement(meas).iter_rows(named=True)}
    out = []
    for c in columns:
        scale = float(summary[c.name]["scale"])
        dist = str(summary[c.name]["distribution"])
        gaussian = "Gaussian" in dist
        out.append(
            GroupedColumn(
                c.name,
                c.upper,
                c.weight,
                scale,
                dist,
                integer_gaussian_accuracy(scale, 0.05) if gaussian else 0.0,
                integer_gaussian_accuracy(scale, 0.025) if gaussian else 0.0,
            )
        )
    return tuple(out)


def _relative(columns: Sequence[GroupedColumn]) -> list[float]:
    # OpenDP gives every column the same loss at equal scale/bound ratios, and a Gaussian's
    # zCDP loss falls with 1/scale**2: dividing a column's scale by sqrt(weight) gives it a
    # loss proportional to its weight. OpenDP's map of the final measurement is what is charged.
    mean_w = sum(c.weight for c in columns) / len(columns)
    return [c.upper / math.sqrt(c.weight / mean_w) for c in columns]


def build_grouped(
    dims: Sequence[str],
    dim_types: Sequence[str],
    keys: pl.DataFrame,
    columns: Sequence[GroupedColumn],
    max_cells_per_user: int,
    rho: float,
) -> GroupedMeasurement:
    """The OpenDP measurement of every grouped aggregate of a report, at zCDP ``rho``.

    ``dims``/``dim_types`` ("text"/"int") name the cell columns, ``keys`` is the public key set
    (every cell is released, empty ones too). The first column must be the row count
    (``upper == 1``, one row per holder and cell: distinct holders); the others are sums of
    non-negative integer columns bounded by ``upper``. Column ``weight`` splits ``rho``."""
    by = list(dims)
    series = [
        dom.series_domain(d, dom.atom_domain(T=str if t == "text" else "i64"))
        for d, t in zip(dims, dim_types, strict=True)
    ] + [dom.series_domain(c.name, dom.atom_domain(T="i64")) for c in columns[1:]]
    domain = dom.lazyframe_domain(series)
    domain = dom.with_margin(
        domain, dpl.Margin(by=by, max_groups=max(1, keys.height), max_length=POPULATION_BOUND)
    )
    metric, d_in = unit_of(
        contributions=[
            dpl.Bound(by=by, per_group=1),
            dpl.Bound(by=by, num_groups=max_cells_per_user),
        ]
    )
    schema: dict[str, Any] = {
        d: (pl.String if t == "text" else pl.Int64) for d, t in zip(dims, dim_types, strict=True)
    }
    schema.update({c.name: pl.Int64 for c in columns[1:]})
    empty = pl.LazyFrame(schema=schema)
    rel = _relative(columns)

    def make(scale: float) -> Any:
        aggs = [dpl.dp_len(scale=scale * rel[0], signed=True).alias(columns[0].name)] + [
            _dp_expr(pl.col(c.name).fill_null(0)).sum((0, c.upper), scale=scale * r)
            for c, r in zip(columns[1:], rel[1:], strict=True)
        ]
        if by:
            plan = keys.lazy().join(
                empty.group_by(by).agg(aggs), how="left", on=by, nulls_equal=True
            )
        else:
            plan = empty.select(aggs)
        return meas_.make_private_lazyframe(
            domain, metric, measures.zero_concentrated_divergence(), plan
        )

    meas, _scale, got = _scale_for(make, d_in, rho)
    return GroupedMeasurement(meas, d_in, got, _resolve(meas, columns), tuple(dims))


def build_total(column: str, upper: int, max_rows_per_user: int, rho: float) -> GroupedMeasurement:
    """A noisy total of ``column`` (values in ``[0, upper]``) over all rows, each holder
    contributing at most ``max_rows_per_user`` rows (e.g. the clipped transactions of a
    report, for its clipped share)."""
    domain = dom.with_margin(
        dom.lazyframe_domain([dom.series_domain(column, dom.atom_domain(T="i64"))]),
        dpl.Margin(by=[], max_length=POPULATION_BOUND),
    )
    metric, d_in = unit_of(contributions=max_rows_per_user)
    empty = pl.LazyFrame(schema={column: pl.Int64})

    def make(scale: float) -> Any:
        plan = empty.select(_dp_expr(pl.col(column).fill_null(0)).sum((0, upper), scale=scale))
        return meas_.make_private_lazyframe(
            domain, metric, measures.zero_concentrated_divergence(), plan
        )

    meas, _scale, got = _scale_for(make, d_in, rho)
    return GroupedMeasurement(meas, d_in, got, _resolve(meas, [GroupedColumn(column, upper)]), ())


def build_quantiles(
    column: str,
    quantiles: Sequence[tuple[str, float]],
    candidates: Sequence[float],
    max_rows_per_user: int,
    rho: float,
) -> GroupedMeasurement:
    """OpenDP's private quantiles (exponential mechanism over ``candidates``, in Polars) of the
    kept transaction values, each holder contributing at most ``max_rows_per_user`` of them;
    one query for every ``(name, alpha)``, rho split evenly."""
    cands = [float(c) for c in candidates]
    domain = dom.with_margin(
        dom.lazyframe_domain([dom.series_domain(column, dom.atom_domain(T=float, nan=False))]),
        dpl.Margin(by=[], max_length=POPULATION_BOUND),
    )
    metric, d_in = unit_of(contributions=max_rows_per_user)
    empty = pl.LazyFrame(schema={column: pl.Float64})

    def make_one(qs: Sequence[tuple[str, float, float]]) -> Any:
        plan = empty.select(
            [
                _dp_expr(pl.col(column)).quantile(alpha, cands, scale=scale).alias(name)
                for name, alpha, scale in qs
            ]
        )
        return meas_.make_private_lazyframe(
            domain, metric, measures.zero_concentrated_divergence(), plan
        )

    # OpenDP scores a quantile in units of alpha's denominator (0.9 is a large fraction, 0.5 is
    # 1/2): each alpha's scale is set from its own loss at scale 1, so they share rho evenly.
    unit = [math.sqrt(float(make_one([(n, a, 1.0)]).map(d_in))) for n, a in quantiles]

    def make(scale: float) -> Any:
        return make_one([(n, a, scale * u) for (n, a), u in zip(quantiles, unit, strict=True)])

    meas, _scale, got = _scale_for(make, d_in, rho)
    cols = [GroupedColumn(name, 1) for name, _ in quantiles]
    return GroupedMeasurement(meas, d_in, got, _resolve(meas, cols), ())


def integer_gaussian_accuracy(scale: float, alpha: float) -> float:
    """``a`` with P(|noise| > a) <= alpha for OpenDP's discrete Gaussian of ``scale``.

    OpenDP's exact discrete-Gaussian accuracy sums the pmf (seconds at scales of 10^6, e.g.
    sums in hundredths); above 10^4 the continuous Gaussian's accuracy (OpenDP's too), rounded
    up and widened by one lattice step, is used: it is never narrower (checked in the tests)."""
    if scale <= _EXACT_ACCURACY_UP_TO:
        return float(acc.discrete_gaussian_scale_to_accuracy(scale, alpha, T=float))
    return float(math.ceil(acc.gaussian_scale_to_accuracy(scale, alpha)) + 1)


def zcdp_to_approx_dp(rho: float, delta: float) -> float:
    """Epsilon at ``delta`` of a rho-zCDP release, by OpenDP's conversion."""
    space = dom.atom_domain(T=float, nan=False), metrics.absolute_distance(T=float)
    probe: Any = meas_.make_gaussian(*space, scale=1.0)
    unit_rho = float(probe.map(1.0))
    # A Gaussian of sensitivity d has rho = unit_rho * d**2: pick d so the probe has loss rho.
    d_in = math.sqrt(rho / unit_rho)
    approx: Any = comb.make_zCDP_to_approxDP(probe)
    profile = approx.map(d_in)
    return float(profile.epsilon(delta))
