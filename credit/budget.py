"""The characteristic budget of a production scorecard: at most ``max_features`` features and at most
``max_bins`` bins per feature (the missing / other bin not counted), adjacent bins with equal points
merged.

Encrypted scoring packs one indicator per distinct point value per feature, so its cost grows with
the bins; a validator reads a short table more surely than a long one. The budget is met in two
steps, both on training rows only:

* features: the ones whose points vary most over the training rows (standard deviation of their
  points) are kept and the model is refitted on them. (Ranking by out-of-fold value, the rise in
  out-of-fold log loss without the feature, was tried on the demo ledger's development sample:
  better on CV seeds 10-12, worse on seeds 0-2, within noise both times; not adopted.)
* bins: each feature's fine step function (one bin per split threshold) is cut into at most
  ``max_bins`` contiguous segments minimising the training-weighted squared error of the log-odds
  (an exact dynamic programme); categories are grouped the same way after sorting by their log-odds.
  A segment's value is the weighted mean of its bins, so a monotone feature stays monotone.

Its cost is reported as the AUC lost against the unconstrained additive model, a paired difference
on the same rows (``paired_cost``: percentile bootstrap of the rows, the same resample scoring
both models; intervals carry the test-sample noise, not the variation of refitting).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from credit.scorecard import POINTS_COLUMNS, PointsTable


@dataclass(frozen=True)
class Budget:
    """Production limits: features in the card, bins per feature (missing bin not counted)."""

    max_features: int = 20
    max_bins: int = 8

    def __post_init__(self) -> None:
        if self.max_features < 1 or self.max_bins < 2:
            raise ValueError("a budget needs max_features >= 1 and max_bins >= 2")

    def to_dict(self) -> dict[str, int]:
        return {"max_features": self.max_features, "max_bins": self.max_bins}


def feature_spread(points: PointsTable, rows: pd.DataFrame) -> pd.Series:
    """Standard deviation of each feature's points over ``rows``, largest first."""
    pm = points.point_matrix(rows).astype(np.float64)
    return pd.Series(pm.std(axis=0), index=points.features).sort_values(ascending=False)


