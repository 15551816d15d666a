"""Governance assets: classify every ledger column, vault the identifiers, minimise per purpose,
and the blocking leak guard on everything a risk team or a buyer receives."""

import hashlib
import os

import dagster as dg

from assets.ingest import ledger_key
from ledger.contract import ENTITIES
from assets.resources import DUCKDB_POOL, LedgerHome
from privacy.classifier import classify_tables, write_inventory
from privacy.leakguard import scan_outputs
from privacy.minimise import ColumnRecord, minimise
from privacy.policy import load_policy
from privacy.vault import PiiVault

LEAK_GUARD_CHECK = "no_raw_identifiers"
UNKNOWN_COLUMNS_CHECK = "every_column_classified"

LEDGER_TABLES = tuple(ENTITIES)
# The minimisation policy: privacy/policies/default.yaml unless $LEDGERLENS_POLICY names another.
POLICY = load_policy(os.environ.get("LEDGERLENS_POLICY") or None)

INVENTORY_KEY = dg.AssetKey(["governance", "column_inventory"])
VAULT_KEY = dg.AssetKey(["vault", "subjects"])
RELEASE_KEY = dg.AssetKey(["governance", "release_manifest"])


def minimised_key(purpose: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["minimised", f"{POLICY.short(purpose)}_{table}"])


@dg.asset(
    key=INVENTORY_KEY,
    deps=[ledger_key(t) for t in LEDGER_TABLES],
    check_specs=[
        dg.AssetCheckSpec(
            UNKNOWN_COLUMNS_CHECK,
            asset=INVENTORY_KEY,
            description="columns no detector recognised (dropped by default deny) are reported",
            blocking=False,
        )
    ],
    group_name="governance",
    kinds={"duckdb"},
    owners=["team:privacy"],
    pool=DUCKDB_POOL,
)
def column_inventory(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Every ledger column with its entity type, evidence, PIPL category, GB/T 43697 grade, level."""
    home = ledger_home.home
    with ledger_home.connect() as con:
        rows = classify_tables(con, LEDGER_TABLES)
        write_inventory(con, rows)
    by_table: dict[str, list] = {}
    for row in rows:
        by_table.setdefault(row.table, []).append(row)
    # The classification is column-level metadata of each ledger asset, visible in the UI.
    for table, cols in by_table.items():
        context.log_event(
            dg.AssetObservation(
                asset_key=ledger_key(table),
                metadata={
                    "dagster/column_schema": dg.TableSchema(
                        columns=[
                            dg.TableColumn(
                                name=c.column,
                                type=c.dtype,
                                description=f"{c.entity_type} ({c.confidence:.2f}): {c.evidence}",
                                tags={
                                    "entity": c.entity_type,
                                    "gbt_grade": c.gbt_grade,
                                    "level": c.sensitivity_level,
                                    "pipl_sensitive": str(c.pipl_sensitive).lower(),
                                },
                            )
                            for c in cols
                        ]
                    )
                },
            )
        )
    dpo = home.out_for("dpo")
    with ledger_home.connect() as con:
        con.execute(
            f"COPY governance.column_inventory TO '{dpo / 'column_inventory.csv'}' (HEADER)"
        )
    unknown = [f"{r.table}.{r.column}" for r in rows if r.entity_type == "unknown"]
    grades: dict[str, int] = {}
    for r in rows:
        grades[r.gbt_grade] = grades.get(r.gbt_grade, 0) + 1
    yield dg.MaterializeResult(
        metadata={
            "columns": len(rows),
            "sensitive (PIPL Art. 28)": sum(bool(r.pipl_sensitive) for r in rows),
            "GB/T 43697 grades": dg.MetadataValue.json(grades),
            "exported": dg.MetadataValue.path(str(dpo / "column_inventory.csv")),
        }
    )
    yield dg.AssetCheckResult(
        check_name=UNKNOWN_COLUMNS_CHECK,
        passed=not unknown,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unclassified (dropped)": ", ".join(unknown) or "none"},
    )


@dg.asset(
    key=VAULT_KEY,
    deps=[ledger_key("users"), ledger_key("wallets")],
    group_name="governance",
    kinds={"duckdb"},
    owners=["team:privacy"],
    pool=DUCKDB_POOL,
)
def pii_vault(ledger_home: LedgerHome) -> dg.MaterializeResult:
    """Direct identifiers of every subject, envelope-encrypted (a data key per subject)."""
    keyvault = ledger_home.keyvault()
    with ledger_home.connect() as con:
        vault = PiiVault(con, keyvault)
        written = vault.load_from_ledger()
        stats = vault.stats()
    return dg.MaterializeResult(
        metadata={
            "subjects written this run": written,
            "subjects in vault": stats.subjects,
            "shredded (erased)": stats.shredded,
            "master key fingerprint": keyvault.fingerprint,
        }
    )


def _column_schema(records: list[ColumnRecord]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=r.output_column or r.column,
                description=(
                    f"{r.entity_type}: {r.action}"
                    + (f" ({r.generaliser})" if r.generaliser else "")
                    + f" of {r.source_table}.{r.column}"
                ),
                tags={"entity": r.entity_type, "action": r.action},
            )
            for r in records
            if r.output_column
        ]
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            minimised_key(purpose, table),
            deps=[INVENTORY_KEY, VAULT_KEY, ledger_key(table)],
            description=f"{table} minimised for {purpose}",
            group_name="minimised",
            kinds={"duckdb"},
            owners=["team:privacy"],
            skippable=True,
        )
        for purpose in POLICY.purposes
        for table in LEDGER_TABLES
    ],
    pool=DUCKDB_POOL,
)
def minimised_tables(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Per purpose: drop, pseudonymise (a key per purpose), generalise or tokenise each column."""
    from privacy.classifier import read_inventory

    keyvault = ledger_home.keyvault()
    with ledger_home.connect() as con:
        inventory = [r for r in read_inventory(con) if r.table in LEDGER_TABLES]
        results = minimise(con, inventory, POLICY, keyvault)
    for purpose, result in results.items():
        for table in result.tables:
            key = minimised_key(purpose, table.source_table.split(".")[-1])
            if table.output_table is None:
                context.log.warning(f"{key.to_user_string()}: every column dropped; not built")
                continue
            dropped = [
                f"{c.column} ({'default deny' if c.default_deny else c.entity_type})"
                for c in table.columns
                if c.action == "drop"
            ]
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "dagster/column_schema": _column_schema(table.columns),
                    "dagster/row_count": table.rows,
                    "table": table.output_table,
                    "dropped columns": ", ".join(dropped) or "none",
                    "erased subjects excluded": result.erased_subjects,
                },
            )


