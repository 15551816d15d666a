"""One ledger day at a time: the per-user balance carried between days, the order in which each
transaction type is drawn, and the affordability rule.

Invariants: discretionary outflows (merchant, p2p, cross-border, withdrawal) of a user never
exceed 97% of what the user holds after today's inflows and loan repayments (they are scaled down
together, and rows under 0.5 USD dropped); swaps leave the balance unchanged (fees are not
booked against it), reward points and received p2p transfers add to it; a burst packs the user's
merchant payments and p2p transfers of the day into one hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ledger.synthetic import arrays
from ledger.synthetic.arrays import Bools, Floats, Ints
from ledger.synthetic.reference import TX
from ledger.synthetic.transactions.assemble import assemble
from ledger.synthetic.transactions.blocks import Block
from ledger.synthetic.transactions.conversions import reward_points, swaps
from ledger.synthetic.transactions.loan_flows import loan_block
from ledger.synthetic.transactions.spending import (
    MERCHANT_RATE,
    SpendingProfile,
    cross_border_payments,
    merchant_payments,
    p2p_transfers,
)
from ledger.synthetic.transactions.wallet_flows import top_ups, withdrawals
from ledger.synthetic.transactions.world import World

INITIAL_STATE_STREAM = 99
"""Second key of the ``[seed, 99]`` stream that draws opening balances and spend ratios."""


@dataclass
class _Bursts:
    on: Bools  # user has a velocity burst today
    mult: Ints  # rate multiplier (1 without a burst)
    t0: Ints  # second of day the burst hour starts


def _bursts(rng: np.random.Generator, burst_p: Floats) -> _Bursts:
    n = len(burst_p)
    on = rng.random(n) < burst_p
    mult = np.where(on, rng.integers(4, 9, n), 1)
    return _Bursts(on, mult, rng.integers(0, 86400 - 3600, n))


def _sum_by_user(n: int, user: Ints, usd: Floats) -> Floats:
    """USD per user (weighted bincount, typed as float: numpy's stubs say integer)."""
    return np.asarray(np.bincount(user, weights=usd, minlength=n), dtype=np.float64)


def _per_user(n: int, b: Block) -> Floats:
    return _sum_by_user(n, b.user, b.usd)


def _afford(outflows: list[Block], available: Floats) -> Floats:
    """Scale the blocks down in place to what each user can pay; return what each user spent."""
    n = len(available)
    desired = np.zeros(n)
    for b in outflows:
        desired += _per_user(n, b)
    can = available * 0.97
    factor = np.where(desired > can, can / np.maximum(desired, 1e-9), 1.0)
    spent = np.zeros(n)
    for b in outflows:
        b.usd = b.usd * factor[b.user]
        b.keep(b.usd >= 0.5)
        spent += _per_user(n, b)
    return spent


class DayGenerator:
    """Clean transactions day by day for one world; call :meth:`day` for days 0, 1, ... in order
    (balances carry over)."""

    def __init__(self, world: World) -> None:
        users = world.users
        self.world = world
        init_rng = np.random.default_rng([world.cfg.seed, INITIAL_STATE_STREAM])
        self.balance: Floats = (
            users.income * init_rng.uniform(0.2, 1.5, users.n) * arrays.exp(0.3 * users.z)
        )
        spend_ratio = np.clip(0.92 - 0.12 * users.z + init_rng.normal(0, 0.08, users.n), 0.6, 1.3)
        self.profile = SpendingProfile.build(users, spend_ratio)

    def day(self, d: int, rng: np.random.Generator) -> tuple[pa.Table, Ints]:
        """Clean transactions of day ``d`` sorted by time, and their tx-type codes."""
        w = self.world
        users, n = w.users, w.users.n
        today = w.cfg.day(d)
        bursts = _bursts(rng, users.burst_p)
        blocks = [top_ups(rng, users, w.wallets, today)]
        inflow = _per_user(n, blocks[0])
        loan_out = np.zeros(n)
        events = w.loans.by_day.get(d, [])
        if events:
            loans = loan_block(events, w.prices.base[d])
            blocks.append(loans)
            disb = loans.tx == TX["loan_disbursement"]
            inflow += _sum_by_user(n, loans.user[disb], loans.usd[disb])
            loan_out = _sum_by_user(n, loans.user[~disb], loans.usd[~disb])
        available = np.maximum(self.balance + inflow, 0.0)

        weekend = 1.2 if today.weekday() >= 5 else 1.0
        rate = MERCHANT_RATE * users.activity * weekend * bursts.mult
        merchant = merchant_payments(rng, users, w.merchants, self.profile, d, rate)
        p2p = p2p_transfers(rng, users, bursts.mult)
        cross_border = cross_border_payments(rng, users)
        withdrawal = withdrawals(rng, users, w.wallets, available)
        outflows = [merchant, p2p, cross_border, withdrawal]
        spent = _afford(outflows, np.maximum(available - loan_out, 0.0))
        blocks.extend(outflows)
        blocks.append(swaps(rng, users, available))
        reward = reward_points(rng, users, _per_user(n, merchant))
        blocks.append(reward)
        for b in (merchant, p2p):
            burst = bursts.on[b.user]
            b.sec = np.where(burst, bursts.t0[b.user] + rng.integers(0, 3600, len(b)), b.sec)

        assert p2p.cp_user is not None
        received = _sum_by_user(n, p2p.cp_user, p2p.usd)
        self.balance = self.balance + inflow + _per_user(n, reward) + received - spent - loan_out
        return assemble(w, d, rng, blocks)
