"""Run the ``ledgerlens`` job in-process (the CLI's ``run``) and read back what it did.

The job is the asset graph itself: Dagster orders the steps by their dependencies. Landed day
files become partitions first (the same helper the landing sensor uses) and the run covers every
partition as one single-run backfill.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import duckdb

from assets.partitions import landing_files, register_landed_files
from ledger.home import Home
from pipelines.definitions import build_definitions
from pipelines.jobs import TRANSACTIONS_KEY, ledgerlens_job
from pipelines.settings import Settings

# Dagster's documented run tags for a single run over a range of partitions.
PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"


@dataclass
class RunOutcome:
    """What a run did: failures (step or blocking check), failed non-blocking checks, and the
    stages that could not run with their reasons."""

    run_id: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _root_cause(error: Any) -> str:
    """The innermost error's message: what actually went wrong, not Dagster's wrapper."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return " ".join(str(getattr(error, "message", error)).strip().split())


def run_pipeline(settings: Settings, instance: dg.DagsterInstance) -> RunOutcome:
    """Materialise every asset of the home once, in dependency order."""
    defs = build_definitions(settings)
    register_landed_files(instance, settings.home.landing)
    partitions = instance.get_dynamic_partitions(landing_files.name)
    job = defs.resolve_job_def(ledgerlens_job.name)
    kwargs: dict[str, Any] = {}
    if partitions:
        kwargs["tags"] = {
            PARTITION_RANGE_START_TAG: partitions[0],
            PARTITION_RANGE_END_TAG: partitions[-1],
        }
    else:  # no transactions landed: everything else still builds, from the reference data
        graph = defs.resolve_asset_graph()
        kwargs["asset_selection"] = sorted(
            (
                k
                for k in graph.get_all_asset_keys()
                if k != TRANSACTIONS_KEY and graph.get(k).is_materializable
            ),
            key=lambda k: k.to_user_string(),
        )
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": settings.log_level}}}},
        **kwargs,
    )
    return _outcome(result)


def _outcome(result: dg.ExecuteInProcessResult) -> RunOutcome:
    outcome = RunOutcome(run_id=result.run_id)
    for event in result.all_events:
        if event.is_step_failure and event.event_specific_data is not None:
            error = event.event_specific_data.error  # type: ignore[union-attr]
            outcome.failures.append(f"{event.step_key}: {_root_cause(error)}")
        elif event.is_step_materialization:
            mat = event.step_materialization_data.materialization  # type: ignore[union-attr]
            status = mat.metadata.get("status")
            if status is not None and getattr(status, "value", status) == "skipped":
                reason = mat.metadata.get("reason")
                outcome.skipped.append(
                    f"{mat.asset_key.to_user_string()}: {getattr(reason, 'value', reason)}"
                )
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.blocking and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            outcome.failures.append(f"blocking check failed: {name}")
        else:
            outcome.warnings.append(f"{name} ({evaluation.severity.value.lower()})")
    return outcome


def summary(home: Home) -> dict[str, Any]:
    """What the warehouse holds after a run, and every file released to a party."""
    if not home.warehouse.exists():
        return {"files": [], "rejected": [], "outputs": []}
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
            """SELECT schema_name || '.' || table_name FROM duckdb_tables()
               WHERE schema_name NOT IN ('main') ORDER BY 1"""
        ).fetchall()
        outputs: list[tuple[str, int]] = []
        for (name,) in tables:
            count = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            outputs.append((name, int(count[0]) if count else 0))
    finally:
        con.close()
    # Folders with many files (a folder per subject, one OpenLineage event per job) are counted.
    by_folder: dict[str, list[tuple[str, int]]] = {}
    for p in sorted(home.out.rglob("*")):
        if p.is_file():
            rel = p.relative_to(home.root)
            depth = 2 if rel.parts[1:2] == ("subjects",) else 3
            folder = "/".join(rel.parts[:depth]) if len(rel.parts) > depth else str(rel.parent)
            by_folder.setdefault(folder, []).append((str(rel), p.stat().st_size))
    for folder, listed in by_folder.items():
        if len(listed) > 8:
            outputs.append((f"{folder}/ ({len(listed):,} files, bytes)", sum(b for _, b in listed)))
        else:
            outputs += listed
    return {
        "files": [
            tuple(int(v) if v is not None and i > 1 else v for i, v in enumerate(row))
            for row in files
        ],
        "rejected": rejected,
        "outputs": outputs,
    }
