"""Missing values score conservatively: a missing (or unseen-category) bin never earns more points
than the feature's median bin, unless the training data show that missing is better.

The median bin of a feature is the bin of the median non-missing training applicant when
applicants are ordered by that feature's points. "Missing is better" needs evidence: at least
``min_evidence`` training rows with the value missing, and the upper end of the Wilson 95% interval
of their bad rate below the observed bad rate of the median bin's rows. Each kept exception is a row
of the policy table, which the model card prints. A feature never seen missing in training has no
evidence, so its missing bin is capped: the booster's default direction for NaN is arbitrary there.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from credit.scorecard import PointsTable

POLICY_COLUMNS: tuple[str, ...] = (
    "feature",
    "n_missing",
    "missing_share",
    "model_points",
    "median_bin_points",
    "points",
    "missing_bad_rate",
    "median_bin_bad_rate",
    "rule",
)
CAPPED = "capped at the median bin"
KEPT_MODEL = "model points (at or below the median bin)"
KEPT_EVIDENCE = "above the median bin: missing observed better in training"


def wilson_upper(bad: int, n: int, z: float = 1.96) -> float:
    """Upper end of the Wilson score interval of a proportion bad/n."""
    if n == 0:
        return 1.0
    p = bad / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(min(1.0, (centre + half) / (1 + z * z / n)))


def apply_missing_policy(
    points: PointsTable, rows: pd.DataFrame, y: np.ndarray, min_evidence: int = 50
) -> tuple[PointsTable, pd.DataFrame]:
    """A copy of ``points`` whose missing bins obey the policy, and the policy table (one row per
    feature, POLICY_COLUMNS). ``rows`` / ``y`` are training rows and their 0/1 labels."""
    y = np.asarray(y, dtype=np.int64)
    bins = points.bin_indices(rows)
    pm = points.point_matrix(rows)
    table = points.table.copy()
    out = []
    for j, name in enumerate(points.features):
        g = table[table["feature"] == name]
        miss_idx = int(g.loc[g["is_missing"], "bin_index"].iloc[0])
        miss_row = g.index[g["is_missing"]][0]
        model_pts = int(table.at[miss_row, "points"])
        is_miss = bins[:, j] == miss_idx
        present = np.sort(pm[~is_miss, j])
        if len(present) == 0:
            median_pts = int(g.loc[~g["is_missing"], "points"].median())
            median_rows = np.zeros(len(y), dtype=bool)
        else:
            median_pts = int(present[(len(present) - 1) // 2])
            median_rows = ~is_miss & (pm[:, j] == median_pts)
        n_miss = int(is_miss.sum())
        miss_bad = float(y[is_miss].mean()) if n_miss else float("nan")
        med_bad = float(y[median_rows].mean()) if median_rows.any() else float("nan")
        if model_pts <= median_pts:
            applied, rule = model_pts, KEPT_MODEL
        elif (
            n_miss >= min_evidence
            and np.isfinite(med_bad)
            and wilson_upper(int(y[is_miss].sum()), n_miss) < med_bad
        ):
            applied, rule = model_pts, KEPT_EVIDENCE
        else:
            applied, rule = median_pts, CAPPED
        table.at[miss_row, "points"] = applied
        out.append(
            {
                "feature": name,
                "n_missing": n_miss,
                "missing_share": n_miss / max(len(y), 1),
                "model_points": model_pts,
                "median_bin_points": median_pts,
                "points": applied,
                "missing_bad_rate": miss_bad,
                "median_bin_bad_rate": med_bad,
                "rule": rule,
            }
        )
    policy = pd.DataFrame(out, columns=list(POLICY_COLUMNS))
    return PointsTable(table, points.base_points, points.scaling), policy


def missing_counts(points: PointsTable, bins: np.ndarray) -> np.ndarray:
    """Per row of ``bins`` (from ``points.bin_indices``), how many scored features fall in their
    missing / other bin (always the last bin of a feature)."""
    t = points.table
    last = t.groupby("feature", sort=False)["bin_index"].max().reindex(points.features)
    return np.asarray((bins == last.to_numpy(np.int64)[None, :]).sum(axis=1), dtype=np.int64)
