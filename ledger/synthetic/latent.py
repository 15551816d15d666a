"""The latent creditworthiness ``z`` (standard normal, higher = better) and how it becomes
probabilities: the logistic link for behaviour, and the true-PD model of loans.

The PD intercept is calibrated so that the application-weighted mean PD is ``TARGET_BAD_RATE``;
the slopes fix how strongly ``z`` and loan size (loan-to-income) move the PD.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ledger.synthetic import arrays
from ledger.synthetic.arrays import Floats

TARGET_BAD_RATE = 0.15
PD_SLOPE_Z = 1.6
PD_SLOPE_SIZE = 0.4


def sigmoid(x: Any) -> Floats:
    """Logistic function of a scalar or array, always as a float array."""
    out: Floats = 1.0 / (1.0 + arrays.exp(-np.asarray(x, dtype=float)))
    return out


def logit_pd(z: Floats, loan_to_income: Floats, intercept: float) -> Floats:
    """Log-odds of default for latent ``z`` and loan-to-monthly-income ratio."""
    out: Floats = intercept - PD_SLOPE_Z * z + PD_SLOPE_SIZE * arrays.log(loan_to_income / 0.5)
    return out


def calibrated_intercept(z: Floats, loan_to_income: Floats, weight: Floats) -> float:
    """Intercept (by bisection on [-10, 5]) whose ``weight``-averaged PD is ``TARGET_BAD_RATE``."""
    lo, hi = -10.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float((weight * sigmoid(logit_pd(z, loan_to_income, mid))).sum()) > TARGET_BAD_RATE:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2
