"""The scoring stack: additive LightGBM -> points table -> calibrated PD, with challenger and WoE
logistic baselines, evaluated on a holdout; and the production artefact ``CreditModel``."""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn

from credit import models
from credit.budget import (
    DEFAULT_BUDGET,
    Budget,
    bins_per_feature,
    booster_bias,
    compress_points_table,
    feature_spread,
    paired_cost,
    within_budget,
)
from credit.encoding import FeatureEncoder
from credit.missing_policy import apply_missing_policy, missing_counts
from credit.monitoring import stability_reference
from credit.reasons import Wording, reasons_frame
from credit.scorecard import PointsTable, Scaling, ScoreCalibrator, points_table_from_booster

SCORE_COLUMNS: tuple[str, ...] = ("score", "raw_points", "pd")
# a file is thin when at least this share of the scored features is missing
THIN_FILE_SHARE = 0.3


@dataclass
class CreditModel:
    """What production needs: points table, PD calibrator, reason texts, metadata."""

    points: PointsTable
    calibrator: ScoreCalibrator
    reason_texts: dict[str, Any] = field(default_factory=dict)  # credit.reasons.Wording
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        return self.points.features

    @property
    def version(self) -> str:
        blob = json.dumps(
            {"points": self.points.to_dict(), "cal": self.calibrator.to_dict()}, sort_keys=True
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def score(self, df: pd.DataFrame, k: int = 4, keep: list[str] | None = None) -> pd.DataFrame:
        """score (clipped integer), raw_points (base + sum of points), pd, k reasons, the number of
        scored features missing and the thin-file flag (>= THIN_FILE_SHARE of them missing)."""
        missing = self.points.missing_columns(df)
        if missing:
            raise ValueError(f"input lacks the model's columns: {missing}")
        bins = self.points.bin_indices(df)
        pm = self.points.point_matrix_from_bins(bins)
        raw = self.points.base_points + pm.sum(axis=1)
        score = self.points.clip(raw)
        out = pd.DataFrame(index=df.index)
        for c in keep or []:
            out[c] = df[c].to_numpy()
        out["score"] = score
        out["raw_points"] = raw
        out["pd"] = self.calibrator.predict(score)
        out = pd.concat(
            [out, reasons_frame(self.points, bins, self.reason_texts, k, df.index)], axis=1
        )
        n_missing = missing_counts(self.points, bins)
        out["missing_features"] = n_missing
        out["thin_file"] = n_missing >= THIN_FILE_SHARE * max(len(self.features), 1)
        out["model_version"] = self.version
        return out

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.points.save(d)
        (d / "calibrator.json").write_text(json.dumps(self.calibrator.to_dict(), indent=1))
        meta = dict(self.metadata, model_version=self.version, reason_texts=self.reason_texts)
        (d / "metadata.json").write_text(json.dumps(meta, indent=1, default=str))

    @classmethod
    def load(cls, directory: str | Path) -> CreditModel:
        d = Path(directory)
        meta = json.loads((d / "metadata.json").read_text())
        texts = meta.pop("reason_texts", {})
        return cls(
            PointsTable.load(d),
            ScoreCalibrator.from_dict(json.loads((d / "calibrator.json").read_text())),
            texts,
            meta,
        )


@dataclass
class Scorecard:
    """A budgeted additive scorecard and what it was cut from.

    ``unconstrained`` is the additive model on every candidate feature with every bin (the
    reference for the budget's AUC cost); ``model`` the one refitted on the kept features;
    ``points`` its table after the bin budget and the missing-value policy; ``oof_score`` the
    out-of-fold score of each training row (for calibration) carried through the same changes.
    """

    encoder: FeatureEncoder
    model: models.BoostedModel
    points: PointsTable
    unconstrained_encoder: FeatureEncoder
    unconstrained: models.BoostedModel
    oof_score: np.ndarray
    missing_policy: pd.DataFrame
    budget: dict[str, Any]


def fit_scorecard(
    train: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str] | None = None,
    monotone: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
    ordinal_categoricals: bool = False,
    seed: int = 0,
    scaling: Scaling | None = None,
    budget: Budget | None = None,
    missing_policy: bool = True,
) -> Scorecard:
    """Additive model -> (feature budget: refit on the features with the widest points spread) ->
    bin budget -> missing-value policy. ``budget=None``: every feature, every bin."""
    y = np.asarray(y, dtype=np.int64)
    cats = list(categorical or [])
    scaling = scaling or Scaling()
    enc0, m0 = fit_additive_model(
        train, y, numeric, cats, monotone, params, ordinal_categoricals, seed
    )
    full0 = points_table_from_booster(m0.boosters, enc0, scaling)
    enc, m, dropped = enc0, m0, []
    if budget is not None and len(full0.features) > budget.max_features:
        spread = feature_spread(full0, train)
        kept = set(spread.index[: budget.max_features])
        dropped = [str(f) for f in spread.index[budget.max_features :]]
        enc, m = fit_additive_model(
            train,
            y,
            [c for c in numeric if c in kept],
            [c for c in cats if c in kept],
            monotone,
            params,
            ordinal_categoricals,
            seed,
        )
    if budget is None:
        pts = points_table_from_booster(m.boosters, enc, scaling)
    else:
        fine = points_table_from_booster(m.boosters, enc, scaling, merge_equal=False)
        pts = compress_points_table(fine, booster_bias(m.boosters), train, budget.max_bins)
    policy = pd.DataFrame()
    if missing_policy:
        pts, policy = apply_missing_policy(pts, train, y)
    # a feature whose every bin rounds to the same points scores nothing: not a characteristic
    spread = pts.table.groupby("feature", sort=False)["points"].transform("max")
    flat: list[str] = []
    if (spread == 0).any() and (spread > 0).any():
        flat = sorted(set(pts.table.loc[spread == 0, "feature"]))
        pts = PointsTable(pts.table[spread > 0].reset_index(drop=True), pts.base_points, scaling)
        policy = policy[~policy["feature"].isin(flat)] if len(policy) else policy
    exact = scaling.score_from_margin(m.margin(enc.transform(train)))
    oof = scaling.score_from_margin(m.oof_margin) + (pts.raw_points(train) - exact)
    report: dict[str, Any] = {
        "limits": budget.to_dict() if budget else None,
        "features_unconstrained": len(full0.features),
        "features": len(pts.features),
        "dropped_by_budget": dropped,
        "dropped_no_points": flat,
        "bins_unconstrained": int(sum(bins_per_feature(full0).values())),
        "bins": int(sum(bins_per_feature(pts).values())),
        "max_bins_per_feature": int(max(bins_per_feature(pts).values(), default=0)),
        "distinct_point_values": int(pts.table.groupby("feature")["points"].nunique().sum()),
        "within_budget": within_budget(pts, budget) if budget else None,
    }
    return Scorecard(enc, m, pts, enc0, m0, oof, policy, report)


