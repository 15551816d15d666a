"""Discretionary spending: merchant payments, p2p transfers and cross-border payments.

Merchant spend is sized so that, on average, it takes about 70% of a user's income (scaled by the
user's spend ratio); the risky share of a user's payments goes to gambling, quasi-cash and money
transfer merchants. P2P counterparties are social neighbours (close in the noisy ``z`` ordering),
never the sender. Cross-border payments go more often to risky corridors for risky users.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ledger.synthetic.arrays import Floats, Ints
from ledger.synthetic.merchants import Merchants
from ledger.synthetic.reference import (
    CNHC,
    MCCS,
    PTS,
    RISKY_MCC_WEIGHTS,
    TX,
    USDC,
    USDT,
    XB_COUNTRIES_NORMAL,
    XB_COUNTRIES_RISKY,
)
from ledger.synthetic.transactions.blocks import Block, times_of_day
from ledger.synthetic.users import Users

MERCHANT_RATE = 0.62
"""Mean merchant payments per user-day at activity 1."""


@dataclass(frozen=True)
class SpendingProfile:
    """Category mixes and per-user ticket sizes, fixed for the whole window."""

    safe_p: Floats  # category probabilities of ordinary payments
    risky_cats: Ints  # MCC indices of the high-risk categories
    risky_p: Floats
    median: Floats  # median ticket by category, USD
    ticket_scale: Floats  # per user

    @classmethod
    def build(cls, users: Users, spend_ratio: Floats) -> SpendingProfile:
        mcc_w = np.array([x[4] for x in MCCS])
        safe_p = mcc_w / mcc_w.sum()
        risky_cats = np.array([i for i, x in enumerate(MCCS) if x[0] in RISKY_MCC_WEIGHTS])
        rw = np.array([RISKY_MCC_WEIGHTS[MCCS[i][0]] for i in risky_cats])
        median = np.array([x[3] for x in MCCS])
        e_ticket = float((safe_p * median).sum()) * math.exp(0.8**2 / 2)
        # Merchant spending takes ~70% of income; the rest goes to p2p, cross-border, withdrawals.
        ticket_scale = 0.7 * users.income * spend_ratio / (30 * MERCHANT_RATE * e_ticket)
        ticket_scale /= np.maximum(users.activity, 0.2)
        return cls(safe_p, risky_cats, rw / rw.sum(), median, ticket_scale)


def spend_asset(rng: np.random.Generator, users: Users, u: Ints) -> Ints:
    """Asset paid with: a few payments in points, otherwise USDT, CNHC (CN users) or USDC."""
    r = rng.random(len(u))
    cn = users.is_cn[u]
    out: Ints = np.where(
        r < 0.04,
        PTS,
        np.where(
            cn,
            np.where(r < 0.62, USDT, np.where(r < 0.95, CNHC, USDC)),
            np.where(r < 0.5, USDT, USDC),
        ),
    ).astype(np.int64)
    return out


def pick_merchants(rng: np.random.Generator, merchants: Merchants, cats: Ints, day: int) -> Ints:
    """A merchant of each category in ``cats``, among those onboarded by ``day`` (the earliest one
    if none yet), weighted by size. A category without merchants borrows the first pool's."""
    out = np.empty(len(cats), dtype=np.int64)
    for c in np.unique(cats):
        sel = np.nonzero(cats == c)[0]
        c_use = int(c)
        if c_use not in merchants.by_cat:
            c_use = next(iter(merchants.by_cat))
        pool = merchants.by_cat[c_use]
        avail = max(1, int(np.searchsorted(pool.onboard_day, day, side="right")))
        r = rng.random(len(sel)) * pool.cum_weight[avail - 1]
        pick = np.searchsorted(pool.cum_weight, r, side="right")
        out[sel] = pool.merchant[np.minimum(pick, avail - 1)]
    return out


def merchant_payments(
    rng: np.random.Generator,
    users: Users,
    merchants: Merchants,
    profile: SpendingProfile,
    day: int,
    rate: Floats,
) -> Block:
    """Merchant payments at ``rate`` per user (activity, weekend and bursts already applied)."""
    mu = np.repeat(np.arange(users.n), rng.poisson(rate))
    risky = rng.random(len(mu)) < users.risky_share[mu]
    cats = np.where(
        risky,
        profile.risky_cats[rng.choice(len(profile.risky_cats), size=len(mu), p=profile.risky_p)],
        rng.choice(len(MCCS), size=len(mu), p=profile.safe_p),
    )
    usd = profile.median[cats] * rng.lognormal(0, 0.8, len(mu)) * profile.ticket_scale[mu]
    asset = spend_asset(rng, users, mu)
    sec = times_of_day(rng, users, mu)
    merchant = pick_merchants(rng, merchants, cats, day)
    tx = np.full(len(mu), TX["merchant_payment"])
    return Block(mu, tx, asset, usd, sec, merchant=merchant)


def p2p_transfers(rng: np.random.Generator, users: Users, burst_mult: Ints) -> Block:
    """Transfers to a friend 1-20 social ranks away (never to oneself)."""
    n = users.n
    pu = np.repeat(np.arange(n), rng.poisson(0.17 * users.activity * np.sqrt(burst_mult)))
    offs = rng.integers(1, 21, len(pu)) * np.where(rng.random(len(pu)) < 0.5, -1, 1)
    cp = users.friend_rank[np.clip(users.rank_of[pu] + offs, 0, n - 1)]
    step_back = np.clip(users.rank_of[pu] - np.sign(offs), 0, n - 1)
    cp = np.where(cp == pu, users.friend_rank[step_back], cp)
    if n > 1:
        cp = np.where(cp == pu, (pu + 1) % n, cp)
    usd = 40.0 * np.sqrt(users.income[pu] / 900.0) * rng.lognormal(0, 1.0, len(pu))
    asset = spend_asset(rng, users, pu)
    sec = times_of_day(rng, users, pu)
    return Block(pu, np.full(len(pu), TX["p2p_transfer"]), asset, usd, sec, cp_user=cp)


def cross_border_payments(rng: np.random.Generator, users: Users) -> Block:
    """Payments abroad in USDT or USDC, with a country code (an index into the normal corridors
    followed by the risky ones)."""
    xu = np.repeat(np.arange(users.n), rng.poisson(users.xb_rate * users.activity))
    risky_c = rng.random(len(xu)) < np.clip(users.risky_share[xu] * 3, 0, 0.8)
    country = np.where(
        risky_c,
        len(XB_COUNTRIES_NORMAL) + rng.integers(0, len(XB_COUNTRIES_RISKY), len(xu)),
        rng.integers(0, len(XB_COUNTRIES_NORMAL), len(xu)),
    )
    usd = 120.0 * np.sqrt(users.income[xu] / 900.0) * rng.lognormal(0, 0.9, len(xu))
    asset = np.where(rng.random(len(xu)) < 0.7, USDT, USDC)
    sec = times_of_day(rng, users, xu)
    tx = np.full(len(xu), TX["cross_border_payment"])
    return Block(xu, tx, asset, usd, sec, country=country)
