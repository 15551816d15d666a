import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from credit.reasons import reason_codes, reasons_frame, top_deficits
from credit.scorecard import PointsTable


def _table(rows):
    t = pd.DataFrame(
        rows, columns=["feature", "bin_index", "lower", "upper", "is_missing", "category", "points"]
    )
    t["contribution"] = 0.0
    t["category"] = t["category"].astype(object)
    return PointsTable(t, base_points=500)


def _tiny():
    inf = np.inf
    return _table(
        [
            ("income", 0, -inf, 1000.0, False, None, 0),
            ("income", 1, 1000.0, 3000.0, False, None, 30),
            ("income", 2, 3000.0, inf, False, None, 50),
            ("income", 3, np.nan, np.nan, True, None, 10),
            ("late", 0, -inf, 0.0, False, None, 40),
            ("late", 1, 0.0, inf, False, None, 0),
            ("late", 2, np.nan, np.nan, True, None, 40),
            ("city", 0, np.nan, np.nan, False, "A", 5),
            ("city", 1, np.nan, np.nan, False, "B", 20),
            ("city", 2, np.nan, np.nan, True, "__other__", 0),
        ]
    )


def test_reasons_on_tiny_example():
    pts = _tiny()
    df = pd.DataFrame(
        {
            "income": [500.0, 5000.0, np.nan, 1000.0],
            "late": [2.0, 0.0, np.nan, 1.0],
            "city": ["A", "B", "Z", None],
        }
    )
    assert pts.score(df).tolist() == [505, 610, 550, 500]
    texts = {
        "income": {"label": "Income", "low": "Income is low", "high": "Income is high"},
        "late": "Days late",
        "city": "Location",
    }
    r = reasons_frame(pts, pts.bin_indices(df), texts, k=4)
    # row 0: income deficit 50 (below the best bin), late 40 (above it), city 15
    assert r.loc[0, ["reason_code_1", "reason_code_2", "reason_code_3"]].tolist() == [
        "income:low",
        "late:high",
        "city:category",
    ]
    assert r.loc[0, ["reason_points_1", "reason_points_2", "reason_points_3"]].tolist() == [
        50,
        40,
        15,
    ]
    assert r.loc[0, "reason_1"] == "Income is low" and r.loc[0, "reason_code_4"] is None
    assert r.loc[0, "reason_2"] == "Days late is higher than in the best-scoring range"
    # row 1: best bins everywhere -> no reasons
    assert r.loc[1].filter(like="reason_code").isna().all()
    # row 2: missing income (10 pts: deficit 40), missing late is best, unknown city (deficit 20)
    assert r.loc[2, ["reason_code_1", "reason_code_2"]].tolist() == [
        "income:missing",
        "city:missing",
    ]
    assert r.loc[2, "reason_1"] == "No information on income"
    # row 3: 1000 is in (-inf, 1000]; ties broken by feature order: income(50) late(40) city(20)
    assert r.loc[3, ["reason_code_1", "reason_code_2", "reason_code_3"]].tolist() == [
        "income:low",
        "late:high",
        "city:missing",
    ]
    codes = reason_codes(pts, texts).set_index("code")
    assert set(codes.index) == {
        "income:low",
        "income:missing",
        "late:high",
        "city:category",
        "city:missing",
    }
    assert codes.loc["income:low", "max_points_lost"] == 50


def test_top_deficits_ties_and_k():
    pm = np.array([[0, 0, 0], [5, 0, 5]])
    best = np.array([5, 5, 5])
    idx, d = top_deficits(pm, best, k=2)
    assert idx.tolist() == [[0, 1], [1, -1]]
    assert d.tolist() == [[5, 5], [5, 0]]


def test_vectorised_scoring_matches_a_row_by_row_bin_lookup():
    # Throughput is measured in `make bench` (benchmarks/bench_credit.py), not here.
    rng = np.random.default_rng(0)
    n_feat, n = 12, 2_000
    rows = []
    for f in range(n_feat):
        edges = np.sort(rng.normal(size=7))
        lows = np.r_[-np.inf, edges]
        ups = np.r_[edges, np.inf]
        for b in range(8):
            rows.append((f"f{f}", b, lows[b], ups[b], False, None, int(rng.integers(0, 40))))
        rows.append((f"f{f}", 8, np.nan, np.nan, True, None, 0))
    pts = _table(rows)
    df = pd.DataFrame(rng.normal(size=(n, n_feat)), columns=[f"f{f}" for f in range(n_feat)])
    df.iloc[::17, 3] = np.nan
    pm = pts.point_matrix(df)
    frame = pts.to_frame()
    for i in range(0, n, 97):
        expected = 0
        for f in range(n_feat):
            x = df.iloc[i, f]
            bins = frame[frame["feature"] == f"f{f}"]
            if np.isnan(x):
                hit = bins[bins["is_missing"]]
            else:
                hit = bins[~bins["is_missing"] & (bins["lower"] < x) & (x <= bins["upper"])]
            assert len(hit) == 1
            expected += int(hit["points"].iloc[0])
        assert pm[i].sum() == expected
    r = reasons_frame(pts, pts.bin_indices(df), None, k=4)
    assert r.shape == (n, 12)


@settings(max_examples=25, deadline=None)
@given(
    pts=st.lists(st.lists(st.integers(0, 30), min_size=2, max_size=7), min_size=1, max_size=5),
    missing=st.lists(st.integers(0, 30), min_size=5, max_size=5),
    seed=st.integers(0, 2**16),
)
def test_every_reason_agrees_with_the_value_relative_to_the_best_bin(pts, missing, seed):
    # Any points pattern, monotone or not: a 'low' reason means the applicant's value lies below
    # the nearest best-scoring bin, 'high' above it, 'missing' a missing value.
    rows = []
    for f, p in enumerate(pts):
        edges = np.arange(1, len(p), dtype=float) * 10
        lows, ups = np.r_[-np.inf, edges], np.r_[edges, np.inf]
        rows += [(f"f{f}", b, lows[b], ups[b], False, None, v) for b, v in enumerate(p)]
        rows.append((f"f{f}", len(p), np.nan, np.nan, True, None, missing[f]))
    table = _table(rows)
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"f{f}": rng.uniform(-5, 10 * len(p) + 5, 150) for f, p in enumerate(pts)})
    df.iloc[::13, 0] = np.nan
    r = reasons_frame(table, table.bin_indices(df), None, k=5)
    for i in range(1, 6):
        code = r[f"reason_code_{i}"]
        for row in np.flatnonzero(code.notna().to_numpy()):
            feature, direction = code.iloc[row].split(":")
            x = df[feature].iloc[row]
            f = int(feature[1:])
            p = np.asarray(pts[f])
            best_bins = np.flatnonzero(p == p.max())
            if direction == "missing":
                assert np.isnan(x)
                continue
            lo = best_bins * 10.0  # best bin b covers (10 b, 10 (b + 1)]; the first is open below
            up = (best_bins + 1) * 10.0
            lo[best_bins == 0] = -np.inf
            up[best_bins == len(p) - 1] = np.inf
            if direction == "low":
                assert np.any(x <= lo), (x, p, direction)
            else:
                assert direction == "high" and np.any(x > up), (x, p, direction)
            assert (
                r[f"reason_points_{i}"].iloc[row]
                == p.max() - p[np.searchsorted(np.arange(1, len(p)) * 10.0, x)]
            )
