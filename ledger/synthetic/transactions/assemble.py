"""Turn the day's blocks into the transactions table: sort by time, price amounts in asset units,
charge fees, number the rows, and resolve codes to the strings of the contract.

Invariants: rows are sorted by (second of day, user), stably, so block order breaks ties;
``txn_id`` is ``T<YYYYMMDD><row:07d>``; amounts are rounded to the asset's decimals and at least
one smallest unit; fees are charged on withdrawals (fixed per chain + 0.1%), cross-border payments
(1.5%), swaps (0.3%) and loan disbursements (1%), never negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ledger import contract
from ledger.synthetic.arrays import Floats, Ints
from ledger.synthetic.network import ip_strings, uuid4_strings
from ledger.synthetic.reference import (
    ASSET_DECIMALS,
    PTS,
    TX,
    TX_DIRECTION_CODE,
    WITHDRAWAL_FIXED_FEE_USD,
    XB_COUNTRIES_NORMAL,
    XB_COUNTRIES_RISKY,
)
from ledger.synthetic.transactions.blocks import BLOCK_FIELDS, Block
from ledger.synthetic.transactions.world import World
from ledger.synthetic.users import Users
from ledger.synthetic.writers import TXN_ARROW_SCHEMA

_TX_POOL = pa.array(list(contract.TX_TYPES), pa.string())
_DIRECTION_POOL = pa.array(list(contract.DIRECTIONS), pa.string())
_ASSET_POOL = pa.array(list(contract.ASSETS), pa.string())
_COUNTRY_POOL = pa.array(list(XB_COUNTRIES_NORMAL + XB_COUNTRIES_RISKY), pa.string())
_FLOAT_FIELDS = {"usd": 0.0, "units": -1.0}  # float columns and their fill value
_POINTS_CAP_USD = 20.0


@dataclass
class _Columns:
    """All blocks' columns, concatenated and sorted; -1 where a block lacks the column."""

    user: Ints
    tx: Ints
    asset: Ints
    usd: Floats
    sec: Ints
    chain: Ints
    cp_user: Ints
    merchant: Ints
    loan: Ints
    to_asset: Ints
    country: Ints
    units: Floats


def _concat_sorted(blocks: list[Block]) -> _Columns:
    cols: dict[str, np.ndarray] = {}
    for name in BLOCK_FIELDS:
        fill, dtype = (_FLOAT_FIELDS[name], float) if name in _FLOAT_FIELDS else (-1, np.int64)
        parts = []
        for b in blocks:
            v = getattr(b, name)
            parts.append(np.full(len(b), fill, dtype=dtype) if v is None else np.asarray(v, dtype))
        cols[name] = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    order = np.lexsort((cols["user"], cols["sec"]))
    return _Columns(**{k: v[order] for k, v in cols.items()})


def _amounts_and_fees(c: _Columns, price: Floats) -> tuple[Floats, Floats]:
    """Amounts and fees in asset units, rounded to the asset's decimals."""
    # Reward points are only ever a small balance: cap what is paid or swapped in PTS.
    usd = np.where(
        (c.asset == PTS) & (c.tx != TX["reward_points"]), np.minimum(c.usd, _POINTS_CAP_USD), c.usd
    )
    scale = 10.0 ** ASSET_DECIMALS[c.asset]
    amount = np.where(c.units >= 0, c.units, usd / price)
    amount = np.maximum(np.round(amount * scale) / scale, 1.0 / scale)
    fee_usd = np.zeros(len(usd))
    is_w = c.tx == TX["withdrawal"]
    fee_usd[is_w] = WITHDRAWAL_FIXED_FEE_USD[c.chain[is_w]] + 0.001 * usd[is_w]
    is_x = c.tx == TX["cross_border_payment"]
    fee_usd[is_x] = 0.015 * usd[is_x]
    is_s = c.tx == TX["swap"]
    fee_usd[is_s] = 0.003 * usd[is_s]
    is_ld = c.tx == TX["loan_disbursement"]
    fee_usd[is_ld] = 0.01 * amount[is_ld] * price[is_ld]
    fee: Floats = np.round(fee_usd / price * scale) / scale
    return amount, fee


