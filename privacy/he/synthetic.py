"""A scorecard with an exact number of indicator columns, and applicants for it (bench, tests).

Each feature has a few numeric bins (or categories) plus a missing bin; one point value recurs
within a feature (and the missing bin shares a value), so the reduction to one indicator per
distinct value is exercised. ``columns`` indicator columns result exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit.scorecard import PointsTable

PER_FEATURE = 4  # indicator columns per feature (5 distinct point values)


def synthetic_points_table(columns: int, seed: int = 0) -> PointsTable:
    if columns < 1:
        raise ValueError("columns must be >= 1")
    rng = np.random.default_rng(seed)
    sizes = [PER_FEATURE] * (columns // PER_FEATURE)
    if columns % PER_FEATURE:
        sizes.append(columns % PER_FEATURE)
    rows: list[dict[str, Any]] = []
    for f, c in enumerate(sizes):
        values = rng.choice(np.arange(0, 61), size=c + 1, replace=False).tolist()
        # bins: the distinct values, one repeated, then the missing bin sharing the first value
        bin_points = values + [values[-1 if c > 1 else 0]]
        rng.shuffle(bin_points)
        categorical = f % 5 == 4
        name = f"cat_{f:03d}" if categorical else f"num_{f:03d}"
        edges = np.linspace(-1.5, 1.5, len(bin_points) - 1)
        for b, p in enumerate(bin_points):
            rows.append(
                {
                    "feature": name,
                    "bin_index": b,
                    "lower": None if categorical or b == 0 else float(edges[b - 1]),
                    "upper": None if categorical or b == len(edges) else float(edges[b]),
                    "is_missing": False,
                    "category": f"c{b}" if categorical else None,
                    "points": int(p),
                    "contribution": 0.0,
                }
            )
        rows.append(
            {
                "feature": name,
                "bin_index": len(bin_points),
                "lower": None,
                "upper": None,
                "is_missing": True,
                "category": "__other__" if categorical else None,
                "points": int(bin_points[0]) if c > 1 else int(values[0]),
                "contribution": 0.0,
            }
        )
    return PointsTable.from_dict(
        {
            "base_points": 850 - 30 * len(sizes),
            "scaling": {
                "base_score": 600.0,
                "base_odds": 50.0,
                "pdo": 20.0,
                "min_score": 300,
                "max_score": 850,
            },
            "bins": rows,
        }
    )


def synthetic_applicants(points: PointsTable, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` applicants with every model feature; about 5% of each feature missing."""
    rng = np.random.default_rng(seed)
    cats = set(points.categorical_features)
    out: dict[str, Any] = {}
    for feat in points.features:
        miss = rng.random(n) < 0.05
        if feat in cats:
            k = int((points.table["feature"] == feat).sum())
            v = pd.Series([f"c{i}" for i in rng.integers(0, k, n)], dtype="string")
            v[miss] = pd.NA
            out[feat] = v
        else:
            x = rng.normal(0.0, 1.0, n)
            x[miss] = np.nan
            out[feat] = x
    return pd.DataFrame(out)
