"""The ledger credit flow: train on point-in-time features with an out-of-time holdout, and score
applications into the rows of ``credit.scores``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from credit import models
from credit.features import FEATURE_COLUMNS, MONOTONE, REASON_TEXTS
from credit.pricing import grade
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
) -> StackResult:
    """Fit the stack on labelled applications; the latest ``holdout_frac`` by applied_at is the
    out-of-time holdout. Unlabelled applications (label NULL) are excluded."""
    lab = features[features["label"].notna()].reset_index(drop=True)
    n_bad = int(lab["label"].sum())
    if len(lab) < MIN_LABELLED or n_bad < MIN_PER_CLASS or len(lab) - n_bad < MIN_PER_CLASS:
        raise ValueError(
            f"only {len(lab)} applications have an observed outcome ({n_bad} bad, "
            f"{len(lab) - n_bad} good); training needs at least {MIN_LABELLED} with "
            f"{MIN_PER_CLASS} of each class. Land a longer ledger (more days) or more users."
        )
    dev, oot = models.out_of_time_split(lab, "applied_at", holdout_frac)
    y = lab["label"].to_numpy(dtype=np.int64)
    res = train_stack(
        lab.iloc[dev],
        y[dev],
        lab.iloc[oot],
        y[oot],
        list(FEATURE_COLUMNS),
        [],
        MONOTONE,
        REASON_TEXTS,
        params,
        n_boot=n_boot,
        seed=seed,
    )
    res.model.metadata.update(
        {
            "split": "out_of_time",
            "train_until": str(pd.to_datetime(lab["applied_at"].iloc[dev]).max()),
            "holdout_from": str(pd.to_datetime(lab["applied_at"].iloc[oot]).min()),
            "data_hash": snapshot_id or frame_hash(lab[list(FEATURE_COLUMNS) + ["label"]]),
        }
    )
    return res


def score_applications(model: CreditModel, features: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``credit.scores`` for every application (labelled or not)."""
    keep = [c for c in ("loan_id", "subject_id", "applied_at") if c in features]
    out = model.score(features, k=4, keep=keep)
    out["grade"] = grade(out["pd"].to_numpy())
    for c in SCORES_COLUMNS:
        if c not in out:
            out[c] = None
    return out.loc[:, list(SCORES_COLUMNS)].reset_index(drop=True)
