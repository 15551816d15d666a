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
from credit.encoding import FeatureEncoder
from credit.reasons import reasons_frame
from credit.scorecard import PointsTable, Scaling, ScoreCalibrator, points_table_from_booster

SCORE_COLUMNS: tuple[str, ...] = ("score", "raw_points", "pd")


@dataclass
class CreditModel:
    """What production needs: points table, PD calibrator, reason texts, metadata."""

    points: PointsTable
    calibrator: ScoreCalibrator
    reason_texts: dict[str, str] = field(default_factory=dict)
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
        """score (clipped integer), raw_points (base + sum of points), pd, and k reasons."""
        missing = self.points.missing_columns(df)
        if missing:
            raise ValueError(f"input lacks the model's columns: {missing}")
        pm = self.points.point_matrix(df)
        raw = self.points.base_points + pm.sum(axis=1)
        score = self.points.clip(raw)
        out = pd.DataFrame(index=df.index)
        for c in keep or []:
            out[c] = df[c].to_numpy()
        out["score"] = score
        out["raw_points"] = raw
        out["pd"] = self.calibrator.predict(score)
        out = pd.concat(
            [out, reasons_frame(self.points, pm, self.reason_texts, k, df.index)], axis=1
        )
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
class StackResult:
    model: CreditModel
    encoder: FeatureEncoder
    additive: models.BoostedModel
    challenger: models.BoostedModel | None
    logistic: Any
    metrics: dict[str, Any]
    reliability: pd.DataFrame
    holdout: pd.DataFrame  # y, score, pd, and each model's prediction


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
    """Encoder + additive LightGBM (one feature per tree)."""
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
        enc.transform(train), y, enc.features, p, enc.categorical_indices, seed=seed
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
    reason_texts: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    scaling: Scaling | None = None,
    calibration: str = "platt",
    challenger: bool = True,
    logistic: bool = True,
    ordinal_categoricals: bool = False,
    n_boot: int = 200,
    seed: int = 0,
) -> StackResult:
    """Fit production (additive -> points table -> calibrator), challenger and logistic baseline on
    ``train``; report AUC/Gini/KS (bootstrap CIs), Brier and a reliability table on ``holdout``."""
    y_train = np.asarray(y_train, dtype=np.int64)
    y_holdout = np.asarray(y_holdout, dtype=np.int64)
    cats = list(categorical or [])
    scaling = scaling or Scaling()
    enc, add = fit_additive_model(
        train, y_train, numeric, cats, monotone, params, ordinal_categoricals, seed
    )
    points = points_table_from_booster(add.booster, enc, scaling)
    oof_score = scaling.score_from_margin(add.oof_margin)
    cal = ScoreCalibrator(calibration).fit(
        np.clip(np.rint(oof_score), scaling.min_score, scaling.max_score), y_train
    )
    credit_model = CreditModel(points, cal, dict(reason_texts or {}))

    hold = pd.DataFrame({"y": y_holdout}, index=holdout.index)
    hold["score"] = points.score(holdout)
    hold["pd"] = cal.predict(hold["score"].to_numpy())
    Xh = enc.transform(holdout)
    hold["additive_margin"] = add.margin(Xh)
    metrics: dict[str, Any] = {
        "additive": models.discrimination(y_holdout, hold["pd"].to_numpy(), n_boot, seed),
        "additive_margin_auc": float(_auc(y_holdout, hold["additive_margin"].to_numpy())),
    }
    ch = None
    if challenger:
        ch = models.fit_lgbm(
            enc.transform(train),
            y_train,
            enc.features,
            dict(models.CHALLENGER_PARAMS, seed=seed),
            enc.categorical_indices,
            seed=seed,
        )
        hold["challenger"] = ch.predict_proba(Xh)
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
        "encoder": enc.to_dict(),
        "rounds": add.rounds,
        "params": {k: v for k, v in add.params.items() if k != "interaction_constraints"},
        "n_train": int(len(y_train)),
        "n_holdout": int(len(y_holdout)),
        "bad_rate_train": float(y_train.mean()),
        "versions": versions(),
    }
    return StackResult(credit_model, enc, add, ch, lr, metrics, rel, hold)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))
