"""Feature encoding shared by training and scoring: numeric columns as float, categoricals as codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


def as_category_strings(s: pd.Series) -> pd.Series:
    """Values of a categorical column as strings, missing kept missing."""
    return s.astype("string")


@dataclass
class FeatureEncoder:
    """Column order and category lists of a model's features."""

    numeric: list[str]
    categorical: dict[str, list[str]] = field(default_factory=dict)
    ordinal: bool = False  # categories ordered by training bad rate, given to LightGBM as numbers

    @property
    def features(self) -> list[str]:
        return list(self.numeric) + list(self.categorical)

    @property
    def categorical_indices(self) -> list[int]:
        """Columns LightGBM treats as categorical (none when categories are ordinal codes)."""
        if self.ordinal:
            return []
        return [len(self.numeric) + i for i in range(len(self.categorical))]

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        numeric: list[str],
        categorical: list[str] | None = None,
        min_count: int = 1,
        y: np.ndarray | None = None,
        prior_weight: float = 10.0,
    ) -> FeatureEncoder:
        """Category lists (those seen ``min_count`` times); with ``y``, ordered by smoothed bad rate
        and encoded as ordinal codes (monotone-increasing risk)."""
        cats: dict[str, list[str]] = {}
        for c in categorical or []:
            s = as_category_strings(df[c])
            counts = s.value_counts(dropna=True)
            keep = sorted(str(v) for v, n in counts.items() if n >= min_count)
            if y is not None:
                yy = pd.Series(np.asarray(y, dtype=float), index=df.index)
                base = float(yy.mean())
                g = yy.groupby(s).agg(["sum", "count"])
                rate = (g["sum"] + prior_weight * base) / (g["count"] + prior_weight)
                keep = sorted(keep, key=lambda v: (float(rate.get(v, base)), v))
            cats[c] = keep
        return cls(list(numeric), cats, ordinal=y is not None)

    def missing_columns(self, df: pd.DataFrame) -> list[str]:
        return [c for c in self.features if c not in df.columns]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        missing = self.missing_columns(df)
        if missing:
            raise ValueError(f"input lacks the model's columns: {missing}")
        out = np.empty((len(df), len(self.features)), dtype=np.float64)
        for j, c in enumerate(self.numeric):
            out[:, j] = pd.to_numeric(df[c], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            )
        for k, (c, cats) in enumerate(self.categorical.items()):
            codes = pd.Categorical(as_category_strings(df[c]), categories=cats).codes
            col = codes.astype(np.float64)
            col[codes < 0] = np.nan
            out[:, len(self.numeric) + k] = col
        return out

    def frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """The encoded matrix as a DataFrame (column names kept) for LightGBM."""
        return pd.DataFrame(self.transform(df), columns=self.features, index=df.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "numeric": list(self.numeric),
            "categorical": dict(self.categorical),
            "ordinal": self.ordinal,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureEncoder:
        return cls(
            list(d["numeric"]),
            {k: list(v) for k, v in d["categorical"].items()},
            bool(d.get("ordinal", False)),
        )
