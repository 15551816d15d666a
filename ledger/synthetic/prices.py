"""Daily prices of every contract asset in the base currency (USD).

Stablecoins wobble around their peg (USDT, USDC at 1; CNHC at 1/7.2), ETH, BTC and TRX follow
geometric random walks whose expected price stays at the starting price, and reward points are
worth a fixed 0.01. Prices are rounded to 6 decimals; the landing table holds exactly the rounded
values the transactions were priced with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ledger import contract
from ledger.synthetic import arrays
from ledger.synthetic.arrays import Floats
from ledger.synthetic.config import GeneratorConfig
from ledger.synthetic.reference import BTC, CNHC, ETH, PTS, TRX, USDC, USDT

# (asset code, starting price, daily volatility) of the random-walk assets
_RANDOM_WALKS = ((ETH, 3000.0, 0.035), (BTC, 90000.0, 0.025), (TRX, 0.25, 0.03))


@dataclass
class Prices:
    base: Floats  # days x assets, USD per unit
    table: pa.Table


def make_prices(cfg: GeneratorConfig, rng: np.random.Generator) -> Prices:
    d = cfg.days
    p = np.zeros((d, len(contract.ASSETS)))
    p[:, USDT] = 1.0 + rng.normal(0, 0.0005, d)
    p[:, USDC] = 1.0 + rng.normal(0, 0.0003, d)
    for a, s0, vol in _RANDOM_WALKS:
        steps = rng.normal(-0.5 * vol**2, vol, d)
        steps[0] = 0.0
        p[:, a] = s0 * arrays.exp(np.cumsum(steps))
    p[:, CNHC] = (1 / 7.2) * (1.0 + rng.normal(0, 0.001, d))
    p[:, PTS] = 0.01
    p = np.round(p, 6)
    ids, pdates, assets, vals = [], [], [], []
    for i in range(d):
        dt = cfg.day(i)
        for a, name in enumerate(contract.ASSETS):
            ids.append(f"{name}|{dt.isoformat()}")
            pdates.append(dt)
            assets.append(name)
            vals.append(float(p[i, a]))
    table = pa.table(
        {
            "price_id": pa.array(ids, pa.string()),
            "price_date": pa.array(pdates, pa.date32()),
            "asset": pa.array(assets, pa.string()),
            "price_base": pa.array(vals, pa.float64()),
        }
    )
    return Prices(p, table)
