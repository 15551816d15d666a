"""Every security-relevant step writes its audit event (actor, purpose, asset, snapshot), change
events only on change, and no event carries a personal value of the ledger."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from assets.governance import build_minimised_tables, column_inventory, pii_vault, release_manifest
from assets.ingest import ledger_reference
from assets.resources import ledger_home_resource
from ledger.home import Home
from ledger.synthetic import GeneratorConfig, generate
from pipelines.cli import app
from privacy.audit import verify_chain
from privacy.audit_events import (
    CLASSIFICATION_FIELDS,
    EVENT_KINDS,
    audit_event,
    classification_events,
    event_kinds,
    products_of,
)
from privacy.classifier import ColumnClassification
from privacy.keyvault import MASTER_KEY_ENV
from privacy.policy import DEFAULT_POLICY_PATH, load_policy

PERSONAL = ("user_id", "full_name", "mobile", "email", "resident_id", "device_id", "ip_address")


def _events(home: Home) -> list[tuple[str, str, str | None, dict[str, object]]]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT actor, action, subject, details FROM audit.events ORDER BY seq"
        ).fetchall()
    return [(a, b, c, json.loads(d)) for a, b, c, d in rows]


def _personal_values(landing: Path) -> set[str]:
    users = pq.read_table(landing / "users" / "users.parquet").to_pydict()
    values = {str(v) for col in PERSONAL for v in users[col] if v}
    wallets = pq.read_table(landing / "wallets" / "wallets.parquet").to_pydict()
    return values | {str(v) for v in wallets["address"] if v}


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A home with a small generated landing, and a function materialising ingest (reference
    data), classification, the vault, minimisation and the publish gate under a policy."""
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    home = Home(tmp_path / "home").ensure()
    generate(home.landing, GeneratorConfig(users=40, days=3, seed=5))
    values = _personal_values(home.landing)  # before the landing moves into the archive
    instance = dg.DagsterInstance.ephemeral()

    def run(policy: Path = DEFAULT_POLICY_PATH, *, full: bool = True) -> dg.ExecuteInProcessResult:
        governance = [column_inventory, pii_vault, build_minimised_tables(load_policy(policy))]
        result = dg.materialize(
            [ledger_reference, *(governance if full else ()), release_manifest],
            resources={"ledger_home": ledger_home_resource(home, policy)},
            instance=instance,
        )
        assert result.success
        return result

    return home, run, values


def test_each_step_audits_itself_once_and_change_events_only_on_change(pipeline) -> None:  # type: ignore[no-untyped-def]
    home, run, values = pipeline
    first = run()
    events = _events(home)
    actions = [a for _, a, _, _ in events]
    # The first run: the batch, its protection, every column classified, the policy, the gate.
    assert actions[:2] == ["ingest.snapshot", "tokenise"]
    assert actions.count("policy.change") == 1 and actions.count("publish.passed") == 1
    classified = [e for e in events if e[1] == "classification.change"]
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        columns = con.execute("SELECT count(*) FROM governance.column_inventory").fetchone()[0]
        snapshot = con.execute("SELECT snapshot_id FROM ledger.snapshots").fetchone()[0]
    assert len(classified) == columns
    for actor, _, _, details in events:
        assert actor == f"dagster run {first.run_id}"
        assert {"purpose", "asset", "snapshot_id"} <= details.keys()
        assert details["snapshot_id"] == snapshot
    snap = events[0][3]
    assert snap["rows_loaded"] + snap["rows_quarantined"] == snap["rows_read"] > 0
    assert {f["entity"] for f in snap["files"]} == {
        "users",
        "wallets",
        "merchants",
        "prices",
        "loans",
    }
    tokenise = events[1][3]
    assert tokenise["asset"] == "vault.subjects" and tokenise["counts"]["subjects vaulted"] == 40
    email = next(e for e in classified if e[2] == "ledger.users.email")[3]
    assert email["before"] is None and email["after"]["entity_type"] == "email"
    gate = next(e for e in events if e[1] == "publish.passed")[3]
    assert gate["products"] == ["dpo"] and gate["counts"]["findings"] == 0

    # The minimised tables' column lineage is Dagster metadata from the minimisation's records.
    credit_users = next(
        m
        for m in first.asset_materializations_for_node("minimised_tables")
        if m.asset_key == dg.AssetKey(["minimised", "credit_users"])
    )
    deps = credit_users.metadata["dagster/column_lineage"].value.deps_by_column
    users = dg.AssetKey(["ledger", "users"])
    assert deps["user_id"] == [dg.TableColumnDep(asset_key=users, column_name="user_id")]
    assert deps["age_band"] == [dg.TableColumnDep(asset_key=users, column_name="date_of_birth")]
    assert "full_name" not in deps  # dropped for credit scoring

    # Nothing new landed, the policy is the same: only the gate's decision is audited again.
    run()
    assert [a for _, a, _, _ in _events(home)][len(events) :] == ["publish.passed"]

    # A changed policy file is audited, with the hash it replaces.
    changed = home.root / "policy.yaml"
    changed.write_text(DEFAULT_POLICY_PATH.read_text() + "\n# reviewed by the DPO\n")
    run(changed)
    policies = [d for _, a, _, d in _events(home) if a == "policy.change"]
    assert len(policies) == 2 and policies[1]["previous_sha256"] == policies[0]["sha256"]
    assert policies[1]["asset"] == "minimised"

    text = json.dumps(_events(home))
    assert not {v for v in values if v in text}
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert verify_chain(con).ok
        kinds = {k.action: k for k in event_kinds(con)}
    assert kinds["publish.passed"].count == 3 and kinds["ingest.snapshot"].count == 1


