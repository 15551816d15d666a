"""The model card's figures: round ticks on an axis fitted to the data, and the score histogram's
grade bands read from the calibrator and the master scale."""

import math
import re

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from credit.model_card import grade_bands, grade_cutoffs, nice_ticks, score_hist_svg, tick_label
from credit.pricing import grade, load_config
from credit.scorecard import Scaling, ScoreCalibrator


def _is_round(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step))
    return any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-3, 1e6, allow_nan=False),
)
def test_ticks_are_round_cover_the_data_and_waste_at_most_a_step_each_side(lo, width):
    hi = lo + width
    ticks = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0]
    assert _is_round(step) and 3 <= len(ticks) <= 8
    assert np.allclose(np.diff(ticks), step, rtol=1e-6)
    assert ticks[0] <= lo + 1e-9 * step and ticks[-1] >= hi - 1e-9 * step
    assert lo - ticks[0] < step * (1 + 1e-9) and ticks[-1] - hi < step * (1 + 1e-9)
    labels = [tick_label(t, ticks) for t in ticks]
    assert all("e" not in x for x in labels) and len(set(labels)) == len(labels)


def _scores(lo, hi, n=400, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(lo, hi + 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp((s - (lo + hi) / 2) / 10))).astype(int)
    return pd.DataFrame({"score": s, "y": y})


def test_the_score_histogram_axis_fits_the_scores_on_round_ticks():
    hold = _scores(497, 583)
    svg = score_hist_svg(hold)
    ticks = [float(t) for t in re.findall(r'text-anchor="middle">(-?[\d.]+)</text>', svg)]
    x_ticks = [t for t in ticks if t >= 100]  # the score axis (the y axis labels are shares)
    assert x_ticks == [475.0, 500.0, 525.0, 550.0, 575.0, 600.0]
    assert x_ticks[0] <= 497 and x_ticks[-1] >= 583 and x_ticks[-1] - x_ticks[0] < 550 / 4
    # every bar lies inside the plot, and the bars together hold every score
    xs = [float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="[\d.]+"', svg)]
    assert min(xs) >= 50 and max(xs) <= 380 - 12


def test_grade_cutoffs_follow_the_calibrated_pd_and_the_bands_tile_the_score_range():
    scaling = Scaling()
    cal = ScoreCalibrator().fit(
        np.r_[np.full(50, 500), np.full(50, 620)], np.r_[[1] * 20 + [0] * 30, [1] * 2 + [0] * 48]
    )
    cuts = grade_cutoffs(cal, scaling)
    scores = np.array([c for c, _ in cuts])
    assert scores[0] == scaling.min_score and np.all(np.diff(scores) > 0)
    cfg = load_config()
    for lo, g in cuts:  # the first score of a band has that grade, the one below it does not
        assert grade(cal.predict(np.array([lo])), cfg)[0] == g
        if lo > scaling.min_score:
            assert grade(cal.predict(np.array([lo - 1])), cfg)[0] != g
    assert [g for _, g in cuts] == sorted((g for _, g in cuts), reverse=True)  # G ... A
    bands = grade_bands(cuts, scaling.max_score, ("G",))
    assert bands[0][0] == scaling.min_score and bands[-1][1] == scaling.max_score + 1
    assert all(a[1] == b[0] for a, b in zip(bands, bands[1:], strict=False))
    assert bands[0][2] == "G (declined)" and "declined" not in bands[-1][2]
    svg = score_hist_svg(_scores(497, 583), bands)
    inside = [b for b in bands if b[1] > 475 and b[0] < 600]
    assert svg.count('stroke-dasharray="3 3"') == sum(475 < b[0] < 600 for b in inside)
    for _, _, label in inside:
        assert f">{label}</text>" in svg
