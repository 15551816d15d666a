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
