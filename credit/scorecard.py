"""Scorecard scaling: an additive LightGBM model as an exact table of integer points per feature bin.

score = base_points + sum_f points[f][bin_f(x_f)], clipped to [min_score, max_score].

Bins of a numeric feature are the intervals between the union of the model's split thresholds on it,
``(lower, upper]`` (LightGBM sends ``x <= threshold`` left), plus a 'missing' bin. A categorical feature
has one bin per category known to the encoder plus an 'other/missing' bin. The points of a bin are the
PDO-scaled, rounded sum of the leaf values the model gives to that bin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from credit.encoding import FeatureEncoder, as_category_strings

POINTS_COLUMNS: tuple[str, ...] = (
    "feature",
    "bin_index",
    "lower",
    "upper",
    "is_missing",
    "category",
    "points",
    "contribution",
)


@dataclass(frozen=True)
class Scaling:
    """PDO scaling: ``base_score`` points at ``base_odds``:1 good:bad odds; odds double every ``pdo``."""

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    min_score: int = 300
    max_score: int = 850

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score_from_margin(self, margin: np.ndarray) -> np.ndarray:
        """Unrounded, unclipped score from the log-odds of bad."""
        return self.offset - self.factor * np.asarray(margin, dtype=np.float64)

    def margin_from_score(self, score: np.ndarray) -> np.ndarray:
        return (self.offset - np.asarray(score, dtype=np.float64)) / self.factor

    def to_dict(self) -> dict[str, float]:
        return {
            "base_score": self.base_score,
            "base_odds": self.base_odds,
            "pdo": self.pdo,
            "min_score": self.min_score,
            "max_score": self.max_score,
        }


@dataclass
class _Compiled:
    numeric: list[tuple[int, np.ndarray, np.ndarray, int]]  # (column, edges, bin points, missing)
    categorical: list[tuple[int, list[str], np.ndarray]]  # (column, categories, bin points+other)


@dataclass
class PointsTable:
    """Integer points per feature bin and an integer base; exact, integer-only scoring."""

    table: pd.DataFrame
    base_points: int
    scaling: Scaling = field(default_factory=Scaling)
    _compiled: _Compiled | None = field(default=None, repr=False, compare=False)

    @property
    def features(self) -> list[str]:
        return list(dict.fromkeys(self.table["feature"]))

    @property
    def categorical_features(self) -> list[str]:
        t = self.table
        return list(dict.fromkeys(t.loc[t["category"].notna(), "feature"]))

    def _compile(self) -> _Compiled:
        if self._compiled is not None:
            return self._compiled
        num: list[tuple[int, np.ndarray, np.ndarray, int]] = []
        cat: list[tuple[int, list[str], np.ndarray]] = []
        for j, (_, g) in enumerate(self.table.groupby("feature", sort=False)):
            g = g.sort_values("bin_index")
            miss = g[g["is_missing"]]
            bins = g[~g["is_missing"]]
            if g["category"].notna().any():
                cats = [str(c) for c in bins["category"]]
                pts = np.append(bins["points"].to_numpy(np.int64), int(miss["points"].iloc[0]))
                cat.append((j, cats, pts))
            else:
                edges = bins["upper"].to_numpy(np.float64)[:-1]
                num.append(
                    (j, edges, bins["points"].to_numpy(np.int64), int(miss["points"].iloc[0]))
                )
        self._compiled = _Compiled(num, cat)
        return self._compiled

    def missing_columns(self, df: pd.DataFrame) -> list[str]:
        return [c for c in self.features if c not in df.columns]

    def bin_indices(self, df: pd.DataFrame) -> np.ndarray:
        """(n, n_features) bin index of each value (the missing/other bin is the last index)."""
        missing = self.missing_columns(df)
        if missing:
            raise ValueError(f"input lacks the model's columns: {missing}")
        comp = self._compile()
        feats = self.features
        out = np.empty((len(df), len(feats)), dtype=np.int64)
        for j, edges, pts, _ in comp.numeric:
            x = pd.to_numeric(df[feats[j]], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            idx = np.searchsorted(edges, x, side="left")
            idx[np.isnan(x)] = len(pts)
            out[:, j] = idx
        for j, cats, _ in comp.categorical:
            codes = pd.Categorical(as_category_strings(df[feats[j]]), categories=cats).codes
            out[:, j] = np.where(codes < 0, len(cats), codes)
        return out

    def point_matrix(self, df: pd.DataFrame) -> np.ndarray:
        """(n, n_features) integer points earned per feature."""
        return self.point_matrix_from_bins(self.bin_indices(df))

    def point_matrix_from_bins(self, bins: np.ndarray) -> np.ndarray:
        """(n, n_features) integer points of the bins given by ``bin_indices``."""
        comp = self._compile()
        out = np.empty_like(bins)
        for j, _, pts, miss in comp.numeric:
            out[:, j] = np.append(pts, miss)[bins[:, j]]
        for j, _, pts in comp.categorical:
            out[:, j] = pts[bins[:, j]]
        return out

    def raw_points(self, df: pd.DataFrame) -> np.ndarray:
        """Unclipped integer score: base + sum of points (what an encrypted scorer computes)."""
        return np.asarray(self.base_points + self.point_matrix(df).sum(axis=1), dtype=np.int64)

    def clip(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(
            np.clip(raw, self.scaling.min_score, self.scaling.max_score), dtype=np.int64
        )

    def score(self, df: pd.DataFrame) -> np.ndarray:
        return self.clip(self.raw_points(df))

    # ---- serialisation
    def to_frame(self) -> pd.DataFrame:
        return self.table.loc[:, list(POINTS_COLUMNS)].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.to_frame().itertuples(index=False):
            rows.append(
                {
                    "feature": r.feature,
                    "bin_index": int(r.bin_index),
                    "lower": float(r.lower) if np.isfinite(r.lower) else None,
                    "upper": float(r.upper) if np.isfinite(r.upper) else None,
                    "is_missing": bool(r.is_missing),
                    "category": None if pd.isna(r.category) else str(r.category),
                    "points": int(r.points),
                    "contribution": float(r.contribution),
                }
            )
        return {
            "base_points": int(self.base_points),
            "scaling": self.scaling.to_dict(),
            "bins": rows,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PointsTable:
        t = pd.DataFrame(d["bins"], columns=list(POINTS_COLUMNS))
        t["lower"] = t["lower"].astype(float).fillna(np.nan)
        t["upper"] = t["upper"].astype(float).fillna(np.nan)
        # JSON cannot hold infinities: first/last numeric bins are open-ended
        for _, g in t[t["category"].isna() & ~t["is_missing"]].groupby("feature", sort=False):
            t.loc[g.index[0], "lower"] = -np.inf
            t.loc[g.index[-1], "upper"] = np.inf
        t["points"] = t["points"].astype(np.int64)
        t["bin_index"] = t["bin_index"].astype(np.int64)
        t["is_missing"] = t["is_missing"].astype(bool)
        t["category"] = t["category"].astype(object)
        return cls(t, int(d["base_points"]), Scaling(**d["scaling"]))

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        frame = self.to_frame()
        frame["category"] = frame["category"].astype("string")
        frame.to_parquet(directory / "points_table.parquet", index=False)
        (directory / "points_table.json").write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, directory: str | Path) -> PointsTable:
        return cls.from_dict(json.loads((Path(directory) / "points_table.json").read_text()))


def _tree_splits(node: dict[str, Any], acc: list[tuple[int, Any]]) -> None:
    if "split_feature" in node:
        acc.append((int(node["split_feature"]), node["threshold"]))
        _tree_splits(node["left_child"], acc)
        _tree_splits(node["right_child"], acc)


def _as_list(booster: lgb.Booster | Sequence[lgb.Booster]) -> list[lgb.Booster]:
    return [booster] if isinstance(booster, lgb.Booster) else list(booster)


def split_thresholds(booster: lgb.Booster | Sequence[lgb.Booster]) -> dict[int, list[float]]:
    """Numeric split thresholds per feature index (the union over the boosters given); raises
    unless every tree uses one feature."""
    out: dict[int, set[float]] = {}
    trees = [t for b in _as_list(booster) for t in b.dump_model()["tree_info"]]
    for tree in trees:
        acc: list[tuple[int, Any]] = []
        _tree_splits(tree["tree_structure"], acc)
        feats = {f for f, _ in acc}
        if len(feats) > 1:
            raise ValueError(
                f"tree {tree['tree_index']} splits on features {sorted(feats)}: not additive"
            )
        for f, thr in acc:
            s = out.setdefault(f, set())
            if not isinstance(thr, str):  # categorical thresholds are '1||3' strings
                s.add(float(thr))
    return {f: sorted(v) for f, v in out.items()}


def points_table_from_booster(
    booster: lgb.Booster | Sequence[lgb.Booster],
    encoder: FeatureEncoder,
    scaling: Scaling | None = None,
    merge_equal: bool = True,
) -> PointsTable:
    """Convert an additive (one feature per tree) LightGBM model, or the mean of several, into an
    exact points table: the mean of step functions is a step function on the union of their
    thresholds, so every bin is one interval of that union."""
    scaling = scaling or Scaling()
    names = encoder.features
    boosters = _as_list(booster)
    if any(b.num_feature() != len(names) for b in boosters):
        raise ValueError("booster features differ from the encoder's")
    thresholds = split_thresholds(boosters)
    used = sorted(thresholds)
    reps: dict[int, np.ndarray] = {}
    for j in used:
        name = names[j]
        if name in encoder.categorical:
            reps[j] = np.arange(len(encoder.categorical[name]), dtype=np.float64)
        else:
            e = np.asarray(thresholds[j], dtype=np.float64)
            last = e[-1] + max(1.0, abs(e[-1]))
            reps[j] = np.append(e, last)
    n_rows = max((len(r) for r in reps.values()), default=0) + 1
    grid = np.full((n_rows, len(names)), np.nan)
    for j, r in reps.items():
        grid[: len(r), j] = r
    contrib = np.mean([np.asarray(b.predict(grid, pred_contrib=True)) for b in boosters], axis=0)
    bias = float(contrib[0, -1])

    rows: list[dict[str, Any]] = []
    shift_total = 0
    for j in used:
        name = names[j]
        r = reps[j]
        vals = np.append(contrib[: len(r), j], contrib[n_rows - 1, j])  # bins + missing
        pts = np.rint(-scaling.factor * vals).astype(np.int64)
        shift = int(pts.min())
        pts = pts - shift
        shift_total += shift
        if name in encoder.categorical:
            cats = encoder.categorical[name]
            for b, c in enumerate(cats):
                rows.append(
                    dict(
                        feature=name,
                        bin_index=b,
                        lower=np.nan,
                        upper=np.nan,
                        is_missing=False,
                        category=c,
                        points=int(pts[b]),
                        contribution=float(vals[b]),
                    )
                )
            rows.append(
                dict(
                    feature=name,
                    bin_index=len(cats),
                    lower=np.nan,
                    upper=np.nan,
                    is_missing=True,
                    category="__other__",
                    points=int(pts[-1]),
                    contribution=float(vals[-1]),
                )
            )
            continue
        edges = list(thresholds[j])
        bin_pts, bin_vals = list(pts[:-1]), list(vals[:-1])
        if merge_equal:
            k = 0
            while k < len(edges):
                if bin_pts[k] == bin_pts[k + 1]:
                    del edges[k]
                    del bin_pts[k + 1]
                    bin_vals[k] = (
                        bin_vals[k] if abs(bin_vals[k]) >= abs(bin_vals[k + 1]) else bin_vals[k + 1]
                    )
                    del bin_vals[k + 1]
                else:
                    k += 1
        lowers = [-np.inf] + edges
        uppers = edges + [np.inf]
        for b in range(len(bin_pts)):
            rows.append(
                dict(
                    feature=name,
                    bin_index=b,
                    lower=lowers[b],
                    upper=uppers[b],
                    is_missing=False,
                    category=None,
                    points=int(bin_pts[b]),
                    contribution=float(bin_vals[b]),
                )
            )
        rows.append(
            dict(
                feature=name,
                bin_index=len(bin_pts),
                lower=np.nan,
                upper=np.nan,
                is_missing=True,
                category=None,
                points=int(pts[-1]),
                contribution=float(vals[-1]),
            )
        )
    table = pd.DataFrame(rows, columns=list(POINTS_COLUMNS))
    table["category"] = table["category"].astype(object)
    base = int(np.rint(scaling.offset - scaling.factor * bias)) + shift_total
    return PointsTable(table, base, scaling)


class ScoreCalibrator:
    """PD as a monotone function of the integer score (Platt or isotonic)."""

    def __init__(self, method: str = "platt") -> None:
        if method not in ("platt", "isotonic"):
            raise ValueError("method must be 'platt' or 'isotonic'")
        self.method = method
        self.params: dict[str, Any] = {}

    def fit(self, score: np.ndarray, y: np.ndarray) -> ScoreCalibrator:
        s = np.asarray(score, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        if self.method == "platt":
            from sklearn.linear_model import LogisticRegression

            mu, sd = float(s.mean()), float(s.std() or 1.0)
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(((s - mu) / sd)[:, None], y)
            self.params = {
                "a": float(lr.coef_[0, 0]) / sd,
                "b": float(lr.intercept_[0]) - float(lr.coef_[0, 0]) * mu / sd,
            }
        else:
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(
                increasing=False, out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4
            ).fit(s, y)
            self.params = {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}
        return self

    def predict(self, score: np.ndarray) -> np.ndarray:
        s = np.asarray(score, dtype=np.float64)
        if not self.params:
            raise RuntimeError("calibrator not fitted")
        if self.method == "platt":
            z = self.params["a"] * s + self.params["b"]
            p = 1.0 / (1.0 + np.exp(-z))
        else:
            p = np.interp(s, self.params["x"], self.params["y"])
        return np.asarray(np.clip(p, 1e-5, 1 - 1e-5), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoreCalibrator:
        c = cls(d["method"])
        c.params = dict(d["params"])
        return c
