"""Ingest assets: landing files -> typed, validated ``ledger.*`` tables and the quarantine."""

from typing import Any

import dagster as dg

from assets.partitions import landing_files
from assets.resources import DUCKDB_POOL, LedgerHome
from ledger.contract import ENTITIES, REFERENCE_ENTITIES
from ledger.ingest import BlockingCheckFailed, IngestReport, ingest, landing_file
from privacy.archive import archive_landed
from privacy.at_rest import LedgerProtector
from privacy.audit import append_events
from privacy.audit_events import ingest_events, run_actor

RECONCILED_CHECK = "rows_reconcile"
GX_SUITE_CHECK = "gx_suite_passes"
NO_REJECTED_FILES_CHECK = "no_rejected_files"
FILES_PRESENT_CHECK = "landed_files_present"


def ledger_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["ledger", entity])


def _checks(entity: str) -> list[dg.AssetCheckSpec]:
    key = ledger_key(entity)
    return [
        dg.AssetCheckSpec(
            RECONCILED_CHECK,
            asset=key,
            description="rows read = rows loaded + rows quarantined, from what was written "
            "(enforced before commit)",
            blocking=True,
        ),
        dg.AssetCheckSpec(
            GX_SUITE_CHECK,
            asset=key,
            description="Great Expectations second opinion: referential integrity and per-day "
            "volume block the commit; freshness, type mix and empty batches warn",
        ),
        dg.AssetCheckSpec(
            NO_REJECTED_FILES_CHECK,
            asset=key,
            description="every landed file could be parsed (rejected files are named)",
            blocking=False,
        ),
        dg.AssetCheckSpec(
            FILES_PRESENT_CHECK,
            asset=key,
            description="every landed file still exists (a vanished file keeps its rows)",
            blocking=False,
        ),
    ]


