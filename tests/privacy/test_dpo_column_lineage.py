"""Column-level lineage below the minimised tables: the real dbt project, compiled over a
warehouse minimised with the default policy, followed column by column from the ledger to the
marts; and the same lineage as Dagster metadata, recorded and read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dbt.cli.main import dbtRunner

from assets.dbt import COLUMN_LINEAGE, column_lineage_metadata, relation_asset_keys
from assets.dbt_project import DBT_PROJECT_DIR
from assets.dpo import recorded_column_lineage
from ledger.contract import ENTITIES
from privacy.classifier import classify_tables, read_inventory, write_inventory
from privacy.dpo.asset_lineage import (
    feature_columns,
    merchant_pricing_columns,
    pricing_columns,
    release_columns,
    score_columns,
)
from privacy.dpo.column_lineage import (
    DbtColumnLineage,
    ModelColumns,
    compiled_sql_in,
    relation_columns,
)
from privacy.dpo.lineage import (
    Lineage,
    build_lineage,
    column_downstream_of,
    column_sources,
    lineage_json,
)
from privacy.dpo.products import default_recipients, write_dpo_products
from privacy.dpo.ropa import Controller
from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault
from privacy.minimise import minimise
from privacy.policy import load_policy


@dataclass(frozen=True)
class Compiled:
    warehouse: Path
    manifest: dict[str, object]
    target: Path
    columns: dict[str, list[str]]
    models: list[ModelColumns]
    lineage: Lineage


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    tmp = tmp_path_factory.mktemp("cll")
    warehouse = tmp / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as env:
        env.delenv(MASTER_KEY_ENV, raising=False)
        con = duckdb.connect(str(warehouse))
        con.execute("CREATE SCHEMA ledger")
        for e in ENTITIES.values():
            cols = ", ".join(f'"{c.name}" {c.dtype}' for c in e.columns)
            con.execute(f"CREATE TABLE ledger.{e.name} ({cols})")
        write_inventory(con, classify_tables(con, list(ENTITIES)))
        minimise(con, read_inventory(con), load_policy(), LocalFileKeyVault(tmp / "keys"))
        inventory = read_inventory(con)
        columns = relation_columns(con)
        con.close()
        env.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        env.setenv("DBT_LOG_PATH", str(tmp / "logs"))
        result = dbtRunner().invoke(
            [
                "compile",
                "--select",
                "resource_type:model",
                "--vars",
                json.dumps({"warehouse": str(warehouse)}),
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
                "--target-path",
                str(tmp / "target"),
                "--quiet",
            ]
        )
    assert result.success, result.exception
    manifest = json.loads((tmp / "target" / "manifest.json").read_text())
    models = DbtColumnLineage(manifest, columns, compiled_sql_in(tmp / "target")).models()
    lineage = build_lineage(
        inventory,
        load_policy(),
        model_columns={m.relation: m.columns for m in models if m.problem is None},
        column_gaps={m.relation: str(m.problem) for m in models if m.problem is not None},
    )
    return Compiled(warehouse, manifest, tmp / "target", columns, models, lineage)


def test_every_model_of_the_project_has_column_lineage(compiled: Compiled) -> None:
    problems = {m.relation: m.problem for m in compiled.models if m.problem}
    assert problems == {}
    relations = {m.relation for m in compiled.models}
    assert {"marts.accounts", "marts.credit_subjects", "staging.stg_ledger__users"} <= relations
    assert len(relations) == sum(
        1 for n in compiled.manifest["nodes"].values() if n["resource_type"] == "model"
    )


def test_every_dependency_is_a_real_column_of_a_parent(compiled: Compiled) -> None:
    """A dependency sqlglot resolved to a column the parent does not have would be invented
    lineage: each one must name a minimised column or another model's output column."""
    known = {
        (rel, c)
        for rel, cols in compiled.columns.items()
        if rel.startswith("minimised.")
        for c in cols
    }
    known |= {(m.relation, c) for m in compiled.models for c in m.columns}
    deps = {d for m in compiled.models for ds in m.columns.values() for d in ds}
    assert deps and deps <= known


def test_the_account_key_flows_pseudonymised_to_the_credit_subjects_mart(
    compiled: Compiled,
) -> None:
    reached = column_downstream_of(compiled.lineage, "ledger.users", "user_id")
    assert {
        "minimised.credit_users.user_id",
        "staging.stg_ledger__users.user_id",
        "marts.accounts.user_id",
        "marts.credit_subjects.subject_id",
    } <= reached
    back = column_sources(compiled.lineage, "marts.credit_subjects", "subject_id")
    assert {(f.source_dataset, f.source_column, f.purpose, f.action) for f in back} == {
        ("ledger.users", "user_id", "credit_scoring", "pseudonymise")
    }


