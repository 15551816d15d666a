"""Budget, missing-value policy, protected attributes and the model registry on small data."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from credit.budget import Budget, bins_per_feature, segment
from credit.byod import fit_table
from credit.fairness import fairness_assessment, proxy_report
from credit.missing_policy import CAPPED, KEPT_EVIDENCE, apply_missing_policy
from credit.registry import APPROVED, CANDIDATE, PROVISIONAL, ModelRegistry
from credit.scorecard import PointsTable
from credit.training import fit_scorecard


def _data(n=1500, seed=0, n_feat=24):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, n_feat)), columns=[f"x{i}" for i in range(n_feat)])
    w = np.r_[np.linspace(1.0, 0.1, n_feat)]
    z = -1.0 + (df.to_numpy() * w).sum(axis=1) * 0.6
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return df, y


def test_segmentation_is_optimal_against_brute_force():
    rng = np.random.default_rng(1)
    v, w = rng.normal(size=7), rng.uniform(0.5, 3, 7)

    def sse(cuts):
        return sum(
            float((w[a:b] * (v[a:b] - np.average(v[a:b], weights=w[a:b])) ** 2).sum())
            for a, b in cuts
        )

    best = min(
        sse([(0, c[0]), *zip(c, c[1:], strict=False), (c[-1], 7)])
        for c in itertools.combinations(range(1, 7), 2)
    )
    cuts = segment(v, w, 3)
    assert len(cuts) == 3 and cuts[0][0] == 0 and cuts[-1][1] == 7
    assert sse(cuts) == pytest.approx(best)


FAST = {"learning_rate": 0.1}


def test_budget_caps_features_and_bins():
    df, y = _data(1000, n_feat=14)
    card = fit_scorecard(df, y, list(df.columns), params=FAST, budget=Budget(6, 4))
    bins = bins_per_feature(card.points)
    assert len(bins) <= 6 and max(bins.values()) <= 4
    assert card.budget["within_budget"] and len(card.budget["dropped_by_budget"]) >= 8
    assert card.budget["bins_unconstrained"] > card.budget["bins"]
    # the strongest generated features are the ones kept
    assert {"x0", "x1", "x2"} <= set(card.points.features)
    # adjacent bins with equal points are merged
    for _, g in card.points.table[~card.points.table["is_missing"]].groupby("feature"):
        assert (np.diff(g.sort_values("bin_index")["points"].to_numpy()) != 0).all()


def _pts(rows):
    t = pd.DataFrame(
        rows, columns=["feature", "bin_index", "lower", "upper", "is_missing", "category", "points"]
    )
    t["contribution"] = 0.0
    t["category"] = t["category"].astype(object)
    return PointsTable(t, 500)


def test_missing_never_scores_above_the_median_bin_without_evidence():
    inf = np.inf
    pts = _pts(
        [
            ("a", 0, -inf, 0.0, False, None, 0),
            ("a", 1, 0.0, 1.0, False, None, 10),
            ("a", 2, 1.0, inf, False, None, 30),
            ("a", 3, np.nan, np.nan, True, None, 32),  # the thin-file reward of issue 10
            ("b", 0, -inf, 0.0, False, None, 0),
            ("b", 1, 0.0, inf, False, None, 20),
            ("b", 2, np.nan, np.nan, True, None, 25),
        ]
    )
    rng = np.random.default_rng(0)
    n = 2000
    a = rng.uniform(-1, 2, n)
    b = rng.uniform(-1, 1, n)
    a[:300] = np.nan  # 'a' missing: as risky as the rest
    b[:300] = np.nan  # 'b' missing: clearly safer than the median bin
    y = (rng.random(n) < 0.3).astype(int)
    y[:300] = (rng.random(300) < 0.3).astype(int)
    y[(b > 0)] = (rng.random(int((b > 0).sum())) < 0.35).astype(int)
    y[:300] = np.where(np.arange(300) < 300, (rng.random(300) < 0.05).astype(int), 0)
    y[:300] = (rng.random(300) < 0.05).astype(int)
    frame = pd.DataFrame({"a": a, "b": b})
    # make 'a' missing rows risky on their own (independent of b's evidence rows)
    frame.loc[:299, "a"] = np.nan
    ya = y.copy()
    ya[:300] = (rng.random(300) < 0.4).astype(int)
    capped, policy = apply_missing_policy(pts, frame, ya)
    pa = policy.set_index("feature")
    assert (
        pa.loc["a", "rule"] == CAPPED and pa.loc["a", "points"] == pa.loc["a", "median_bin_points"]
    )
    assert pa.loc["a", "points"] <= 10
    kept, policy_b = apply_missing_policy(pts, frame.assign(a=a), y)
    pb = policy_b.set_index("feature")
    assert pb.loc["b", "rule"] == KEPT_EVIDENCE and pb.loc["b", "points"] == 25
    # a feature never missing in training gets no benefit of the doubt
    never = apply_missing_policy(pts, frame.fillna(0.5), y)[1].set_index("feature")
    assert (never["rule"] == CAPPED).all() and (never["n_missing"] == 0).all()


def test_fairness_uses_the_given_rows_suppresses_small_groups_and_bootstraps():
    rng = np.random.default_rng(0)
    n = 600
    g = np.where(np.arange(n) < 300, "a", np.where(np.arange(n) < 580, "b", "tiny"))
    approved = np.where(g == "a", rng.random(n) < 0.6, rng.random(n) < 0.42)
    p = rng.uniform(0.05, 0.4, n)
    y = (rng.random(n) < p).astype(int)
    rep = fairness_assessment(approved, p, y, pd.DataFrame({"g": g}), "pd <= x", n_boot=100)
    groups = {r["group"]: r for r in rep["attributes"]["g"]["groups"]}
    assert groups["tiny"] == {"group": "tiny", "n": "< 30", "suppressed": True}
    assert groups["a"]["reference"] and groups["b"]["n"] == 280
    air = groups["b"]["approval_rate"] / groups["a"]["approval_rate"]
    assert groups["b"]["adverse_impact_ratio"] == pytest.approx(air)
    lo, hi = groups["b"]["adverse_impact_ratio_ci"]
    assert lo < air < hi and hi - lo < 0.4
    assert rep["passes"] is (air >= 0.8)
    assert 0.4 < groups["a"]["auc"] < 0.9 and groups["a"]["auc_ci"] is not None
    json.dumps(rep)  # metrics.json-ready


def test_proxy_report_finds_a_feature_tracking_a_protected_attribute():
    rng = np.random.default_rng(0)
    race = rng.choice(["p", "q", "r"], 800)
    df = pd.DataFrame(
        {
            "zip_score": (race == "q") * 2.0 + rng.normal(0, 0.5, 800),
            "noise": rng.normal(size=800),
            "region": np.where(race == "r", "north", rng.choice(["south", "east"], 800)),
        }
    )
    rep = proxy_report(df, ["zip_score", "noise", "region"], pd.DataFrame({"race": race}))
    flagged = set(rep.loc[rep["is_proxy"], "feature"])
    assert flagged == {"zip_score", "region"}


@pytest.fixture(scope="module")
def mortgage(tmp_path_factory):
    rng = np.random.default_rng(3)
    n = 1600
    race = rng.choice(["w", "b", "a"], n, p=[0.6, 0.3, 0.1])
    df = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "income": rng.lognormal(8, 0.5, n),
            "ltv": rng.uniform(0.3, 1.0, n),
            "tract_share": (race == "b") * 0.6 + rng.uniform(0, 0.4, n),
            "race": race,
            "sex": rng.choice(["f", "m"], n),
        }
    )
    z = -1.2 - 0.8 * np.log(df["income"] / 3000) + 2.0 * (df["ltv"] - 0.6) + 0.6 * (race == "b")
    df["default"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    out = tmp_path_factory.mktemp("mortgage")
    with pytest.warns(UserWarning):
        m = fit_table(
            df,
            "default",
            out_dir=out,
            protected=["race", "sex"],
            challenger=False,
            logistic=False,
            n_boot=60,
        )
    return df, m, out


def test_a_protected_column_never_reaches_the_points_table(mortgage):
    df, m, out = mortgage
    pts = json.loads((out / "points_table.json").read_text())
    used = {b["feature"] for b in pts["bins"]}
    assert not used & {"race", "sex"} and "row_id" not in used
    assert {"income", "ltv"} <= used
    assert m["dropped"]["race"].startswith("protected") and "identifier" in m["dropped"]["row_id"]
    assert m["positive"] == 1 and m["positive_by_default"]
    assert any("rarer class" in n for n in m["notices"])
    proxies = {(p["feature"], p["protected"]) for p in m["proxies"] if p["is_proxy"]}
    assert ("tract_share", "race") in proxies
    fair = json.loads((out / "metrics.json").read_text())["fairness"]
    assert fair["rows"] == "holdout" and fair["n"] == m["holdout"]["additive"]["n"]
    sizes = [g["n"] for g in fair["attributes"]["race"]["groups"] if not g["suppressed"]]
    assert sum(sizes) <= fair["n"]


def test_the_byod_card_has_the_sections_a_validator_signs_off(mortgage):
    _, m, out = mortgage
    html = (out / "model_card.html").read_text()
    for section in (
        "Intended use",
        "Out-of-scope use",
        "Owner, version and approval",
        "Data and label definition",
        "Performance",
        "Characteristic budget",
        "Calibration",
        "Fairness",
        "Proxies",
        "Drivers",
        "Reason codes",
        "Missing values and thin files",
        "Limitations",
        "Failed checks and what to do",
        "Appendix: points table",
    ):
        assert f">{section}" in html, section
    appendix = html[html.index("Appendix: points table") :]
    for bad in ("nan", "None", "inf"):
        assert bad not in appendix.split("Versions and hashes")[0], bad
    assert "default == 1" in html and "rarer class" in html


def test_registry_keeps_the_champion_until_a_promotion(tmp_path):
    df, y = _data(900, seed=2, n_feat=5)
    from credit.training import train_stack

    reg = ModelRegistry(tmp_path / "models")
    with pytest.raises(ValueError, match="no credit model registered"):
        reg.champion()
    first = train_stack(
        df[:700],
        y[:700],
        df[700:],
        y[700:],
        list(df.columns),
        challenger=False,
        logistic=False,
        n_boot=20,
        seed=0,
    )
    second = train_stack(
        df[100:800],
        y[100:800],
        df[800:],
        y[800:],
        list(df.columns),
        challenger=False,
        logistic=False,
        n_boot=20,
        seed=1,
    )
    v1 = reg.register_candidate(first.model, first.metrics, "<html>1</html>")["version"]
    assert reg.approval(v1) == {"status": PROVISIONAL}
    v2 = reg.register_candidate(second.model, second.metrics)["version"]
    assert v1 != v2
    # training (registering) never moves the champion or its scores
    assert reg.champion_version() == v1 and reg.approval(v2)["status"] == CANDIDATE
    before = reg.champion().score(df)["score"]
    assert reg.register_candidate(first.model, first.metrics)["new"] is False
    assert len(reg.candidates()) == 2
    assert np.array_equal(reg.champion().score(df)["score"], before)
    with pytest.raises(ValueError, match="needs a reason"):
        reg.promote(v2, " ", "alice")
    with pytest.raises(ValueError, match="needs an actor"):
        reg.promote(v2, "better AUC", "")
    with pytest.raises(ValueError, match="not a registered candidate"):
        reg.promote("0123456789abcdef", "x", "alice")
    with pytest.raises(ValueError, match="not a registry version"):
        reg.load("../../etc")
    audit = reg.promote(v2, "higher holdout AUC, validated", "alice")
    assert audit["event"] == "credit_model_promoted" and audit["previous_champion"] == v1
    assert audit["actor"] == "alice" and not audit["previous_was_approved"]
    assert reg.champion_version() == v2 and reg.approval(v2)["status"] == APPROVED
    assert reg.approval(v1) == {"status": CANDIDATE, "champion": v2}
    assert [p["version"] for p in reg.promotions()] == [v2]
    cmp = reg.compare(v1, df)
    assert cmp["champion"] == v2 and cmp["score_shift"]["n"] == len(df)
    assert 0 <= cmp["score_shift"]["grade_changed_share"] <= 1
    assert [r["metric"] for r in cmp["metrics"]][0] == "holdout auc"
    # a reopened registry reads the same state
    assert ModelRegistry(tmp_path / "models").champion_version() == v2
