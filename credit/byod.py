"""Bring your own data: train the same scoring stack on any labelled CSV/Parquet table, score with it.

``fit_table`` writes into ``out_dir``: ``metrics.json`` (K-fold CV first when asked, then AUC/Gini/KS
on a stratified holdout, the budget's AUC cost, proxies and fairness when protected attributes are
declared), ``points_table.parquet`` + ``points_table.json``, ``calibrator.json``, ``metadata.json``
and ``model_card.html``. ``score_table`` scores a table with reasons. The target may be text,
integer or boolean; the bad class defaults to the rarer one and says so; identifier-like columns
and declared protected attributes are never features.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from credit import models
from credit.budget import DEFAULT_BUDGET, Budget, paired_cost
from credit.fairness import MIN_GROUP, fairness_assessment, proxy_report
from credit.pricing import decide
from credit.training import CreditModel, fit_scorecard, frame_hash, train_stack

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


OUTPUT_FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def output_format(path: str | Path) -> str:
    """'csv' or 'parquet' from the output file's extension; anything else is an error."""
    p = Path(path)
    fmt = OUTPUT_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"output file {p.name}: extension {p.suffix or '(none)'!r} is not a supported format; "
            "name it .csv or .parquet"
        )
    return fmt


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` in the format of the path's extension (``output_format``)."""
    p = Path(path)
    fmt = output_format(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(p, index=False)
    else:
        frame.to_parquet(p, index=False)
    return p


@dataclass(frozen=True)
class Target:
    """0/1 labels and how they were read: ``positive`` is the value that means bad."""

    y: np.ndarray
    positive: Any
    chosen_by_default: bool

    @property
    def notice(self) -> str:
        how = "the rarer class, by default" if self.chosen_by_default else "as given"
        return f"bad = {self.positive!r} ({how}); bad rate {self.y.mean():.3f}"


def _same_value(values: list[Any], positive: Any) -> Any:
    """The target value ``positive`` stands for: itself, or a value whose text is the same
    (a CLI passes '1' for an integer 1 and 'true' for a boolean True)."""
    if positive in values:
        return positive
    text = str(positive).strip().lower()
    for v in values:
        forms = {str(v).lower()}
        if isinstance(v, bool | np.bool_):
            forms |= {"1", "1.0"} if v else {"0", "0.0"}
        elif isinstance(v, int | float | np.integer | np.floating) and float(v).is_integer():
            forms |= {str(int(v)), f"{float(v):.1f}"}
        if text in forms:
            return v
    raise ValueError(
        f"the value given for the bad class ({positive!r}) is not in the target column; "
        f"its values are {sorted(map(str, values))}"
    )


def resolve_target(df: pd.DataFrame, target: str, positive: Any = None) -> Target:
    """Binary labels from ``target`` (text, integer or boolean). ``positive`` is the bad value
    (matched by value or by its text); by default the rarer class, which ``Target.notice`` says."""
    if target not in df.columns:
        raise ValueError(f"target column {target!r} not found; columns: {list(df.columns)}")
    col = df[target]
    if col.isna().any():
        rows = np.flatnonzero(col.isna().to_numpy())[:5].tolist()
        raise ValueError(
            f"target column {target!r} has {int(col.isna().sum())} missing values "
            f"(rows {rows}...); drop or label those rows"
        )
    counts = col.value_counts()
    if len(counts) < 2:
        raise ValueError(f"target column {target!r} has a single class")
    if len(counts) > 2:
        raise ValueError(f"target column {target!r} is not binary: {len(counts)} distinct values")
    values = counts.index.tolist()
    if positive is not None:
        value = _same_value(values, positive)
        return Target((col == value).to_numpy(dtype=np.int64), _plain(value), False)
    if counts.iloc[0] == counts.iloc[1]:
        raise ValueError(
            f"target column {target!r} has two equally common values {sorted(map(str, values))}: "
            "say which one means bad (the --positive option of `ledgerlens credit fit`)"
        )
    rarer = counts.index[-1]
    return Target((col == rarer).to_numpy(dtype=np.int64), _plain(rarer), True)


def binary_target(df: pd.DataFrame, target: str, positive: Any = None) -> np.ndarray:
    """0/1 labels from ``target`` (1 = ``positive``, by default the rarer class)."""
    return resolve_target(df, target, positive).y


def identifier_columns(df: pd.DataFrame, exclude: list[str] | None = None) -> dict[str, str]:
    """Columns that identify rows rather than describe them: every value distinct and either text
    or integers that are monotone in row order or a consecutive range (a row index)."""
    out: dict[str, str] = {}
    n = len(df)
    for c in df.columns:
        if c in (exclude or []) or n < 20:
            continue
        s = df[c]
        if s.isna().any() or s.nunique() != n:
            continue
        if pd.api.types.is_integer_dtype(s) or (
            pd.api.types.is_float_dtype(s) and bool(np.all(np.mod(s.to_numpy(float), 1) == 0))
        ):
            v = s.to_numpy(dtype=np.float64)
            if s.is_monotonic_increasing or s.is_monotonic_decreasing:
                out[c] = "identifier-like: distinct integers, monotone in row order"
            elif v.max() - v.min() == n - 1:
                out[c] = "identifier-like: distinct integers forming a consecutive range"
        elif pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            out[c] = "identifier-like: a distinct text value in every row"
    return out


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
    protected: list[str] | None = None,
) -> tuple[list[str], list[str], dict[str, str], dict[str, float]]:
    """numeric, categorical, dropped {column: reason}, single-feature AUCs. Declared protected
    attributes and identifier-like columns are never features. Warns once per dropped column."""
    force = set(force_features or [])
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: dict[str, str] = {}
    aucs: dict[str, float] = {}
    n = len(df)
    prot = list(protected or [])
    for c in prot:
        dropped[c] = "protected attribute: declared, never a feature"
    ids = identifier_columns(df, exclude=[*exclude, *prot])
    dropped.update({c: why for c, why in ids.items() if c not in force})
    for c in df.columns:
        if c in exclude or c in dropped:
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
    budget: Budget | None = DEFAULT_BUDGET,
) -> dict[str, Any]:
    """Stratified K-fold AUC (and KS) of the production scorecard (``additive``: budgeted integer
    points, missing-value policy applied), the unconstrained additive model it was cut from, the
    challenger and the WoE logistic baseline; ``budget_auc_cost`` is the mean AUC lost to the
    budget, same folds for both, with ``budget_auc_cost_ci`` (``credit.budget.paired_cost``)."""
    res: dict[str, list[float]] = {
        "additive": [],
        "additive_unconstrained": [],
        "challenger": [],
        "logistic": [],
    }
    ks: dict[str, list[float]] = {k: [] for k in res}
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)

    def record(name: str, yt: np.ndarray, s: np.ndarray) -> None:
        res[name].append(float(roc_auc_score(yt, s)))
        ks[name].append(models.ks_statistic(yt, s))

    free = np.zeros(len(y))
    budgeted = np.zeros(len(y))
    fold = np.zeros(len(y), dtype=np.int64)
    for k, (tr, te) in enumerate(skf.split(df, y)):
        a, b = df.iloc[tr], df.iloc[te]
        card = fit_scorecard(
            a, y[tr], numeric, categorical, monotone, params, seed=seed, budget=budget
        )
        enc = card.unconstrained_encoder
        Xa, Xb = enc.transform(a), enc.transform(b)
        budgeted[te] = -card.points.raw_points(b).astype(np.float64)
        free[te] = card.unconstrained.margin(Xb)
        fold[te] = k
        record("additive", y[te], budgeted[te])
        record("additive_unconstrained", y[te], free[te])
        if challenger:
            ch = models.fit_lgbm(
                Xa,
                y[tr],
                enc.features,
                dict(models.CHALLENGER_PARAMS, seed=seed),
                enc.categorical_indices,
                seed=seed,
            )
            record("challenger", y[te], ch.margin(Xb))
        if logistic:
            lr = models.fit_woe_logistic(a, y[tr], numeric, categorical)
            record("logistic", y[te], models.predict_woe_logistic(lr, b, categorical))
    out: dict[str, Any] = {
        k: {
            "auc_mean": float(np.mean(v)),
            "auc_std": float(np.std(v)),
            "folds": v,
            "gini_mean": float(2 * np.mean(v) - 1),
            "ks_mean": float(np.mean(ks[k])),
        }
        for k, v in res.items()
        if v
    }
    cost = paired_cost(y, [(free, budgeted, fold)], n_boot=200, seed=seed)
    out["budget_auc_cost"] = cost["auc_cost"]
    out["budget_auc_cost_ci"] = cost["auc_cost_ci"]
    out["budget"] = budget.to_dict() if budget else None
    return out | {"n_folds": folds, "seed": seed}


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
    reason_texts: dict[str, Any] | None = None,
    protected: list[str] | None = None,
    budget: Budget | None = DEFAULT_BUDGET,
    term_days: float = 30.0,
    min_group: int = MIN_GROUP,
    n_boot: int = 200,
    governance: dict[str, Any] | None = None,
    challenger: bool = True,
    logistic: bool = True,
) -> dict[str, Any]:
    """Train the scoring stack on a labelled table; write metrics.json, the model and
    model_card.html to out_dir and return the metrics.

    ``protected`` columns are never features; features tracking them (|association| >= 0.5) are
    reported in ``proxies``, and ``fairness`` (holdout rows only) judges the decision rule
    ``credit.pricing.decide`` at ``term_days``. ``notices`` lists what was decided for the user
    (the bad class when defaulted, excluded columns). ``cv`` K-fold results come first."""
    df = read_table(path)
    tgt = resolve_target(df, target, positive)
    y = tgt.y
    if id_col is not None and id_col not in df.columns:
        raise ValueError(f"id column {id_col!r} not found; columns: {list(df.columns)}")
    prot = list(protected or [])
    absent = [c for c in prot if c not in df.columns]
    if absent:
        raise ValueError(f"protected columns {absent} not found; columns: {list(df.columns)}")
    if target in prot or (id_col is not None and id_col in prot):
        raise ValueError("the target and the id column cannot be declared protected")
    exclude = [target] + ([id_col] if id_col else [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        numeric, categorical, dropped, aucs = select_features(
            df, y, exclude, force_features, protected=prot
        )
    for w in caught:
        warnings.warn(w.message, UserWarning, stacklevel=2)
    notices = [tgt.notice] + [f"column {c!r} not used: {why}" for c, why in dropped.items()]
    for c in numeric:
        if pd.api.types.is_bool_dtype(df[c]):
            df[c] = df[c].astype(float)
    proxies = proxy_report(df, numeric + categorical, df[prot]) if prot else pd.DataFrame()
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
        n_boot=n_boot,
        seed=seed,
        budget=budget,
        protected=prot,
        challenger=challenger,
        logistic=logistic,
    )
    model = res.model
    model.metadata.update(
        {
            "target": target,
            "positive": _plain(tgt.positive),
            "positive_by_default": tgt.chosen_by_default,
            "id_col": id_col,
            "data_hash": frame_hash(df),
            "dropped": dropped,
            "label_definition": f"{target} == {tgt.positive!r} (bad)",
        }
    )
    metrics: dict[str, Any] = {}
    if cv:
        metrics["cv"] = cross_validate(
            df,
            y,
            numeric,
            categorical,
            int(cv),
            monotone,
            params,
            seed,
            challenger=challenger,
            logistic=logistic,
            budget=budget,
        )
    rule = (
        f"approve when the grade is not a decline grade and the APR at a {term_days:g}-day term "
        "is within the cap (credit.pricing.decide)"
    )
    hold = res.holdout
    approved = decide(hold["pd"].to_numpy(), term_days)
    fairness = (
        fairness_assessment(
            approved,
            hold["pd"].to_numpy(),
            hold["y"].to_numpy(),
            df.iloc[te][prot].reset_index(drop=True),
            rule,
            min_group=min_group,
            n_boot=n_boot,
            seed=seed,
        )
        if prot
        else None
    )
    metrics.update(
        {
            "target": target,
            "positive": _plain(tgt.positive),
            "positive_by_default": tgt.chosen_by_default,
            "notices": notices,
            "n_rows": int(len(df)),
            "bad_rate": float(y.mean()),
            "numeric_features": numeric,
            "categorical_features": categorical,
            "scored_features": model.features,
            "protected": prot,
            "dropped": dropped,
            "single_feature_auc": aucs,
            "holdout_split": f"stratified random {test_size:.0%} of rows (seed {seed})",
            "holdout": res.metrics,
            "reliability": res.reliability.to_dict(orient="records"),
            "approval_rate_holdout": float(np.mean(approved)),
            "model_version": model.version,
        }
    )
    if prot:
        metrics["proxies"] = proxies.to_dict(orient="records")
        metrics["fairness"] = fairness
    out = Path(out_dir)
    model.save(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=_json_default))
    from credit.model_card import render_model_card

    card = render_model_card(
        model,
        res.metrics,
        res.holdout,
        res.reliability,
        fairness=fairness,
        cv=metrics.get("cv"),
        proxies=proxies if prot else None,
        governance=dict(
            {
                "label_definition": f"{target} == {tgt.positive!r} means bad"
                + (" (the rarer class, chosen by default)" if tgt.chosen_by_default else ""),
                "data": f"{len(df):,} rows; holdout: {metrics['holdout_split']}",
            },
            **(governance or {}),
        ),
        notices=notices,
        title=f"Credit scoring model card: {Path(str(path)).name if not isinstance(path, pd.DataFrame) else 'table'}",
    )
    (out / "model_card.html").write_text(card)
    return metrics


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """What `credit fit` prints: notices, then K-fold CV (when run), then the single holdout split,
    each with AUC, Gini and KS."""
    lines = [f"note: {n}" for n in metrics.get("notices", [])]
    cv = metrics.get("cv") or {}
    for name in ("additive", "additive_unconstrained", "challenger", "logistic"):
        m = cv.get(name)
        if isinstance(m, dict):
            lines.append(
                f"{name:<22} {cv['n_folds']}-fold CV  AUC {m['auc_mean']:.3f} ± {m['auc_std']:.3f}"
                f"  Gini {m['gini_mean']:.3f}  KS {m['ks_mean']:.3f}"
            )
    if cv:
        lo, hi = cv.get("budget_auc_cost_ci") or (float("nan"), float("nan"))
        lines.append(f"budget AUC cost (CV): {cv['budget_auc_cost']:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    hold = metrics.get("holdout", {})
    for name in ("additive", "challenger", "logistic"):
        m = hold.get(name)
        if isinstance(m, dict) and "auc" in m:
            lines.append(
                f"{name:<22} holdout     AUC {m['auc']:.3f} [{m['auc_ci'][0]:.3f}, "
                f"{m['auc_ci'][1]:.3f}]  Gini {m['gini']:.3f}  KS {m['ks']:.3f}"
            )
    fair = metrics.get("fairness")
    if fair:
        verdict = "passes" if fair["passes"] else "FAILS"
        lines.append(f"four-fifths rule on the holdout: {verdict}")
    return lines


def score_table(
    model_dir: str | Path,
    path: str | Path | pd.DataFrame,
    out_path: str | Path | None = None,
    id_col: str | None = None,
    k: int = 4,
) -> pd.DataFrame:
    """Score a table with a saved model: score, raw_points, pd, k reasons and the thin-file flag
    per row. The output format follows ``out_path``'s extension (checked before scoring)."""
    if out_path is not None:
        output_format(out_path)
    model = CreditModel.load(model_dir)
    df = read_table(path)
    missing = model.points.missing_columns(df)
    if missing:
        raise ValueError(f"table lacks the model's columns: {missing}")
    id_col = id_col or model.metadata.get("id_col")
    keep = [id_col] if id_col and id_col in df.columns else []
    out = model.score(df, k=k, keep=keep)
    if out_path is not None:
        write_table(out, out_path)
    return out


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer | np.floating | np.bool_):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
