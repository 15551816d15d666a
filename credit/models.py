"""The three models: additive LightGBM (production), unconstrained LightGBM (challenger) and a WoE
logistic scorecard (baseline); splits, discrimination metrics with bootstrap CIs, reliability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

ADDITIVE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    # rounds chosen on CV log loss: smoother than AUC on small data, steadier round counts
    "metric": "binary_logloss",
    "learning_rate": 0.02,
    "num_leaves": 2,
    "max_depth": 1,
    "min_data_in_leaf": 20,
    "min_sum_hessian_in_leaf": 1e-3,
    "lambda_l2": 10.0,
    "feature_fraction": 1.0,
    # stumps on a random ~30% of features per tree with random thresholds (extra_trees): a
    # randomised coordinate descent that spreads the fit over features instead of chasing the
    # greediest split; +0.005 German CV AUC over 4 seeds, +0.006 Lending Club (seed 0)
    "feature_fraction_bynode": 0.3,
    "extra_trees": True,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "max_bin": 63,
    "min_data_per_group": 30,
    "cat_smooth": 20.0,
    "cat_l2": 10.0,
    "max_cat_threshold": 16,
    "max_cat_to_onehot": 64,  # one-vs-rest category splits: better on Lending Club, same on German
    "verbose": -1,
    "num_threads": 0,  # OpenMP default: all cores, or $OMP_NUM_THREADS
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
}

# The additive model is the mean of this many boosters refitted with different seeds at the
# CV-chosen rounds. Its stumps are randomised on purpose (extra_trees, feature_fraction_bynode,
# bagging): one draw is one noisy path of a randomised coordinate descent, and the mean of a few
# is still additive (a step function per feature on the union of the members' thresholds), so
# it converts to a points table exactly. Variance reduction, not a tuned constant.
ADDITIVE_BAG = 3

CHALLENGER_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "metric": "auc",
    "learning_rate": 0.02,
    "num_leaves": 15,
    "max_depth": -1,
    "min_data_in_leaf": 30,
    "lambda_l2": 5.0,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "max_bin": 63,
    "min_data_per_group": 30,
    "cat_smooth": 20.0,
    "verbose": -1,
    "num_threads": 0,  # OpenMP default: all cores, or $OMP_NUM_THREADS
    "seed": 0,
    "deterministic": True,
    "force_row_wise": True,
}


def rounds_factor(n_folds: int, power: float = 1.0) -> float:
    """Rounds on all rows per best CV round on (n_folds - 1)/n_folds of them."""
    return float((n_folds / max(n_folds - 1, 1)) ** power)


@dataclass
class BoostedModel:
    """A fitted LightGBM model with the rounds chosen by CV and out-of-fold margins; with
    ``members``, the model is the mean of ``booster`` and them (same rounds, other seeds)."""

    booster: lgb.Booster
    rounds: int
    oof_margin: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    members: tuple[lgb.Booster, ...] = ()

    @property
    def boosters(self) -> list[lgb.Booster]:
        return [self.booster, *self.members]

    def margin(self, X: np.ndarray) -> np.ndarray:
        m = [np.asarray(b.predict(X, raw_score=True), dtype=np.float64) for b in self.boosters]
        return np.asarray(np.mean(m, axis=0), dtype=np.float64)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 / (1.0 + np.exp(-self.margin(X))), dtype=np.float64)


def additive_params(
    feature_names: list[str],
    monotone: dict[str, int] | None = None,
    categorical: list[str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Params of the production model: one feature per tree, monotone where the direction is known."""
    p = dict(ADDITIVE_PARAMS)
    p.update(overrides)
    p["interaction_constraints"] = [[i] for i in range(len(feature_names))]
    cats = set(categorical or [])
    mono = [0 if f in cats else int((monotone or {}).get(f, 0)) for f in feature_names]
    if any(mono):
        p["monotone_constraints"] = mono
        p.setdefault("monotone_constraints_method", "advanced")
    return p


def fit_lgbm(
    X: np.ndarray,
    y: np.ndarray,
    feature_names: list[str],
    params: dict[str, Any],
    categorical_indices: list[int] | None = None,
    n_folds: int = 3,
    max_rounds: int = 4000,
    early_stopping: int = 200,
    seed: int = 0,
    n_models: int = 1,
) -> BoostedModel:
    """Pick the number of rounds by stratified CV (early stopping), keep out-of-fold margins, refit
    on all rows; ``n_models`` > 1 refits that many with seeds ``seed``, ``seed + 1``, ... and the
    model is their mean (the out-of-fold margins stay those of the CV, seed ``seed``)."""
    y = np.asarray(y, dtype=np.int64)
    cat = categorical_indices or []
    # LightGBM rejects some characters in names: it sees positional names, we keep the real ones
    internal = [f"f{j}" for j in range(len(feature_names))]
    ds = lgb.Dataset(
        X,
        y,
        feature_name=internal,
        categorical_feature=cat,
        free_raw_data=False,
        params={"verbose": -1},
    )
    folds = list(StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(X, y))
    res = lgb.cv(
        params,
        ds,
        num_boost_round=max_rounds,
        folds=folds,
        callbacks=[lgb.early_stopping(early_stopping, first_metric_only=True, verbose=False)],
        return_cvbooster=True,
    )
    metric_key = next(k for k in res if k.endswith("-mean"))
    best = max(1, len(cast(list[float], res[metric_key])))
    oof = np.zeros(len(y))
    cvb = cast(lgb.CVBooster, res["cvbooster"])
    for (_, val), b in zip(folds, cvb.boosters, strict=True):
        oof[val] = b.predict(X[val], num_iteration=best, raw_score=True)
    rounds = max(1, int(round(best * rounds_factor(n_folds))))
    booster = lgb.train(params, ds, num_boost_round=rounds)
    members = tuple(
        lgb.train(dict(params, seed=int(params.get("seed", seed)) + k), ds, num_boost_round=rounds)
        for k in range(1, n_models)
    )
    return BoostedModel(booster, rounds, oof, dict(params), members)


