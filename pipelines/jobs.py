"""Jobs, defined once: the CLI and the UI (and the landing sensor) run these same definitions."""

from __future__ import annotations

import dagster as dg

from assets.ingest import ledger_key
from assets.insights import RELEASES_KEY, insights_release_job
from ledger.contract import REFERENCE_ENTITIES

TRANSACTIONS_KEY = ledger_key("transactions")
REFERENCE_KEYS = tuple(ledger_key(entity) for entity in REFERENCE_ENTITIES)

ingest_transactions_job = dg.define_asset_job(
    "ingest_transactions",
    selection=dg.AssetSelection.assets(TRANSACTIONS_KEY),
    description="Ingest landed transactions day files (one partition per file).",
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference",
    selection=dg.AssetSelection.assets(*REFERENCE_KEYS),
    description="Ingest users, wallets, merchants, prices and loans.",
)
ledgerlens_job = dg.define_asset_job(
    "ledgerlens",
    # A DP release is a sale: it runs only when asked for (its job takes report, buyer, period).
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(RELEASES_KEY),
    description=(
        "Every asset in dependency order: ingest every landed file (one single-run backfill of the "
        "day partitions), govern, model, score, price and publish through the gate."
    ),
)

JOBS = (ingest_transactions_job, ingest_reference_job, ledgerlens_job, insights_release_job)
