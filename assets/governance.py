"""Governance assets: classify every ledger column, keep identifiers only in the vault, minimise
per purpose, and the blocking leak guard on everything a risk team or a buyer receives.

Ingest already vaults identifiers and leaves at-rest tokens in ``ledger.*`` (privacy/at_rest.py);
the classifier and minimisation read the plaintext back in memory through
:class:`privacy.at_rest.Plaintext` views and never write it."""

import dagster as dg

from assets.dbt import asset_column_lineage
from assets.ingest import ledger_key
from assets.resources import DUCKDB_POOL, LedgerHome
from ledger.contract import ENTITIES
from privacy.at_rest import Plaintext, plaintext_findings, protect_ledger, quarantine_values
from privacy.audit import append_events
from privacy.audit_events import (
    classification_events,
    latest_snapshot,
    policy_event,
    previous_classification,
    products_of,
    publish_event,
    run_actor,
)
from privacy.classifier import classify_tables, write_inventory
from privacy.dpo.asset_lineage import minimised_columns
from privacy.leakguard import scan_release
from privacy.minimise import ColumnRecord, minimise
from privacy.policy import Policy
from privacy.publish import discard, publish, staged_files
from privacy.vault import PiiVault

LEAK_GUARD_CHECK = "no_raw_identifiers"
AT_REST_CHECK = "no_plaintext_at_rest"
UNKNOWN_COLUMNS_CHECK = "every_column_classified"

LEDGER_TABLES = tuple(ENTITIES)

INVENTORY_KEY = dg.AssetKey(["governance", "column_inventory"])
VAULT_KEY = dg.AssetKey(["vault", "subjects"])
RELEASE_KEY = dg.AssetKey(["governance", "release_manifest"])


