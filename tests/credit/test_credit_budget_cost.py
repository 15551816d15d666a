"""The budget's AUC cost: the paired cost and its interval, and the repeated-CV measurement, on
small synthetic data."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from credit.budget import Budget, paired_cost, rank_auc
from credit.budget_cost import cv_budget_cost


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(20, 80))
def test_the_paired_cost_is_the_auc_difference_and_flips_sign_with_the_models(seed, n):
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    free = y + rng.normal(size=n)
    budgeted = free + rng.normal(scale=0.7, size=n)
    groups = rng.integers(0, 3, n)
    one = np.zeros(n, np.int64)
    c = paired_cost(y, [(free, budgeted, one)], n_boot=30, seed=seed)
    assert np.isclose(c["auc_cost"], roc_auc_score(y, free) - roc_auc_score(y, budgeted))
    assert c["n_boot"] == 30
    back = paired_cost(y, [(budgeted, free, one)], n_boot=30, seed=seed)
    assert np.isclose(back["auc_cost"], -c["auc_cost"])
    assert np.allclose(back["auc_cost_ci"], [-c["auc_cost_ci"][1], -c["auc_cost_ci"][0]])
    # within groups (folds), then over runs (seeds): the mean of the per-group differences
    by_group = [
        rank_auc(y[groups == k], free[groups == k])
        - rank_auc(y[groups == k], budgeted[groups == k])
        for k in range(3)
    ]
    two = paired_cost(y, [(free, budgeted, groups), (free, free, one)], n_boot=0)
    assert np.isclose(two["auc_cost"], np.nanmean(by_group) / 2)
    assert paired_cost(y, [(free, free, groups)], n_boot=20)["auc_cost_ci"] == [0.0, 0.0]


def test_rank_auc_matches_sklearn_with_ties():
    y = np.array([0, 0, 1, 1, 0, 1, 0])
    s = np.array([1.0, 2.0, 2.0, 3.0, 1.0, 1.0, 3.0])
    assert np.isclose(rank_auc(y, s), roc_auc_score(y, s))
    assert np.isnan(rank_auc(np.zeros(4, int), s[:4]))


def test_the_cv_cost_uses_the_same_folds_for_both_models_and_averages_the_seeds():
    rng = np.random.default_rng(3)
    n, p = 300, 6
    df = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    z = -1.2 + df.to_numpy() @ np.linspace(1.0, 0.05, p)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    rep = cv_budget_cost(
        df,
        y,
        list(df.columns),
        params={"learning_rate": 0.2},
        folds=3,
        seeds=(0, 1),
        budget=Budget(max_features=3, max_bins=3),
        n_boot=40,
    )
    assert rep["seeds"] == [0, 1] and rep["n_folds"] == 3 and rep["n"] == n
    per = rep["per_seed"]
    assert [len(s["fold_costs"]) for s in per] == [3, 3]
    for s in per:
        assert np.isclose(s["auc_cost"], np.mean(s["fold_costs"]))
        assert np.isclose(s["auc_cost"], s["auc_unconstrained"] - s["auc_budgeted"])
    assert np.isclose(rep["auc_cost"], np.mean([s["auc_cost"] for s in per]))
    assert np.isclose(rep["auc_cost"], rep["auc_unconstrained"] - rep["auc_budgeted"])
    lo, hi = rep["auc_cost_ci"]
    assert lo <= rep["auc_cost"] <= hi and hi - lo > 0
    # three features of eight at three bins: the budget loses signal, and the CV sees it
    assert rep["auc_cost"] > 0.01 and rep["auc_unconstrained"] > 0.75