def segment(values: np.ndarray, weights: np.ndarray, k: int) -> list[tuple[int, int]]:
    """Optimal cut of an ordered sequence into at most ``k`` contiguous segments [start, end) that
    minimises sum_i w_i (v_i - mean of its segment)^2 (O(k n^2) dynamic programme)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    n = len(v)
    if n <= k:
        return [(i, i + 1) for i in range(n)]
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cwv = np.concatenate([[0.0], np.cumsum(w * v)])
    cwv2 = np.concatenate([[0.0], np.cumsum(w * v * v)])

    def cost(a: int, b: int) -> float:
        sw = cw[b] - cw[a]
        if sw <= 0:
            return 0.0
        s = cwv[b] - cwv[a]
        return float(cwv2[b] - cwv2[a] - s * s / sw)

    inf = math.inf
    best = np.full((k + 1, n + 1), inf)
    back = np.zeros((k + 1, n + 1), dtype=np.int64)
    best[0, 0] = 0.0
    for m in range(1, k + 1):
        for b in range(1, n + 1):
            for a in range(m - 1, b):
                c = best[m - 1, a] + cost(a, b)
                if c < best[m, b] - 1e-15:
                    best[m, b] = c
                    back[m, b] = a
    m = int(np.argmin(best[1:, n])) + 1
    cuts: list[tuple[int, int]] = []
    b = n
    while m > 0:
        a = int(back[m, b])
        cuts.append((a, b))
        b, m = a, m - 1
    return cuts[::-1]


def _weighted_means(v: np.ndarray, w: np.ndarray, cuts: list[tuple[int, int]]) -> np.ndarray:
    out = np.empty(len(v))
    for a, b in cuts:
        sw = float(w[a:b].sum())
        out[a:b] = float((v[a:b] * w[a:b]).sum() / sw) if sw > 0 else float(v[a:b].mean())
    return out


def booster_bias(booster: lgb.Booster | Sequence[lgb.Booster]) -> float:
    """The constant term of an additive booster's prediction (the ``pred_contrib`` bias); of a
    mean of boosters, the mean of theirs."""
    boosters = [booster] if isinstance(booster, lgb.Booster) else list(booster)
    row = np.full((1, boosters[0].num_feature()), np.nan)
    return float(np.mean([np.asarray(b.predict(row, pred_contrib=True))[0, -1] for b in boosters]))


def compress_points_table(
    fine: PointsTable, bias: float, rows: pd.DataFrame, max_bins: int
) -> PointsTable:
    """At most ``max_bins`` bins per feature from an unmerged table (``merge_equal=False``) whose
    ``contribution`` column holds each bin's log-odds; weights are the bin counts over ``rows``.
    Integer points are re-derived from the segment log-odds and adjacent equal points merged."""
    scaling = fine.scaling
    counts = fine.bin_indices(rows)
    out_rows: list[dict[str, Any]] = []
    shift_total = 0
    for j, (name, g) in enumerate(fine.table.groupby("feature", sort=False)):
        g = g.sort_values("bin_index")
        bins = g[~g["is_missing"]]
        miss = g[g["is_missing"]].iloc[0]
        n_b = len(bins)
        w = np.bincount(counts[:, j], minlength=n_b + 1)[:n_b].astype(np.float64) + 1e-6
        v = bins["contribution"].to_numpy(np.float64)
        is_cat = bool(g["category"].notna().any())
        order = np.argsort(v, kind="stable") if is_cat else np.arange(n_b)
        cuts = segment(v[order], w[order], max_bins)
        seg = np.empty(n_b)
        seg[order] = _weighted_means(v[order], w[order], cuts)
        vals = np.append(seg, float(miss["contribution"]))
        pts = np.rint(-scaling.factor * vals).astype(np.int64)
        shift = int(pts.min())
        pts -= shift
        shift_total += shift
        if is_cat:
            for b, r in enumerate(bins.itertuples(index=False)):
                out_rows.append(_row(name, b, np.nan, np.nan, False, r.category, pts[b], seg[b]))
            out_rows.append(
                _row(name, n_b, np.nan, np.nan, True, miss["category"], pts[-1], vals[-1])
            )
            continue
        lowers = bins["lower"].to_numpy(np.float64)
        uppers = bins["upper"].to_numpy(np.float64)
        merged: list[list[Any]] = []  # [lower, upper, points, value]
        for b in range(n_b):
            if merged and merged[-1][2] == pts[b]:
                merged[-1][1] = uppers[b]
            else:
                merged.append([lowers[b], uppers[b], int(pts[b]), float(seg[b])])
        for b, (lo, up, p, val) in enumerate(merged):
            out_rows.append(_row(name, b, lo, up, False, None, p, val))
        out_rows.append(_row(name, len(merged), np.nan, np.nan, True, None, pts[-1], vals[-1]))
    table = pd.DataFrame(out_rows, columns=list(POINTS_COLUMNS))
    table["category"] = table["category"].astype(object)
    base = int(np.rint(scaling.offset - scaling.factor * bias)) + shift_total
    return PointsTable(table, base, scaling)


def _row(
    feature: str,
    b: int,
    lower: float,
    upper: float,
    is_missing: bool,
    category: Any,
    points: Any,
    contribution: Any,
) -> dict[str, Any]:
    return {
        "feature": feature,
        "bin_index": int(b),
        "lower": float(lower),
        "upper": float(upper),
        "is_missing": bool(is_missing),
        "category": category,
        "points": int(points),
        "contribution": float(contribution),
    }


def bins_per_feature(points: PointsTable) -> dict[str, int]:
    """Non-missing bins of each feature: intervals, or distinct point values among categories."""
    out: dict[str, int] = {}
    for name, g in points.table.groupby("feature", sort=False):
        real = g[~g["is_missing"]]
        cat = bool(g["category"].notna().any())
        out[str(name)] = int(real["points"].nunique() if cat else len(real))
    return out


def within_budget(points: PointsTable, budget: Budget) -> bool:
    bins = bins_per_feature(points)
    return len(bins) <= budget.max_features and max(bins.values(), default=0) <= budget.max_bins


DEFAULT_BUDGET = Budget()


def rank_auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties count half); NaN when one class is absent."""
    y = np.asarray(y, dtype=bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(np.asarray(s, dtype=np.float64))
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


Run = tuple[np.ndarray, np.ndarray, np.ndarray]  # free scores, budgeted scores, group per row


def _aucs(y: np.ndarray, runs: Sequence[Run], idx: np.ndarray) -> np.ndarray:
    """[AUC free, AUC budgeted] on rows ``idx``: group means, then the mean over runs."""
    per_run = []
    for free, budgeted, groups in runs:
        g = groups[idx]
        per_group = [
            (
                rank_auc(y[idx][g == k], free[idx][g == k]),
                rank_auc(y[idx][g == k], budgeted[idx][g == k]),
            )
            for k in np.unique(groups)
        ]
        per_run.append(np.nanmean(np.array(per_group), axis=0))
    return np.asarray(np.mean(per_run, axis=0), dtype=np.float64)


def paired_cost(
    y: np.ndarray, runs: Sequence[Run], n_boot: int = 200, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """AUC(free) - AUC(budgeted) (scores: higher = riskier) with a paired percentile bootstrap
    over rows: the same resample scores both models. Each run is one CV repetition (or one
    holdout, with a single group): the AUC is taken within each group (fold) and averaged, as
    K-fold CV reports it, then averaged over runs; a resampled row keeps its group. The same
    resamples give each model's AUC interval."""
    y = np.asarray(y, dtype=np.int64)
    point = _aucs(y, runs, np.arange(len(y)))
    rng = np.random.default_rng(seed)
    boots = np.array([_aucs(y, runs, rng.integers(0, len(y), len(y))) for _ in range(n_boot)])
    boots = boots[np.isfinite(boots).all(axis=1)] if len(boots) else np.empty((0, 2))
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]

    def ci(v: np.ndarray, at: float) -> list[float]:
        return [float(x) for x in np.percentile(v, q)] if len(v) else [at, at]

    cost = point[0] - point[1]
    return {
        "auc_cost": float(cost),
        "auc_cost_ci": ci(boots[:, 0] - boots[:, 1], cost),
        "auc_unconstrained_ci": ci(boots[:, 0], float(point[0])),
        "auc_budgeted_ci": ci(boots[:, 1], float(point[1])),
        "n_boot": int(len(boots)),
    }