def minimised_key(policy: Policy, purpose: str, table: str) -> dg.AssetKey:
    return dg.AssetKey(["minimised", f"{policy.short(purpose)}_{table}"])


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
    automation_condition=dg.AutomationCondition.eager(),
)
def column_inventory(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
    """Every ledger column with its entity type, evidence, PIPL category, GB/T 43697 grade, level."""
    with ledger_home.connect() as con, Plaintext(con, ledger_home.keyvault(con)) as plain:
        relations = {t: plain.relation(t) for t in LEDGER_TABLES}
        rows = classify_tables(con, LEDGER_TABLES, relations=relations)
        before = previous_classification(con)
        write_inventory(con, rows)
        changes = classification_events(
            before, rows, actor=run_actor(context.run.run_id), snapshot_id=latest_snapshot(con)
        )
        append_events(con, changes)
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
    staged = ledger_home.stage(context.run_id, "dpo") / "column_inventory.csv"
    with ledger_home.connect() as con:
        con.execute("SELECT * FROM governance.column_inventory").df().to_csv(staged, index=False)
    unknown = [f"{r.table}.{r.column}" for r in rows if r.entity_type == "unknown"]
    grades: dict[str, int] = {}
    for r in rows:
        grades[r.gbt_grade] = grades.get(r.gbt_grade, 0) + 1
    yield dg.MaterializeResult(
        metadata={
            "columns": len(rows),
            "sensitive (PIPL Art. 28)": sum(bool(r.pipl_sensitive) for r in rows),
            "GB/T 43697 grades": dg.MetadataValue.json(grades),
            "staged for the DPO": "out/dpo/column_inventory.csv",
            "classification changes (audited)": len(changes),
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
    deps=[ledger_key("users"), ledger_key("wallets"), ledger_key("transactions")],
    check_specs=[
        dg.AssetCheckSpec(
            AT_REST_CHECK,
            asset=VAULT_KEY,
            blocking=True,
            description="ledger.* holds only at-rest tokens for identifiers, no birth dates and "
            "no unsealed quarantined record: plaintext rests only in the vault",
        )
    ],
    group_name="governance",
    kinds={"duckdb"},
    owners=["team:privacy"],
    pool=DUCKDB_POOL,
    automation_condition=dg.AutomationCondition.eager(),
)
def pii_vault(ledger_home: LedgerHome):
    """Direct identifiers of every subject, envelope-encrypted (a data key per subject), written by
    ingest; this asset migrates snapshots written before at-rest protection and proves that no
    plaintext identifier rests outside the vault."""
    with ledger_home.connect() as con:
        keyvault = ledger_home.keyvault(con)
        migrated = protect_ledger(con, keyvault)
        stats = PiiVault(con, keyvault).stats()
        findings = plaintext_findings(con)
    plain = {place: n for place, n in findings.items() if n}
    yield dg.MaterializeResult(
        metadata={
            "subjects in vault": stats.subjects,
            "shredded (erased)": stats.shredded,
            "master key fingerprint": keyvault.fingerprint,
            "migrated now (older snapshots)": dg.MetadataValue.json(migrated or {}),
        }
    )
    yield dg.AssetCheckResult(
        check_name=AT_REST_CHECK,
        passed=not plain,
        metadata={
            "places checked": len(findings),
            "plaintext values found": dg.MetadataValue.json(plain) if plain else "none",
        },
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


def build_minimised_tables(policy: Policy) -> dg.AssetsDefinition:
    """One minimised table per purpose and ledger table; the policy decides which purposes exist."""

    @dg.multi_asset(
        name="minimised_tables",
        specs=[
            dg.AssetSpec(
                minimised_key(policy, purpose, table),
                deps=[INVENTORY_KEY, VAULT_KEY, ledger_key(table)],
                description=f"{table} minimised for {purpose}",
                group_name="minimised",
                kinds={"duckdb"},
                owners=["team:privacy"],
                skippable=True,
                automation_condition=dg.AutomationCondition.eager(),
            )
            for purpose in policy.purposes
            for table in LEDGER_TABLES
        ],
        pool=DUCKDB_POOL,
    )
    def minimised_tables(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
        """Per purpose: drop, pseudonymise (a key per purpose), generalise or tokenise a column."""
        from privacy.classifier import read_inventory

        with ledger_home.connect() as con:
            keyvault = ledger_home.keyvault(con)
            inventory = [r for r in read_inventory(con) if r.table in LEDGER_TABLES]
            with Plaintext(con, keyvault) as plain:
                relations = {t: plain.relation(t) for t in LEDGER_TABLES}
                results = minimise(con, inventory, policy, keyvault, relations=relations)
            changed = policy_event(
                con,
                policy,
                actor=run_actor(context.run.run_id),
                asset="minimised",
                snapshot_id=latest_snapshot(con),
            )
            if changed is not None:
                append_events(con, [changed])
        for purpose, result in results.items():
            for table in result.tables:
                key = minimised_key(policy, purpose, table.source_table.split(".")[-1])
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
                        **asset_column_lineage(minimised_columns(table.columns)),
                        "dagster/row_count": table.rows,
                        "table": table.output_table,
                        "dropped columns": ", ".join(dropped) or "none",
                        "erased subjects excluded": result.erased_subjects,
                    },
                )

    return minimised_tables


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


RELEASED_PRODUCTS = (
    INVENTORY_KEY,
    dg.AssetKey(["credit", "scores"]),
    dg.AssetKey(["credit", "pricing"]),
    dg.AssetKey(["credit", "merchant_pricing"]),
    dg.AssetKey(["credit", "model_card"]),
    dg.AssetKey(["attest", "issuer_key"]),
    dg.AssetKey(["attest", "snapshot_commitment"]),
    dg.AssetKey(["attest", "score_credentials"]),
    dg.AssetKey(["insights", "releases"]),
    dg.AssetKey(["dpo", "records"]),
)
"""Assets that stage files for a party; the gate publishes what they staged."""


def build_release_manifest(published_contacts: tuple[str, ...] = ()) -> dg.AssetsDefinition:
    """The publish gate for a deployment whose controller and DPO publish ``published_contacts``
    (e-mail, phone from its settings): the DPO's files may name them; anything else, and a
    contact that is a subject's value, is still refused
    (:func:`privacy.leakguard.contact_allowlist`)."""

    @dg.asset(
        key=RELEASE_KEY,
        deps=sorted(
            {*RELEASED_PRODUCTS, *(dg.AssetKey(t.split(".")) for t in PUBLISHED_TABLES)},
            key=lambda k: k.to_user_string(),
        ),
        check_specs=[
            dg.AssetCheckSpec(
                LEAK_GUARD_CHECK,
                asset=RELEASE_KEY,
                blocking=True,
                description="no personal identifier appears in a staged file or a published table",
            )
        ],
        group_name="governance",
        kinds={"duckdb"},
        owners=["team:privacy"],
        pool=DUCKDB_POOL,
        # Eager, but not held back by a product that was never built (a DP release runs only on
        # request): the gate publishes whatever is staged whenever any product changed.
        automation_condition=dg.AutomationCondition.eager().without(
            ~dg.AutomationCondition.any_deps_missing()
        ),
    )
    def release_manifest(context: dg.AssetExecutionContext, ledger_home: LedgerHome):
        """The publish gate: the leak guard scans every staged file and published table; only if it
        passes do the staged files move into out/ (each atomically), listed in out/MANIFEST.json."""
        home = ledger_home.home
        staged = staged_files(home.staging)
        with ledger_home.connect() as con:
            keyvault = ledger_home.keyvault(con)
            existing = {
                f"{schema}.{name}"
                for schema, name in con.execute(
                    "SELECT schema_name, table_name FROM duckdb_tables()"
                ).fetchall()
            }
            tables = [t for t in PUBLISHED_TABLES if t in existing]
            # Needles: the vault's values plus those of sealed quarantined records.
            report = scan_release(
                con, keyvault, home.staging, tables, extra_needles=quarantine_values(con, keyvault)
            )
            snapshot = latest_snapshot(con)
        evidence = {
            "staged files": len(staged),
            "files scanned": report.files_scanned,
            "tables scanned": ", ".join(tables) or "none",
            "published tables not built": ", ".join(sorted(set(PUBLISHED_TABLES) - set(tables)))
            or "none",
            "identifiers checked": report.needles,
            "findings": dg.MetadataValue.md(report.summary()),
        }
        counts = {
            "staged files": len(staged),
            "files scanned": report.files_scanned,
            "tables scanned": report.tables_scanned,
            "identifiers checked": report.needles,
            "findings": len(report.findings),
            "unreadable files": len(report.unreadable),
        }
        actor = run_actor(context.run.run_id)
        if not report.ok:
            products = products_of(
                [p.relative_to(home.staging).as_posix().split("/", 1)[-1] for p in staged]
            )
            discarded = discard(home.staging)
            refusal = publish_event(
                passed=False,
                actor=actor,
                snapshot_id=snapshot,
                products=products,
                counts=counts,
                reason=report.summary(),
                runs=discarded,
            )
            with ledger_home.connect() as con:
                append_events(con, [refusal])
            yield dg.AssetCheckResult(
                check_name=LEAK_GUARD_CHECK,
                passed=False,
                metadata={**evidence, "discarded staged runs": ", ".join(discarded)},
            )
            raise dg.Failure(
                description="publish gate blocked the release, out/ is unchanged: "
                + report.summary().replace("\n", "; "),
                metadata=evidence,
            )
        receipt = publish(home.staging, home.out, snapshot_id=snapshot)
        if staged:  # a gate with nothing staged decided nothing: only a publication is audited
            decision = publish_event(
                passed=True,
                actor=actor,
                snapshot_id=snapshot,
                products=products_of(receipt.files),
                counts={**counts, "files published": len(receipt.files)},
                reason="leak guard passed: " + report.summary().split("\n", 1)[0],
                runs=receipt.runs,
            )
            with ledger_home.connect() as con:
                append_events(con, [decision])
        yield dg.MaterializeResult(
            metadata={
                "files published": len(receipt.files),
                "bytes published": receipt.bytes,
                "from runs": ", ".join(receipt.runs) or "none (nothing staged)",
                "published": dg.MetadataValue.md(
                    "\n".join(f"- {f}" for f in receipt.files) or "none"
                ),
            }
        )
        yield dg.AssetCheckResult(check_name=LEAK_GUARD_CHECK, passed=True, metadata=evidence)

    return release_manifest


release_manifest = build_release_manifest()
"""The gate of a deployment without configured contacts."""