def _counterparty_index(rng: np.random.Generator, world: World, c: _Columns) -> Ints:
    """Index into users followed by external addresses: the p2p receiver, or for top-ups and
    withdrawals an address on the wallet's chain (half the time one of the chain's 20 busiest)."""
    per_chain = world.external.per_chain
    n = len(c.user)
    ext_i = c.chain * per_chain + np.where(
        rng.random(n) < 0.5, rng.integers(0, 20, n), rng.integers(0, per_chain, n)
    )
    out: Ints = np.where(
        c.cp_user >= 0, c.cp_user, np.where(c.chain >= 0, world.users.n + ext_i, -1)
    )
    return out


def _devices_and_ips(
    rng: np.random.Generator, users: Users, user: Ints
) -> tuple[pa.Array, pa.Array]:
    """The user's primary device and IP most of the time, a fresh one with the user's churn
    probability (higher for risky users)."""
    new_dev = rng.random(len(user)) < users.dev_p[user]
    new_ip = rng.random(len(user)) < users.ip_p[user]
    k_dev, k_ip = int(new_dev.sum()), int(new_ip.sum())
    fresh_dev = pa.array(uuid4_strings(rng, k_dev), pa.string())
    fresh_ip = pa.array(ip_strings(rng, users.is_cn[user[new_ip]], 0.1), pa.string())
    dev_idx = user.copy()
    dev_idx[new_dev] = users.n + np.arange(k_dev)
    ip_idx = user.copy()
    ip_idx[new_ip] = users.n + np.arange(k_ip)
    devices = _take(pa.concat_arrays([users.devices, fresh_dev]), dev_idx)
    return devices, _take(pa.concat_arrays([users.ips, fresh_ip]), ip_idx)


def _take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
    """``pool[idx]`` with null where ``idx`` is negative."""
    return pool.take(pa.array(idx, mask=idx < 0))


def assemble(
    world: World, d: int, rng: np.random.Generator, blocks: list[Block]
) -> tuple[pa.Table, Ints]:
    """The transactions table of day ``d`` (``TXN_ARROW_SCHEMA``) and its tx-type codes."""
    users = world.users
    c = _concat_sorted(blocks)
    amount, fee = _amounts_and_fees(c, world.prices.base[d, c.asset])
    start_s = world.cfg.day_start_seconds(d)
    ts = pc.strftime(pa.array(start_s + c.sec, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%SZ")
    ymd = world.cfg.day(d).strftime("%Y%m%d")
    cp_idx = _counterparty_index(rng, world, c)
    devices, ips = _devices_and_ips(rng, users, c.user)
    wallet_idx = np.where(c.chain >= 0, c.user * 3 + c.chain, -1)
    table = pa.table(
        {
            "txn_id": pa.array([f"T{ymd}{i:07d}" for i in range(len(c.user))], pa.string()),
            "occurred_at": ts,
            "user_id": _take(users.ids, c.user),
            "wallet_id": _take(world.wallets.id_pool, wallet_idx),
            "tx_type": _take(_TX_POOL, c.tx),
            "direction": _take(_DIRECTION_POOL, TX_DIRECTION_CODE[c.tx]),
            "asset": _take(_ASSET_POOL, c.asset),
            "amount": pa.array(amount, pa.float64()),
            "fee": pa.array(fee, pa.float64()),
            "counterparty": _take(pa.concat_arrays([users.ids, world.external.pool]), cp_idx),
            "merchant_id": _take(world.merchants.ids, c.merchant),
            "loan_id": _take(world.loans.ids, c.loan),
            "to_asset": _take(_ASSET_POOL, c.to_asset),
            "country": _take(_COUNTRY_POOL, c.country),
            "device_id": devices,
            "ip_address": ips,
        },
        schema=TXN_ARROW_SCHEMA,
    )
    return table, c.tx