@dataclass
class StackResult:
    model: CreditModel
    encoder: FeatureEncoder
    additive: models.BoostedModel
    challenger: models.BoostedModel | None
    logistic: Any
    metrics: dict[str, Any]
    reliability: pd.DataFrame
    holdout: pd.DataFrame  # y, score, raw_points, pd, and each model's prediction
    scorecard: Scorecard | None = None


def versions() -> dict[str, str]:
    import duckdb

    return {
        "python": platform.python_version(),
        "lightgbm": lgb.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "duckdb": duckdb.__version__,
    }


def frame_hash(df: pd.DataFrame) -> str:
    """A content hash of a DataFrame (a data snapshot id when none is given)."""
    h = pd.util.hash_pandas_object(df, index=False).to_numpy()
    return hashlib.sha256(h.tobytes() + ",".join(map(str, df.columns)).encode()).hexdigest()[:16]


def fit_additive_model(
    train: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str] | None = None,
    monotone: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
    ordinal_categoricals: bool = False,
    seed: int = 0,
) -> tuple[FeatureEncoder, models.BoostedModel]:
    """Encoder + additive LightGBM (one feature per tree; the mean of ``models.ADDITIVE_BAG``
    seeds)."""
    cats = list(categorical or [])
    enc = FeatureEncoder.fit(train, numeric, cats, y=y if ordinal_categoricals else None)
    mono = dict(monotone or {})
    if ordinal_categoricals:
        mono.update({c: 1 for c in cats})
    p = models.additive_params(
        enc.features, mono, [] if ordinal_categoricals else cats, **(params or {})
    )
    p["seed"] = seed
    m = models.fit_lgbm(
        enc.transform(train),
        y,
        enc.features,
        p,
        enc.categorical_indices,
        seed=seed,
        n_models=models.ADDITIVE_BAG,
    )
    return enc, m


