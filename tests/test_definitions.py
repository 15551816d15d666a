"""The Definitions load, and the architecture rules in DESIGN.md hold."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parent.parent


def test_dbt_reads_only_minimised_tables_which_hang_off_the_ledger() -> None:
    from pipelines.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
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
    assert repo.get_sensor_def("landing_sensor") is not None
    dg.Definitions.validate_loadable(defs)


def test_writers_share_the_duckdb_pool() -> None:
    from pipelines.definitions import defs
    from assets.resources import DUCKDB_POOL

    repo = defs.get_repository_def()
    for assets_def in repo.assets_defs_by_key.values():
        if assets_def.is_executable:
            assert assets_def.op.pool == DUCKDB_POOL, assets_def.node_def.name


def test_domain_packages_never_import_dagster() -> None:
    offenders = []
    for package in ("privacy", "zk", "credit", "pipelines/ledger"):
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                if any(n.split(".")[0] in ("dagster", "dagster_dbt") for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
