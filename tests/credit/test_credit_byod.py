import json

import numpy as np
import pandas as pd
import pytest

from credit.byod import binary_target, fit_table, score_table


def _table(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "income": rng.lognormal(8, 0.5, n),
            "debt ratio (%)": rng.uniform(0, 100, n),
            "grade": rng.choice(list("ABCD"), n),
            "flag": rng.random(n) < 0.3,
            "constant": 1.0,
            "empty": np.nan,
        }
    )
    z = (
        -1
        - 0.7 * np.log(df["income"] / 3000)
        + 0.02 * df["debt ratio (%)"]
        + df["grade"].map({"A": -1, "B": 0, "C": 0.5, "D": 1.0})
    )
    df["target"] = np.where(rng.random(n) < 1 / (1 + np.exp(-z)), "bad", "good")
    return df


def test_target_errors():
    df = _table(50)
    with pytest.raises(ValueError, match="'nope' not found"):
        binary_target(df, "nope")
    with pytest.raises(ValueError, match="'constant' has a single class"):
        binary_target(df, "constant")
    with pytest.raises(ValueError, match="'grade' is not binary"):
        binary_target(df, "grade")
    with pytest.raises(ValueError, match="'target' has values .*pass positive"):
        binary_target(df, "target")
    assert binary_target(df, "target", "bad").sum() == (df["target"] == "bad").sum()


def test_fit_and_score_roundtrip(tmp_path):
    df = _table()
    src = tmp_path / "train.csv"
    df.to_csv(src, index=False)
    with pytest.warns(UserWarning) as rec:
        m = fit_table(src, "target", positive="bad", id_col="id", out_dir=tmp_path / "model", cv=3)
    msgs = " ".join(str(w.message) for w in rec)
    assert "'constant' dropped" in msgs and "'empty' dropped" in msgs
    assert set(m["dropped"]) == {"constant", "empty"}
    assert m["holdout"]["additive"]["auc"] > 0.65 and "cv" in m
    assert {"auc", "gini", "ks"} <= set(m["holdout"]["additive"])
    for f in (
        "metrics.json",
        "points_table.parquet",
        "points_table.json",
        "calibrator.json",
        "metadata.json",
    ):
        assert (tmp_path / "model" / f).exists()
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["n_rows"] == len(df)
    out = score_table(tmp_path / "model", src, tmp_path / "scores.parquet")
    assert len(out) == len(df) and out["id"].tolist() == df["id"].tolist()
    assert out["score"].between(300, 850).all() and out["pd"].between(0, 1).all()
    assert (tmp_path / "scores.parquet").exists()
    with pytest.raises(ValueError, match="lacks the model's columns: .*income"):
        score_table(tmp_path / "model", df.drop(columns=["income", "grade"]))


def test_leakage_flagged_and_forceable(tmp_path):
    df = _table(800)
    df["leak"] = (df["target"] == "bad").astype(float) + np.random.default_rng(1).normal(
        0, 0.01, len(df)
    )
    with pytest.warns(UserWarning, match="'leak' dropped: probable leakage"):
        m = fit_table(df, "target", positive="bad", out_dir=tmp_path / "a")
    assert "leak" in m["dropped"] and "leak" not in m["scored_features"]
    m2 = fit_table(df, "target", positive="bad", out_dir=tmp_path / "b", force_features=["leak"])
    assert "leak" not in m2["dropped"] and m2["holdout"]["additive"]["auc"] > 0.99
