"""Population stability: PSI of the score and CSI per feature (over the points-table bins).

PSI = sum_i (a_i - e_i) ln(a_i / e_i) over bins with shares e (training) and a (latest).
Below ``warn`` (0.1) is stable, from ``warn`` a warning, from ``fail`` (0.25) a failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit.scorecard import PointsTable

WARN = 0.1
FAIL = 0.25
_ORDER = {"ok": 0, "warn": 1, "fail": 2}


def psi_from_shares(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    """PSI of two distributions over the same bins (counts or shares; empty bins get ``eps``)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape:
        raise ValueError("expected and actual need the same bins")
    e = np.maximum(e / e.sum(), eps)
    a = np.maximum(a / a.sum(), eps)
    return float(np.sum((a - e) * np.log(a / e)))


def quantile_edges(values: np.ndarray, n_bins: int = 10) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return np.unique(np.quantile(v, np.linspace(0, 1, n_bins + 1)[1:-1]))


def psi(
    expected: np.ndarray, actual: np.ndarray, n_bins: int = 10, edges: np.ndarray | None = None
) -> float:
    """PSI of a numeric variable, binned at quantiles of ``expected`` (missing values: own bin)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    edges = quantile_edges(e, n_bins) if edges is None else np.asarray(edges, dtype=float)
    k = len(edges) + 2

    def shares(x: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(edges, x, side="right")
        idx[np.isnan(x)] = k - 1
        return np.bincount(idx, minlength=k).astype(float)

    return psi_from_shares(shares(e), shares(a))


def status(value: float, warn: float = WARN, fail: float = FAIL) -> str:
    if value >= fail:
        return "fail"
    return "warn" if value >= warn else "ok"


def csi_by_feature(points: PointsTable, train: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """CSI of each scored feature over its points-table bins."""
    bt, bl = points.bin_indices(train), points.bin_indices(latest)
    rows = []
    for j, f in enumerate(points.features):
        k = int(max(bt[:, j].max(initial=0), bl[:, j].max(initial=0))) + 1
        v = psi_from_shares(np.bincount(bt[:, j], minlength=k), np.bincount(bl[:, j], minlength=k))
        rows.append({"feature": f, "csi": v, "status": status(v)})
    return pd.DataFrame(rows, columns=["feature", "csi", "status"])


def stability_report(
    points: PointsTable,
    train: pd.DataFrame,
    latest: pd.DataFrame,
    warn: float = WARN,
    fail: float = FAIL,
    baseline: str = "training population",
    compared: str = "latest population",
) -> dict[str, Any]:
    """Score PSI (10 quantile bins of the training score), CSI per feature, overall status.
    ``baseline`` / ``compared`` name the two populations in the report and the model card (say so
    when the compared rows are a slice of the baseline, e.g. its latest 20%)."""
    s_train = points.score(train).astype(float)
    s_latest = points.score(latest).astype(float)
    score_psi = psi(s_train, s_latest)
    csi = csi_by_feature(points, train, latest)
    csi["status"] = [status(v, warn, fail) for v in csi["csi"]]
    score_status = status(score_psi, warn, fail)
    worst = max([score_status, *csi["status"]], key=_ORDER.__getitem__)
    return {
        "score_psi": score_psi,
        "score_status": score_status,
        "features": csi,
        "status": worst,
        "thresholds": {"warn": warn, "fail": fail},
        "n_train": len(train),
        "n_latest": len(latest),
        "baseline": baseline,
        "latest": compared,
    }
