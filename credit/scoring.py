"""The ledger credit flow: train on point-in-time features with an out-of-time holdout, and score
applications into the rows of ``credit.scores``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from credit import models
from credit.budget import DEFAULT_BUDGET, Budget
from credit.budget_cost import CV_FOLDS, CV_SEEDS, cv_budget_cost
from credit.fairness import MIN_GROUP, fairness_assessment, proxy_report
from credit.features import FEATURE_COLUMNS, MONOTONE, REASON_WORDING
from credit.monitoring import (
    StabilityReference,
    compare_to_reference,
    monitoring_window,
    stability_reference,
)
from credit.pricing import grade, price_applications
from credit.training import CreditModel, StackResult, frame_hash, train_stack

SCORES_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "subject_id",
    "applied_at",
    "score",
    "raw_points",
    "pd",
    "grade",
    "reason_code_1",
    "reason_1",
    "reason_points_1",
    "reason_code_2",
    "reason_2",
    "reason_points_2",
    "reason_code_3",
    "reason_3",
    "reason_points_3",
    "reason_code_4",
    "reason_4",
    "reason_points_4",
    "missing_features",
    "thin_file",
    "model_version",
)


MIN_LABELLED = 100
MIN_PER_CLASS = 10


def train_ledger_model(
    features: pd.DataFrame,
    holdout_frac: float = 0.2,
    params: dict[str, Any] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    snapshot_id: str | None = None,
    budget: Budget | None = DEFAULT_BUDGET,
    protected: pd.DataFrame | None = None,
    challenger: bool = True,
    logistic: bool = True,
    cv_folds: int = CV_FOLDS,
    cv_seeds: Sequence[int] = CV_SEEDS,
) -> StackResult:
    """Fit the stack on labelled applications; the latest ``holdout_frac`` by applied_at is the
    out-of-time holdout. Unlabelled applications (label NULL) are excluded.

    The budget's AUC cost is measured twice: ``metrics['budget']['cv']`` in ``cv_folds``-fold CV
    on the development rows over ``cv_seeds`` (``credit.budget_cost.cv_budget_cost``, the primary
    figure; no seeds: not measured) and ``metrics['budget']['auc_cost']`` on the holdout.

    ``protected``: loan_id plus protected attribute columns (evaluation only). Those names are
    refused as features; ``metrics['proxies']`` reports features tracking them and
    ``metrics['fairness']`` judges the pricing decision on the holdout rows."""
    lab = features[features["label"].notna()].reset_index(drop=True)
    n_bad = int(lab["label"].sum())
    if len(lab) < MIN_LABELLED or n_bad < MIN_PER_CLASS or len(lab) - n_bad < MIN_PER_CLASS:
        raise ValueError(
            f"only {len(lab)} applications have an observed outcome ({n_bad} bad, "
            f"{len(lab) - n_bad} good); training needs at least {MIN_LABELLED} with "
            f"{MIN_PER_CLASS} of each class. Land a longer ledger (more days) or more users."
        )
    prot_cols = [c for c in (protected.columns if protected is not None else []) if c != "loan_id"]
    dev, oot = models.out_of_time_split(lab, "applied_at", holdout_frac)
    y = lab["label"].to_numpy(dtype=np.int64)
    t_dev = pd.to_datetime(lab["applied_at"].iloc[dev])
    t_oot = pd.to_datetime(lab["applied_at"].iloc[oot])
    feats = [c for c in FEATURE_COLUMNS if c not in prot_cols]
    res = train_stack(
        lab.iloc[dev],
        y[dev],
        lab.iloc[oot],
        y[oot],
        feats,
        [],
        MONOTONE,
        REASON_WORDING,
        params,
        n_boot=n_boot,
        seed=seed,
        budget=budget,
        protected=prot_cols,
        challenger=challenger,
        logistic=logistic,
        period=f"{t_dev.min().date()} .. {t_dev.max().date()}",
    )
    res.holdout["loan_id"] = lab["loan_id"].iloc[oot].to_numpy()
    if budget is not None and cv_seeds:
        res.metrics["budget"]["cv"] = cv_budget_cost(
            lab.iloc[dev], y[dev], feats, [], MONOTONE, params, cv_folds, cv_seeds, budget, n_boot
        )
        res.metrics["budget"]["primary"] = "cv"
        res.model.metadata["budget"] = res.metrics["budget"]
    res.model.metadata.update(
        {
            "split": "out_of_time",
            "train_from": str(t_dev.min()),
            "train_until": str(t_dev.max()),
            "holdout_from": str(t_oot.min()),
            "holdout_until": str(t_oot.max()),
            "label_definition": "label = 1 when the loan was not repaid in full within the "
            "performance window after its due date (marts.loans.is_bad); NULL until observable",
            "data_hash": snapshot_id or frame_hash(lab[list(FEATURE_COLUMNS) + ["label"]]),
        }
    )
    if protected is not None and prot_cols:
        joined = lab[["loan_id"]].merge(protected, on="loan_id", how="left")
        res.metrics["proxies"] = proxy_report(lab, feats, joined[prot_cols]).to_dict("records")
        res.metrics["fairness"] = holdout_fairness(res, features, protected, n_boot=n_boot)
    return res


def holdout_fairness(
    result: StackResult,
    features: pd.DataFrame,
    protected: pd.DataFrame,
    min_group: int = MIN_GROUP,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Fairness of the pipeline's actual decision (``price_applications``: grade, APR cap and
    affordability) on the out-of-time holdout rows only. ``protected``: loan_id + attributes."""
    hold = result.holdout
    rows = features[features["loan_id"].isin(set(hold["loan_id"]))]
    scores = score_applications(result.model, rows)
    priced = price_applications(scores, rows)
    d = (
        hold[["loan_id", "y"]]
        .merge(priced[["loan_id", "pd", "decision"]], on="loan_id", how="left")
        .merge(protected, on="loan_id", how="left")
    )
    cols = [c for c in protected.columns if c != "loan_id"]
    return fairness_assessment(
        d["decision"].eq("approve").to_numpy(),
        d["pd"].to_numpy(),
        d["y"].to_numpy(),
        d[cols],
        "the pricing decision: approve unless a decline grade, an APR above the cap or an "
        "affordable limit below the minimum (credit.pricing.price_loans)",
        min_group=min_group,
        n_boot=n_boot,
        seed=seed,
    )


