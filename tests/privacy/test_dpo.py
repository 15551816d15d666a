"""The DPO's view: lineage of every personal column, Art. 30 records, OpenLineage events and the
self-contained report, on a tiny hand-made ledger."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from privacy.audit import append_event
from privacy.classifier import classify_tables, read_inventory, write_inventory
from privacy.dpo.lineage import build_lineage, downstream_of, upstream_personal_columns
from privacy.dpo.openlineage_export import event_json, openlineage_events, validate_event
from privacy.dpo.products import default_recipients, write_dpo_products
from privacy.dpo.report import SECTIONS
from privacy.dpo.ropa import ART30_ITEMS, Controller
from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault
from privacy.minimise import minimise
from privacy.policy import load_policy

N = 30
CONTROLLER = Controller("Test wallet operator", "privacy@example.test", "dpo@example.test", "CN")
PRODUCTS = {"credit.scores": ["risk/scores.parquet"], "insights.releases": ["buyers/"]}
ASSET_DEPS = {
    "credit.scores": ["marts.credit_subjects"],
    "insights.releases": ["minimised.insights_transactions"],
}


def _manifest(path: Path) -> Path:
    """A dbt manifest: minimised credit tables -> staging -> marts.credit_subjects."""
    src = {
        f"source.p.ledger.{t}": {
            "resource_type": "source",
            "schema": "minimised",
            "name": t,
            "relation_name": f'"warehouse"."minimised"."credit_{t}"',
        }
        for t in ("users", "wallets")
    }
    nodes = {
        f"model.p.stg_{t}": {
            "resource_type": "model",
            "schema": "staging",
            "alias": f"stg_{t}",
            "depends_on": {"nodes": [f"source.p.ledger.{t}"]},
        }
        for t in ("users", "wallets")
    }
    nodes["model.p.credit_subjects"] = {
        "resource_type": "model",
        "schema": "marts",
        "alias": "credit_subjects",
        "depends_on": {"nodes": ["model.p.stg_users", "model.p.stg_wallets"]},
    }
    path.write_text(json.dumps({"sources": src, "nodes": nodes}))
    return path


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA ledger")
    con.execute(
        "CREATE TABLE ledger.users AS SELECT 'U' || lpad(i::VARCHAR, 5, '0') AS user_id, "
        "'Name ' || i AS full_name, CASE i % 2 WHEN 0 THEN 'F' ELSE 'M' END AS gender, "
        "DATE '1980-01-01' + INTERVAL (i * 97) DAY AS date_of_birth, (i % 3) + 1 AS kyc_level "
        f"FROM range({N}) r(i)"
    )
    con.execute(
        "CREATE TABLE ledger.wallets AS SELECT 'W' || i AS wallet_id, "
        "'U' || lpad(i::VARCHAR, 5, '0') AS user_id, "
        "'0x' || substr(sha256(i::VARCHAR), 1, 40) AS address FROM range(" + str(N) + ") r(i)"
    )
    con.execute(
        "CREATE TABLE ledger.transactions AS SELECT 'T' || i AS txn_id, "
        "'U' || lpad((i % 7)::VARCHAR, 5, '0') AS user_id, 10.5 * i AS amount, "
        "TIMESTAMP '2026-01-01' + INTERVAL (i) HOUR AS occurred_at FROM range(" + str(N) + ") r(i)"
    )
    write_inventory(con, classify_tables(con, ["users", "wallets", "transactions"]))
    minimise(con, read_inventory(con), load_policy(), LocalFileKeyVault(tmp_path / "keys"))
    yield con
    con.close()


def _lineage(con: duckdb.DuckDBPyConnection, tmp_path: Path):
    return build_lineage(
        read_inventory(con),
        load_policy(),
        dbt_manifest=_manifest(tmp_path / "manifest.json"),
        asset_deps=ASSET_DEPS,
        products=PRODUCTS,
    )


def test_every_personal_column_is_in_the_lineage_once_per_purpose(warehouse, tmp_path) -> None:
    inventory = read_inventory(warehouse)
    lineage = _lineage(warehouse, tmp_path)
    personal = {(f"ledger.{r.table}", r.column) for r in inventory if r.personal}
    assert ("ledger.wallets", "address") in personal and len(personal) >= 6
    for purpose in load_policy().purposes:
        seen = {(f.source_dataset, f.source_column) for f in lineage.flows if f.purpose == purpose}
        assert personal <= seen


def test_lineage_targets_are_the_columns_minimise_actually_built(warehouse, tmp_path) -> None:
    lineage = _lineage(warehouse, tmp_path)
    built = {
        f"{s}.{t}.{c}"
        for s, t, c in warehouse.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'minimised'"
        ).fetchall()
    }
    claimed = {f"{f.target_dataset}.{f.target_column}" for f in lineage.flows if f.target_dataset}
    assert claimed == built
    dob = next(
        f
        for f in lineage.flows
        if f.source_column == "date_of_birth" and f.purpose == "credit_scoring"
    )
    assert (dob.action, dob.target_column) == ("generalise", "age_band")


def test_an_output_derived_from_a_sensitive_column_traces_back_to_it(warehouse, tmp_path) -> None:
    lineage = _lineage(warehouse, tmp_path)
    address = next(f for f in lineage.flows if f.source_column == "address" and f.sensitive)
    assert address.source_dataset == "ledger.wallets"
    reached = downstream_of(lineage, "ledger.wallets", "address")
    assert "out/risk/scores.parquet" in reached
    back = upstream_personal_columns(lineage, "out/risk/scores.parquet")
    via = {(f.source_dataset, f.source_column, f.action) for f in back}
    assert ("ledger.wallets", "address", "pseudonymise") in via
    # The name is dropped for credit scoring: it cannot have reached the risk team's file.
    assert not any(f.source_column == "full_name" for f in back)
    assert downstream_of(lineage, "ledger.users", "full_name") == {"minimised.dpo_users"}


def test_the_ropa_has_every_art30_item_and_an_impact_assessment_input(warehouse, tmp_path) -> None:
    out = tmp_path / "dpo"
    policy = load_policy()
    recipients = default_recipients(policy, {"acme": "Acme research"}, "CN")
    write_dpo_products(
        warehouse,
        out,
        policy,
        controller=CONTROLLER,
        recipients=recipients,
        run_id="r1",
        now="2026-12-01T00:00:00+00:00",
        namespace="duckdb://w.duckdb",
    )
    ropa = json.loads((out / "ropa.json").read_text())
    assert set(ART30_ITEMS) <= set(ropa)
    assert ropa["a_controller"]["dpo_contact"] == "dpo@example.test"
    assert {p["purpose"] for p in ropa["b_purposes"]} == set(policy.purposes)
    assert all(p["description"] for p in ropa["b_purposes"])
    categories = {c["pipl_category"]: c for c in ropa["c_categories"]["personal_data"]}
    assert "wallets.address" in categories["financial account"]["columns"]
    assert categories["financial account"]["sensitive_pipl_art28"] is True
    assert {r["name"] for r in ropa["d_recipients"]} >= {"risk team", "buyer acme"}
    assert ropa["e_transfers"]["third_country_transfers"] == []
    assert "none" in ropa["e_transfers"]["statement"]
    retained = {r["entity_type"] for r in ropa["f_retention"]["by_entity_type"]}
    inventory = read_inventory(warehouse)
    assert retained == {r.entity_type for r in inventory if r.personal}
    assert any("AES-GCM" in m["description"] for m in ropa["g_security"])
    pia = ropa["pipl_impact_assessment"]
    sensitive = sorted(f"{r.table}.{r.column}" for r in inventory if r.pipl_sensitive)
    assert "wallets.address" in sensitive
    assert [s["column"] for s in pia["sensitive_processing"]] == sensitive
    assert [r["recipient"] for r in pia["outside_recipients"]] == ["buyer acme"]
    # No personal value is written: the generated names never appear.
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "Name 1" not in text and "U00001" not in text


def test_openlineage_events_validate_and_carry_column_lineage(warehouse, tmp_path) -> None:
    lineage = _lineage(warehouse, tmp_path)
    events = openlineage_events(
        lineage, run_id="r1", event_time="2026-12-01T00:00:00Z", namespace="duckdb://w"
    )
    docs = [event_json(e) for e in events]
    assert {d["job"]["name"] for d in docs} >= {
        "minimised.credit_wallets",
        "marts.credit_subjects",
        "credit.scores",
        "governance.release_manifest",
    }
    for d in docs:
        assert validate_event(d) == [], d["job"]["name"]
    wallets = next(d for d in docs if d["job"]["name"] == "minimised.credit_wallets")
    field = wallets["outputs"][0]["facets"]["columnLineage"]["fields"]["address"]
    src = field["inputFields"][0]
    assert (src["name"], src["field"]) == ("ledger.wallets", "address")
    assert src["transformations"][0]["masking"] is True


def test_openlineage_validation_rejects_a_broken_event(warehouse, tmp_path) -> None:
    lineage = _lineage(warehouse, tmp_path)
    events = openlineage_events(
        lineage, run_id="r", event_time="2026-12-01T00:00:00Z", namespace="d"
    )
    doc = next(event_json(e) for e in events if e.job.name == "minimised.credit_wallets")
    bad = json.loads(json.dumps(doc))
    del bad["run"]["runId"]
    assert any("runId" in e for e in validate_event(bad))
    bad = json.loads(json.dumps(doc))
    bad["outputs"][0]["facets"]["columnLineage"]["fields"]["x"] = {"inputFields": "nope"}
    assert any("columnLineage" in e for e in validate_event(bad))


def test_the_report_names_each_section_and_references_nothing_remote(warehouse, tmp_path) -> None:
    append_event(warehouse, "test", "policy_change", None, {"n": 1})
    append_event(warehouse, "test", "ingest_snapshot", None, {"n": 2})
    out = tmp_path / "dpo"
    policy = load_policy()
    write_dpo_products(
        warehouse,
        out,
        policy,
        controller=CONTROLLER,
        recipients=default_recipients(policy, {"acme": "Acme"}, "CN"),
        run_id="r1",
        now="2026-12-01T00:00:00+00:00",
        namespace="duckdb://w.duckdb",
    )
    html = (out / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|img|iframe)\b", html)
    for key, title in SECTIONS.items():
        assert f'<h2 id="{key}">{title}</h2>' in html
    assert "wallets.address" in html
    tamper = html.split('id="tamper"')[1]
    assert '<span class="ok">intact</span>' in tamper.split("insights.privacy_ledger")[0]
    # Edit one audit entry: the report says the chain is broken and where.
    warehouse.execute("UPDATE audit.events SET actor = 'someone' WHERE seq = 1")
    write_dpo_products(
        warehouse,
        out,
        policy,
        controller=CONTROLLER,
        recipients=[],
        run_id="r2",
        now="2026-12-01T00:00:01+00:00",
        namespace="duckdb://w.duckdb",
    )
    html = (out / "report.html").read_text()
    assert "BROKEN" in html and "hash mismatch at seq 1" in html