def test_a_refused_release_is_audited_with_products_counts_and_no_value(pipeline) -> None:  # type: ignore[no-untyped-def]
    home, run, values = pipeline
    run(full=False)  # ingest fills the vault, whose values the gate looks for
    mobile = next(v for v in sorted(values) if v.startswith("1") and len(v) == 11)
    planted = home.staging / "run-x" / "buyers" / "acme" / "leak.csv"
    planted.parent.mkdir(parents=True)
    planted.write_text(f"contact\n{mobile}\n")
    result = dg.materialize(
        [release_manifest],
        resources={"ledger_home": ledger_home_resource(home)},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    actor, action, _, details = _events(home)[-1]
    assert action == "publish.refused" and actor == f"dagster run {result.run_id}"
    assert details["products"] == ["buyers/acme"] and details["runs"] == ["run-x"]
    assert details["counts"]["findings"] >= 1 and "buyers/acme/leak.csv" in details["reason"]
    assert mobile not in json.dumps(details)


def _row(**changes: object) -> ColumnClassification:
    base = ColumnClassification(
        "users", "email", "VARCHAR", "email", 0.9, "name", "contact", False, "important",
        "L3", False, "P1Y", "contract", True, True, 10, 10,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_classification_event_names_what_changed_and_ignores_confidence() -> None:
    same = classification_events(
        [_row()], [_row(confidence=0.5, evidence="values")], actor="a", snapshot_id="s"
    )
    assert same == []
    (event,) = classification_events(
        [_row()], [_row(gbt_grade="core", pipl_sensitive=True)], actor="a", snapshot_id="s"
    )
    assert event.subject == "ledger.users.email"
    assert event.details is not None and event.details["changed"] == ["gbt_grade", "pipl_sensitive"]
    assert set(event.details["after"]) == set(CLASSIFICATION_FIELDS)
    (gone,) = classification_events([_row()], [], actor="a", snapshot_id="s")
    assert gone.details is not None and gone.details["after"] is None


def test_an_undeclared_action_is_refused_and_products_are_parties() -> None:
    with pytest.raises(KeyError, match="EVENT_KINDS"):
        audit_event("made_up", actor="a", purpose="p", asset="x", snapshot_id=None)
    assert "publish.refused" in EVENT_KINDS
    assert products_of(["risk/scores.parquet", "buyers/b1/r/x/data.parquet", "subjects/P1/a"]) == [
        "buyers/b1",
        "risk",
        "subjects",
    ]


def test_keys_rotate_audits_fingerprints_and_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.setenv("LEDGERLENS_HOME", str(tmp_path))
    from privacy.keyvault import open_keyvault
    from privacy.vault import PiiVault

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        PiiVault(con, open_keyvault(con, tmp_path / "keys")).merge_many(
            {"U1": {"email": ["a@example.test"]}, "U2": {"email": ["b@example.test"]}}
        )
    result = CliRunner().invoke(app, ["keys", "rotate", "--actor", "ops@controller"])
    assert result.exit_code == 0, result.output
    actor, action, subject, details = _events(Home(tmp_path))[-1]
    assert (actor, action, subject) == ("ops@controller", "key.rotated", "master")
    assert details["data_keys_rewrapped"] == 2 and details["purpose"] == "key management"
    assert details["fingerprint_before"] != details["fingerprint_after"]
    assert details["fingerprint_after"] in result.output
