"""A block: the transactions of one type drawn for one day, as parallel code arrays, plus the
time-of-day draw every type shares.

Optional columns are ``None`` for types that do not have them (a merchant only on merchant
payments, a chain only on top-ups and withdrawals, ...); assembly fills them with -1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ledger.synthetic.arrays import Floats, Ints
from ledger.synthetic.users import Users


@dataclass
class Block:
    """Columns of a batch of transactions before they become strings."""

    user: Ints
    tx: Ints
    asset: Ints
    usd: Floats  # amount in USD (converted to units at assembly unless ``units`` given)
    sec: Ints  # second of the day
    chain: Ints | None = None  # wallet chain (top-up / withdrawal)
    cp_user: Ints | None = None  # p2p counterparty
    merchant: Ints | None = None
    loan: Ints | None = None
    to_asset: Ints | None = None
    country: Ints | None = None
    units: Floats | None = None  # amount already in asset units (loans)

    def __len__(self) -> int:
        return len(self.user)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the rows where ``mask`` is false, in every column."""
        for name in BLOCK_FIELDS:
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, v[mask])


BLOCK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Block))


def times_of_day(rng: np.random.Generator, users: Users, u: Ints) -> Ints:
    """Second of the day for one transaction of each user in ``u``: a midday or an evening mode,
    or the night (00-06) with the user's night share."""
    n = len(u)
    night = rng.random(n) < users.night_share[u]
    day_mode = rng.random(n) < 0.45
    h = np.where(day_mode, rng.normal(12.5, 2.2, n), rng.normal(19.5, 2.0, n))
    h = np.clip(h, 6.0, 23.99)
    h = np.where(night, rng.uniform(0.0, 6.0, n), h)
    out: Ints = np.minimum((h * 3600).astype(np.int64), 86399)
    return out