def test_the_birth_date_becomes_an_age_band_that_no_mart_column_is_computed_from(
    compiled: Compiled,
) -> None:
    reached = column_downstream_of(compiled.lineage, "ledger.users", "date_of_birth")
    assert reached == {
        "minimised.credit_users.age_band",
        "minimised.insights_users.age_band",
        "minimised.dpo_users.age_band",
    }
    doc = lineage_json(compiled.lineage)
    dob = next(c for c in doc["columns"] if c["column"] == "date_of_birth")
    assert dob["purposes"]["credit_scoring"]["target"] == "minimised.credit_users.age_band"
    assert dob["purposes"]["credit_scoring"]["columns"] == []


def test_a_transaction_amount_reaches_the_marts_through_its_transformations(
    compiled: Compiled,
) -> None:
    reached = column_downstream_of(compiled.lineage, "ledger.transactions", "amount")
    assert "intermediate.int_transactions_normalised.amount_base" in reached
    assert "marts.accounts.merchant_spend_base" in reached
    back = column_sources(compiled.lineage, "marts.accounts", "merchant_spend_base")
    assert ("ledger.transactions", "amount") in {(f.source_dataset, f.source_column) for f in back}
    # The dropped full name reaches no model column under any purpose.
    assert column_downstream_of(compiled.lineage, "ledger.users", "full_name") == {
        "minimised.dpo_users.full_name"
    }


def test_the_lineage_is_dagster_column_metadata_and_reads_back_from_the_instance(
    compiled: Compiled,
) -> None:
    keys = relation_asset_keys(compiled.manifest)
    subjects = next(m for m in compiled.models if m.relation == "marts.credit_subjects")
    meta = column_lineage_metadata(subjects, keys)
    deps = meta[COLUMN_LINEAGE].deps_by_column["subject_id"]
    assert deps == [
        dg.TableColumnDep(asset_key=dg.AssetKey(["marts", "accounts"]), column_name="user_id")
    ]
    users = next(m for m in compiled.models if m.relation == "staging.stg_ledger__users")
    users_meta = column_lineage_metadata(users, keys)
    assert users_meta[COLUMN_LINEAGE].deps_by_column["user_id"][0].asset_key == dg.AssetKey(
        ["minimised", "credit_users"]
    )
    gap = ModelColumns("model.p.x", "marts.x", {}, "no compiled SQL")
    assert column_lineage_metadata(gap, keys) == {
        "ledgerlens/column_lineage_unknown": "no compiled SQL"
    }
    instance = dg.DagsterInstance.ephemeral()
    key = dg.AssetKey(["marts", "credit_subjects"])
    instance.report_runless_asset_event(dg.AssetMaterialization(key, metadata=meta))
    missing = dg.AssetKey(["marts", "loans"])
    back = recorded_column_lineage(
        instance, {key: subjects.unique_id, missing: "model.ledgerlens.loans"}
    )
    by_relation = {m.relation: m for m in back}
    assert by_relation["marts.credit_subjects"].columns == subjects.columns
    assert "not materialised" in str(by_relation["marts.loans"].problem)


def test_the_dpo_products_follow_a_personal_column_to_the_marts(
    compiled: Compiled, tmp_path: Path
) -> None:
    out = tmp_path / "dpo"
    policy = load_policy()
    with duckdb.connect(str(compiled.warehouse)) as con:
        write_dpo_products(
            con,
            out,
            policy,
            controller=Controller(),
            recipients=default_recipients(policy, {}, "CN"),
            run_id="r1",
            now="2026-12-01T00:00:00+00:00",
            namespace="duckdb://w",
            dbt_columns=compiled.models,
        )
    lin = json.loads((out / "lineage.json").read_text())
    uid = next(
        c for c in lin["columns"] if (c["dataset"], c["column"]) == ("ledger.users", "user_id")
    )
    assert "marts.credit_subjects.subject_id" in uid["purposes"]["credit_scoring"]["columns"]
    ropa = json.loads((out / "ropa.json").read_text())
    flow = next(
        f for f in ropa["c_categories"]["personal_data_flows"] if f["column"] == "users.user_id"
    )
    assert (
        "marts.credit_subjects.subject_id" in flow["per_purpose"]["credit_scoring"]["model_columns"]
    )
    a = ropa["a_controller"]
    assert (a["configured"], a["dpo_contact"]) == (False, "not configured")
    assert a["missing"] == ["name", "contact", "dpo_contact"]
    html = (out / "report.html").read_text()
    assert "<code>marts.credit_subjects.subject_id</code>" in html
    controller = html.split('id="controller"')[1].split("</section>")[0]
    assert controller.count("not configured") == 3