def train_stack(
    train: pd.DataFrame,
    y_train: np.ndarray,
    holdout: pd.DataFrame,
    y_holdout: np.ndarray,
    numeric: list[str],
    categorical: list[str] | None = None,
    monotone: dict[str, int] | None = None,
    reason_texts: Wording | None = None,
    params: dict[str, Any] | None = None,
    scaling: Scaling | None = None,
    calibration: str = "platt",
    challenger: bool = True,
    logistic: bool = True,
    ordinal_categoricals: bool = False,
    n_boot: int = 200,
    seed: int = 0,
    budget: Budget | None = DEFAULT_BUDGET,
    protected: list[str] | None = None,
    period: str = "training rows",
) -> StackResult:
    """Fit production (budgeted additive scorecard -> calibrator), challenger and logistic baseline
    on ``train``; report AUC/Gini/KS (bootstrap CIs), Brier, a reliability table and the budget's
    AUC cost against the unconstrained additive model on ``holdout``. ``protected`` columns are
    refused as features (ValueError). The model's metadata keeps the development sample's score and
    bin distributions (``stability_reference``, labelled with ``period``) as the monitoring
    baseline."""
    cats = list(categorical or [])
    used_protected = sorted(set(protected or []) & (set(numeric) | set(cats)))
    if used_protected:
        raise ValueError(
            f"protected attributes {used_protected} are listed as features: remove them from the "
            "feature columns (they may only be used to evaluate fairness)"
        )
    y_train = np.asarray(y_train, dtype=np.int64)
    y_holdout = np.asarray(y_holdout, dtype=np.int64)
    scaling = scaling or Scaling()
    card = fit_scorecard(
        train,
        y_train,
        numeric,
        cats,
        monotone,
        params,
        ordinal_categoricals,
        seed,
        scaling,
        budget,
    )
    points = card.points
    cal = ScoreCalibrator(calibration).fit(
        np.clip(np.rint(card.oof_score), scaling.min_score, scaling.max_score), y_train
    )
    credit_model = CreditModel(points, cal, dict(reason_texts or {}))

    hold = pd.DataFrame({"y": y_holdout}, index=holdout.index)
    hold["raw_points"] = points.raw_points(holdout)
    hold["score"] = points.clip(hold["raw_points"].to_numpy())
    hold["pd"] = cal.predict(hold["score"].to_numpy())
    X0h = card.unconstrained_encoder.transform(holdout)
    hold["additive_margin"] = card.unconstrained.margin(X0h)
    free = hold["additive_margin"].to_numpy()
    budgeted = -hold["raw_points"].to_numpy(dtype=np.float64)
    auc_free = _auc(y_holdout, free)
    cost = paired_cost(y_holdout, [(free, budgeted, np.zeros(len(free), np.int64))], n_boot, seed)
    metrics: dict[str, Any] = {
        "additive": models.discrimination(y_holdout, hold["pd"].to_numpy(), n_boot, seed),
        "additive_margin_auc": auc_free,
        "budget": dict(
            card.budget,
            auc_unconstrained=auc_free,
            auc_budgeted=_auc(y_holdout, budgeted),
            auc_cost=cost["auc_cost"],
            auc_cost_ci=cost["auc_cost_ci"],
            n_holdout=int(len(y_holdout)),
        ),
    }
    ch = None
    X0 = card.unconstrained_encoder.transform(train)
    if challenger:
        ch = models.fit_lgbm(
            X0,
            y_train,
            card.unconstrained_encoder.features,
            dict(models.CHALLENGER_PARAMS, seed=seed),
            card.unconstrained_encoder.categorical_indices,
            seed=seed,
        )
        hold["challenger"] = ch.predict_proba(X0h)
        metrics["challenger"] = models.discrimination(
            y_holdout, hold["challenger"].to_numpy(), n_boot, seed
        )
    lr = None
    if logistic:
        lr = models.fit_woe_logistic(train, y_train, numeric, cats)
        hold["logistic"] = models.predict_woe_logistic(lr, holdout, cats)
        metrics["logistic"] = models.discrimination(
            y_holdout, hold["logistic"].to_numpy(), n_boot, seed
        )
    rel = models.reliability_table(y_holdout, hold["pd"].to_numpy())
    metrics["reliability_max_abs_error"] = float(rel["abs_error"].max())
    credit_model.metadata = {
        "features": points.features,
        "categorical": [c for c in cats if c in points.features],
        "encoder": card.encoder.to_dict(),
        "rounds": card.model.rounds,
        "params": {k: v for k, v in card.model.params.items() if k != "interaction_constraints"},
        "n_train": int(len(y_train)),
        "n_holdout": int(len(y_holdout)),
        "bad_rate_train": float(y_train.mean()),
        "budget": metrics["budget"],
        "missing_policy": card.missing_policy.to_dict(orient="records"),
        "protected": sorted(protected or []),
        "thin_file_share": THIN_FILE_SHARE,
        "stability_reference": stability_reference(points, train, period).to_dict(),
        "versions": versions(),
    }
    return StackResult(credit_model, card.encoder, card.model, ch, lr, metrics, rel, hold, card)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))
