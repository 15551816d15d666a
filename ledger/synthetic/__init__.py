"""Deterministic synthetic wallet-ledger generator.

Writes a landing folder that follows :mod:`ledger.contract` (reference entities as one Parquet
file each, one transaction file per day) and a ``truth/`` folder beside it with what the pipeline
must never see: each user's latent creditworthiness, each loan's true default probability and
outcome, and the list of deliberately dirty transaction rows.

Everything is driven by one seed: numpy ``default_rng`` streams per stage (and per day) plus
seeded Faker instances, so the same seed and config give byte-identical files (for the pinned
numpy, pyarrow and Faker).

The latent creditworthiness ``z`` (standard normal, higher = better) drives the ledger behaviour
that a model can learn from: income regularity and level, balances, the share of risky merchant
categories (gambling, quasi-cash, wire), night-time activity and velocity bursts, cross-border
payments, device and IP changes, loan appetite and, through the true PD, loan repayment.

Modules, by what they make: ``reference`` (static tables and codes), ``users``, ``wallets``
(and external addresses), ``merchants``, ``prices``, ``loans`` (with ``latent``, the PD model),
``transactions`` (one day at a time, by type), ``defects`` (planted dirty rows), ``writers``
(files), ``landing`` (the entry point).
"""

from ledger.synthetic.config import GenerationSummary, GeneratorConfig, transactions_file_format
from ledger.synthetic.defects import DIRTY_KINDS, dirt_base_rows
from ledger.synthetic.landing import generate
from ledger.synthetic.reference import MCC_RISK_LEVELS

__all__ = [
    "DIRTY_KINDS",
    "MCC_RISK_LEVELS",
    "GenerationSummary",
    "GeneratorConfig",
    "dirt_base_rows",
    "generate",
    "transactions_file_format",
]
