"""dbt models as Dagster assets: staging -> intermediate -> marts; dbt tests become asset checks.
Also the one way column lineage becomes Dagster metadata, for the dbt models and the Python
assets alike (:func:`asset_column_lineage`).

Each model's materialisation carries its column lineage as ``dagster/column_lineage`` (from the
SQL dbt compiled in that very run, :mod:`privacy.dpo.column_lineage`), or, where it is unknown,
``ledgerlens/column_lineage_unknown`` saying why: never silently absent. dagster-dbt's own
``fetch_column_metadata()`` is not used: it queries the warehouse through a second DuckDB
connection while the dbt process holds the file's write lock.
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from assets.dbt_project import dbt_project
from assets.resources import DUCKDB_POOL, LedgerHome
from privacy.dpo.column_lineage import (
    ColumnDeps,
    DbtColumnLineage,
    ModelColumns,
    compiled_sql_in,
    dbt_relation,
    relation_columns,
)

COLUMN_LINEAGE = "dagster/column_lineage"
COLUMN_LINEAGE_UNKNOWN = "ledgerlens/column_lineage_unknown"


class LedgerDbtTranslator(DagsterDbtTranslator):
    """Only what differs from the default: the group is the model's folder (staging, marts…),
    a source's key is the table it resolves to (``minimised/credit_transactions``), so dbt hangs
    off the minimisation assets that build those tables, and every model rebuilds eagerly once
    its upstream changed (a landed file flows through to the marts with no manual step)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props.get("resource_type") == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["identifier"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return f"dbt_{fqn[1]}"
        return super().get_group_name(dbt_resource_props)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        return dg.AutomationCondition.eager()


TRANSLATOR = LedgerDbtTranslator()


def relation_asset_keys(manifest: Mapping[str, Any]) -> dict[str, dg.AssetKey]:
    """``schema.name`` -> asset key of every source, seed, model and snapshot of ``manifest``."""
    nodes = {**manifest.get("sources", {}), **manifest.get("nodes", {})}
    return {
        dbt_relation(n): TRANSLATOR.get_asset_key(n)
        for n in nodes.values()
        if n.get("resource_type") in ("source", "seed", "model", "snapshot")
    }


def model_asset_keys(manifest: Mapping[str, Any]) -> dict[dg.AssetKey, str]:
    """Asset key -> dbt unique id of every model and snapshot."""
    return {
        TRANSLATOR.get_asset_key(n): uid
        for uid, n in manifest.get("nodes", {}).items()
        if n.get("resource_type") in ("model", "snapshot")
    }


def column_lineage_metadata(model: ModelColumns, keys: Mapping[str, dg.AssetKey]) -> dict[str, Any]:
    """The metadata that records ``model``'s column lineage (``keys``: relation -> asset key)."""
    if model.problem is not None:
        return {COLUMN_LINEAGE_UNKNOWN: model.problem}
    return {
        COLUMN_LINEAGE: dg.TableColumnLineage(
            deps_by_column={
                column: [
                    dg.TableColumnDep(asset_key=keys[rel], column_name=col)
                    for rel, col in deps
                    if rel in keys
                ]
                for column, deps in model.columns.items()
            }
        )
    }


def asset_column_lineage(columns: Mapping[str, ColumnDeps]) -> dict[str, Any]:
    """The column-lineage metadata of a Python asset (``columns``: column -> the ``(schema.name,
    column)`` it is computed from); a relation's asset key is its schema and name, as every
    Python asset and minimised table is keyed."""
    return {
        COLUMN_LINEAGE: dg.TableColumnLineage(
            deps_by_column={
                column: [
                    dg.TableColumnDep(asset_key=dg.AssetKey(rel.split(".")), column_name=col)
                    for rel, col in deps
                ]
                for column, deps in columns.items()
            }
        )
    }


def _with_column_lineage(
    events: Iterator[Any], lineage: DbtColumnLineage, keys: Mapping[str, dg.AssetKey]
) -> Iterator[Any]:
    for event in events:
        if isinstance(event, (dg.Output, dg.AssetMaterialization)):
            uid = event.metadata.get("unique_id")
            if isinstance(uid, dg.TextMetadataValue) and uid.text in lineage.model_ids:
                extra = column_lineage_metadata(lineage.model(uid.text), keys)
                event = event.with_metadata({**event.metadata, **extra})
        yield event


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    pool=DUCKDB_POOL,
)
def ledger_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, ledger_home: LedgerHome
):
    """Build and test every dbt model against the warehouse of the run's data home."""
    warehouse = {"warehouse": str(ledger_home.home.warehouse)}
    # The columns of the sources (the minimised tables) and of models not rebuilt in this run,
    # read before dbt takes the warehouse's lock.
    with ledger_home.connect() as con:
        columns = relation_columns(con)
    invocation = dbt.cli(["build", "--vars", json.dumps(warehouse)], context=context)
    lineage = DbtColumnLineage(
        invocation.manifest, columns, compiled_sql_in(invocation.target_path)
    )
    yield from _with_column_lineage(
        invocation.stream(), lineage, relation_asset_keys(invocation.manifest)
    )
