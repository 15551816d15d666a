import duckdb
import numpy as np
import pandas as pd
import pytest

from credit.fairness import fairness_report
from credit.features import build_features
from credit.model_card import render_model_card
from credit.monitoring import stability_report
from credit.pricing import PRICING_COLUMNS, price_applications, price_merchants
from credit.scoring import SCORES_COLUMNS, score_applications, train_ledger_model
from credit.synthetic import generate


@pytest.fixture(scope="module")
def flow():
    s = generate(n_subjects=700, days=480, seed=5, loans_per_subject=2.0)
    con = duckdb.connect()
    for name in ("ledger", "applications", "subjects"):
        con.register(name, getattr(s, name))
    feats = build_features(con)
    con.close()
    protected = feats[["loan_id"]].assign(
        band=np.where(feats["account_age_days"] > 400, "older", "younger")
    )
    res = train_ledger_model(
        feats,
        n_boot=50,
        params={"learning_rate": 0.05},
        logistic=False,
        protected=protected,
        cv_folds=3,
        cv_seeds=(0,),
    )
    return s, feats, res


def test_train_score_price(flow, tmp_path):
    s, feats, res = flow
    m = res.metrics
    assert m["additive"]["auc"] > 0.65, m["additive"]
    assert m["challenger"]["auc"] - m["additive"]["auc"] < 0.05
    assert res.model.metadata["split"] == "out_of_time"
    assert res.model.metadata["train_until"] < res.model.metadata["holdout_from"]
    scores = score_applications(res.model, feats)
    assert list(scores.columns) == list(SCORES_COLUMNS)
    assert len(scores) == len(feats)  # unlabelled applications are scored too
    assert scores["score"].between(300, 850).all()
    pricing = price_applications(scores, feats)
    assert list(pricing.columns) == list(PRICING_COLUMNS)
    ok = pricing[pricing["decision"] == "approve"]
    # limits vary by grade and by income, and follow the inflow proxy when no income is declared
    assert ok.groupby("grade")["credit_limit"].median().nunique() >= 3
    assert ok["credit_limit"].nunique() > 20
    assert ok["credit_limit"].corr(ok["income_used"]) > 0.5
    assert ok["income_basis"].str.startswith("median monthly inflow").all()
    declined = pricing[pricing["decision"] == "decline"]
    assert declined["decline_reason"].notna().all() and (declined["credit_limit"] == 0).all()
    assert (
        scores["thin_file"].dtype == bool
        and scores.loc[feats["short_history"].to_numpy(), "thin_file"].all()
    )
    assert price_merchants(s.merchants)["list_fee_bps"].gt(0).all()
    res.model.save(tmp_path / "m")
    from credit.training import CreditModel

    back = CreditModel.load(tmp_path / "m")
    assert back.version == res.model.version
    assert np.array_equal(back.score(feats)["score"], scores["score"])


def test_monitoring_fairness_model_card(flow):
    s, feats, res = flow
    cut = feats["applied_at"].quantile(0.7)
    train, latest = feats[feats["applied_at"] < cut], feats[feats["applied_at"] >= cut]
    stab = stability_report(res.model.points, train, latest)
    assert stab["status"] in {"ok", "warn", "fail"} and stab["score_psi"] >= 0
    scores = score_applications(res.model, feats)
    approved = (scores["grade"] < "F").to_numpy()
    groups = pd.DataFrame({"city_tier": feats["city_tier"].astype(int).astype(str)})
    fair = fairness_report(approved, scores["pd"], groups, y=feats["label"].astype(float))
    html = render_model_card(
        res.model, res.metrics, res.holdout, res.reliability, stab, fair, snapshot_id="snap-123"
    )
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "snap-123" in html
    assert "points table" in html and "four-fifths" in html
    new = render_model_card(
        res.model,
        res.metrics,
        res.holdout,
        res.reliability,
        stab,
        res.metrics["fairness"],
        approval={"status": "champion (provisional): first trained model"},
    )
    assert "champion (provisional)" in new and "Reason codes" in new and "AIR 95% CI" in new
    # the summary gives the cross-validated AUC first, then the out-of-time holdout's
    assert 0 < new.index("3-fold CV AUC") < new.index("holdout AUC")
    assert res.model.metadata["holdout_from"] in new
    for bad in ("<script", "https://", 'src="http'):
        assert bad not in html


def test_no_reason_contradicts_its_feature(flow):
    _, feats, res = flow
    scores = score_applications(res.model, feats)
    table = res.model.points.table
    best = {}
    for feature, g in table[~table["is_missing"]].groupby("feature"):
        top = g[g["points"] == g["points"].max()]
        best[feature] = (top["lower"].to_numpy(), top["upper"].to_numpy())
    checked = 0
    for i in range(1, 5):
        codes = scores[f"reason_code_{i}"]
        for feature_direction, rows in codes.groupby(codes).groups.items():
            feature, direction = feature_direction.split(":")
            x = feats[feature].to_numpy()[np.asarray(rows)]
            lo, up = best[feature]
            if direction == "missing":
                assert np.isnan(x).all()
            elif direction == "low":
                assert (x[:, None] <= lo[None, :]).any(axis=1).all(), feature_direction
            else:
                assert direction == "high", feature_direction
                assert (x[:, None] > up[None, :]).any(axis=1).all(), feature_direction
            checked += len(x)
    assert checked > len(feats)
    # every scored feature can be a reason in the direction its points allow, nothing else
    assert set(scores["reason_code_1"].dropna()) > {"night_tx_share:high"}


def test_budget_fairness_and_missing_policy_in_the_ledger_model(flow):
    _, feats, res = flow
    b = res.metrics["budget"]
    assert b["features"] <= 20 and b["max_bins_per_feature"] <= 8 and b["within_budget"]
    assert b["auc_cost"] < 0.02
    lo, hi = b["auc_cost_ci"]
    assert lo <= hi and b["n_holdout"] == res.metrics["additive"]["n"]
    # the primary figure: CV on the development rows only, the same folds for both models
    cv = b["cv"]
    assert b["primary"] == "cv" and cv["seeds"] == [0] and cv["n_folds"] == 3
    assert cv["n"] == res.model.metadata["n_train"]
    assert np.isclose(cv["auc_cost"], cv["auc_unconstrained"] - cv["auc_budgeted"])
    assert np.isclose(cv["auc_cost"], np.mean(cv["per_seed"][0]["fold_costs"]))
    assert res.model.metadata["budget"]["cv"] == cv
    fair = res.metrics["fairness"]
    assert fair["rows"] == "holdout" and fair["n"] == res.metrics["additive"]["n"]
    assert {g["group"] for g in fair["attributes"]["band"]["groups"]} == {"older", "younger"}
    policy = pd.DataFrame(res.model.metadata["missing_policy"])
    assert (policy["points"] <= policy["median_bin_points"]).all() or (
        policy.loc[policy["points"] > policy["median_bin_points"], "rule"]
        .str.startswith("above the median")
        .all()
    )
    assert "band" not in res.model.features
