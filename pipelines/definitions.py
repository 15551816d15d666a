"""The one Definitions object: assets from ``assets/``, resources, the landing sensor."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from assets import credit as credit_assets
from assets import dbt as dbt_assets_module
from assets import governance as governance_assets
from assets import ingest as ingest_assets
from assets.resources import LedgerHome
from pipelines.sensors import ingest_reference_job, ingest_transactions_job, landing_sensor
from pipelines.settings import Home

ASSET_MODULES = [ingest_assets, governance_assets, dbt_assets_module, credit_assets]


def _dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_definitions(home: Home) -> dg.Definitions:
    """Everything bound to one data home (tests build their own on a temporary home)."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules(ASSET_MODULES),
        asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
        jobs=[ingest_transactions_job, ingest_reference_job],
        sensors=[landing_sensor],
        resources={
            "ledger_home": LedgerHome(root=str(home.root)),
            "dbt": DbtCliResource(
                project_dir=dbt_assets_module.dbt_project, dbt_executable=_dbt_executable()
            ),
        },
    )


_home = Home.from_env()
# dbt's profile reads the warehouse path from the environment (profiles.yml inside dbt_project/).
os.environ.setdefault("LEDGERLENS_WAREHOUSE", str(_home.warehouse))
defs = build_definitions(_home)
