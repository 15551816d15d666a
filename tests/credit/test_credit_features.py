import duckdb
import numpy as np
import pandas as pd
import pytest

from credit.features import FEATURE_COLUMNS, build_features
from credit.synthetic import generate


def _features(ledger, apps, subjects):
    con = duckdb.connect()
    con.register("ledger", ledger)
    con.register("applications", apps)
    con.register("subjects", subjects)
    try:
        return build_features(con).set_index("loan_id").sort_index()
    finally:
        con.close()


@pytest.fixture(scope="module")
def synth():
    return generate(n_subjects=80, days=420, seed=3, loans_per_subject=2.0)


def test_one_row_per_application_with_all_features(synth):
    f = _features(synth.ledger, synth.applications, synth.subjects)
    assert len(f) == len(synth.applications)
    assert set(FEATURE_COLUMNS) <= set(f.columns)
    assert f["n_tx_180"].gt(0).all()


def test_rows_after_application_change_no_feature(synth):
    before = _features(synth.ledger, synth.applications, synth.subjects)
    cut = synth.applications["applied_at"].quantile(0.5)
    rng = np.random.default_rng(0)
    led = synth.ledger.copy()
    late = led["occurred_at"] >= cut
    led.loc[late, "amount_base"] *= rng.uniform(0.1, 10, late.sum())
    led.loc[late, "device_id"] = "new-device"
    led.loc[late & (led["tx_type"] == "merchant_payment"), "mcc_risk"] = "high"
    led = led.drop(led[late].sample(frac=0.3, random_state=1).index)
    extra = led[led["occurred_at"] < cut].sample(200, random_state=2).copy()
    extra["occurred_at"] = cut + pd.to_timedelta(rng.integers(0, 86400 * 60, 200), unit="s")
    extra["tx_type"] = "loan_repayment"  # repayments after the application date must not count
    extra["loan_id"] = (
        synth.applications["loan_id"].sample(200, replace=True, random_state=3).to_numpy()
    )
    led = pd.concat([led, extra], ignore_index=True)
    apps = synth.applications.copy()
    later = apps["applied_at"] >= cut
    apps.loc[later, "principal_base"] *= 3
    apps["label"] = 1 - apps["label"].fillna(0)  # outcomes are never features
    after = _features(led, apps, synth.subjects)
    keep = before.index[before["applied_at"] < cut]
    assert len(keep) > 20
    pd.testing.assert_frame_equal(
        before.loc[keep, list(FEATURE_COLUMNS)], after.loc[keep, list(FEATURE_COLUMNS)]
    )
    # and the later applications did change (the test has teeth)
    changed = before.index[before["applied_at"] >= cut]
    assert not before.loc[changed, list(FEATURE_COLUMNS)].equals(
        after.loc[changed, list(FEATURE_COLUMNS)]
    )


