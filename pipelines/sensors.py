"""A sensor on landing/: new transaction files become partitions and are ingested."""

import hashlib

import dagster as dg

from assets.ingest import landing_files
from ledger.ingest import discover
from ledger.contract import REFERENCE_ENTITIES
from assets.resources import LedgerHome

ingest_transactions_job = dg.define_asset_job(
    "ingest_transactions",
    selection=dg.AssetSelection.assets(dg.AssetKey(["ledger", "transactions"])),
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference",
    selection=dg.AssetSelection.assets(
        *(dg.AssetKey(["ledger", entity]) for entity in REFERENCE_ENTITIES)
    ),
)


@dg.sensor(
    jobs=[ingest_transactions_job, ingest_reference_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_sensor(context: dg.SensorEvaluationContext, ledger_home: LedgerHome):
    """Register new landing files as partitions and request their ingest."""
    landing = ledger_home.home.landing
    known = set(context.instance.get_dynamic_partitions(landing_files.name))
    new_days = [f.path.name for f in discover(landing, ["transactions"])]
    new_days = [name for name in new_days if name not in known]
    reference = discover(landing, REFERENCE_ENTITIES)
    cursor = ",".join(sorted(f"{f.relpath}:{f.path.stat().st_mtime_ns}" for f in reference))
    runs: list[dg.RunRequest] = [
        dg.RunRequest(partition_key=name, job_name=ingest_transactions_job.name)
        for name in new_days
    ]
    if reference and cursor != (context.cursor or ""):
        runs.insert(
            0,
            dg.RunRequest(
                run_key=hashlib.sha256(cursor.encode()).hexdigest()[:16],
                job_name=ingest_reference_job.name,
            ),
        )
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[landing_files.build_add_request(new_days)] if new_days else [],
        cursor=cursor,
    )
