"""dbt models as Dagster assets: staging -> intermediate -> marts; dbt tests become asset checks."""

import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from assets.dbt_project import dbt_project
from assets.resources import DUCKDB_POOL, LedgerHome


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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=LedgerDbtTranslator(),
    pool=DUCKDB_POOL,
)
def ledger_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, ledger_home: LedgerHome
):
    """Build and test every dbt model against the warehouse of the run's data home."""
    warehouse = {"warehouse": str(ledger_home.home.warehouse)}
    yield from dbt.cli(["build", "--vars", json.dumps(warehouse)], context=context).stream()