def score_applications(model: CreditModel, features: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``credit.scores`` for every application (labelled or not). ``thin_file`` is set by
    missing features and, when the features carry it, by a short observed history."""
    keep = [c for c in ("loan_id", "subject_id", "applied_at") if c in features]
    out = model.score(features, k=4, keep=keep)
    out["grade"] = grade(out["pd"].to_numpy())
    if "short_history" in features:
        out["thin_file"] = out["thin_file"].to_numpy() | features["short_history"].fillna(
            True
        ).to_numpy(dtype=bool)
    for c in SCORES_COLUMNS:
        if c not in out:
            out[c] = None
    return out.loc[:, list(SCORES_COLUMNS)].reset_index(drop=True)


def scoring_population_stability(
    model: CreditModel, features: pd.DataFrame
) -> dict[str, Any] | None:
    """PSI/CSI of the current scoring population against the model's development sample.

    The baseline is the profile stored at fit time (``stability_reference``); a model trained
    before profiles were stored gets it rebuilt from the labelled rows of its training period.
    The monitored rows are every application (labelled or not) in ``monitoring_window``: the
    latest window as long as the development period, after it. ``None`` when no application was
    made after the development period (nothing to compare yet)."""
    meta = model.metadata
    start, end = meta.get("train_from"), meta.get("train_until")
    if start is None or end is None:
        raise ValueError(
            f"model {model.version} has no training period (train_from / train_until in its "
            "metadata): retrain it with credit.scoring.train_ledger_model"
        )
    if "stability_reference" in meta:
        ref = StabilityReference.from_dict(meta["stability_reference"])
    else:
        t = pd.to_datetime(features["applied_at"])
        dev = features[
            features["label"].notna() & t.between(pd.Timestamp(start), pd.Timestamp(end))
        ]
        ref = stability_reference(
            model.points, dev, f"{pd.Timestamp(start).date()} .. {pd.Timestamp(end).date()}"
        )
    mask, compared = monitoring_window(features["applied_at"], str(start), str(end))
    if not mask.any():
        return None
    return compare_to_reference(ref, model.points, features[mask], compared)
