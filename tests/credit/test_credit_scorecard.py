import numpy as np
import pandas as pd
import pytest

from credit import models
from credit.encoding import FeatureEncoder
from credit.scorecard import PointsTable, Scaling, ScoreCalibrator, points_table_from_booster


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    n = 4000
    df = pd.DataFrame(
        {
            "income": rng.lognormal(7, 0.5, n),
            "util": rng.uniform(0, 1, n),
            "age": rng.integers(18, 80, n).astype(float),
            "region": rng.choice(["north", "south", "east", "west", None], n),
        }
    )
    df.loc[rng.random(n) < 0.1, "util"] = np.nan
    z = (
        -1.5
        - 0.8 * np.log(df["income"] / 1000)
        + 2.0 * df["util"].fillna(0.9)
        + df["region"].map({"north": 0.5, "south": -0.3}).fillna(0)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int).to_numpy()
    enc = FeatureEncoder.fit(df, ["income", "util", "age"], ["region"])
    p = models.additive_params(
        enc.features, {"income": -1, "util": 1}, ["region"], max_depth=2, num_leaves=4
    )
    m = models.fit_lgbm(
        enc.transform(df),
        y,
        enc.features,
        p,
        enc.categorical_indices,
        max_rounds=400,
        early_stopping=50,
        n_models=3,  # the production additive model is a mean of seeds: convert the mean
    )
    assert len(m.boosters) == 3
    return df, y, enc, m


def test_points_table_reproduces_model_margin(fitted):
    df, y, enc, m = fitted
    scaling = Scaling()
    pts = points_table_from_booster(m.boosters, enc, scaling)
    margin = m.margin(enc.transform(df))
    exact = scaling.score_from_margin(margin)
    raw = pts.raw_points(df)
    pm = pts.point_matrix(df)
    # the sum reproduces the score exactly (integers), clipping only at the ends
    assert np.array_equal(raw, pts.base_points + pm.sum(axis=1))
    assert np.array_equal(pts.score(df), np.clip(raw, 300, 850))
    # equals the scaled model margin within rounding (one half point per feature and the base)
    assert np.max(np.abs(raw - exact)) <= 0.5 * (len(pts.features) + 1)
    # the unrounded bin contributions reproduce the margin to float precision: bin lookup == trees
    full = points_table_from_booster(m.boosters, enc, scaling, merge_equal=False)
    assert len(full.table) >= len(pts.table)
    assert np.array_equal(full.raw_points(df), raw)  # merging equal bins changes no score
    contrib = full.table.set_index(["feature", "bin_index"])["contribution"]
    bins = full.bin_indices(df)
    total = np.zeros(len(df))
    for j, f in enumerate(full.features):
        total += contrib.loc[f].to_numpy()[bins[:, j]]
    # the bias is what remains: constant across rows
    assert np.ptp(margin - total) < 1e-9
    # and the mean of the members is not any one of them (the test has teeth)
    one = m.booster.predict(enc.transform(df), raw_score=True)
    assert np.max(np.abs(one - margin)) > 1e-3
    assert set(pts.features) == {"income", "util", "age", "region"} or len(pts.features) >= 2
    assert (pts.table.groupby("feature")["points"].min() == 0).all()


def test_points_table_roundtrip_json_parquet(fitted, tmp_path):
    df, y, enc, m = fitted
    pts = points_table_from_booster(m.boosters, enc)
    pts.save(tmp_path)
    back = PointsTable.load(tmp_path)
    assert np.array_equal(back.score(df), pts.score(df))
    frame = pd.read_parquet(tmp_path / "points_table.parquet")
    assert list(frame.columns[:6]) == [
        "feature",
        "bin_index",
        "lower",
        "upper",
        "is_missing",
        "category",
    ]
    assert frame["points"].dtype.kind == "i"
    # unseen category and missing values land in the 'other/missing' bin
    odd = df.head(3).copy()
    odd["region"] = ["mars", None, "north"]
    odd["util"] = np.nan
    assert len(pts.score(odd)) == 3


def test_non_additive_model_is_rejected(fitted):
    df, y, enc, _ = fitted
    p = dict(models.CHALLENGER_PARAMS)
    m = models.fit_lgbm(
        enc.transform(df),
        y,
        enc.features,
        p,
        enc.categorical_indices,
        max_rounds=50,
        early_stopping=10,
    )
    with pytest.raises(ValueError, match="not additive"):
        points_table_from_booster(m.booster, enc)


def test_calibrator_monotone_and_serialisable():
    rng = np.random.default_rng(0)
    s = rng.integers(400, 800, 3000)
    p_true = 1 / (1 + np.exp((s - 600) / 30))
    y = (rng.random(3000) < p_true).astype(int)
    for method in ("platt", "isotonic"):
        c = ScoreCalibrator(method).fit(s, y)
        grid = np.arange(300, 851)
        pdv = c.predict(grid)
        assert np.all(np.diff(pdv) <= 1e-12)
        back = ScoreCalibrator.from_dict(c.to_dict())
        assert np.allclose(back.predict(grid), pdv)
