"""The noise OpenDP adds matches the declared scale (KS test over 500 releases of a tiny
vector), and the published accuracy is never narrower than OpenDP's exact one."""

from __future__ import annotations

import math

import numpy as np
import opendp.accuracy as acc
import polars as pl
import pytest

from privacy.dp.mechanisms import GroupedColumn, build_grouped, integer_gaussian_accuracy

RELEASES = 500
KS_TOLERANCE = 0.05  # 2,000 draws: the 1% critical value is 0.036


def _discrete_gaussian_cdf(scale: float, xs: np.ndarray) -> np.ndarray:
    support = np.arange(-int(12 * scale), int(12 * scale) + 1)
    pmf = np.exp(-(support.astype(float) ** 2) / (2 * scale**2))
    cdf = np.cumsum(pmf / pmf.sum())
    return np.interp(xs, support, cdf)


def test_noise_matches_the_declared_scale_over_500_releases() -> None:
    keys = pl.DataFrame({"c": ["a", "b", "c", "d"]})
    rows = pl.DataFrame({"c": ["a"] * 30 + ["b"] * 10, "n_tx": [2] * 30 + [5] * 10})
    meas = build_grouped(
        ["c"], ["text"], keys, [GroupedColumn("users", 1), GroupedColumn("n_tx", 5)], 2, 0.004
    )
    assert meas.rho <= 0.004
    users, n_tx = meas.columns
    assert n_tx.scale == pytest.approx(5 * users.scale)  # OpenDP scales by the row bound
    exact = {"a": (30, 60), "b": (10, 50), "c": (0, 0), "d": (0, 0)}
    noise_u: list[float] = []
    noise_n: list[float] = []
    for _ in range(RELEASES):
        out = meas(rows)
        for r in out.iter_rows(named=True):
            noise_u.append(r["users"] - exact[r["c"]][0])
            noise_n.append(r["n_tx"] - exact[r["c"]][1])
    for noise, col in ((noise_u, users), (noise_n, n_tx)):
        x = np.sort(np.asarray(noise, dtype=float))
        n = len(x)
        cdf = _discrete_gaussian_cdf(col.scale, x)
        d = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(0, n) / n))
        assert d < KS_TOLERANCE, (col.name, d)
        assert np.std(x) == pytest.approx(col.scale, rel=0.08)
        inside = np.mean(np.abs(x) <= col.accuracy95)
        assert 0.93 <= inside <= 0.975


@pytest.mark.parametrize("scale", [5.0, 1e4, 2.5e4, 1.2e5])
def test_published_accuracy_is_never_narrower_than_opendps_exact(scale: float) -> None:
    for alpha in (0.05, 0.025):
        exact = acc.discrete_gaussian_scale_to_accuracy(scale, alpha, T=float)
        got = integer_gaussian_accuracy(scale, alpha)
        assert exact <= got <= exact + max(2.0, 1e-4 * scale)
        assert math.isfinite(got)
