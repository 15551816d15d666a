"""On-chain flows through a user's wallet: top-ups (salary-like on pay day for regular earners,
irregular otherwise) and withdrawals. Both pick one of the chains the user holds and an asset
that chain carries."""

from __future__ import annotations

from datetime import date

import numpy as np

from ledger.synthetic.arrays import Floats, Ints
from ledger.synthetic.reference import BTC, CH_ETH, CH_TRON, CNHC, ETH, TRX, TX, USDC, USDT
from ledger.synthetic.transactions.blocks import Block, times_of_day
from ledger.synthetic.users import Users
from ledger.synthetic.wallets import Wallets


def wallet_chain(rng: np.random.Generator, wallets: Wallets, u: Ints) -> Ints:
    """A chain, uniformly among those each user in ``u`` holds."""
    k = (rng.random(len(u)) * wallets.n_chain[u]).astype(np.int64)
    cs = np.cumsum(wallets.has_chain[u], axis=1)
    out: Ints = np.argmax(cs > k[:, None], axis=1)
    return out


def chain_asset(rng: np.random.Generator, users: Users, u: Ints, chain: Ints) -> Ints:
    """The asset moved on ``chain``: mostly USDT/USDC on ETH (or ETH, or CNHC for CN users),
    USDT or TRX on TRON, BTC on BTC."""
    r = rng.random(len(u))
    cn = users.is_cn[u]
    eth_asset = np.where(
        r < 0.4,
        USDT,
        np.where(r < 0.65, USDC, np.where(r < 0.85, ETH, np.where(cn, CNHC, USDC))),
    )
    tron_asset = np.where(r < 0.85, USDT, TRX)
    out: Ints = np.where(chain == CH_ETH, eth_asset, np.where(chain == CH_TRON, tron_asset, BTC))
    return out


def top_ups(rng: np.random.Generator, users: Users, wallets: Wallets, day: date) -> Block:
    """Pay-day top-ups of regular earners (about their monthly income, 09-11h) first, then
    irregular top-ups."""
    n = users.n
    pay = users.regular & (users.payday == day.day)
    irr_rate = np.where(users.regular, 0.012, 0.1) * np.clip(users.activity, 0.5, 2.0)
    n_irr = rng.poisson(irr_rate)
    u = np.concatenate([np.nonzero(pay)[0], np.repeat(np.arange(n), n_irr)])
    n_pay = int(pay.sum())
    usd = np.empty(len(u))
    usd[:n_pay] = users.income[u[:n_pay]] * rng.normal(1.0, 0.03, n_pay)
    irr_u = u[n_pay:]
    usd[n_pay:] = np.where(
        users.regular[irr_u],
        users.income[irr_u] * rng.lognormal(-1.8, 0.7, len(irr_u)),
        users.income[irr_u] * 0.33 * rng.lognormal(-0.4, 0.9, len(irr_u)),
    )
    sec = times_of_day(rng, users, u)
    sec[:n_pay] = rng.integers(9 * 3600, 11 * 3600, n_pay)
    chain = wallet_chain(rng, wallets, u)
    asset = chain_asset(rng, users, u, chain)
    return Block(u, np.full(len(u), TX["top_up"]), asset, usd, sec, chain=chain)


def withdrawals(
    rng: np.random.Generator, users: Users, wallets: Wallets, available: Floats
) -> Block:
    """Withdrawals of 15-60% of what is available, only by users with more than 30 USD."""
    u = np.repeat(np.arange(users.n), rng.poisson(0.04 * np.clip(users.activity, 0.5, 2.0)))
    u = u[available[u] > 30]
    chain = wallet_chain(rng, wallets, u)
    usd = available[u] * rng.uniform(0.15, 0.6, len(u))
    asset = chain_asset(rng, users, u, chain)
    sec = times_of_day(rng, users, u)
    return Block(u, np.full(len(u), TX["withdrawal"]), asset, usd, sec, chain=chain)
