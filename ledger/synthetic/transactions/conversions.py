"""Conversions inside the wallet: swaps between assets (balance-neutral apart from the fee) and
reward points credited for merchant spend (1 point per USD, a point worth 0.01 USD)."""

from __future__ import annotations

import numpy as np

from ledger.synthetic.arrays import Floats
from ledger.synthetic.reference import PTS, SWAP_PAIRS, TX
from ledger.synthetic.transactions.blocks import Block, times_of_day
from ledger.synthetic.users import Users


def swaps(rng: np.random.Generator, users: Users, available: Floats) -> Block:
    """Swaps of 5-40% of what is available (at most 25 USD out of points), only above 10 USD."""
    su = np.repeat(np.arange(users.n), rng.poisson(0.04 * users.activity))
    su = su[available[su] > 10]
    pair = SWAP_PAIRS[rng.integers(0, len(SWAP_PAIRS), len(su))]
    usd = available[su] * rng.uniform(0.05, 0.4, len(su))
    usd = np.where(pair[:, 0] == PTS, np.minimum(usd, 25.0), usd)
    sec = times_of_day(rng, users, su)
    return Block(su, np.full(len(su), TX["swap"]), pair[:, 0], usd, sec, to_asset=pair[:, 1])


def reward_points(rng: np.random.Generator, users: Users, merchant_spend: Floats) -> Block:
    """Points for a quarter of the users who spent more than 1 USD at merchants today."""
    ru = np.nonzero((merchant_spend > 1.0) & (rng.random(users.n) < 0.25))[0]
    usd = np.maximum(np.round(merchant_spend[ru]), 1.0) * 0.01
    sec = times_of_day(rng, users, ru)
    return Block(ru, np.full(len(ru), TX["reward_points"]), np.full(len(ru), PTS), usd, sec)
