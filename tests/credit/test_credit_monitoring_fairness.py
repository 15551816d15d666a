import math

import numpy as np
import pytest

from credit.fairness import approval_rates, calibration_by_group, fairness_report
from credit.monitoring import psi, psi_from_shares, status


def test_psi_known_values():
    assert psi_from_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(
        -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    )
    assert psi_from_shares([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    e = np.array([0.1] * 10)
    a = np.array([0.05] * 5 + [0.15] * 5)
    expected = 5 * (-0.05 * math.log(0.5)) + 5 * (0.05 * math.log(1.5))
    assert psi_from_shares(e, a) == pytest.approx(expected)
    assert status(0.05) == "ok" and status(0.1) == "warn" and status(0.25) == "fail"
    rng = np.random.default_rng(0)
    x = rng.normal(size=50_000)
    assert psi(x, rng.normal(size=50_000)) < 0.01
    assert psi(x, rng.normal(0.5, 1, 50_000)) > 0.2


def test_four_fifths():
    approved = np.array([1] * 60 + [0] * 40 + [1] * 45 + [0] * 55)
    group = np.array(["a"] * 100 + ["b"] * 100)
    t = approval_rates(approved, group).set_index("group")
    assert t.loc["a", "approval_rate"] == 0.6 and t.loc["b", "approval_rate"] == 0.45
    assert t.loc["b", "ratio_to_max"] == pytest.approx(0.75)
    assert not t.loc["b", "passes"] and t.loc["a", "passes"]
    import pandas as pd

    rep = fairness_report(
        approved, np.full(200, 0.1), pd.DataFrame({"g": group}), y=np.r_[np.zeros(190), np.ones(10)]
    )
    assert rep["passes"] is False and rep["attributes"]["g"]["min_ratio"] == pytest.approx(0.75)
    cal = calibration_by_group(np.r_[np.zeros(190), np.ones(10)], np.full(200, 0.1), group)
    assert cal.set_index("group").loc["b", "observed"] == pytest.approx(0.1)


def _two_feature_points():
    import pandas as pd

    from credit.scorecard import PointsTable

    rows = []
    for f, edges, pts in (("x1", [-1.0, 0.0, 1.0], [40, 30, 20, 10]), ("x2", [0.0], [5, 0])):
        lowers, uppers = [-np.inf, *edges], [*edges, np.inf]
        for b, p in enumerate(pts):
            rows.append((f, b, lowers[b], uppers[b], False, None, p, 0.0))
        rows.append((f, len(pts), np.nan, np.nan, True, None, 0, 0.0))
    cols = ["feature", "bin_index", "lower", "upper", "is_missing", "category", "points"]
    table = pd.DataFrame(rows, columns=[*cols, "contribution"])
    table["category"] = table["category"].astype(object)
    return PointsTable(table, 500)


def _applications(n, start, days, shift=0.0, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")
    return pd.DataFrame(
        {"applied_at": t, "x1": rng.normal(shift, 1.0, n), "x2": rng.normal(0.0, 1.0, n)}
    )


def test_the_same_population_later_passes_and_a_planted_shift_fails():
    from credit.monitoring import compare_to_reference, stability_reference

    pts = _two_feature_points()
    dev = _applications(5000, "2026-01-01", 60, seed=1)
    ref = stability_reference(pts, dev, "2026-01-01 .. 2026-03-01")
    same = compare_to_reference(ref, pts, _applications(5000, "2026-03-02", 60, seed=2), "later")
    assert same["status"] == "ok" and same["score_psi"] < 0.02, same
    assert same["baseline"].endswith("2026-01-01 .. 2026-03-01") and same["n_train"] == 5000
    shifted = compare_to_reference(
        ref, pts, _applications(5000, "2026-03-02", 60, shift=1.0, seed=2), "later"
    )
    csi = shifted["features"].set_index("feature")
    assert csi.loc["x1", "status"] == "fail" and csi.loc["x2", "status"] == "ok", csi
    assert shifted["score_status"] == "fail" and shifted["status"] == "fail"
    # the reference survives the model's metadata round trip unchanged
    import json

    from credit.monitoring import StabilityReference

    again = StabilityReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert again == ref


def test_a_reference_from_another_points_table_is_refused():
    import pandas as pd

    from credit.monitoring import compare_to_reference, stability_reference
    from credit.scorecard import PointsTable

    pts = _two_feature_points()
    dev = _applications(500, "2026-01-01", 60)
    ref = stability_reference(pts, dev, "p")
    fewer = pts.table[~((pts.table["feature"] == "x1") & (pts.table["bin_index"] == 3))]
    other = PointsTable(pd.DataFrame(fewer).reset_index(drop=True), 500)
    with pytest.raises(ValueError, match="another points table"):
        compare_to_reference(ref, other, dev, "same rows")


def test_the_scoring_population_is_the_latest_same_length_window_after_development():
    import pandas as pd

    from credit.monitoring import stability_reference
    from credit.scorecard import ScoreCalibrator
    from credit.scoring import scoring_population_stability
    from credit.training import CreditModel

    pts = _two_feature_points()
    dev = _applications(4000, "2026-01-01", 30, seed=1)
    dev["label"] = 0.0
    cal = ScoreCalibrator().fit(
        np.r_[np.full(50, 520), np.full(50, 560)], np.r_[[1] * 30, [0] * 70]
    )
    meta = {
        "train_from": "2026-01-01",
        "train_until": str(dev["applied_at"].max()),
        "stability_reference": stability_reference(pts, dev, "2026-01-01 .. 2026-01-31").to_dict(),
    }
    model = CreditModel(pts, cal, {}, meta)
    # days 30-55: a shifted population; days 60-89 (the latest 30 days): like development
    middle = _applications(4000, "2026-01-31", 25, shift=1.5, seed=2)
    recent = _applications(4000, "2026-03-02", 29, seed=3)
    for part in (middle, recent):
        part["label"] = np.nan
    frame = pd.concat([dev, middle, recent], ignore_index=True)
    ok = scoring_population_stability(model, frame)
    assert ok is not None and ok["status"] == "ok", ok
    assert ok["n_latest"] == len(recent), ok  # the window holds the latest 30 days only
    assert "2026-03" in ok["latest"] and "development sample" in ok["baseline"]
    # the same shift in the latest window is caught
    recent_shifted = _applications(4000, "2026-03-02", 29, shift=1.5, seed=3)
    recent_shifted["label"] = np.nan
    bad = scoring_population_stability(
        model, pd.concat([dev, middle, recent_shifted], ignore_index=True)
    )
    assert bad is not None and bad["status"] == "fail"
    assert bad["features"].set_index("feature").loc["x1", "status"] == "fail"
    # nothing after development: nothing to compare yet
    assert scoring_population_stability(model, dev) is None
