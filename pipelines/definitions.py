"""The one Definitions object: assets from ``assets/``, resources, the landing sensor."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from assets import dbt as dbt_assets_module
from assets import ingest as ingest_assets
from pipelines.resources import LedgerHome
from pipelines.sensors import ingest_reference_job, ingest_transactions_job, landing_sensor
from pipelines.settings import Home

home = Home.from_env()
# dbt's profile reads the warehouse path from the environment (profiles.yml inside dbt_project/).
os.environ.setdefault("LEDGERLENS_WAREHOUSE", str(home.warehouse))
_venv_dbt = Path(sys.executable).with_name("dbt")

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest_assets, dbt_assets_module]),
    asset_checks=dg.load_asset_checks_from_modules([ingest_assets, dbt_assets_module]),
    jobs=[ingest_transactions_job, ingest_reference_job],
    sensors=[landing_sensor],
    resources={
        "ledger_home": LedgerHome(root=str(home.root)),
        "dbt": DbtCliResource(
            project_dir=dbt_assets_module.dbt_project,
            dbt_executable=str(_venv_dbt) if _venv_dbt.exists() else (shutil.which("dbt") or "dbt"),
        ),
    },
)
