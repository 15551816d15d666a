"""The Definitions load, and the architecture rules in DESIGN.md hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import DUCKDB_POOL
from pipelines.definitions import build_definitions
from pipelines.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def defs(tmp_path_factory: pytest.TempPathFactory) -> dg.Definitions:
    return build_definitions(Settings.for_home(tmp_path_factory.mktemp("home")))


def test_dbt_reads_only_minimised_tables_which_hang_off_the_ledger(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"ledger/transactions", "ledger/users", "marts/accounts", "marts/loans"} <= keys
    # Lineage runs landing -> ledger -> minimised (per purpose) -> dbt; dbt never reads ledger.
    staging = dg.AssetKey(["staging", "stg_ledger__transactions"])
    minimised = dg.AssetKey(["minimised", "credit_transactions"])
    assert graph.get(staging).parent_keys == {minimised}
    assert dg.AssetKey(["ledger", "transactions"]) in graph.get(minimised).parent_keys
    for key in graph.get_all_asset_keys():
        if key.path[0] in ("staging", "intermediate", "marts"):
            assert not any(p.path[0] == "ledger" for p in graph.get(key).parent_keys), key
    dg.Definitions.validate_loadable(defs)


def test_credit_reads_its_inputs_only_from_dbt_marts(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    features = graph.get(dg.AssetKey(["credit", "features"]))
    assert {p.path[0] for p in features.parent_keys} == {"marts"}
    for parent in features.parent_keys:
        assert graph.get(parent).is_materializable, parent  # a real dbt model, not an external key


def test_every_downstream_asset_is_automated_and_the_sensors_are_on(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    ingest = {dg.AssetKey(["ledger", e]) for e in ("users", "wallets", "merchants", "prices")}
    ingest |= {dg.AssetKey(["ledger", e]) for e in ("loans", "transactions")}
    ingest.add(dg.AssetKey(["insights", "releases"]))  # a sale, run on request with its config
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if node.is_materializable and key not in ingest:
            assert node.automation_condition is not None, key
    repo = defs.get_repository_def()
    assert repo.get_sensor_def("landing_sensor") is not None
    assert repo.get_sensor_def("automation") is not None


def test_jobs_are_defined_once_and_cover_the_graph(defs: dg.Definitions) -> None:
    job = defs.resolve_job_def("ledgerlens")
    graph = defs.resolve_asset_graph()
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    release = dg.AssetKey(["insights", "releases"])  # a sale: only its own configured job
    assert set(job.asset_layer.executable_asset_keys) == materializable - {release}
    sale = defs.resolve_job_def("insights_release")
    assert set(sale.asset_layer.executable_asset_keys) == {
        release,
        dg.AssetKey(["governance", "release_manifest"]),
    }
    assert {"ingest_transactions", "ingest_reference"} <= {
        j.name for j in defs.get_repository_def().get_all_jobs()
    }


def test_writers_share_the_duckdb_pool(defs: dg.Definitions) -> None:
    repo = defs.get_repository_def()
    for assets_def in repo.assets_defs_by_key.values():
        if assets_def.is_executable:
            assert assets_def.op.pool == DUCKDB_POOL, assets_def.node_def.name


def test_the_layers_contract_holds() -> None:
    """import-linter: pipelines -> assets -> privacy -> credit | zk -> ledger, no dagster below."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_nothing_reads_the_environment_outside_settings() -> None:
    offenders = []
    for package in ("assets", "pipelines", "credit", "ledger", "zk"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            if path.name != "settings.py" and ("os.environ" in text or "os.getenv" in text):
                offenders.append(str(path.relative_to(ROOT)))
    # The CLI prepares the subprocess environment of dbt and Dagster (PATH, DAGSTER_HOME) only.
    assert offenders == ["pipelines/cli.py"]
