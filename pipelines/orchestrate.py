"""Materialise the whole asset graph in-process, in the order DuckDB's single writer needs."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg
import duckdb
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from assets.ingest import landing_files
from ledger.ingest import discover
from ledger.contract import REFERENCE_ENTITIES
from pipelines.settings import Home

TRANSACTIONS_KEY = dg.AssetKey(["ledger", "transactions"])
REFERENCE_KEYS = [dg.AssetKey(["ledger", entity]) for entity in REFERENCE_ENTITIES]


# The CLI prints its own summary; Dagster's per-event log stays in the instance (and the UI).
LOG_LEVEL = os.environ.get("LEDGERLENS_LOG_LEVEL", "WARNING")


class RunFailed(RuntimeError):
    """A step or a blocking asset check failed; the message says which and why."""


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection,
    tags: dict[str, str] | None = None,
) -> list[str]:
    """Run the selection; raise RunFailed on a failed step or blocking check, else return the
    failed non-blocking checks."""
    job = dg.define_asset_job("ledgerlens_run", selection=selection)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(job.name)
    result = resolved.execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": LOG_LEVEL}}}},
        instance=instance,
        tags=tags,
        raise_on_error=False,
    )
    evaluations = result.get_asset_check_evaluations()
    # A failed blocking check (leak guard, row reconciliation, GX suite) fails the run; other
    # failed checks (drift, fairness, rejected files) are reported in the summary.
    blocking_failures = [
        f"{e.asset_key.to_user_string()}:{e.check_name}"
        for e in evaluations
        if not e.passed and e.blocking and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    if not result.success:
        failures = [
            f"{ev.step_key}: {_root_cause(ev.event_specific_data.error)}"  # type: ignore[union-attr]
            for ev in result.all_events
            if ev.is_step_failure and ev.event_specific_data is not None
        ]
        raise RunFailed("; ".join(failures) or "see the Dagster run log")
    if blocking_failures:
        raise RunFailed("blocking checks failed: " + ", ".join(blocking_failures))
    return [
        f"{e.asset_key.to_user_string()}:{e.check_name} ({e.severity.value.lower()})"
        for e in evaluations
        if not e.passed
    ]


def _root_cause(error: Any) -> str:
    """The innermost error's message: what actually went wrong, not Dagster's wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return " ".join(error.message.strip().split())


def materialise_all(home: Home) -> list[str]:
    """Reference data, then every landed day (one single-run backfill), then everything else.

    Returns the failed non-blocking checks (drift, fairness, rejected files) for the summary.
    """
    from pipelines.definitions import build_definitions

    os.environ["LEDGERLENS_WAREHOUSE"] = str(home.warehouse)  # read by dbt's profiles.yml
    defs = build_definitions(home)
    instance = dg.DagsterInstance.get()
    days = [f.path.name for f in discover(home.landing, ["transactions"])]
    known = set(instance.get_dynamic_partitions(landing_files.name))
    new = [d for d in days if d not in known]
    if new:
        instance.add_dynamic_partitions(landing_files.name, new)
    failed = _execute(defs, instance, dg.AssetSelection.assets(*REFERENCE_KEYS))
    if days:
        ordered = instance.get_dynamic_partitions(landing_files.name)
        failed += _execute(
            defs,
            instance,
            dg.AssetSelection.assets(TRANSACTIONS_KEY),
            tags={
                ASSET_PARTITION_RANGE_START_TAG: ordered[0],
                ASSET_PARTITION_RANGE_END_TAG: ordered[-1],
            },
        )
    rest = dg.AssetSelection.all() - dg.AssetSelection.assets(TRANSACTIONS_KEY, *REFERENCE_KEYS)
    return failed + _execute(defs, instance, rest)


def summary(home: Home) -> dict[str, Any]:
    """What the run read, loaded, quarantined and wrote, read back from the warehouse."""
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        files = con.execute(
            """SELECT entity, status, count(*), sum(rows_read), sum(rows_loaded),
                      sum(rows_quarantined)
               FROM ledger.files GROUP BY entity, status ORDER BY entity, status"""
        ).fetchall()
        rejected = [
            r[0]
            for r in con.execute(
                "SELECT error FROM ledger.files WHERE status = 'rejected' ORDER BY file_path"
            ).fetchall()
        ]
        tables = con.execute(
            """SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables()
               WHERE schema_name NOT IN ('main') ORDER BY 1"""
        ).fetchall()
        outputs: list[tuple[str, int]] = []
        for name, _ in tables:
            count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            outputs.append((name, int(count[0]) if count else 0))
    finally:
        con.close()
    outputs += [
        (str(p.relative_to(home.root)), p.stat().st_size)
        for p in sorted(home.out.rglob("*"))
        if p.is_file()
    ]
    return {
        "files": [
            tuple(int(v) if v is not None and i > 1 else v for i, v in enumerate(row))
            for row in files
        ],
        "rejected": rejected,
        "outputs": outputs,
    }
