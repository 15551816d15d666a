"""Fairness checks for evaluation only: protected attributes are passed in, never used as features.

* Approval-rate ratio per group against the most-approved group (four-fifths rule: ratio >= 0.8).
* Calibration by group: mean predicted PD against the observed bad rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

FOUR_FIFTHS = 0.8


def approval_rates(
    approved: np.ndarray | pd.Series, group: np.ndarray | pd.Series, threshold: float = FOUR_FIFTHS
) -> pd.DataFrame:
    """Per group: n, approvals, approval_rate, ratio to the highest group rate, passes (>= 0.8)."""
    d = pd.DataFrame(
        {
            "approved": np.asarray(approved, dtype=float),
            "group": pd.Series(np.asarray(group, dtype=object)).fillna("(missing)"),
        }
    )
    t = (
        d.groupby("group", sort=True)["approved"]
        .agg(n="size", approvals="sum", approval_rate="mean")
        .reset_index()
    )
    best = float(t["approval_rate"].max()) if len(t) else 0.0
    t["ratio_to_max"] = t["approval_rate"] / best if best > 0 else np.nan
    t["passes"] = t["ratio_to_max"] >= threshold
    return t


def calibration_by_group(
    y: np.ndarray | pd.Series, pd_hat: np.ndarray | pd.Series, group: np.ndarray | pd.Series
) -> pd.DataFrame:
    """Per group: n, mean predicted PD, observed bad rate, their ratio and difference."""
    d = pd.DataFrame(
        {
            "y": np.asarray(y, dtype=float),
            "pd": np.asarray(pd_hat, dtype=float),
            "group": pd.Series(np.asarray(group, dtype=object)).fillna("(missing)"),
        }
    )
    d = d[~d["y"].isna()]
    t = (
        d.groupby("group", sort=True)
        .agg(n=("y", "size"), mean_pd=("pd", "mean"), observed=("y", "mean"))
        .reset_index()
    )
    t["observed_to_expected"] = t["observed"] / t["mean_pd"]
    t["difference"] = t["observed"] - t["mean_pd"]
    return t


def fairness_report(
    approved: np.ndarray | pd.Series,
    pd_hat: np.ndarray | pd.Series,
    protected: pd.DataFrame,
    y: np.ndarray | pd.Series | None = None,
    threshold: float = FOUR_FIFTHS,
) -> dict[str, Any]:
    """Per protected attribute (column of ``protected``, aligned by position): approval-rate table
    and, when outcomes are given, calibration table; ``passes`` is the four-fifths verdict."""
    out: dict[str, Any] = {"threshold": threshold, "attributes": {}, "passes": True}
    for col in protected.columns:
        g = protected[col].to_numpy()
        ar = approval_rates(approved, g, threshold)
        entry: dict[str, Any] = {
            "approval": ar,
            "passes": bool(ar["passes"].all()),
            "min_ratio": float(ar["ratio_to_max"].min()),
        }
        if y is not None:
            entry["calibration"] = calibration_by_group(y, pd_hat, g)
        out["attributes"][col] = entry
        out["passes"] = out["passes"] and entry["passes"]
    return out
