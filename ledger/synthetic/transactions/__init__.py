"""Transactions, one day at a time, split by what makes them.

``day`` carries the per-user balance and draws each type in a fixed order: top-ups
(``wallet_flows``), the day's loan events (``loan_flows``), merchant payments, p2p transfers and
cross-border payments (``spending``), withdrawals (``wallet_flows``), swaps and reward points
(``conversions``); ``assemble`` turns the blocks into the contract's table. Memory stays bounded
by one day of rows.
"""

from ledger.synthetic.transactions.day import DayGenerator
from ledger.synthetic.transactions.world import World

__all__ = ["DayGenerator", "World"]
