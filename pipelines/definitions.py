"""The one Definitions: assets from ``assets/``, resources bound to one data home, jobs, the
landing sensor and the automation sensor. It only assembles; settings arrive from the caller."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from assets import attestations as attestation_assets
from assets import credit as credit_assets
from assets import dbt as dbt_assets_module
from assets import dpo as dpo_assets
from assets import encrypted_scoring as encrypted_scoring_assets
from assets import governance as governance_assets
from assets import ingest as ingest_assets
from assets import insights as insights_assets
from assets.dbt_project import dbt_project
from assets.resources import ledger_home_resource
from pipelines.jobs import JOBS
from pipelines.sensors import landing_sensor
from pipelines.settings import Settings, owner_only_files
from privacy.dpo.ropa import Controller
from privacy.policy import load_policy

ASSET_MODULES = [
    ingest_assets,
    governance_assets,
    dbt_assets_module,
    credit_assets,
    encrypted_scoring_assets,
    attestation_assets,
    insights_assets,
]
"""Modules whose assets need no settings; the minimised tables (the policy), the publish gate (the
published contacts) and the DPO records (the controller) are built per settings below."""

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
"""Evaluates every asset's automation condition: what a landed file changed is rebuilt."""


def _dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def build_definitions(settings: Settings) -> dg.Definitions:
    """Everything bound to one data home (tests build their own on a temporary home)."""
    policy = load_policy(settings.policy)
    controller = Controller(
        settings.controller_name,
        settings.controller_contact,
        settings.dpo_contact,
        settings.jurisdiction,
    )
    # The publish gate is built per settings too: the DPO's files may name the deployment's own
    # contacts (the module's default gate allows none).
    loaded = [
        a
        for a in dg.load_assets_from_modules(ASSET_MODULES)
        if governance_assets.RELEASE_KEY not in getattr(a, "keys", ())
    ]
    return dg.Definitions(
        assets=[
            *loaded,
            governance_assets.build_release_manifest(settings.published_contacts),
            governance_assets.build_minimised_tables(policy),
            dpo_assets.build_dpo_records(controller),
        ],
        asset_checks=dg.load_asset_checks_from_modules(ASSET_MODULES),
        jobs=list(JOBS),
        sensors=[landing_sensor, automation_sensor],
        resources={
            "ledger_home": ledger_home_resource(settings.home, settings.policy),
            "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=_dbt_executable()),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location of ``make ui`` (``dagster dev -m pipelines.definitions``)."""
    owner_only_files()
    return build_definitions(Settings.from_env())
