"""Principal reasons (adverse-action style): the features whose bins cost the most points against
that feature's best bin. Vectorised: no Python loop over applicants."""

from __future__ import annotations

import numpy as np
import pandas as pd

from credit.scorecard import PointsTable


def reason_text(feature: str, texts: dict[str, str] | None = None) -> str:
    """Consumer-readable text of a scored factor (a generic one when none is configured)."""
    if texts and feature in texts:
        return texts[feature]
    return f"Your {feature.replace('_', ' ')} lowered the score"


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
    point_matrix: np.ndarray,
    texts: dict[str, str] | None = None,
    k: int = 4,
    index: pd.Index | None = None,
) -> pd.DataFrame:
    """Columns reason_code_i (feature name), reason_i (text), reason_points_i for i = 1..k."""
    feats = points.features
    idx, d = top_deficits(point_matrix, points.best_points(), k)
    codes = np.array(list(feats) + [None], dtype=object)
    words = np.array([reason_text(f, texts) for f in feats] + [None], dtype=object)
    cols: dict[str, np.ndarray] = {}
    for i in range(k):
        cols[f"reason_code_{i + 1}"] = codes[idx[:, i]]
        cols[f"reason_{i + 1}"] = words[idx[:, i]]
        cols[f"reason_points_{i + 1}"] = d[:, i].astype(np.int64)
    return pd.DataFrame(cols, index=index)
