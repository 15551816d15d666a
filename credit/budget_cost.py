"""The characteristic budget's AUC cost in K-fold cross-validation on the development sample: the
primary figure (every row is a test row once per seed, and the mean over seeds smooths the split);
the holdout figure (one period, one sample) is secondary (``credit.budget.paired_cost``).

Both models of a fold are fitted on the same training rows and scored on the same test rows, so
the cost is a paired difference; its interval is ``paired_cost``'s (test-sample noise; the fold
spread is reported beside it for the variation of refitting).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from credit.budget import DEFAULT_BUDGET, Budget, Run, paired_cost
from credit.models import ks_statistic
from credit.training import fit_scorecard

CV_FOLDS = 5
CV_SEEDS: tuple[int, ...] = (0, 1, 2)


def cv_budget_cost(
    train: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str] | None = None,
    monotone: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
    folds: int = CV_FOLDS,
    seeds: Sequence[int] = CV_SEEDS,
    budget: Budget = DEFAULT_BUDGET,
    n_boot: int = 200,
) -> dict[str, Any]:
    """Stratified ``folds``-fold CV of the budgeted scorecard and of the unconstrained additive
    model it is cut from, same folds for both, for each seed in ``seeds``; the cost is the mean
    over seeds of the fold-mean AUC difference, with ``paired_cost``'s interval."""
    y = np.asarray(y, dtype=np.int64)
    cats = list(categorical or [])
    per_seed: list[dict[str, Any]] = []
    pooled: list[Run] = []
    for seed in seeds:
        free = np.zeros(len(y))
        card = np.zeros(len(y))
        fold = np.zeros(len(y), dtype=np.int64)
        skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for k, (tr, te) in enumerate(skf.split(train, y)):
            a, b = train.iloc[tr], train.iloc[te]
            sc = fit_scorecard(a, y[tr], numeric, cats, monotone, params, seed=seed, budget=budget)
            free[te] = sc.unconstrained.margin(sc.unconstrained_encoder.transform(b))
            card[te] = -sc.points.raw_points(b).astype(np.float64)
            fold[te] = k
        auc_free = [float(roc_auc_score(y[fold == k], free[fold == k])) for k in range(folds)]
        auc_card = [float(roc_auc_score(y[fold == k], card[fold == k])) for k in range(folds)]
        ks_card = [ks_statistic(y[fold == k], card[fold == k]) for k in range(folds)]
        per_seed.append(
            {
                "seed": int(seed),
                "auc_unconstrained": float(np.mean(auc_free)),
                "auc_budgeted": float(np.mean(auc_card)),
                "auc_cost": float(np.mean(auc_free) - np.mean(auc_card)),
                "ks_budgeted": float(np.mean(ks_card)),
                "fold_costs": [f - c for f, c in zip(auc_free, auc_card, strict=True)],
            }
        )
        pooled.append((free, card, fold))
    fold_costs = [c for s in per_seed for c in s["fold_costs"]]
    mean_free = float(np.mean([s["auc_unconstrained"] for s in per_seed]))
    mean_card = float(np.mean([s["auc_budgeted"] for s in per_seed]))
    return {
        "n_folds": folds,
        "seeds": [int(s) for s in seeds],
        "n": int(len(y)),
        "auc_unconstrained": mean_free,
        "auc_budgeted": mean_card,
        "gini_budgeted": 2 * mean_card - 1,
        "ks_budgeted": float(np.mean([s["ks_budgeted"] for s in per_seed])),
        **paired_cost(y, pooled, n_boot),
        "fold_cost_sd": float(np.std(fold_costs)),
        "per_seed": per_seed,
    }
