"""Complete erasure: every place, counted; nothing of the subject left; unknown ids refused; the
warehouse lock waited for; re-landing does not bring the subject back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from privacy_testdata import ENTITY_TABLES

from ledger.ingest import ingest
from privacy.classifier import classify_tables
from privacy.erasure import (
    UnknownSubjectError,
    WarehouseBusyError,
    connect_with_wait,
    forget_completely,
)
from privacy.minimise import minimise
from privacy.policy import load_policy
from privacy.pseudonyms import Tokeniser, pseudonym
from privacy.publish import publish, read_manifest
from privacy.vault import PiiVault

AS_OF = "DATE '2026-07-01'"

_CREDENTIALS_DDL = """CREATE TABLE attest.credentials (
    subject VARCHAR NOT NULL, loan_id VARCHAR NOT NULL, status_index BIGINT NOT NULL UNIQUE,
    credential_id VARCHAR PRIMARY KEY, issued_at TIMESTAMP NOT NULL, revoked BOOLEAN NOT NULL,
    model_version VARCHAR NOT NULL, model_hash VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL,
    valid_until TIMESTAMP NOT NULL, revoked_at TIMESTAMP)"""


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> Any:
    return con.execute(sql, params).fetchall()[0][0]


def _pick_subject(con: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """(subject most often named as counterparty who also has a loan, another such user)."""
    rows = con.execute(
        """SELECT counterparty FROM ledger.transactions t
        WHERE counterparty IN (SELECT user_id FROM ledger.loans)
        GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"""
    ).fetchall()
    return str(rows[0][0]), str(rows[1][0])


def _quarantine(con: duckdb.DuckDBPyConnection, raw: str) -> None:
    con.execute(
        "INSERT INTO ledger.quarantine (entity, source_file, source_row, failed_rules, raw_record) "
        "VALUES ('transactions', 'transactions/x.csv', 1, ['amount_positive'], ?)",
        [raw],
    )


def _build(con: duckdb.DuckDBPyConnection, kv: Any, home: Path) -> dict[str, Any]:
    """Vault, minimised tables, stand-ins for dbt models / credit tables / credentials, one
    published and one pending release, and quarantined rows; returns the subject's facts."""
    inv = classify_tables(con, ENTITY_TABLES)
    PiiVault(con, kv).load_from_ledger()
    minimise(con, inv, load_policy(), kv, as_of=AS_OF)
    subject, other = _pick_subject(con)
    p = pseudonym(kv.purpose_key("credit_scoring"), subject)
    p_other = pseudonym(kv.purpose_key("credit_scoring"), other)
    # Quarantine: the subject's own reject, another's reject naming them, a raw text line.
    _quarantine(con, json.dumps({"txn_id": "TQ1", "user_id": subject, "amount": "--5"}))
    _quarantine(con, json.dumps({"txn_id": "TQ2", "user_id": other, "counterparty": subject}))
    _quarantine(con, f"TQ3,{subject},transfer,--1")
    _quarantine(con, f"TQ4,{subject}0,transfer,--1")  # another id that merely starts alike
    # dbt-like models and credit tables keyed by the credit pseudonym.
    for schema in ("intermediate", "marts", "credit", "attest"):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(
        """CREATE TABLE intermediate.int_account_flows_daily AS
        SELECT user_id, count(*) AS n FROM minimised.credit_transactions GROUP BY 1
        UNION ALL SELECT counterparty, count(*) FROM minimised.credit_transactions
        WHERE counterparty IS NOT NULL GROUP BY 1"""
    )
    con.execute(
        """CREATE TABLE marts.credit_events AS SELECT txn_id, user_id,
        counterparty AS counterparty_user_id FROM minimised.credit_transactions"""
    )
    con.execute("CREATE VIEW marts.accounts_v AS SELECT * FROM marts.credit_events")
    con.execute(
        """CREATE TABLE credit.scores AS SELECT loan_id, user_id AS subject_id, 600 AS score,
        'v1' AS model_version FROM minimised.credit_loans"""
    )
    con.execute(_CREDENTIALS_DDL)
    for i, who in enumerate((p, p_other)):
        con.execute(
            "INSERT INTO attest.credentials VALUES (?, 'L', ?, ?, now(), false, 'v1', 'h', 's', "
            "now() + INTERVAL 90 DAY, NULL)",
            [who, i, f"urn:cred:{i}"],
        )
    # Files: run0 published into out/, run1 pending in staging.
    for run, loan in (("run0", "L0"), ("run1", "L1")):
        for who in (p, p_other):
            folder = home / "staging" / run / "subjects" / who
            folder.mkdir(parents=True)
            (folder / f"credential-{loan}.json").write_text("{}")
            (folder / f"opening-{loan}.json").write_text("{}")
        if run == "run0":
            risk = home / "staging" / run / "risk"
            risk.mkdir()
            pq.write_table(
                con.sql(
                    "SELECT loan_id, subject_id, score FROM credit.scores ORDER BY loan_id"
                ).to_arrow_table(),
                risk / "scores.parquet",
            )
            (home / "staging" / run / "dpo").mkdir()
            (home / "staging" / run / "dpo" / "note.txt").write_text(f"holder {p}\n")
            publish(home / "staging", home / "out", snapshot_id="snap")
    vault_record = PiiVault(con, kv).get(subject)
    assert vault_record
    others = PiiVault(con, kv).get_many()
    others.pop(subject)
    shared = {str(v) for rec in others.values() for v in rec.values() if not isinstance(v, list)}
    raw_values = {
        str(v)
        for v in vault_record.values()
        if not isinstance(v, list) and len(str(v)) >= 5 and str(v) not in shared
    }
    raw_values |= {str(a) for a in vault_record.get("wallets.address", [])}
    wallets = [
        r[0]
        for r in con.execute(
            "SELECT wallet_id FROM ledger.wallets WHERE user_id = ?", [subject]
        ).fetchall()
    ]
    purposes = ("credit_scoring", "insights_sale", "dpo_audit")
    needles = {subject, *raw_values}
    for purpose in purposes:
        key = kv.purpose_key(purpose)
        needles |= {pseudonym(key, v) for v in (subject, *wallets, *raw_values)}
    tok = Tokeniser(kv, "dpo_audit")
    needles |= {tok.tokenise(v) for v in (subject, *wallets)}
    return {
        "subject": subject,
        "other": other,
        "p": p,
        "p_other": p_other,
        "wallets": wallets,
        "needles": needles,
    }


