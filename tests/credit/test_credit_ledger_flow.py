import duckdb
import numpy as np
import pandas as pd
import pytest

from credit.fairness import fairness_report
from credit.features import build_features
from credit.model_card import render_model_card
from credit.monitoring import stability_report
from credit.pricing import PRICING_COLUMNS, price_loans, price_merchants
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
    res = train_ledger_model(feats, n_boot=50)
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
    pricing = price_loans(scores.merge(feats[["loan_id", "term_days", "income_monthly_mean"]]))
    assert list(pricing.columns) == list(PRICING_COLUMNS)
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
    assert "Points table" in html and "four-fifths" in html
    for bad in ("<script", "https://", 'src="http'):
        assert bad not in html