def _python_assets(compiled: Compiled) -> dict[str, dict[str, tuple[tuple[str, str], ...]]]:
    """The Python assets' column lineage over the compiled project's marts, as the assets
    record it."""
    from assets.credit import APPLICATIONS_MART, EVENTS_MART, MERCHANTS_SQL, SUBJECTS_MART
    from privacy.dp.catalogue import load_catalogue

    marts = {m.relation: list(m.columns) for m in compiled.models}
    features = feature_columns(marts, EVENTS_MART, APPLICATIONS_MART, SUBJECTS_MART)
    report = load_catalogue().report("spend_by_category_tier_week")
    cells = [
        *(d.column for d in report.dimensions),
        *(m.name for m in report.measures),
        "suppressed",
    ]
    return {
        "credit.features": features,
        "credit.scores": score_columns("credit.features", list(features)),
        "credit.pricing": pricing_columns("credit.scores", "credit.features", list(features)),
        "credit.merchant_pricing": merchant_pricing_columns(
            MERCHANTS_SQL, {"marts.merchants": marts["marts.merchants"]}
        ),
        "insights.releases": release_columns(report, cells),
    }


def test_the_python_assets_trace_every_output_file_column_back_to_the_inventory(
    compiled: Compiled,
) -> None:
    assets = _python_assets(compiled)
    with duckdb.connect(str(compiled.warehouse)) as con:
        inventory = read_inventory(con)
    release = "buyers/b1/spend_by_category_tier_week/rel-1/data.parquet"
    files = ["risk/scores.parquet", "risk/pricing.parquet", "risk/merchant_pricing.parquet"]
    lineage = build_lineage(
        inventory,
        load_policy(),
        model_columns={m.relation: m.columns for m in compiled.models if m.problem is None},
        asset_columns=assets,
        products={
            "credit.scores": ["risk/scores.parquet"],
            "credit.pricing": ["risk/pricing.parquet"],
            "credit.merchant_pricing": ["risk/merchant_pricing.parquet"],
            "insights.releases": ["buyers/"],
        },
        published_files=[*files, release],
        file_columns={
            "risk/scores.parquet": ["loan_id", "subject_id", "score", "reason_1"],
            "risk/pricing.parquet": ["loan_id", "apr", "credit_limit"],
            "risk/merchant_pricing.parquet": ["merchant_id", "list_fee_bps"],
            release: list(assets["insights.releases"]),
        },
    )
    doc = lineage_json(lineage)
    personal = {(r.table, r.column) for r in inventory if r.personal}
    assert personal and personal <= {(c["dataset"][7:], c["column"]) for c in doc["columns"]}

    # The borrower's account key becomes the scored applicant's id in the published file.
    back = column_sources(lineage, "out/risk/scores.parquet", "subject_id")
    assert {(f.source_dataset, f.source_column, f.action) for f in back} == {
        ("ledger.loans", "user_id", "pseudonymise")
    }
    # A score is computed from the transaction amounts, through the marts and the features.
    score = {
        (f.source_dataset, f.source_column)
        for f in column_sources(lineage, "out/risk/scores.parquet", "score")
    }
    assert ("ledger.transactions", "amount") in score
    # Sensitive (PIPL Art. 28) columns that reach a published file trace back from it.
    sensitive = {(f"ledger.{r.table}", r.column) for r in inventory if r.pipl_sensitive}
    reached = {
        (f.source_dataset, f.source_column)
        for path in [*files, release]
        for edge in lineage.column_edges
        if edge.target_dataset == f"out/{path}"
        for f in column_sources(lineage, edge.target_dataset, edge.target_column)
    }
    assert {("ledger.transactions", "amount"), ("ledger.loans", "principal")} <= sensitive & reached
    for dataset, column in sensitive & reached:
        down = column_downstream_of(lineage, dataset, column)
        assert any(d.startswith("out/") for d in down)
    # A merchant's fee comes from merchant columns, never from a person's.
    fee = column_sources(lineage, "out/risk/merchant_pricing.parquet", "list_fee_bps")
    assert fee and "ledger.users" not in {f.source_dataset for f in fee}
    # The weekly spend release: its category from the merchant, its spend from the amounts.
    spend = {
        (f.source_dataset, f.source_column)
        for f in column_sources(lineage, f"out/{release}", "merchant_category")
    }
    assert spend == {
        ("ledger.merchants", "category"),
        ("ledger.transactions", "merchant_id"),
        ("ledger.merchants", "merchant_id"),
    }
    assert column_sources(lineage, f"out/{release}", "suppressed") == []


def test_a_python_asset_lineage_is_dagster_metadata_on_real_asset_keys(compiled: Compiled) -> None:
    from assets.dbt import asset_column_lineage

    meta = asset_column_lineage(_python_assets(compiled)["credit.scores"])
    deps = meta[COLUMN_LINEAGE].deps_by_column
    assert deps["loan_id"] == [
        dg.TableColumnDep(asset_key=dg.AssetKey(["credit", "features"]), column_name="loan_id")
    ]
    assert {d.column_name for d in deps["score"]} >= {"inflow_180", "principal_base"}
    assert deps["model_version"] == []