def _expected(con: duckdb.DuckDBPyConnection, kv: Any, f: dict[str, Any]) -> dict[str, int]:
    s, p = f["subject"], f["p"]
    exp = {
        "vault": 1,
        "ledger.users": 1,
        "ledger.quarantine": 2,
        "ledger.quarantine.counterparty": 1,
        "attest.credentials": 1,
        "staging": 2,
        "out": 2,
        "out:risk/scores.parquet": _one(
            con, "SELECT count(*) FROM credit.scores WHERE subject_id = ?", [p]
        ),
    }
    for t in ("wallets", "loans", "transactions"):
        exp[f"ledger.{t}"] = _one(con, f"SELECT count(*) FROM ledger.{t} WHERE user_id = ?", [s])
    exp["ledger.transactions.counterparty"] = _one(
        con, "SELECT count(*) FROM ledger.transactions WHERE counterparty = ?", [s]
    )
    keyed = {
        "credit": p,
        "insights": pseudonym(kv.purpose_key("insights_sale"), s),
        "dpo": Tokeniser(kv, "dpo_audit").tokenise(s),
    }
    for (table,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'minimised' ORDER BY 1"
    ).fetchall():
        cols = {c[0] for c in con.execute(f"DESCRIBE minimised.{table}").fetchall()}
        value = keyed[table.split("_", 1)[0]]
        if "user_id" in cols:
            exp[f"minimised.{table}"] = _one(
                con, f"SELECT count(*) FROM minimised.{table} WHERE user_id = ?", [value]
            )
        if "counterparty" in cols:
            exp[f"minimised.{table}.counterparty"] = _one(
                con, f"SELECT count(*) FROM minimised.{table} WHERE counterparty = ?", [value]
            )
    exp["intermediate.int_account_flows_daily"] = _one(
        con, "SELECT count(*) FROM intermediate.int_account_flows_daily WHERE user_id = ?", [p]
    )
    exp["marts.credit_events"] = exp["minimised.credit_transactions"]
    exp["marts.credit_events.counterparty_user_id"] = exp[
        "minimised.credit_transactions.counterparty"
    ]
    exp["credit.scores"] = exp["out:risk/scores.parquet"]
    return {k: v for k, v in exp.items() if v}