PUBLISHED_TABLES = (
    "marts.accounts",
    "marts.merchants",
    "marts.daily_activity",
    "marts.loans",
    "credit.scores",
    "credit.pricing",
    "credit.merchant_pricing",
)
"""Tables a risk team or a buyer reads; the leak guard scans each (and every file under out/)."""


@dg.asset(
    key=RELEASE_KEY,
    deps=[dg.AssetKey(t.split(".")) for t in PUBLISHED_TABLES]
    + [dg.AssetKey(["credit", "model_card"])],
    check_specs=[
        dg.AssetCheckSpec(
            LEAK_GUARD_CHECK,
            asset=RELEASE_KEY,
            blocking=True,
            description="no raw identifier held in the vault appears in out/ or a published table",
        )
    ],
    group_name="governance",
    kinds={"duckdb"},
    owners=["team:privacy"],
    pool=DUCKDB_POOL,
)
def release_manifest(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Every byte that leaves: each file under out/ with its SHA-256, scanned by the leak guard."""
    home = ledger_home.home
    files = sorted(p for p in home.out.rglob("*") if p.is_file() and p.name != "MANIFEST.txt")
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.stat().st_size:>12}  "
        f"{p.relative_to(home.out)}"
        for p in files
    ]
    (home.out / "MANIFEST.txt").write_text("\n".join(lines) + "\n")
    keyvault = ledger_home.keyvault()
    with ledger_home.connect() as con:
        report = scan_outputs(con, keyvault, home.out, list(PUBLISHED_TABLES))
    yield dg.MaterializeResult(
        metadata={"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    )
    yield dg.AssetCheckResult(
        check_name=LEAK_GUARD_CHECK,
        passed=report.ok,
        metadata={
            "files scanned": report.files_scanned,
            "tables scanned": len(PUBLISHED_TABLES),
            "identifiers checked": report.needles,
            "findings": dg.MetadataValue.md(report.summary()),
        },
    )