def _report_results(
    con: Any, report: IngestReport, entity: str
) -> tuple[dict[str, Any], list[dg.AssetCheckResult]]:
    """Metadata and check results for one entity of an ingest report."""
    files = [f for f in report.files if f.entity == entity]
    new = [f for f in files if f.status == "loaded"]
    rejected = [f for f in files if f.status == "rejected"]
    missing = [f for f in files if f.status == "missing"]
    read = sum(f.rows_read for f in new)
    loaded = sum(f.rows_loaded for f in new)
    quarantined = sum(f.rows_quarantined for f in new)
    unbalanced = [f.relpath for f in new if f.rows_read != f.rows_loaded + f.rows_quarantined]
    suite = next((s for s in report.suite if s.entity == entity), None)
    rules = dict(
        con.execute(
            "SELECT rule, count(*) FROM (SELECT unnest(failed_rules) AS rule "
            "FROM ledger.quarantine WHERE entity = ? AND snapshot_id = ?) GROUP BY rule",
            [entity, report.snapshot_id],
        ).fetchall()
    )
    key = ledger_key(entity)
    metadata: dict[str, Any] = {
        "snapshot_id": report.snapshot_id or "unchanged",
        "files loaded": len(new),
        "files unchanged": sum(f.status == "unchanged" for f in files),
        "files rejected": len(rejected),
        "files missing": len(missing),
        "rows read": read,
        "rows loaded": loaded,
        "rows quarantined": quarantined,
        "quarantine by rule": dg.MetadataValue.json(rules),
        "protected at rest (batch)": dg.MetadataValue.json(report.protected),
        "dagster/row_count": con.execute(f"SELECT count(*) FROM ledger.{entity}").fetchone()[0],
    }
    checks = [
        dg.AssetCheckResult(
            check_name=RECONCILED_CHECK,
            asset_key=key,
            passed=not unbalanced,
            metadata={
                "read": read,
                "loaded": loaded,
                "quarantined": quarantined,
                "unbalanced files": ", ".join(unbalanced) or "none",
            },
        ),
        dg.AssetCheckResult(
            check_name=GX_SUITE_CHECK,
            asset_key=key,
            passed=suite is None or suite.success,
            severity=dg.AssetCheckSeverity.WARN,
            metadata=suite.as_metadata() if suite else {"expectations": "none for this batch"},
        ),
        dg.AssetCheckResult(
            check_name=NO_REJECTED_FILES_CHECK,
            asset_key=key,
            passed=not rejected,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rejected": dg.MetadataValue.md(
                    "\n".join(f"- {f.error}" for f in rejected) or "none"
                )
            },
        ),
        dg.AssetCheckResult(
            check_name=FILES_PRESENT_CHECK,
            asset_key=key,
            passed=not missing,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "missing": dg.MetadataValue.md(
                    "\n".join(f"- {f.relpath}: {f.notes}" for f in missing) or "none"
                )
            },
        ),
    ]
    return metadata, checks


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            ledger_key(entity),
            description=ENTITIES[entity].description,
            group_name="ledger",
            kinds={"duckdb"},
            owners=["team:data-platform"],
        )
        for entity in REFERENCE_ENTITIES
    ],
    check_specs=[spec for entity in REFERENCE_ENTITIES for spec in _checks(entity)],
    pool=DUCKDB_POOL,
)
def ledger_reference(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Users, wallets, merchants, prices and loans from landing, validated and typed."""
    with ledger_home.connect() as con:
        report = _ingest(con, ledger_home, context.run.run_id, entities=REFERENCE_ENTITIES)
        for entity in REFERENCE_ENTITIES:
            metadata, checks = _report_results(con, report, entity)
            yield dg.MaterializeResult(asset_key=ledger_key(entity), metadata=metadata)
            yield from checks
    context.log.info(
        f"reference ingest: {report.rows_loaded} rows loaded, {report.rows_quarantined} quarantined"
    )


@dg.asset(
    key=ledger_key("transactions"),
    partitions_def=landing_files,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        ledger_key("users"),
        ledger_key("wallets"),
        ledger_key("merchants"),
        ledger_key("prices"),
        ledger_key("loans"),
    ],
    check_specs=_checks("transactions"),
    group_name="ledger",
    kinds={"duckdb"},
    owners=["team:data-platform"],
    pool=DUCKDB_POOL,
)
def ledger_transactions(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """The wallet ledger, one partition per landed day file; bad rows go to ledger.quarantine."""
    home = ledger_home.home
    folder = home.landing / "transactions"
    files = [
        landing_file(home.landing, folder / name, "transactions")
        for name in sorted(context.partition_keys)
    ]
    with ledger_home.connect() as con:
        # A partition whose file vanished is reported by ingest (files missing), never raised.
        report = _ingest(con, ledger_home, context.run.run_id, only=files)
        metadata, checks = _report_results(con, report, "transactions")
    yield dg.MaterializeResult(metadata=metadata)
    yield from checks


def _ingest(con: Any, ledger_home: LedgerHome, run_id: str, **kwargs: Any) -> IngestReport:
    """Ingest with at-rest protection in the same transaction (identifiers into the vault, tokens
    in the ledger, quarantined records sealed), then, under ``landing.retention: archive``, move
    the loaded files into the encrypted archive, then audit the committed batch (snapshot,
    files, row counts, protection counts). A failed blocking check becomes a Dagster failure
    naming checks, files and rows (the ledger is unchanged, no value of a row is shown).
    """
    keyvault = ledger_home.keyvault(con)
    home = ledger_home.home
    try:
        report = ingest(con, home.landing, protect=LedgerProtector(keyvault), **kwargs)
    except BlockingCheckFailed as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={f.check: f"{f.entity}: {f.detail}" for f in exc.failures},
        ) from None
    if ledger_home.policy.landing_retention == "archive":
        entities = sorted({f.entity for f in report.files} | set(kwargs.get("entities") or ()))
        moved = archive_landed(con, keyvault, home.landing, home.archive, entities)
        report.protected["files moved to the encrypted archive"] = len(moved.archived)
        if moved.removed_copies:
            report.protected["landed copies of archived files removed"] = len(moved.removed_copies)
    append_events(con, ingest_events(report, actor=run_actor(run_id)))
    return report
