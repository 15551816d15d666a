import numpy as np
import pandas as pd

from credit.pricing import grade, load_config, price_loans, price_merchants


def test_grades_and_apr_monotone_in_risk():
    p = np.linspace(0.0005, 0.4, 400)
    scores = pd.DataFrame(
        {
            "loan_id": np.arange(400),
            "subject_id": "s",
            "score": 0,
            "pd": p,
            "term_days": 60,
            "income_monthly_mean": 2000.0,
        }
    )
    out = price_loans(scores)
    order = "ABCDEFG"
    g = [order.index(x) for x in out["grade"]]
    assert np.all(np.diff(g) >= 0)
    assert np.all(np.diff(out["apr_uncapped"]) > 0)
    assert np.all(np.diff(out["apr"]) >= 0) and out["apr"].max() <= load_config()["apr"]["cap"]
    assert np.all(np.diff(out["credit_limit"]) <= 0)
    declined = out["decision"] == "decline"
    assert declined.iloc[-1] and not declined.iloc[0]
    assert (out.loc[declined, "credit_limit"] == 0).all()
    # APR decomposition adds up
    parts = out[["cost_of_funds", "expected_loss", "operating_cost", "capital_charge", "margin"]]
    assert np.allclose(parts.sum(axis=1), out["apr_uncapped"])
    assert grade(np.array([0.005, 0.0051]))[0] == "A"


def test_merchant_fees_monotone_in_risk_with_promotions():
    rng = np.random.default_rng(0)
    n = 600
    m = pd.DataFrame(
        {
            "merchant_id": [f"m{i}" for i in range(n)],
            "monthly_volume": rng.choice([5_000, 50_000, 500_000, 5_000_000], n),
            "chargeback_ratio": rng.uniform(0, 0.04, n),
            "refund_ratio": rng.uniform(0, 0.1, n),
            "mcc_risk": rng.choice(["low", "medium", "high"], n),
            "months_active": rng.integers(0, 24, n),
        }
    )
    out = price_merchants(m)
    for _, g in out.groupby("volume_band"):
        g = g.sort_values("risk_score")
        assert np.all(np.diff(g["list_fee_bps"].to_numpy()) >= 0)
    # bigger volume never pays a higher list fee at the same risk tier
    by = out.groupby(["risk_tier", "volume_band"])["base_bps"].first()
    assert by.loc[("low", "micro")] > by.loc[("low", "large")]
    new_small = (
        (m["months_active"] == 0)
        & (m["monthly_volume"] <= 10_000)
        & out["risk_tier"].isin(["low", "medium"])
    )
    assert (out.loc[new_small, "effective_fee_bps"] == 0).all()
    assert (out.loc[new_small, "promotion"] == "first_month_free").all()
    risky_new = (m["months_active"] == 0) & out["risk_tier"].isin(["high", "very_high"])
    assert (out.loc[risky_new, "promotion"].isna()).all()
