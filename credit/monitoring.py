"""Population stability: PSI of the score and CSI per feature (over the points-table bins).

PSI = sum_i (a_i - e_i) ln(a_i / e_i) over bins with shares e (baseline) and a (monitored).
Below ``warn`` (0.1) is stable, from ``warn`` a warning, from ``fail`` (0.25) a failure.

Like with like, as a validator expects: the baseline is the development sample as the model saw it
at fit time (``StabilityReference``: its score deciles and per-bin feature shares, with its period,
stored in the model's metadata), the monitored population is the current scoring population
(every application, labelled or not) in the latest window of the same length as the development
period after it ended (``monitoring_window``). Both sides are named with their period and size.
A real shift in either the score or a feature fails; nothing is smoothed away.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    return psi_from_shares(binned_counts(e, edges), binned_counts(a, edges))


def binned_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts over the bins ``(-inf, e0], (e0, e1], ..., (e_last, inf)`` and a last missing bin."""
    x = np.asarray(values, dtype=float)
    k = len(edges) + 2
    idx = np.searchsorted(np.asarray(edges, dtype=float), x, side="right")
    idx[np.isnan(x)] = k - 1
    return np.bincount(idx, minlength=k).astype(float)


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


@dataclass(frozen=True)
class StabilityReference:
    """The development sample's distributions at fit time: score decile edges and counts, and the
    count of rows in every points-table bin of every scored feature. ``period`` says when its
    applications were made; ``n`` how many there were."""

    period: str
    n: int
    score_edges: tuple[float, ...]
    score_counts: tuple[float, ...]
    feature_counts: dict[str, tuple[float, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "n": self.n,
            "score_edges": list(self.score_edges),
            "score_counts": list(self.score_counts),
            "feature_counts": {f: list(c) for f, c in self.feature_counts.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StabilityReference:
        return cls(
            str(d["period"]),
            int(d["n"]),
            tuple(float(v) for v in d["score_edges"]),
            tuple(float(v) for v in d["score_counts"]),
            {str(f): tuple(float(v) for v in c) for f, c in d["feature_counts"].items()},
        )


def _feature_counts(points: PointsTable, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    bins = points.bin_indices(rows)
    sizes = points.table.groupby("feature", sort=False).size()
    return {
        f: np.bincount(bins[:, j], minlength=int(sizes[f])).astype(float)
        for j, f in enumerate(points.features)
    }


def stability_reference(
    points: PointsTable, rows: pd.DataFrame, period: str, n_bins: int = 10
) -> StabilityReference:
    """The reference profile of ``rows`` (the development sample) under ``points``."""
    score = points.score(rows).astype(float)
    edges = quantile_edges(score, n_bins)
    return StabilityReference(
        period,
        len(rows),
        tuple(float(e) for e in edges),
        tuple(float(c) for c in binned_counts(score, edges)),
        {f: tuple(float(v) for v in c) for f, c in _feature_counts(points, rows).items()},
    )


def compare_to_reference(
    reference: StabilityReference,
    points: PointsTable,
    current: pd.DataFrame,
    compared: str,
    warn: float = WARN,
    fail: float = FAIL,
) -> dict[str, Any]:
    """Score PSI and per-feature CSI of ``current`` against the stored development profile, in
    the shape of ``stability_report``. ``points`` must be the table the reference was made with
    (same features, same bins): anything else is refused, since the bins would not line up."""
    counts = _feature_counts(points, current)
    if set(counts) != set(reference.feature_counts) or any(
        len(counts[f]) != len(reference.feature_counts[f]) for f in counts
    ):
        raise ValueError(
            "the stability reference was made with another points table (features or bins "
            "differ): recompute it from the model's development sample"
        )
    score = points.score(current).astype(float)
    score_psi = psi_from_shares(
        np.asarray(reference.score_counts), binned_counts(score, np.asarray(reference.score_edges))
    )
    rows = []
    for f in points.features:
        v = psi_from_shares(np.asarray(reference.feature_counts[f]), counts[f])
        rows.append({"feature": f, "csi": v, "status": status(v, warn, fail)})
    csi = pd.DataFrame(rows, columns=["feature", "csi", "status"])
    score_status = status(score_psi, warn, fail)
    worst = max([score_status, *csi["status"]], key=_ORDER.__getitem__)
    return {
        "score_psi": score_psi,
        "score_status": score_status,
        "features": csi,
        "status": worst,
        "thresholds": {"warn": warn, "fail": fail},
        "n_train": reference.n,
        "n_latest": len(current),
        "baseline": f"development sample at fit time, applications {reference.period}",
        "latest": compared,
    }


def monitoring_window(
    applied_at: pd.Series, reference_from: str, reference_until: str
) -> tuple[np.ndarray, str]:
    """Rows of the current scoring population to monitor, and their description: applications
    after the development period, in the latest window as long as that period (ending at the
    latest application). Empty when nothing was applied for after the development period."""
    t = pd.to_datetime(applied_at)
    start, end = pd.Timestamp(reference_from), pd.Timestamp(reference_until)
    latest = t.max()
    lo = max(end, latest - (end - start))
    mask = (t > lo).to_numpy(dtype=bool)
    if not mask.any():
        return mask, f"no application after the development period (ended {end.date()})"
    shown = t[mask]
    return mask, (
        f"scoring population, applications {shown.min().date()} .. {shown.max().date()} "
        f"(the latest {max((end - start).days, 1)} days after the development period)"
    )
