"""Principal reasons (adverse-action style), generated from the points themselves.

A feature is a reason when the applicant's bin earns fewer points than the feature's best
non-missing bin; the deficit ranks the reasons. Its direction comes from the points table, never
from a fixed sentence: ``low`` when the nearest best bin lies above the applicant's value (more
would score higher), ``high`` when it lies below, ``missing`` for the missing / unseen-category bin,
``category`` for a category scoring below the best one. The reason code is ``feature:direction`` and
its wording is the feature's wording for that direction, so a reason cannot contradict the
applicant's value. Vectorised: no Python loop over applicants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from credit.scorecard import PointsTable

DIRECTIONS: tuple[str, ...] = ("low", "high", "missing", "category")
REASON_CODE_COLUMNS: tuple[str, ...] = (
    "code",
    "feature",
    "direction",
    "text",
    "max_points_lost",
)

Wording = Mapping[str, Any]  # feature -> label (str) or {"label": ..., direction: sentence}


def reason_wording(feature: str, texts: Wording | None = None) -> dict[str, str]:
    """The sentence for each direction of a feature: configured ones first, generic otherwise."""
    t = (texts or {}).get(feature)
    if isinstance(t, str):
        label = t
    elif isinstance(t, Mapping) and "label" in t:
        label = str(t["label"])
    else:
        label = feature.replace("_", " ")
    out = {
        "low": f"{label[:1].upper()}{label[1:]} is lower than in the best-scoring range",
        "high": f"{label[:1].upper()}{label[1:]} is higher than in the best-scoring range",
        "missing": f"No information on {label[:1].lower()}{label[1:]}",
        "category": f"{label[:1].upper()}{label[1:]}: this value scores below others",
    }
    if isinstance(t, Mapping):
        out.update({k: str(v) for k, v in t.items() if k in DIRECTIONS})
    return out


def reason_text(feature: str, texts: Wording | None = None, direction: str = "low") -> str:
    """Consumer-readable text of a scored factor in one direction."""
    return reason_wording(feature, texts)[direction]


def bin_directions(points: PointsTable) -> list[np.ndarray]:
    """Per feature, the direction index (into DIRECTIONS) of each bin, -1 for the best bins."""
    out: list[np.ndarray] = []
    for _, g in points.table.groupby("feature", sort=False):
        g = g.sort_values("bin_index")
        real = g[~g["is_missing"]]
        pts = real["points"].to_numpy(np.int64)
        d = np.full(len(g), DIRECTIONS.index("missing"), dtype=np.int64)
        best = np.flatnonzero(pts == pts.max())
        categorical = bool(g["category"].notna().any())
        for b in range(len(pts)):
            if pts[b] == pts.max():
                d[b] = -1
            elif categorical:
                d[b] = DIRECTIONS.index("category")
            else:
                nearest = best[np.argmin(np.abs(best - b))]
                d[b] = DIRECTIONS.index("low" if nearest > b else "high")
        out.append(d)
    return out


def best_present_points(points: PointsTable) -> np.ndarray:
    """Highest points of each feature's non-missing bins (order of ``features``)."""
    t = points.table
    best = t[~t["is_missing"]].groupby("feature", sort=False)["points"].max()
    return np.asarray(best.reindex(points.features).to_numpy(dtype=np.int64), dtype=np.int64)


def top_deficits(
    point_matrix: np.ndarray, best: np.ndarray, k: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Feature indices (n, k) of the k largest point deficits, largest first, and the deficits.
    Index -1 where fewer than k features lost points. Ties go to the earlier feature."""
    deficit = best[None, :] - point_matrix
    n, f = deficit.shape
    k_eff = min(k, f)
    key = deficit * f + (f - 1 - np.arange(f))[None, :]  # unique per row, ties by feature order
    if k_eff < f:
        part = np.argpartition(-key, k_eff - 1, axis=1)[:, :k_eff]
    else:
        part = np.broadcast_to(np.arange(f), (n, f)).copy()
    order = np.argsort(-np.take_along_axis(key, part, axis=1), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    d = np.take_along_axis(deficit, idx, axis=1)
    idx = np.where(d > 0, idx, -1)
    d = np.where(d > 0, d, 0)
    if k_eff < k:
        idx = np.hstack([idx, np.full((n, k - k_eff), -1)])
        d = np.hstack([d, np.zeros((n, k - k_eff), dtype=d.dtype)])
    return idx, d


def reasons_frame(
    points: PointsTable,
    bins: np.ndarray,
    texts: Wording | None = None,
    k: int = 4,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Columns reason_code_i (``feature:direction``), reason_i (text) and reason_points_i (points
    below the feature's best bin) for i = 1..k, from the (n, n_features) bin indices."""
    feats = points.features
    pm = points.point_matrix_from_bins(bins)
    idx, d = top_deficits(pm, best_present_points(points), k)
    dirs = bin_directions(points)
    n_dir = len(DIRECTIONS)
    # direction of every (row, feature): a lookup per feature column
    dir_of = np.stack([dirs[j][bins[:, j]] for j in range(len(feats))], axis=1)
    codes = np.array([f"{f}:{dname}" for f in feats for dname in DIRECTIONS] + [None], dtype=object)
    words = np.array(
        [reason_wording(f, texts)[dname] for f in feats for dname in DIRECTIONS] + [None],
        dtype=object,
    )
    cols: dict[str, np.ndarray] = {}
    rows = np.arange(len(bins))
    for i in range(k):
        j = idx[:, i]
        dj = dir_of[rows, np.maximum(j, 0)]
        flat = np.where(j >= 0, j * n_dir + dj, len(codes) - 1)
        cols[f"reason_code_{i + 1}"] = codes[flat]
        cols[f"reason_{i + 1}"] = words[flat]
        cols[f"reason_points_{i + 1}"] = d[:, i].astype(np.int64)
    return pd.DataFrame(cols, index=index)


def reason_codes(points: PointsTable, texts: Wording | None = None) -> pd.DataFrame:
    """Every reason code the points table can emit, with its wording and the most points it can
    cost (REASON_CODE_COLUMNS): the list printed in the model card."""
    best = best_present_points(points)
    dirs = bin_directions(points)
    rows = []
    for j, (name, g) in enumerate(points.table.groupby("feature", sort=False)):
        g = g.sort_values("bin_index")
        pts = g["points"].to_numpy(np.int64)
        words = reason_wording(str(name), texts)
        for di, dname in enumerate(DIRECTIONS):
            lost = best[j] - pts[dirs[j] == di]
            lost = lost[lost > 0]
            if len(lost):
                rows.append(
                    {
                        "code": f"{name}:{dname}",
                        "feature": name,
                        "direction": dname,
                        "text": words[dname],
                        "max_points_lost": int(lost.max()),
                    }
                )
    return pd.DataFrame(rows, columns=list(REASON_CODE_COLUMNS))
