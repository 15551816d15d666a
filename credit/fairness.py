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


MIN_GROUP = 30
PROXY_CORRELATION = 0.5


def _indicators(s: pd.Series, max_levels: int = 20) -> pd.DataFrame:
    """0/1 columns of the most frequent levels of a categorical series (missing is a level)."""
    v = s.astype("string").fillna("(missing)")
    levels = v.value_counts().index[:max_levels]
    return pd.DataFrame({str(lv): (v == lv).astype(float) for lv in levels}, index=s.index)


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    """Cramér's V of two categorical series (missing is a level)."""
    t = pd.crosstab(a.astype("string").fillna("(missing)"), b.astype("string").fillna("(missing)"))
    if min(t.shape) < 2:
        return 0.0
    obs = t.to_numpy(dtype=float)
    exp = obs.sum(axis=1, keepdims=True) * obs.sum(axis=0, keepdims=True) / obs.sum()
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    return float(np.sqrt(chi2 / obs.sum() / (min(t.shape) - 1)))


def association(feature: pd.Series, protected: pd.Series) -> tuple[str, float]:
    """How strongly a feature tracks a protected attribute, in [0, 1]: |Pearson r| for two numeric
    columns, Cramér's V for two categorical ones, otherwise the largest |r| between the numeric
    column and an indicator of one level of the categorical one."""
    fn, pn = _is_numeric(feature), _is_numeric(protected)
    if not fn and not pn:
        return "cramers_v", cramers_v(feature, protected)
    num = pd.DataFrame(
        {"f": pd.to_numeric(feature, errors="coerce")} if fn else _indicators(feature),
        index=feature.index,
    )
    ref = (
        pd.DataFrame({"p": pd.to_numeric(protected, errors="coerce")}, index=protected.index)
        if pn
        else _indicators(protected)
    )
    best = 0.0
    for c in num.columns:
        x = num[c]
        if x.nunique(dropna=True) < 2:
            continue
        for d in ref.columns:
            r = x.corr(ref[d])
            if np.isfinite(r):
                best = max(best, abs(float(r)))
    return ("pearson" if fn and pn else "max_indicator_pearson"), best


def proxy_report(
    features: pd.DataFrame,
    candidates: list[str],
    protected: pd.DataFrame,
    threshold: float = PROXY_CORRELATION,
) -> pd.DataFrame:
    """Every (feature, protected attribute) pair with its association; ``is_proxy`` when it is at
    least ``threshold``. Rows are aligned by position."""
    rows = []
    prot = protected.reset_index(drop=True)
    feats = features.reset_index(drop=True)
    for p in prot.columns:
        for f in candidates:
            how, v = association(feats[f], prot[p])
            rows.append(
                {
                    "feature": f,
                    "protected": p,
                    "measure": how,
                    "value": v,
                    "is_proxy": v >= threshold,
                }
            )
    out = pd.DataFrame(rows, columns=["feature", "protected", "measure", "value", "is_proxy"])
    return out.sort_values("value", ascending=False).reset_index(drop=True)


def _auc_or_nan(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if len(y) == 0 or y.min() == y.max():
        return float("nan")
    return float(roc_auc_score(y, s))


def _ci(v: list[float] | np.ndarray, alpha: float = 0.05) -> list[float] | None:
    a = np.asarray(v, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return None
    return [
        float(np.percentile(a, 100 * alpha / 2)),
        float(np.percentile(a, 100 * (1 - alpha / 2))),
    ]


def fairness_assessment(
    approved: np.ndarray | pd.Series,
    pd_hat: np.ndarray | pd.Series,
    y: np.ndarray | pd.Series,
    protected: pd.DataFrame,
    rule: str,
    min_group: int = MIN_GROUP,
    n_boot: int = 200,
    seed: int = 0,
    threshold: float = FOUR_FIFTHS,
) -> dict[str, Any]:
    """Fairness of the actual decision rule on holdout rows (all inputs aligned by position).

    Per protected attribute and group: size, approval rate, adverse-impact ratio (approval rate over
    the best-approved reported group's), mean PD against the observed bad rate, and AUC, with
    percentile-bootstrap 95% intervals (the holdout resampled as a whole). Groups with fewer than
    ``min_group`` rows are suppressed: their size is reported as "< min_group" and nothing else.
    ``passes`` is the four-fifths verdict over reported groups; ``inconclusive`` lists groups whose
    ratio passes but whose interval reaches below the threshold. JSON-serialisable."""
    a = np.asarray(approved, dtype=float)
    p = np.asarray(pd_hat, dtype=float)
    yy = np.asarray(y, dtype=float)
    n = len(a)
    rng = np.random.default_rng(seed)
    boots = [rng.integers(0, n, n) for _ in range(n_boot)]
    out: dict[str, Any] = {
        "rule": rule,
        "rows": "holdout",
        "n": int(n),
        "min_group": int(min_group),
        "threshold": threshold,
        "n_boot": int(n_boot),
        "attributes": {},
        "passes": True,
    }
    for col in protected.columns:
        g = pd.Series(np.asarray(protected[col], dtype=object)).fillna("(missing)").astype(str)
        codes, levels = pd.factorize(g, sort=True)
        k = len(levels)
        size = np.bincount(codes, minlength=k)
        shown = size >= min_group
        rate = np.bincount(codes, weights=a, minlength=k) / np.maximum(size, 1)
        ref = int(np.argmax(np.where(shown, rate, -1.0))) if shown.any() else -1
        boot_rate = np.empty((n_boot, k))
        for b, i in enumerate(boots):
            sz = np.bincount(codes[i], minlength=k)
            boot_rate[b] = np.bincount(codes[i], weights=a[i], minlength=k) / np.maximum(sz, 1)
        groups = []
        entry_pass, inconclusive = True, []
        for c in range(k):
            if not shown[c]:
                groups.append({"group": str(levels[c]), "n": f"< {min_group}", "suppressed": True})
                continue
            m = codes == c
            ref_rate = rate[ref]
            air = float(rate[c] / ref_rate) if ref_rate > 0 else float("nan")
            with np.errstate(divide="ignore", invalid="ignore"):
                air_boot = boot_rate[:, c] / boot_rate[:, ref]
            auc_boot = [
                _auc_or_nan(yy[i][codes[i] == c], p[i][codes[i] == c]) for i in boots[: n_boot // 2]
            ]
            air_ci = _ci(air_boot)
            row = {
                "group": str(levels[c]),
                "n": int(size[c]),
                "suppressed": False,
                "reference": c == ref,
                "approval_rate": float(rate[c]),
                "approval_rate_ci": _ci(boot_rate[:, c]),
                "adverse_impact_ratio": air,
                "adverse_impact_ratio_ci": air_ci,
                "mean_pd": float(p[m].mean()),
                "observed_bad_rate": float(yy[m].mean()),
                "observed_to_expected": float(yy[m].mean() / p[m].mean()) if p[m].mean() else None,
                "auc": _auc_or_nan(yy[m], p[m]),
                "auc_ci": _ci(auc_boot),
            }
            if np.isfinite(air) and air < threshold:
                entry_pass = False
            elif air_ci is not None and air_ci[0] < threshold:
                inconclusive.append(str(levels[c]))
            groups.append(row)
        ratios = [float(str(r["adverse_impact_ratio"])) for r in groups if not r["suppressed"]]
        out["attributes"][col] = {
            "groups": groups,
            "passes": entry_pass,
            "inconclusive": inconclusive,
            "reference_group": str(levels[ref]) if ref >= 0 else None,
            "min_ratio": min(ratios, default=None),
        }
        out["passes"] = out["passes"] and entry_pass
    return out