def _scan_warehouse(con: duckdb.DuckDBPyConnection, needles: set[str]) -> list[str]:
    con.execute("CREATE OR REPLACE TEMP TABLE _needles (v VARCHAR)")
    con.executemany("INSERT INTO _needles VALUES (?)", [[n] for n in sorted(needles)])
    found = []
    cols = con.execute(
        """SELECT c.schema_name, c.table_name, c.column_name FROM duckdb_columns() c
        JOIN duckdb_tables() t USING (database_name, schema_name, table_name)
        WHERE c.data_type = 'VARCHAR' AND NOT t.temporary"""
    ).fetchall()
    assert len(cols) > 50  # the scan really covers the warehouse
    for schema, table, column in cols:
        hit = _one(
            con,
            f'SELECT count(*) FROM "{schema}"."{table}" t, _needles n '
            f'WHERE contains(t."{column}", n.v)',
        )
        if hit:
            found.append(f"{schema}.{table}.{column}")
    return found


def _scan_files(root: Path, needles: set[str]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = (
            str(pq.read_table(path).to_pylist())
            if path.suffix == ".parquet"
            else path.read_text(errors="replace")
        )
        if any(n in text for n in needles):
            found.append(path.relative_to(root).as_posix())
    return found


def test_erasure_reaches_every_place_and_counts_it(working_copy, tmp_path: Path) -> None:
    con, kv = working_copy
    home = tmp_path / "home"
    f = _build(con, kv, home)
    expected = _expected(con, kv, f)
    assert expected["ledger.transactions.counterparty"] > 0 and expected["credit.scores"] > 0
    other_before = _one(
        con, "SELECT count(*) FROM ledger.transactions WHERE user_id = ?", [f["other"]]
    )

    receipt = forget_completely(con, kv, f["subject"], reason="test", actor="t", home=home)

    assert receipt.counts == expected
    assert receipt.ledger_rows_deleted == sum(
        v for k, v in expected.items() if k.startswith("ledger.") and k.count(".") == 1
    )
    assert receipt.unresolved_files == ("out/dpo/note.txt",)
    (home / "out" / "dpo" / "note.txt").unlink()
    # The look-alike id's reject survives; it contains the subject id as a substring, so the
    # substring scan below would (rightly) flag it.
    assert _one(con, "SELECT count(*) FROM ledger.quarantine WHERE raw_record LIKE 'TQ4,%'") == 1
    con.execute("DELETE FROM ledger.quarantine WHERE raw_record LIKE 'TQ4,%'")
    assert _scan_warehouse(con, f["needles"]) == []
    assert _scan_files(home, f["needles"]) == []
    # Other subjects keep their data, their folders and their credential.
    assert (
        _one(con, "SELECT count(*) FROM ledger.transactions WHERE user_id = ?", [f["other"]])
        == other_before
    )
    assert (home / "out" / "subjects" / f["p_other"] / "credential-L0.json").is_file()
    assert (home / "staging" / "run1" / "subjects" / f["p_other"]).is_dir()
    assert con.execute(
        "SELECT status_index, revoked, revoked_at IS NOT NULL FROM attest.credentials "
        "ORDER BY status_index"
    ).fetchall() == [(0, True, True), (1, False, False)]
    # The manifest lists what is in out/, with the rewritten file's hash.
    manifest = read_manifest(home / "out")
    assert not any(f["p"] in k for k in manifest)
    scores = manifest["risk/scores.parquet"]
    assert scores["bytes"] == (home / "out" / "risk" / "scores.parquet").stat().st_size
    # The register holds the keyed hash; the audit event counts without naming anyone.
    assert (
        _one(
            con,
            "SELECT count(*) FROM vault.erasure_requests WHERE subject_hash = ?",
            [receipt.subject_hash],
        )
        == 1
    )
    details = json.loads(_one(con, "SELECT details FROM audit.events ORDER BY seq DESC LIMIT 1"))
    assert details["counts"]["ledger.users"] == 1
    # A repeat request is accepted (the id is in the register) and finds nothing more.
    again = forget_completely(con, kv, f["subject"], reason="again", actor="t", home=home)
    assert again.already_erased and again.counts == {}


def test_unknown_id_refused_without_force(working_copy) -> None:
    con, kv = working_copy
    PiiVault(con, kv).load_from_ledger()
    known = _one(con, "SELECT user_id FROM ledger.users ORDER BY user_id LIMIT 1")
    before = _one(con, "SELECT count(*) FROM ledger.users")
    with pytest.raises(UnknownSubjectError) as err:
        forget_completely(con, kv, "U9999999", reason="typo", actor="t")
    assert "U9999999" not in str(err.value) and known not in str(err.value)
    assert "--force" in str(err.value)
    assert _one(con, "SELECT count(*) FROM vault.erasure_requests") == 0
    assert _one(con, "SELECT count(*) FROM ledger.users") == before
    forced = forget_completely(con, kv, "U9999999", reason="typo", actor="t", force=True)
    assert forced.counts == {} and not forced.data_key_shredded
    assert _one(con, "SELECT count(*) FROM vault.erasure_requests") == 1


def test_quarantine_only_subject_is_known(working_copy) -> None:
    con, kv = working_copy
    _quarantine(con, json.dumps({"user_id": "U7777777", "mobile": "13800000000"}))
    receipt = forget_completely(con, kv, "U7777777", reason="r", actor="t")
    assert receipt.counts == {"ledger.quarantine": 1}
    assert (
        _one(con, "SELECT count(*) FROM ledger.quarantine WHERE raw_record LIKE '%U7777777%'") == 0
    )


def test_relanding_does_not_bring_the_subject_back(working_copy, source_db: Path, tmp_path):
    con, kv = working_copy
    PiiVault(con, kv).load_from_ledger()
    inv = classify_tables(con, ENTITY_TABLES)
    subject = _one(con, "SELECT user_id FROM ledger.wallets ORDER BY user_id LIMIT 1")
    forget_completely(con, kv, subject, reason="r", actor="t")
    # Re-land the subject's user and wallet rows as new landing files.
    landing = tmp_path / "landing"
    for entity in ("users", "wallets"):
        src = pq.read_table(source_db.parent / "landing" / entity / f"{entity}.parquet")
        mask = pa.compute.equal(src.column("user_id"), subject)
        (landing / entity).mkdir(parents=True)
        pq.write_table(src.filter(mask), landing / entity / f"relanded-{entity}.parquet")
    ingest(con, landing)
    assert _one(con, "SELECT count(*) FROM ledger.users WHERE user_id = ?", [subject]) == 1
    PiiVault(con, kv).load_from_ledger()
    res = minimise(con, inv, load_policy(), kv, as_of=AS_OF)
    assert PiiVault(con, kv).get(subject) is None
    assert res["credit_scoring"].erased_subjects == 1
    for purpose, short in (("credit_scoring", "credit"), ("insights_sale", "insights")):
        p = pseudonym(kv.purpose_key(purpose), subject)
        for t in ("users", "wallets"):
            assert (
                _one(con, f"SELECT count(*) FROM minimised.{short}_{t} WHERE user_id = ?", [p]) == 0
            )


_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS t (x INT)")
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_lock_wait_times_out_with_typed_error(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    proc = _hold(db, 30)
    try:
        start = time.monotonic()
        with pytest.raises(WarehouseBusyError, match="pass --wait N"):
            connect_with_wait(db, 0.6)
        assert 0.5 <= time.monotonic() - start < 5
    finally:
        proc.kill()
        proc.wait()


def test_lock_wait_connects_once_the_run_ends(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    proc = _hold(db, 1.0)
    try:
        con = connect_with_wait(db, 20)
        assert con.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
        con.close()
    finally:
        proc.wait()