def test_hand_built_fixture_values():
    t = pd.Timestamp
    ledger = pd.DataFrame(
        [
            # subject a: salary, spending, a P2P to b, an earlier loan repaid late
            ("a", t("2024-03-01 09:00"), "top_up", "in", 1000.0, 0.0, None, None, "employer", "da"),
            ("a", t("2024-04-01 09:00"), "top_up", "in", 1000.0, 0.0, None, None, "employer", "da"),
            ("a", t("2024-05-01 09:00"), "top_up", "in", 1000.0, 0.0, None, None, "employer", "da"),
            (
                "a",
                t("2024-05-02 10:00"),
                "merchant_payment",
                "out",
                300.0,
                1.0,
                "5411",
                "high",
                "m1",
                "da",
            ),
            (
                "a",
                t("2024-05-03 10:00"),
                "merchant_payment",
                "out",
                100.0,
                0.0,
                "5411",
                "low",
                "m2",
                "da",
            ),
            ("a", t("2024-05-04 02:00"), "p2p_transfer", "out", 50.0, 0.0, None, None, "b", "da"),
            (
                "a",
                t("2024-05-05 10:00"),
                "cross_border_payment",
                "out",
                1500.0,
                0.0,
                None,
                None,
                "x",
                "dz",
            ),
            (
                "a",
                t("2024-04-20 10:00"),
                "loan_repayment",
                "out",
                200.0,
                0.0,
                None,
                None,
                None,
                "da",
            ),
            (
                "a",
                t("2024-06-20 10:00"),
                "top_up",
                "in",
                99999.0,
                0.0,
                None,
                None,
                "employer",
                "da",
            ),
            ("b", t("2024-05-01 09:00"), "top_up", "in", 10.0, 0.0, None, None, "bank", "db"),
        ],
        columns=[
            "subject_id",
            "occurred_at",
            "tx_type",
            "direction",
            "amount_base",
            "fee_base",
            "mcc",
            "mcc_risk",
            "counterparty",
            "device_id",
        ],
    )
    ledger["country"] = "CN"
    ledger["loan_id"] = np.where(ledger["tx_type"] == "loan_repayment", "L0", None)
    apps = pd.DataFrame(
        {
            "loan_id": ["L0", "L1", "L2"],
            "subject_id": ["a", "a", "b"],
            "applied_at": [t("2024-03-10"), t("2024-06-01"), t("2024-06-01")],
            "principal_base": [300.0, 500.0, 100.0],
            "term_days": [30, 30, 30],
            "due_date": [
                pd.Timestamp("2024-04-09").date(),
                pd.Timestamp("2024-07-01").date(),
                pd.Timestamp("2024-07-01").date(),
            ],
            "label": pd.array([1, None, None], dtype="Int64"),
        }
    )
    subjects = pd.DataFrame(
        {
            "subject_id": ["a", "b"],
            "signup_date": [t("2024-01-01").date(), t("2024-04-01").date()],
            "kyc_level": [2, 1],
            "city_tier": [1, 3],
        }
    )
    f = _features(ledger, apps, subjects)
    a = f.loc["L1"]
    # the ledger starts 2024-03-01 09:00: 91.625 observed days, sums scaled to the 180-day window
    assert a["observed_days"] == pytest.approx(91.625) and not a["short_history"]
    scale = 180 / 91.625
    assert a["inflow_180"] == pytest.approx(3000.0 * scale)
    assert a["outflow_180"] == pytest.approx((300 + 1 + 100 + 50 + 1500 + 200) * scale)
    assert a["n_tx_180"] == pytest.approx(8 * scale)
    # three whole observed 30-day months before 06-01: 0, 1000 (05-01) and 1000 (04-01); the
    # 03-01 salary falls in the partial fourth month and is left out
    assert a["income_monthly_mean"] == pytest.approx(2000 / 3)
    assert a["inflow_monthly_median"] == 1000.0
    assert a["months_with_income"] == 4.0  # 2 of 3 observed months, on the 6-month scale
    assert a["spend_share_high_risk_mcc"] == pytest.approx(0.75)
    # one earlier loan (L0) in 91.625 observed days: a borrowing rate on the 180-day scale
    assert a["prior_loans"] == pytest.approx(scale) and a["prior_late_share"] == 1.0  # 200 of 300
    assert a["prior_unpaid"] == 1
    assert a["regular_income_sources"] == 0  # employer in 2 observed months, 3 needed
    # 1500 cross-border from the newly seen device dz, per observed day
    assert a["new_device_large_transfers"] == pytest.approx(scale)
    assert a["max_night_tx"] == 1
    assert a["account_age_days"] == 152
    b = f.loc["L2"]
    # own top-up + P2P received from a, over the 61 days since b signed up
    assert b["observed_days"] == 61.0 and b["short_history"]
    assert b["inflow_180"] == pytest.approx(60.0 * 180 / 61)
    assert b["p2p_in_share"] == pytest.approx(50 / 60)
    assert b["prior_loans"] == 0
    # L0 applied 9 days into the ledger: too little history, window features missing
    assert f.loc["L0", "observed_days"] == pytest.approx(8.625)
    assert np.isnan(f.loc["L0", "inflow_180"]) and np.isnan(f.loc["L0", "balance_mean"])
    assert np.isnan(f.loc["L0", "prior_loans"])


def test_window_features_do_not_grow_with_time_in_the_ledger():
    # Every subject behaves the same all through the ledger; applications in the first months see
    # a window cut at the ledger start. Per-observed-day features must not drift with that.
    s = generate(n_subjects=150, days=360, seed=4, loans_per_subject=3.0)
    apps = s.applications.copy()
    days = np.random.default_rng(0).integers(5, 360, len(apps))
    apps["applied_at"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(days, unit="D")
    f = _features(s.ledger, apps, s.subjects)
    old = f[f["observed_days"] >= 180]
    early = f[(f["observed_days"] >= 30) & (f["observed_days"] < 120)]
    assert len(old) > 50 and len(early) > 50
    for col in (
        "n_tx_180",
        "inflow_180",
        "inflow_90",
        "n_tx_90",
        "active_days_90",
        "balance_end",
        "prior_loans",
        "distinct_counterparties_30",
    ):
        ratio = early[col].mean() / old[col].mean()
        assert 0.75 < ratio < 1.33, (col, ratio)
    # the unscaled count would have been read as risk: raw counts in the early months are far lower
    raw_early = (early["n_tx_180"] * early["observed_days"] / 180).mean()
    assert raw_early / old["n_tx_180"].mean() < 0.7
    assert f.loc[f["observed_days"] < 14, "inflow_180"].isna().all()
    # a distinct count is never scaled per day: missing until its 30 days are observed
    assert f.loc[f["observed_days"] < 30, "distinct_counterparties_30"].isna().all()
    assert f.loc[f["observed_days"] >= 30, "distinct_counterparties_30"].notna().all()
    assert "prior_loans" not in FEATURE_COLUMNS  # reported beside the features, not scored
    assert f["short_history"].eq(f["observed_days"] < 90).all()
    # balance-path statistics are only measured over a whole window
    assert f.loc[f["observed_days"] < 180, "balance_trend"].isna().all()
    assert f.loc[f["observed_days"] >= 180, "balance_trend"].notna().all()
