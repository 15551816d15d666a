"""Everything drawn before the first transaction day, which the days only read."""

from __future__ import annotations

from dataclasses import dataclass

from ledger.synthetic.config import GeneratorConfig
from ledger.synthetic.loans import LoanEvents
from ledger.synthetic.merchants import Merchants
from ledger.synthetic.prices import Prices
from ledger.synthetic.users import Users
from ledger.synthetic.wallets import ExternalAddresses, Wallets


@dataclass(frozen=True)
class World:
    cfg: GeneratorConfig
    users: Users
    wallets: Wallets
    external: ExternalAddresses
    merchants: Merchants
    prices: Prices
    loans: LoanEvents
