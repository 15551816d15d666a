"""The scorecard split into the holder's public encoding and the scorer's secret weights.

For each feature the bins (including the missing/other bin) are grouped by equal points; the group
of bin 0 is the baseline and every other group gets one indicator column. So

    raw = base + sum_f points[f][bin_f] = offset + sum_k w_k * x_k,
    offset = base + sum_f points[f][0],  w_k = points of group k - points[f][0] (never 0),

with x_k the 0/1 indicator of column k. This is lossless: an applicant's bin determines its group.

Invariants:
- the public encoding holds the bin edges/categories and the partition of bins into groups, the
  declared raw range and the clip range; never a point value, the base or the offset;
- group order (first bin index of the group) and the baseline (the group of bin 0) do not depend
  on the point values, so the encoding reveals nothing about their order;
- ``model_hash`` is a SHA-256 over the canonical JSON of the whole points table: both sides compute
  it from the model, and every exchanged file carries it;
- ``split_model`` checks its per-bin points against ``PointsTable.point_matrix`` on a probe frame
  that visits every bin, so a change in the points table's layout fails here, not in a score.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rfc8785

from credit.scorecard import PointsTable
from privacy.he.errors import HEError


@dataclass(frozen=True)
class PublicEncoding:
    """The holder's view of the model: bins, the bin -> column map, score ranges; no points."""

    bins: dict[str, Any]  # PointsTable.to_dict() with every point, contribution and base zeroed
    column_of_bin: tuple[
        tuple[int, ...], ...
    ]  # per feature, bin position -> column (-1 = baseline)
    columns: int
    raw_min: int
    raw_max: int
    min_score: int
    max_score: int
    model_hash: str
    model_version: str | None = None

    @property
    def features(self) -> list[str]:
        return list(dict.fromkeys(b["feature"] for b in self.bins["bins"]))

    @functools.cached_property
    def binner(self) -> PointsTable:
        """A points table with all points zero: used only for its bin assignment."""
        return PointsTable.from_dict(self.bins)

    def clip(self, raw: np.ndarray) -> np.ndarray:
        clipped: np.ndarray = np.clip(raw, self.min_score, self.max_score).astype(np.int64)
        return clipped

    def to_dict(self) -> dict[str, Any]:
        return {
            "bins": self.bins,
            "column_of_bin": [list(c) for c in self.column_of_bin],
            "columns": self.columns,
            "raw_min": self.raw_min,
            "raw_max": self.raw_max,
            "min_score": self.min_score,
            "max_score": self.max_score,
            "model_hash": self.model_hash,
            "model_version": self.model_version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PublicEncoding:
        return cls(
            bins=d["bins"],
            column_of_bin=tuple(tuple(int(i) for i in c) for c in d["column_of_bin"]),
            columns=int(d["columns"]),
            raw_min=int(d["raw_min"]),
            raw_max=int(d["raw_max"]),
            min_score=int(d["min_score"]),
            max_score=int(d["max_score"]),
            model_hash=str(d["model_hash"]),
            model_version=d.get("model_version"),
        )


@dataclass(frozen=True)
class SecretWeights:
    """The scorer's secret: one integer weight per indicator column and the integer offset."""

    weights: tuple[int, ...]
    offset: int
    model_hash: str

    @property
    def weight_l1(self) -> int:
        return int(sum(abs(w) for w in self.weights))


def model_hash(points: PointsTable) -> str:
    return hashlib.sha256(rfc8785.dumps(points.to_dict())).hexdigest()[:32]


def _points_per_bin(points: PointsTable) -> list[np.ndarray]:
    """Per feature, the points of each bin in ``bin_indices`` order (bins by index, missing last)."""
    out: list[np.ndarray] = []
    t = points.table
    for feat in points.features:
        g = t[t["feature"] == feat].sort_values("bin_index")
        miss = g[g["is_missing"].astype(bool)]
        ordered = pd.concat([g[~g["is_missing"].astype(bool)], miss])
        out.append(ordered["points"].to_numpy(np.int64))
    return out


def _probe(points: PointsTable, n_bins: list[int]) -> pd.DataFrame:
    """A frame whose row r lands in bin min(r, last) of every feature."""
    rows = max(n_bins)
    t = points.table
    cols: dict[str, list[Any]] = {}
    for feat, nb in zip(points.features, n_bins, strict=True):
        g = t[t["feature"] == feat].sort_values("bin_index")
        real = g[~g["is_missing"].astype(bool)]
        if g["category"].notna().any():
            values: list[Any] = [str(c) for c in real["category"]] + [None]
        else:
            values = []
            for lo, hi in zip(real["lower"], real["upper"], strict=True):
                values.append(float(hi) if np.isfinite(hi) else float(lo) + 1.0)
            values.append(None)
        assert len(values) == nb
        cols[feat] = [values[min(r, nb - 1)] for r in range(rows)]
    return pd.DataFrame(cols)


def split_model(
    points: PointsTable, model_version: str | None = None, where: str = "points table"
) -> tuple[PublicEncoding, SecretWeights]:
    """The public encoding (for the holder) and the secret weights (for the scorer) of a model."""
    per_bin = _points_per_bin(points)
    n_bins = [len(p) for p in per_bin]
    probe = _probe(points, n_bins)
    expected = np.stack([p[np.minimum(np.arange(len(probe)), len(p) - 1)] for p in per_bin], axis=1)
    if not np.array_equal(points.point_matrix(probe), expected):
        raise HEError(
            where,
            "the points table's bins do not read back as the encoder expects",
            "check that the model was saved by credit.scorecard.PointsTable",
        )
    column_of_bin: list[tuple[int, ...]] = []
    weights: list[int] = []
    offset = int(points.base_points)
    raw_min = raw_max = int(points.base_points)
    for p in per_bin:
        group_col: dict[int, int] = {int(p[0]): -1}
        cmap = []
        for v in p.tolist():
            if v not in group_col:
                group_col[v] = len(weights)
                weights.append(v - int(p[0]))
            cmap.append(group_col[v])
        column_of_bin.append(tuple(cmap))
        offset += int(p[0])
        raw_min += int(p.min())
        raw_max += int(p.max())
    bins = points.to_dict()
    bins["base_points"] = 0
    for b in bins["bins"]:
        b["points"] = 0
        b["contribution"] = 0.0
    h = model_hash(points)
    enc = PublicEncoding(
        bins=bins,
        column_of_bin=tuple(column_of_bin),
        columns=len(weights),
        raw_min=raw_min,
        raw_max=raw_max,
        min_score=int(points.scaling.min_score),
        max_score=int(points.scaling.max_score),
        model_hash=h,
        model_version=model_version,
    )
    if enc.columns == 0:
        raise HEError(where, "every feature gives all its bins the same points", "nothing to score")
    return enc, SecretWeights(tuple(weights), offset, h)


def column_indices(encoding: PublicEncoding, frame: pd.DataFrame, where: str) -> np.ndarray:
    """(n, n_features) indicator column of each applicant's bin per feature (-1 = baseline)."""
    missing = [c for c in encoding.features if c not in frame.columns]
    if missing:
        raise HEError(
            where,
            f"lacks the model's columns {missing}",
            "export the applicants with every feature the model uses (missing values are fine)",
        )
    bins = encoding.binner.bin_indices(frame)
    out = np.empty_like(bins)
    for f, cmap in enumerate(encoding.column_of_bin):
        out[:, f] = np.asarray(cmap, dtype=np.int64)[bins[:, f]]
    return out


def indicator_matrix(cols: np.ndarray, columns: int) -> np.ndarray:
    """(columns, n) 0/1 matrix: row k is indicator k for each applicant (the column packing)."""
    n = cols.shape[0]
    x = np.zeros((columns, n), dtype=np.uint8)
    rows = np.broadcast_to(np.arange(n)[:, None], cols.shape)
    hit = cols >= 0
    x[cols[hit], rows[hit]] = 1
    return x


def _fail(where: str, problem: str) -> HEError:
    return HEError(where, problem, "re-export the scorecard with credit.scorecard.PointsTable.save")


def load_points_table(path: Path) -> tuple[PointsTable, str | None]:
    """A model directory or its ``points_table.json``, validated; and the model version if known.

    Points and the base must be JSON integers (the scorer multiplies by integers only).
    """
    path = Path(path)
    file = path / "points_table.json" if path.is_dir() else path
    where = str(file)
    try:
        d = json.loads(file.read_text())
    except FileNotFoundError:
        raise HEError(
            where, "not found", "pass a model directory or its points_table.json"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(where, f"is not valid JSON ({type(e).__name__})") from None
    if not isinstance(d, dict) or not isinstance(d.get("bins"), list) or not d["bins"]:
        raise _fail(where, "has no 'bins' list")
    if not isinstance(d.get("scaling"), dict):
        raise _fail(where, "has no 'scaling' object")
    if type(d.get("base_points")) is not int:
        raise _fail(where, "base_points is missing or not an integer")
    for i, b in enumerate(d["bins"]):
        if not isinstance(b, dict) or not {"feature", "bin_index", "points"} <= b.keys():
            raise _fail(where, f"bin {i} lacks feature, bin_index or points")
        if type(b["points"]) is not int:
            raise _fail(
                where,
                f"bin {i} (feature {b['feature']!r}, bin_index {b['bin_index']}) has non-integer "
                "points: encrypted scoring multiplies by integers only",
            )
    try:
        points = PointsTable.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(where, f"is not a points table ({type(e).__name__}: {e})") from None
    version = None
    meta = file.parent / "metadata.json"
    if meta.exists():
        try:
            v = json.loads(meta.read_text()).get("model_version")
            version = str(v) if v is not None else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            version = None
    return points, version