def fit_woe_logistic(
    df: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str] | None = None,
    C: float = 0.5,
) -> Any:
    """Baseline: optbinning WoE binning + logistic regression (a sklearn Pipeline)."""
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    # optbinning cannot bin a column with no values or a single value: leave those out (the
    # boosted models simply never split on them).
    def informative(col: str) -> bool:
        return bool(df[col].nunique(dropna=True) > 1)

    cats = [c for c in categorical or [] if informative(c)]
    names = [c for c in numeric if informative(c)] + cats
    bp = BinningProcess(
        variable_names=names,
        categorical_variables=cats or None,
        max_n_prebins=10,
        min_prebin_size=0.05,
    )
    pipe = Pipeline([("woe", bp), ("lr", LogisticRegression(C=C, max_iter=2000))])
    X = df[names].copy()
    for c in cats:
        X[c] = X[c].astype("string").astype(object).where(X[c].notna(), "__missing__")
    pipe.fit(X, np.asarray(y, dtype=np.int64))
    return pipe


def predict_woe_logistic(
    pipe: Any, df: pd.DataFrame, categorical: list[str] | None = None
) -> np.ndarray:
    names = list(pipe.named_steps["woe"].variable_names)
    X = df[names].copy()
    for c in categorical or []:
        X[c] = X[c].astype("string").astype(object).where(X[c].notna(), "__missing__")
    return np.asarray(pipe.predict_proba(X)[:, 1], dtype=np.float64)


# ---------------------------------------------------------------- splits and metrics
def out_of_time_split(
    df: pd.DataFrame, time_col: str = "applied_at", holdout_frac: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Positions of development rows and of the latest ``holdout_frac`` rows by ``time_col``."""
    t = pd.to_datetime(df[time_col]).to_numpy()
    cut = np.quantile(t.astype("int64"), 1.0 - holdout_frac)
    oot = t.astype("int64") > cut
    return np.flatnonzero(~oot), np.flatnonzero(oot)


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def discrimination(
    y: np.ndarray, p: np.ndarray, n_boot: int = 200, seed: int = 0, alpha: float = 0.05
) -> dict[str, Any]:
    """AUC, Gini and KS with percentile bootstrap CIs, and the Brier score (of PDs)."""
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    auc = float(roc_auc_score(y, p))
    ks = ks_statistic(y, p)
    rng = np.random.default_rng(seed)
    aucs, kss = [], []
    n = len(y)
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        if y[i].min() == y[i].max():
            continue
        aucs.append(roc_auc_score(y[i], p[i]))
        kss.append(ks_statistic(y[i], p[i]))
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    a_lo, a_hi = np.percentile(aucs, [lo, hi]) if aucs else (auc, auc)
    k_lo, k_hi = np.percentile(kss, [lo, hi]) if kss else (ks, ks)
    out = {
        "n": int(n),
        "bad_rate": float(y.mean()),
        "auc": auc,
        "auc_ci": [float(a_lo), float(a_hi)],
        "gini": 2 * auc - 1,
        "gini_ci": [float(2 * a_lo - 1), float(2 * a_hi - 1)],
        "ks": ks,
        "ks_ci": [float(k_lo), float(k_hi)],
    }
    if np.all((p >= 0) & (p <= 1)):
        out["brier"] = float(brier_score_loss(y, p))
    return out


def reliability_table(y: np.ndarray, pd_hat: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Observed bad rate against mean predicted PD in PD quantile bins."""
    d = pd.DataFrame({"y": np.asarray(y, dtype=float), "pd": np.asarray(pd_hat, dtype=float)})
    d["bin"] = pd.qcut(d["pd"].rank(method="first"), min(n_bins, len(d)), labels=False)
    t = (
        d.groupby("bin")
        .agg(
            n=("y", "size"),
            mean_pd=("pd", "mean"),
            observed=("y", "mean"),
            pd_min=("pd", "min"),
            pd_max=("pd", "max"),
        )
        .reset_index()
    )
    t["abs_error"] = (t["observed"] - t["mean_pd"]).abs()
    return t
