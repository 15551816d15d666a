"""The DPO's products: column lineage, Art. 30 records, OpenLineage events, the DPO report and the
audit log's latest signed checkpoint, generated from the inventory, the policy, the dbt models'
column lineage (as their materialisations recorded it), this asset graph and the warehouse, and
staged for the publish gate (out/dpo/).

Each run signs a checkpoint of the audit log (:func:`privacy.audit.write_checkpoint`, key from
the key vault) and stages it as ``dpo/audit_checkpoint.json``: once published it is the witness
outside the warehouse that the next verification compares with. A log that does not verify is
not signed; the report says where it broke and the ``audit_log_intact`` check fails.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from assets.credit import FEATURES_KEY, MERCHANT_PRICING_KEY, PRICING_KEY, SCORES_KEY
from assets.dbt import COLUMN_LINEAGE, COLUMN_LINEAGE_UNKNOWN, model_asset_keys
from assets.dbt_project import dbt_project
from assets.governance import INVENTORY_KEY
from assets.insights import RELEASES_KEY
from assets.resources import DUCKDB_POOL, LedgerHome
from privacy.audit import (
    AuditKey,
    AuditTamperedError,
    Checkpoint,
    read_witness,
    write_checkpoint,
    write_witness,
)
from privacy.dp.catalogue import load_catalogue
from privacy.dpo.column_lineage import ModelColumns
from privacy.dpo.products import default_recipients, write_dpo_products
from privacy.dpo.ropa import Controller

DPO_RECORDS_KEY = dg.AssetKey(["dpo", "records"])
AUDIT_CHECK = "audit_log_intact"
WITNESS_FILE = "audit_checkpoint.json"

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


# Python assets that record their column lineage (the minimised tables' is the policy's, read
# from the policy itself).
PYTHON_COLUMN_LINEAGE = (FEATURES_KEY, SCORES_KEY, PRICING_KEY, MERCHANT_PRICING_KEY, RELEASES_KEY)


def _dbt_model_keys() -> dict[dg.AssetKey, str]:
    manifest = dbt_project.manifest_path
    if not manifest.is_file():
        return {}
    return model_asset_keys(json.loads(manifest.read_text(encoding="utf-8")))


def recorded_column_lineage(
    instance: dg.DagsterInstance, models: dict[dg.AssetKey, str]
) -> list[ModelColumns]:
    """Each model's (or Python asset's: ``models`` maps an asset key to an id) column lineage as
    its latest materialisation recorded it; one never materialised, or whose lineage was unknown,
    is returned with the reason as ``problem``."""
    out: list[ModelColumns] = []
    for key, uid in sorted(models.items(), key=lambda kv: kv[0].to_user_string()):
        relation = ".".join(key.path)
        entry = instance.get_latest_materialization_event(key)
        mat = entry.asset_materialization if entry is not None else None
        if mat is None:
            out.append(ModelColumns(uid, relation, {}, "not materialised in this instance yet"))
            continue
        value = mat.metadata.get(COLUMN_LINEAGE)
        if isinstance(value, dg.TableColumnLineageMetadataValue):
            deps = value.column_lineage.deps_by_column
            columns = {
                col: tuple(sorted((".".join(d.asset_key.path), d.column_name) for d in ds))
                for col, ds in deps.items()
            }
            out.append(ModelColumns(uid, relation, columns))
            continue
        why = mat.metadata.get(COLUMN_LINEAGE_UNKNOWN)
        reason = why.value if isinstance(why, dg.TextMetadataValue) else None
        out.append(
            ModelColumns(uid, relation, {}, str(reason or "its materialisation recorded none"))
        )
    return out


def _witnesses(path: Path) -> tuple[list[Checkpoint], str | None]:
    if not path.is_file():
        return [], None
    try:
        return [read_witness(path)], None
    except ValueError as exc:
        return [], str(exc)


def _checkpoint(con: duckdb.DuckDBPyConnection, key: AuditKey) -> tuple[Checkpoint | None, str]:
    try:
        return write_checkpoint(con, key), ""
    except AuditTamperedError as exc:
        return None, str(exc)


def build_dpo_records(controller: Controller) -> dg.AssetsDefinition:
    """The ``dpo/records`` asset for a deployment's controller and DPO (from its settings)."""
    models = _dbt_model_keys()

    @dg.asset(
        key=DPO_RECORDS_KEY,
        deps=[INVENTORY_KEY, dg.AssetKey(["minimised", "credit_users"]), *models],
        group_name="dpo",
        kinds={"duckdb", "json", "html"},
        owners=["team:privacy"],
        pool=DUCKDB_POOL,
        automation_condition=dg.AutomationCondition.eager(),
        check_specs=[dg.AssetCheckSpec(AUDIT_CHECK, asset=DPO_RECORDS_KEY)],
    )
    def dpo_records(
        context: dg.AssetExecutionContext, ledger_home: LedgerHome
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """Records of processing, column lineage, OpenLineage events, the DPO report and the
        audit log's signed checkpoint."""
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
        dbt_columns = recorded_column_lineage(context.instance, models)
        asset_columns = recorded_column_lineage(
            context.instance, {k: k.to_user_string() for k in PYTHON_COLUMN_LINEAGE}
        )
        now = datetime.now(UTC).isoformat(timespec="seconds")
        folder = ledger_home.stage(context.run_id, "dpo")
        witnesses, witness_problem = _witnesses(home.out_for("dpo") / WITNESS_FILE)
        with ledger_home.connect() as con:
            key = AuditKey.from_keyvault(ledger_home.keyvault(con))
            checkpoint, refused = _checkpoint(con, key)
            summary = write_dpo_products(
                con,
                folder,
                policy,
                controller=controller,
                recipients=default_recipients(
                    policy,
                    {b.id: b.description for b in catalogue.buyers.values()},
                    controller.jurisdiction,
                ),
                run_id=context.run_id,
                now=now,
                namespace=f"duckdb://{home.warehouse}",
                out=home.out,
                dbt_manifest=manifest if manifest.is_file() else None,
                asset_deps=asset_deps,
                products=PRODUCT_FILES,
                budgets={b.id: b.rho for b in catalogue.buyers.values()},
                global_budget=catalogue.global_rho,
                delta=catalogue.delta,
                dbt_columns=dbt_columns,
                asset_columns=asset_columns,
                audit_key=key,
                witnesses=witnesses,
            )
        files = list(summary.files)
        if checkpoint is not None:
            write_witness(folder / WITNESS_FILE, checkpoint)
            files.append(WITNESS_FILE)
        unknown = [m.relation for m in dbt_columns if m.problem is not None]
        yield dg.MaterializeResult(
            metadata={
                "personal columns": summary.personal_columns,
                "sensitive columns (PIPL Art. 28)": summary.sensitive_columns,
                "lineage edges": summary.lineage_edges,
                "column lineage edges (dbt, Python assets, files)": summary.column_edges,
                "models without column lineage": dg.MetadataValue.md(
                    "\n".join(f"- {m}" for m in unknown) or "none"
                ),
                "OpenLineage events": summary.openlineage_events,
                "recipients": summary.recipients,
                "controller": "configured"
                if not controller.missing()
                else "not configured: " + ", ".join(controller.missing()),
                "dbt manifest": str(manifest) if manifest.is_file() else "absent (run dbt parse)",
                "audit checkpoint": f"events up to seq {checkpoint.event_seq}, key "
                f"{checkpoint.key_id}"
                if checkpoint is not None
                else refused or "empty audit log: nothing to sign",
                "staged for": dg.MetadataValue.md("\n".join(f"- out/dpo/{f}" for f in files)),
            }
        )
        problems = [p for p in (refused, witness_problem) if p]
        yield dg.AssetCheckResult(
            check_name=AUDIT_CHECK,
            passed=bool(summary.audit_ok is not False) and not problems,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "audit log": summary.audit_message,
                "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none"),
            },
        )

    return dpo_records
