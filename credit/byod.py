"""Bring your own data: train the same scoring stack on any labelled CSV/Parquet table, score with it.

``fit_table`` writes into ``out_dir``: ``metrics.json`` (AUC/Gini/KS on a stratified holdout, K-fold
CV when asked), ``points_table.parquet`` + ``points_table.json``, ``calibrator.json`` and
``metadata.json``. ``score_table`` scores a table with reasons.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from credit import models
from credit.training import CreditModel, fit_additive_model, frame_hash, train_stack

LEAKAGE_AUC = 0.99
MAX_CATEGORIES = 200


def read_table(path: str | Path | pd.DataFrame) -> pd.DataFrame:
    if isinstance(path, pd.DataFrame):
        return path.copy()
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if suffix in (".csv", ".txt", ".gz"):
        return pd.read_csv(p)
    raise ValueError(f"unsupported table format: {p.name} (use .csv or .parquet)")


def binary_target(df: pd.DataFrame, target: str, positive: Any = None) -> np.ndarray:
    """0/1 labels from ``target`` (1 = ``positive``); clear errors when it cannot be binary."""
    if target not in df.columns:
        raise ValueError(f"target column {target!r} not found; columns: {list(df.columns)}")
    col = df[target]
    if col.isna().any():
        raise ValueError(f"target column {target!r} has {int(col.isna().sum())} missing values")
    values = pd.unique(col)
    if len(values) < 2:
        raise ValueError(f"target column {target!r} has a single class ({values[0]!r})")
    if len(values) > 2:
        raise ValueError(f"target column {target!r} is not binary: {len(values)} distinct values")
    if positive is not None:
        if positive not in set(values.tolist()):
            raise ValueError(f"positive value {positive!r} not in target column {target!r}")
        return (col == positive).to_numpy(dtype=np.int64)
    if set(pd.Series(values).astype(str)) <= {"0", "1", "True", "False", "0.0", "1.0"}:
        return col.astype(float).to_numpy(dtype=np.int64)
    raise ValueError(
        f"target column {target!r} has values {sorted(map(str, values))}: pass positive="
    )


def single_feature_auc(x: pd.Series, y: np.ndarray, categorical: bool) -> float:
    """Discrimination of one feature alone (direction-free: max(AUC, 1 - AUC))."""
    if categorical:
        s = x.astype("string").fillna("__missing__")
        rate = pd.Series(y, index=x.index).groupby(s).transform("mean").to_numpy(float)
    else:
        v = pd.to_numeric(x, errors="coerce").to_numpy(float)
        fill = (np.nanmin(v) - 1.0) if np.isfinite(v).any() else 0.0
        rate = np.where(np.isnan(v), fill, v)
    if np.unique(rate).size < 2:
        return 0.5
    a = float(roc_auc_score(y, rate))
    return max(a, 1.0 - a)


def select_features(
    df: pd.DataFrame,
    y: np.ndarray,
    exclude: list[str],
    force_features: list[str] | None = None,
    leakage_auc: float = LEAKAGE_AUC,
) -> tuple[list[str], list[str], dict[str, str], dict[str, float]]:
    """numeric, categorical, dropped {column: reason}, single-feature AUCs. Warns for each drop."""
    force = set(force_features or [])
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: dict[str, str] = {}
    aucs: dict[str, float] = {}
    n = len(df)
    for c in df.columns:
        if c in exclude:
            continue
        s = df[c]
        if s.isna().all():
            dropped[c] = "all values missing"
        elif s.nunique(dropna=True) <= 1:
            dropped[c] = "constant"
        elif pd.api.types.is_datetime64_any_dtype(s):
            dropped[c] = "datetime column (derive numeric features first)"
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(c)
        else:
            k = s.nunique(dropna=True)
            if k > MAX_CATEGORIES or (k > 20 and k > 0.5 * n):
                dropped[c] = f"identifier-like categorical ({k} distinct values)"
            else:
                categorical.append(c)
        if c in dropped:
            continue
        aucs[c] = single_feature_auc(
            s.astype(float) if pd.api.types.is_bool_dtype(s) else s, y, c in categorical
        )
        if aucs[c] > leakage_auc and c not in force:
            dropped[c] = f"probable leakage: AUC {aucs[c]:.4f} alone (force_features to keep)"
            (numeric if c in numeric else categorical).remove(c)
    for c, why in dropped.items():
        warnings.warn(f"feature {c!r} dropped: {why}", UserWarning, stacklevel=3)
    if not numeric and not categorical:
        raise ValueError("no usable feature columns left")
    return numeric, categorical, dropped, aucs


def cross_validate(
    df: pd.DataFrame,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
    folds: int = 5,
    monotone: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    challenger: bool = True,
    logistic: bool = True,
) -> dict[str, Any]:
    """Stratified K-fold AUC of the additive model, the challenger and the WoE logistic baseline."""
    res: dict[str, list[float]] = {"additive": [], "challenger": [], "logistic": []}
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for tr, te in skf.split(df, y):
        a, b = df.iloc[tr], df.iloc[te]
        enc, add = fit_additive_model(a, y[tr], numeric, categorical, monotone, params, seed=seed)
        Xa, Xb = enc.transform(a), enc.transform(b)
        res["additive"].append(float(roc_auc_score(y[te], add.margin(Xb))))
        if challenger:
            ch = models.fit_lgbm(
                Xa,
                y[tr],
                enc.features,
                dict(models.CHALLENGER_PARAMS, seed=seed),
                enc.categorical_indices,
                seed=seed,
            )
            res["challenger"].append(float(roc_auc_score(y[te], ch.margin(Xb))))
        if logistic:
            lr = models.fit_woe_logistic(a, y[tr], numeric, categorical)
            res["logistic"].append(
                float(roc_auc_score(y[te], models.predict_woe_logistic(lr, b, categorical)))
            )
    return {
        k: {
            "auc_mean": float(np.mean(v)),
            "auc_std": float(np.std(v)),
            "folds": v,
            "gini_mean": float(2 * np.mean(v) - 1),
        }
        for k, v in res.items()
        if v
    } | {"n_folds": folds, "seed": seed}


def fit_table(
    path: str | Path | pd.DataFrame,
    target: str,
    positive: Any = None,
    id_col: str | None = None,
    *,
    out_dir: str | Path,
    cv: int | None = None,
    force_features: list[str] | None = None,
    monotone: dict[str, int] | None = None,
    params: dict[str, Any] | None = None,
    test_size: float = 0.25,
    seed: int = 0,
    reason_texts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train the scoring stack on a labelled table; write metrics.json and the model to out_dir."""
    df = read_table(path)
    y = binary_target(df, target, positive)
    if id_col is not None and id_col not in df.columns:
        raise ValueError(f"id column {id_col!r} not found")
    exclude = [target] + ([id_col] if id_col else [])
    numeric, categorical, dropped, aucs = select_features(df, y, exclude, force_features)
    for c in numeric:
        if pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype(float)
    idx = np.arange(len(df))
    tr, te = train_test_split(idx, test_size=test_size, stratify=y, random_state=seed)
    res = train_stack(
        df.iloc[tr],
        y[tr],
        df.iloc[te],
        y[te],
        numeric,
        categorical,
        monotone,
        reason_texts,
        params,
        seed=seed,
    )
    model = res.model
    model.metadata.update(
        {
            "target": target,
            "positive": positive,
            "id_col": id_col,
            "data_hash": frame_hash(df),
            "dropped": dropped,
        }
    )
    metrics: dict[str, Any] = {
        "target": target,
        "positive": positive,
        "n_rows": int(len(df)),
        "bad_rate": float(y.mean()),
        "numeric_features": numeric,
        "categorical_features": categorical,
        "scored_features": model.features,
        "dropped": dropped,
        "single_feature_auc": aucs,
        "holdout": res.metrics,
        "reliability": res.reliability.to_dict(orient="records"),
        "model_version": model.version,
    }
    if cv:
        metrics["cv"] = cross_validate(df, y, numeric, categorical, int(cv), monotone, params, seed)
    out = Path(out_dir)
    model.save(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_json_default))
    return metrics


def score_table(
    model_dir: str | Path,
    path: str | Path | pd.DataFrame,
    out_path: str | Path | None = None,
    id_col: str | None = None,
    k: int = 4,
) -> pd.DataFrame:
    """Score a table with a saved model: score, raw_points, pd and k reasons per row."""
    model = CreditModel.load(model_dir)
    df = read_table(path)
    missing = model.points.missing_columns(df)
    if missing:
        raise ValueError(f"table lacks the model's columns: {missing}")
    id_col = id_col or model.metadata.get("id_col")
    keep = [id_col] if id_col and id_col in df.columns else []
    out = model.score(df, k=k, keep=keep)
    if out_path is not None:
        p = Path(out_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if p.suffix.lower() == ".csv":
            out.to_csv(p, index=False)
        else:
            out.to_parquet(p, index=False)
    return out


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
