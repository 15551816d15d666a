"""Numpy array aliases by dtype, so signatures say what each column holds, and the exp and log
the generator uses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Objects = npt.NDArray[np.object_]


# The C library's exp and log, value by value. NumPy's own loops for them depend on the CPU (its
# AVX-512 versions round some results one ulp differently), and a seed must give the same bytes
# on every machine: truth/loans.parquet holds raw PDs (tests/test_generator.py records them).
_EXP = np.frompyfunc(math.exp, 1, 1)
_LOG = np.frompyfunc(math.log, 1, 1)


def exp(x: Any) -> Floats:
    """``e ** x`` elementwise, as a float array (0-d for a scalar), the same on every CPU."""
    out: Floats = np.asarray(_EXP(np.asarray(x, dtype=np.float64)), dtype=np.float64)
    return out


def log(x: Any) -> Floats:
    """The natural logarithm elementwise, as a float array, the same on every CPU."""
    out: Floats = np.asarray(_LOG(np.asarray(x, dtype=np.float64)), dtype=np.float64)
    return out
