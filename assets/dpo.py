"""The DPO's products: column lineage, Art. 30 records, OpenLineage events and the DPO report,
generated from the inventory, the policy, the dbt manifest and this asset graph, and staged for
the publish gate (out/dpo/)."""

from datetime import UTC, datetime

import dagster as dg

from assets.dbt_project import dbt_project
from assets.governance import INVENTORY_KEY
from assets.resources import DUCKDB_POOL, LedgerHome
from privacy.dp.catalogue import load_catalogue
from privacy.dpo.products import default_recipients, write_dpo_products
from privacy.dpo.ropa import Controller

DPO_RECORDS_KEY = dg.AssetKey(["dpo", "records"])

# Which out/ files each product asset stages (the folders the assets write with ledger_home.stage).
PRODUCT_FILES: dict[str, tuple[str, ...]] = {
    "governance.column_inventory": ("dpo/column_inventory.csv",),
    "credit.scores": ("risk/scores.parquet",),
    "credit.pricing": ("risk/pricing.parquet",),
    "credit.merchant_pricing": ("risk/merchant_pricing.parquet",),
    "credit.model_card": ("risk/model_card.html",),
    "insights.releases": ("buyers/",),
    "attest.score_credentials": ("subjects/", "issuer/status_list.json"),
    "attest.snapshot_commitment": ("dpo/attestations/",),
}

CONTROLLER = Controller(
    name="the platform operating this ledgerlens deployment",
    contact="the controller's registered address (deployment setting)",
    dpo_contact="the DPO's contact (deployment setting)",
    jurisdiction="CN",
)


@dg.asset(
    key=DPO_RECORDS_KEY,
    deps=[INVENTORY_KEY, dg.AssetKey(["minimised", "credit_users"])],
    group_name="dpo",
    kinds={"duckdb", "json", "html"},
    owners=["team:privacy"],
    pool=DUCKDB_POOL,
    automation_condition=dg.AutomationCondition.eager(),
)
def dpo_records(context: dg.AssetExecutionContext, ledger_home: LedgerHome) -> dg.MaterializeResult:
    """Records of processing, column lineage, OpenLineage events and the DPO report."""
    # The job's asset graph: under the definitions' asset job, every asset of the pipeline.
    graph = context.job_def.asset_layer.asset_graph
    asset_deps = {
        ".".join(key.path): [".".join(p.path) for p in graph.get(key).parent_keys]
        for key in graph.get_all_asset_keys()
    }
    catalogue = load_catalogue()
    policy = ledger_home.policy
    home = ledger_home.home
    manifest = dbt_project.manifest_path
    now = datetime.now(UTC).isoformat(timespec="seconds")
    folder = ledger_home.stage(context.run_id, "dpo")
    with ledger_home.connect() as con:
        summary = write_dpo_products(
            con,
            folder,
            policy,
            controller=CONTROLLER,
            recipients=default_recipients(
                policy,
                {b.id: b.description for b in catalogue.buyers.values()},
                CONTROLLER.jurisdiction,
            ),
            run_id=context.run_id,
            now=now,
            namespace=f"duckdb://{home.warehouse}",
            out=home.out,
            dbt_manifest=manifest if manifest.is_file() else None,
            asset_deps=asset_deps,
            products=PRODUCT_FILES,
            budgets={b.id: b.rho for b in catalogue.buyers.values()},
        )
    return dg.MaterializeResult(
        metadata={
            "personal columns": summary.personal_columns,
            "sensitive columns (PIPL Art. 28)": summary.sensitive_columns,
            "lineage edges": summary.lineage_edges,
            "OpenLineage events": summary.openlineage_events,
            "recipients": summary.recipients,
            "dbt manifest": str(manifest) if manifest.is_file() else "absent (run dbt parse)",
            "staged for": dg.MetadataValue.md("\n".join(f"- out/dpo/{f}" for f in summary.files)),
        }
    )
