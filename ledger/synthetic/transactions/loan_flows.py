"""The day's loan disbursements and repayments, replayed from the events drawn with the loans
(amounts are already in asset units; no random draws here)."""

from __future__ import annotations

import numpy as np

from ledger.synthetic.arrays import Floats
from ledger.synthetic.loans import LoanEvent
from ledger.synthetic.transactions.blocks import Block


def loan_block(events: list[LoanEvent], prices_today: Floats) -> Block:
    """One row per event; ``usd`` values the units at today's price."""
    arr = np.array(events, dtype=float)
    asset = arr[:, 3].astype(np.int64)
    units = arr[:, 4]
    return Block(
        arr[:, 0].astype(np.int64),
        arr[:, 2].astype(np.int64),
        asset,
        units * prices_today[asset],
        arr[:, 5].astype(np.int64),
        loan=arr[:, 1].astype(np.int64),
        units=units,
    )
