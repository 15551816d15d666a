"""On-chain wallets of users (one per chain held, 1-3 chains each) and the pool of external
addresses that top-ups come from and withdrawals go to.

Every address is valid for its chain: EIP-55 checksummed on ETH, base58check on TRON, bech32
P2WPKH on BTC. Wallet ids are ``W<user number>-<chain>``; a wallet's creation date falls between
the user's signup and the start of the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ledger import contract
from ledger.identifiers import bech32_encode, to_eip55, tron_address_from_bytes
from ledger.synthetic import arrays
from ledger.synthetic.arrays import Bools, Ints
from ledger.synthetic.config import GeneratorConfig
from ledger.synthetic.reference import CH_ETH, CH_TRON
from ledger.synthetic.users import Users

EXTERNAL_PER_CHAIN = 400


@dataclass
class Wallets:
    has_chain: Bools  # users x chains
    table: pa.Table
    id_pool: pa.Array  # wallet id of (user, chain) at index user * 3 + chain, held or not

    @property
    def n_chain(self) -> Ints:
        """Number of chains each user holds."""
        out: Ints = self.has_chain.sum(axis=1)
        return out


@dataclass
class ExternalAddresses:
    pool: pa.Array  # EXTERNAL_PER_CHAIN addresses per chain, chain by chain
    per_chain: int


def address(chain: int, raw: bytes) -> str:
    """The chain's text form of the 20-byte account hash ``raw``."""
    if chain == CH_ETH:
        return to_eip55("0x" + raw.hex())
    if chain == CH_TRON:
        return tron_address_from_bytes(raw)
    return bech32_encode("bc", 0, raw)


def _chains_held(rng: np.random.Generator, is_cn: Bools) -> Bools:
    """1-3 chains per user; CN users favour TRON (USDT-TRC20), en users ETH."""
    n = len(is_cn)
    k = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    pref = np.where(is_cn[:, None], [[0.35, 0.5, 0.15]], [[0.55, 0.2, 0.25]])
    # Exponential race: a weighted order of the chains without replacement.
    keys = -arrays.log(rng.random((n, 3))) / pref
    order = np.argsort(keys, axis=1)
    has = np.zeros((n, 3), dtype=bool)
    for j in range(3):
        sel = k > j
        has[np.nonzero(sel)[0], order[sel, j]] = True
    return has


def make_wallets(cfg: GeneratorConfig, users: Users, rng: np.random.Generator) -> Wallets:
    n = users.n
    has = _chains_held(rng, users.is_cn)
    raw = rng.bytes(20 * 3 * n)
    signup = np.array(
        users.table.column("signup_date").to_numpy(zero_copy_only=False), dtype="datetime64[D]"
    )
    span = (np.datetime64(cfg.start, "D") - signup).astype(np.int64)
    created_off = (rng.random((n, 3)) * span[:, None]).astype(np.int64)
    wid_pool = [f"W{u + 1:07d}-{contract.CHAINS[c]}" for u in range(n) for c in range(3)]
    rows_u, rows_c = np.nonzero(has)
    wallet_ids, user_ids, chains, addrs, created = [], [], [], [], []
    for u, c in zip(rows_u.tolist(), rows_c.tolist(), strict=True):
        off = (u * 3 + c) * 20
        wallet_ids.append(wid_pool[u * 3 + c])
        user_ids.append(f"U{u + 1:07d}")
        chains.append(contract.CHAINS[c])
        addrs.append(address(c, raw[off : off + 20]))
        created.append(signup[u] + created_off[u, c])
    table = pa.table(
        {
            "wallet_id": pa.array(wallet_ids, pa.string()),
            "user_id": pa.array(user_ids, pa.string()),
            "chain": pa.array(chains, pa.string()),
            "address": pa.array(addrs, pa.string()),
            "created_date": pa.array(np.array(created, dtype="datetime64[D]"), pa.date32()),
        }
    )
    return Wallets(has, table, pa.array(wid_pool, pa.string()))


def make_external_addresses(rng: np.random.Generator) -> ExternalAddresses:
    pools = []
    for c in range(len(contract.CHAINS)):
        raw = rng.bytes(20 * EXTERNAL_PER_CHAIN)
        pools.append(
            pa.array(
                [address(c, raw[20 * i : 20 * i + 20]) for i in range(EXTERNAL_PER_CHAIN)],
                pa.string(),
            )
        )
    return ExternalAddresses(pa.concat_arrays(pools), EXTERNAL_PER_CHAIN)
