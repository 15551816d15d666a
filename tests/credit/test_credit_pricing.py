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


def _apps(pd_, income, term=60):
    n = len(pd_)
    return pd.DataFrame(
        {
            "loan_id": np.arange(n),
            "subject_id": "s",
            "score": 0,
            "pd": pd_,
            "term_days": term,
            "income_monthly": income,
        }
    )


def test_limits_rise_with_income_and_fall_with_pd():
    income = np.linspace(500, 8000, 200)
    by_income = price_loans(_apps(np.full(200, 0.01), income))
    assert (by_income["decision"] == "approve").all()
    assert np.all(np.diff(by_income["credit_limit"]) >= 0)
    assert by_income["credit_limit"].iloc[-1] > 5 * by_income["credit_limit"].iloc[0]
    pd_ = np.linspace(0.001, 0.14, 200)
    by_pd = price_loans(_apps(pd_, np.full(200, 3000.0)))
    assert np.all(np.diff(by_pd["credit_limit"]) <= 0)
    approved = by_pd[by_pd["decision"] == "approve"]
    assert approved["grade"].nunique() >= 5
    # the limit differs between grades at one income: the grade binds, not only affordability
    per_grade = approved.groupby("grade")["credit_limit"].max()
    assert per_grade.is_monotonic_decreasing and per_grade.nunique() == len(per_grade)
    # and a longer term lends more
    longer = price_loans(_apps(np.full(3, 0.01), np.full(3, 3000.0), term=90))
    assert (
        longer["credit_limit"].iloc[0]
        > by_income.loc[(by_income["income_used"] - 3000).abs().idxmin(), "credit_limit"]
    )


def test_decline_reasons_and_the_inflow_proxy():
    frame = pd.DataFrame(
        {
            "loan_id": [1, 2, 3, 4, 5],
            "pd": [0.01, 0.5, 0.01, 0.01, 0.12],
            "term_days": [30, 30, 30, 30, 30],
            "inflow_monthly_median": [2000.0, 2000.0, 0.0, 2000.0, 2000.0],
            "income_monthly": [np.nan, np.nan, np.nan, 4000.0, np.nan],
        }
    )
    out = price_loans(frame).set_index("loan_id")
    assert out.loc[1, "decision"] == "approve" and out.loc[1, "decline_reason"] is None
    assert out.loc[1, "income_basis"].startswith("median monthly inflow")
    assert out.loc[4, "income_basis"] == "declared income" and out.loc[4, "income_used"] == 4000
    assert out.loc[4, "credit_limit"] > out.loc[1, "credit_limit"]
    assert out.loc[2, "decline_reason"] == "grade;apr_cap" and out.loc[2, "credit_limit"] == 0
    assert out.loc[3, "decline_reason"] == "affordability"
    assert out.loc[3, "income_basis"].startswith("none")
    limit_cfg = load_config()["credit_limit"]
    ok = out[out["decision"] == "approve"]
    assert (ok["credit_limit"] >= limit_cfg["min_limit"]).all()
    assert (ok["credit_limit"] <= ok[["grade_limit", "affordable_limit"]].min(axis=1)).all()
    assert set(out["decision"]) == {"approve", "decline"}
