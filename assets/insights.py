"""Insight assets: the remaining privacy budgets of the data buyers, and DP releases from the
report catalogue run as a configured job (one release per run), staged for the publish gate.

Every input is insights-purpose minimised data (``minimised.insights_*``). Releases are charged
to ``insights.privacy_ledger``; every release and refusal is in the audit log. Files for a buyer
are staged under the run's ``staging/<run id>/buyers/<buyer>/<report>/<release id>/``, with the
issuer-signed ``attestation.json`` beside ``manifest.json`` (:mod:`privacy.dp.attestation`; a
release whose ledger snapshot has no committed Merkle root is refused before the charge); the gate
(``governance/release_manifest``) scans them and moves them into ``out/buyers/``.
"""

import dagster as dg

from assets.attestations import SNAPSHOT_COMMITMENT_KEY
from assets.dbt import asset_column_lineage
from assets.resources import DUCKDB_POOL, LedgerHome
from privacy.dp.attestation import (
    ATTESTATION_FILE,
    ReleaseAttestationError,
    code_version,
    issuer_from_vault,
)
from privacy.dp.base import latest_period
from privacy.dp.catalogue import load_catalogue
from privacy.dp.commands import REFUSALS, SELECTION_KEY_NAME, attested_release, budget_lines
from privacy.dp.outputs import write_release
from privacy.dpo.asset_lineage import release_columns
from zk.signatures import write_issuer_public_key

BUDGET_KEY = dg.AssetKey(["insights", "privacy_budget"])
RELEASES_KEY = dg.AssetKey(["insights", "releases"])
INSIGHT_TABLES = tuple(
    dg.AssetKey(["minimised", f"insights_{t}"])
    for t in ("transactions", "users", "merchants", "prices")
)

_COMMON = {"group_name": "insights", "owners": ["team:privacy"], "pool": DUCKDB_POOL}


@dg.asset(
    key=BUDGET_KEY,
    deps=list(INSIGHT_TABLES),
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.eager(),
    **_COMMON,
)
def privacy_budget(ledger_home: LedgerHome) -> dg.MaterializeResult:
    """Privacy budget (zCDP rho) spent and remaining per buyer and for all buyers together, per
    dataset period, from the persistent privacy-loss ledger."""
    catalogue = load_catalogue()
    with ledger_home.connect() as con:
        period = latest_period(con)
        lines = budget_lines(con, catalogue)
        if period is not None and period not in {b.period for b in lines}:
            lines += budget_lines(con, catalogue, period=period)
    table = "\n".join(
        ["| period | scope | budget rho | spent rho | remaining rho |", "|---|---|---|---|---|"]
        + [
            f"| {b.period} | {b.scope} | {b.budget_rho:g} | {b.spent_rho:g} | {b.remaining_rho:g} |"
            for b in lines
        ]
    )
    latest = {b.scope: b.remaining_rho for b in lines if b.period == period}
    return dg.MaterializeResult(
        metadata={
            "latest period": period or "none (no insights data yet)",
            "remaining rho (latest period)": dg.MetadataValue.json(latest),
            "global remaining rho (latest period)": latest.get("global", catalogue.global_rho),
            "budgets": dg.MetadataValue.md(table),
            "reports in the catalogue": len(catalogue.reports),
        }
    )


class InsightReleaseConfig(dg.Config):
    """One release: a catalogue report for a registered buyer over a dataset period
    (``YYYY-MM`` or ``YYYY-Qn``; default: the month of the latest insights data)."""

    report: str
    buyer: str
    period: str | None = None


@dg.asset(
    key=RELEASES_KEY,
    deps=[*INSIGHT_TABLES, SNAPSHOT_COMMITMENT_KEY],
    kinds={"duckdb", "parquet"},
    **_COMMON,
)
def insight_release(
    context: dg.AssetExecutionContext, config: InsightReleaseConfig, ledger_home: LedgerHome
) -> dg.MaterializeResult:
    """A differentially private release of one catalogue report for one buyer, charged to the
    privacy-loss ledger and staged for the publish gate (an identical re-request is served from
    the store, uncharged)."""
    catalogue = load_catalogue()
    with ledger_home.connect() as con:
        keyvault = ledger_home.keyvault(con)
        selection_key = keyvault.key(SELECTION_KEY_NAME)
        period = config.period or latest_period(con)
        if period is None:
            raise dg.Failure(description="no insights-purpose transactions: nothing to release")
        issuer = issuer_from_vault(keyvault)
        try:
            rel, attester = attested_release(
                con,
                catalogue,
                config.report,
                config.buyer,
                period,
                selection_key,
                issuer,
                actor=f"dagster run {context.run.run_id}",
            )
        except (*REFUSALS, ReleaseAttestationError) as exc:  # nothing was charged
            raise dg.Failure(description=f"release refused: {exc}") from None
        remaining = budget_lines(con, catalogue, config.buyer, period)
    folder = write_release(rel, ledger_home.stage(context.run.run_id, "buyers"), attester)
    # The buyer checks the attestation against the published issuer key: stage it beside.
    write_issuer_public_key(
        ledger_home.stage(context.run.run_id, "issuer") / "issuer_key.json", issuer
    )
    suppressed = sum(1 for s in rel.cells.column("suppressed").to_pylist() if s)
    return dg.MaterializeResult(
        metadata={
            "release id": rel.release_id,
            "report": rel.report_id,
            "buyer": rel.buyer,
            "period": rel.period,
            "charged": rel.charged,
            "rho": rel.entry.rho,
            "epsilon (delta)": f"{rel.entry.epsilon:.3f} ({rel.entry.delta:g})",
            "cells": rel.cells.num_rows,
            "suppressed cells": suppressed,
            "ledger entry": f"seq {rel.entry.seq}, {rel.entry.entry_hash[:16]}",
            "remaining rho": dg.MetadataValue.json({b.scope: b.remaining_rho for b in remaining}),
            "staged for the gate": str(folder.relative_to(ledger_home.home.staging)),
            "attestation": f"{ATTESTATION_FILE}: snapshot {attester.snapshot_id}, root "
            f"{attester.snapshot_root.hex()[:16]}, issuer key {issuer.key_id}",
            "code version": code_version(),
            **asset_column_lineage(
                release_columns(catalogue.report(rel.report_id), rel.cells.column_names)
            ),
        }
    )


insights_release_job = dg.define_asset_job(
    "insights_release",
    selection=dg.AssetSelection.assets(RELEASES_KEY).downstream(depth=1),
    description=(
        "One DP release from the report catalogue (config: report, buyer, period), charged to "
        "the privacy-loss ledger and staged; with the release listed in the gate's "
        "RELEASED_PRODUCTS, the publish gate runs after it in the same job."
    ),
)
