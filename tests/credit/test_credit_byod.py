import json

import numpy as np
import pandas as pd
import pytest

from credit.byod import (
    binary_target,
    fit_table,
    identifier_columns,
    output_format,
    resolve_target,
    score_table,
    summary_lines,
)


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


def test_target_errors_and_the_rarer_class_default():
    df = _table(50)
    with pytest.raises(ValueError, match="'nope' not found"):
        binary_target(df, "nope")
    with pytest.raises(ValueError, match="'constant' has a single class"):
        binary_target(df, "constant")
    with pytest.raises(ValueError, match="'grade' is not binary"):
        binary_target(df, "grade")
    assert binary_target(df, "target", "bad").sum() == (df["target"] == "bad").sum()
    t = resolve_target(df, "target")
    rarer = df["target"].value_counts().index[-1]
    assert t.chosen_by_default and t.positive == rarer
    assert t.y.sum() == (df["target"] == rarer).sum() and t.y.mean() < 0.5
    assert "rarer class" in t.notice and repr(rarer) in t.notice
    tie = pd.DataFrame({"t": ["a", "b"] * 10})
    with pytest.raises(ValueError, match="--positive") as e:
        resolve_target(tie, "t")
    assert "positive=" not in str(e.value)


def test_integer_and_boolean_targets_accept_the_cli_text():
    ints = pd.DataFrame({"t": [0, 1, 1, 0, 0, 0]})
    assert resolve_target(ints, "t", "1").y.tolist() == [0, 1, 1, 0, 0, 0]
    assert resolve_target(ints, "t", "0").y.tolist() == [1, 0, 0, 1, 1, 1]
    assert resolve_target(ints, "t").positive == 1  # rarer
    floats = pd.DataFrame({"t": [0.0, 1.0, 0.0]})
    assert resolve_target(floats, "t", "1").y.tolist() == [0, 1, 0]
    bools = pd.DataFrame({"t": [True, False, False, True, False]})
    assert resolve_target(bools, "t", "true").y.tolist() == [1, 0, 0, 1, 0]
    assert resolve_target(bools, "t", "1").y.tolist() == [1, 0, 0, 1, 0]
    assert resolve_target(bools, "t", True).y.sum() == 2
    with pytest.raises(ValueError, match="not in the target column; its values are"):
        resolve_target(ints, "t", "2")


def test_identifier_columns_are_excluded_with_a_notice():
    n = 200
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "row": np.arange(n),
            "shuffled_ix": rng.permutation(n) + 1000,
            "customer": [f"c{i}" for i in range(n)],
            "amount": rng.integers(0, 50, n),  # repeats: a real feature
            "unique_float": rng.normal(size=n),  # distinct but not integers: a real feature
        }
    )
    ids = identifier_columns(df)
    assert set(ids) == {"row", "shuffled_ix", "customer"}
    assert "monotone" in ids["row"] and "consecutive" in ids["shuffled_ix"]


def test_output_format_comes_from_the_extension(tmp_path):
    assert output_format("a.csv") == "csv" and output_format(tmp_path / "b.PARQUET") == "parquet"
    with pytest.raises(ValueError, match=r"'.xlsx' is not a supported format; name it .csv"):
        output_format("s.xlsx")
    with pytest.raises(ValueError, match="none"):
        output_format("scores")


def test_fit_and_score_roundtrip(tmp_path):
    df = _table()
    src = tmp_path / "train.csv"
    df.to_csv(src, index=False)
    with pytest.warns(UserWarning) as rec:
        m = fit_table(
            src,
            "target",
            positive="bad",
            id_col="id",
            out_dir=tmp_path / "model",
            cv=3,
            logistic=False,
            n_boot=50,
        )
    msgs = " ".join(str(w.message) for w in rec)
    assert "'constant' dropped" in msgs and "'empty' dropped" in msgs
    assert set(m["dropped"]) == {"constant", "empty"}
    assert m["holdout"]["additive"]["auc"] > 0.65 and "cv" in m
    assert {"auc", "gini", "ks"} <= set(m["holdout"]["additive"])
    # the budget's cost: CV (same folds for both models) with an interval, then the holdout
    cv = m["cv"]
    lo, hi = cv["budget_auc_cost_ci"]
    assert lo <= hi and np.isclose(
        cv["budget_auc_cost"],
        cv["additive_unconstrained"]["auc_mean"] - cv["additive"]["auc_mean"],
    )
    card = (tmp_path / "model" / "model_card.html").read_text()
    assert card.index("3-fold CV, seed 0") < card.index("<td>holdout</td>")
    for f in (
        "metrics.json",
        "points_table.parquet",
        "points_table.json",
        "calibrator.json",
        "metadata.json",
        "model_card.html",
    ):
        assert (tmp_path / "model" / f).exists()
    lines = summary_lines(m)
    first_cv = next(i for i, x in enumerate(lines) if "3-fold CV" in x)
    first_holdout = next(i for i, x in enumerate(lines) if "holdout" in x)
    assert first_cv < first_holdout and all("Gini" in x and "KS" in x for x in lines[first_cv:][:2])
    assert lines[0] == "note: bad = 'bad' (as given); bad rate " + f"{m['bad_rate']:.3f}"
    with pytest.raises(ValueError, match="not a supported format"):
        score_table(tmp_path / "model", src, tmp_path / "s.xlsx")
    assert not (tmp_path / "s.xlsx").exists()
    score_table(tmp_path / "model", src, tmp_path / "s.csv")
    assert pd.read_csv(tmp_path / "s.csv")["thin_file"].dtype == bool
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
        m = fit_table(
            df, "target", positive="bad", out_dir=tmp_path / "a", challenger=False, logistic=False
        )
    assert "leak" in m["dropped"] and "leak" not in m["scored_features"]
    m2 = fit_table(
        df,
        "target",
        positive="bad",
        out_dir=tmp_path / "b",
        force_features=["leak"],
        challenger=False,
        logistic=False,
    )
    assert "leak" not in m2["dropped"] and m2["holdout"]["additive"]["auc"] > 0.99
