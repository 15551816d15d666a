"""A sensor on landing/: new day files become partitions and are ingested; changed reference files
are ingested. Everything downstream follows by the assets' automation conditions."""

from __future__ import annotations

import hashlib

import dagster as dg

from assets.partitions import landing_files, new_partition_keys
from assets.resources import LedgerHome
from ledger.contract import REFERENCE_ENTITIES
from ledger.ingest import discover
from pipelines.jobs import REFERENCE_KEYS, ingest_reference_job, ingest_transactions_job


def _reference_cursor(ledger_home: LedgerHome) -> str:
    """Identity of the reference files as landed: path, size and modification time of each."""
    files = discover(ledger_home.home.landing, REFERENCE_ENTITIES)
    listing = ",".join(
        sorted(f"{f.relpath}:{f.path.stat().st_size}:{f.path.stat().st_mtime_ns}" for f in files)
    )
    return hashlib.sha256(listing.encode()).hexdigest()[:16] if files else ""


def _reference_ingested_since_landing(
    context: dg.SensorEvaluationContext, home: LedgerHome
) -> bool:
    """On a first evaluation (no cursor): were the reference files already ingested after they
    landed? Then starting the daemon requests nothing."""
    files = discover(home.home.landing, REFERENCE_ENTITIES)
    event = context.instance.get_latest_materialization_event(REFERENCE_KEYS[0])
    if event is None or not files:
        return False
    newest = max(f.path.stat().st_mtime for f in files)
    return event.timestamp >= newest


@dg.sensor(
    jobs=[ingest_transactions_job, ingest_reference_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_sensor(context: dg.SensorEvaluationContext, ledger_home: LedgerHome):
    """Register new landing files as partitions and request their ingest; nothing if unchanged."""
    new_days = new_partition_keys(context.instance, ledger_home.home.landing)
    cursor = _reference_cursor(ledger_home)
    runs = [
        dg.RunRequest(
            run_key=f"transactions:{name}",
            partition_key=name,
            job_name=ingest_transactions_job.name,
        )
        for name in new_days
    ]
    changed = cursor and cursor != (context.cursor or "")
    if changed and not (
        context.cursor is None and _reference_ingested_since_landing(context, ledger_home)
    ):
        runs.insert(
            0, dg.RunRequest(run_key=f"reference:{cursor}", job_name=ingest_reference_job.name)
        )
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[landing_files.build_add_request(new_days)] if new_days else [],
        cursor=cursor,
    )
