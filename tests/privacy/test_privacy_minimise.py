"""Minimisation per purpose, pseudonyms, tokens, erasure end to end, audit chain."""

from __future__ import annotations

import hashlib
import hmac

import duckdb
import pytest
from privacy_testdata import ENTITY_TABLES

from privacy.audit import verify_chain
from privacy.classifier import classify_tables
from privacy.erasure import forget, is_erased
from privacy.minimise import minimise, minimised_table_name
from privacy.policy import load_policy
from privacy.pseudonyms import TokenError, Tokeniser, hmac_pads, hmac_sql, pseudonym
from privacy.vault import PiiVault


@pytest.fixture
def env(working_copy):
    con, kv = working_copy
    return con, kv, classify_tables(con, ENTITY_TABLES)


def _cols(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def test_sql_hmac_equals_python() -> None:
    key = b"k" * 32
    inner, outer = hmac_pads(key)
    con = duckdb.connect()
    for v in ("U0000042", "0xAbC0000000000000000000000000000000000001", " 王秀英 "):
        got = con.execute(f"SELECT {hmac_sql('$v')}", {"v": v, "hmac_i": inner, "hmac_o": outer})
        assert got.fetchall()[0][0] == pseudonym(key, v)
    assert pseudonym(key, "x") == hmac.new(key, b"x", hashlib.sha256).hexdigest()[:32]


def test_minimised_tables_naming_and_columns(env) -> None:
    con, kv, inv = env
    res = minimise(con, inv, load_policy(), kv, as_of="DATE '2026-07-01'")
    assert set(res) == {"credit_scoring", "insights_sale", "dpo_audit"}
    assert minimised_table_name("credit", "transactions") == "minimised.credit_transactions"
    cu = _cols(con, "minimised.credit_users")
    assert "user_id" in cu and "age_band" in cu and "home_city_region" in cu
    for gone in ("full_name", "mobile", "email", "resident_id", "date_of_birth", "home_city"):
        assert gone not in cu
    ct = _cols(con, "minimised.credit_transactions")
    assert {"user_id", "counterparty", "device_id", "ip_prefix", "occurred_at"} <= set(ct)
    it = _cols(con, "minimised.insights_transactions")
    assert "occurred_date" in it and "occurred_at" not in it and "ip_address" not in it
    # rows preserved
    n_src = con.execute("SELECT count(*) FROM ledger.transactions").fetchall()[0][0]
    assert (
        n_src == con.execute("SELECT count(*) FROM minimised.credit_transactions").fetchall()[0][0]
    )
    # column records for Dagster metadata
    recs = {(r.source_table, r.column): r for r in res["credit_scoring"].records}
    r = recs[("ledger.users", "date_of_birth")]
    assert (r.entity_type, r.action, r.output_column) == ("date_of_birth", "generalise", "age_band")
    assert recs[("ledger.users", "mobile")].output_column is None
    assert recs[("ledger.users", "user_id")].output_table == "minimised.credit_users"


def test_pseudonyms_join_within_purpose_not_across(env) -> None:
    con, kv, inv = env
    minimise(con, inv, load_policy(), kv)
    # joins work inside a purpose: every transaction's user is in the users table
    orphan = con.execute(
        "SELECT count(*) FROM minimised.credit_transactions t LEFT JOIN minimised.credit_users u "
        "USING (user_id) WHERE u.user_id IS NULL"
    ).fetchall()[0][0]
    assert orphan == 0
    p2p = con.execute(
        "SELECT count(*) FROM minimised.credit_transactions t JOIN minimised.credit_users u "
        "ON t.counterparty = u.user_id"
    ).fetchall()[0][0]
    assert p2p > 0  # p2p counterparties (user ids) map to the same pseudonyms
    wal = con.execute(
        "SELECT count(*) FROM minimised.credit_transactions t JOIN minimised.credit_wallets w "
        "USING (wallet_id)"
    ).fetchall()[0][0]
    assert wal > 0
    # stable: a second run gives the same pseudonyms
    before = con.execute("SELECT user_id FROM minimised.credit_users ORDER BY 1").fetchall()
    minimise(con, inv, load_policy(), kv, purposes=["credit_scoring"])
    assert before == con.execute("SELECT user_id FROM minimised.credit_users ORDER BY 1").fetchall()
    # unlinkable across purposes
    credit = {r[0] for r in before}
    insights = {
        r[0] for r in con.execute("SELECT user_id FROM minimised.insights_users").fetchall()
    }
    raw = {r[0] for r in con.execute("SELECT user_id FROM ledger.users").fetchall()}
    assert credit.isdisjoint(insights) and credit.isdisjoint(raw) and len(credit) == len(raw)
    u1 = con.execute("SELECT user_id FROM ledger.users ORDER BY 1 LIMIT 1").fetchall()[0][0]
    assert pseudonym(kv.purpose_key("credit_scoring"), u1) in credit


def test_tokens_reversible_and_audited(env) -> None:
    con, kv, inv = env
    minimise(con, inv, load_policy(), kv, purposes=["dpo_audit"])
    token, uid = con.execute(
        "SELECT d.user_id, l.user_id FROM minimised.dpo_users d JOIN ledger.users l "
        "ON d.mobile IS NOT NULL ORDER BY l.user_id LIMIT 1"
    ).fetchall()[0]
    tok = Tokeniser(kv, "dpo_audit")
    raw = tok.detokenise(con, token, actor="dpo@ledgerlens", reason="subject access request")
    assert raw in {r[0] for r in con.execute("SELECT user_id FROM ledger.users").fetchall()}
    ev = con.execute("SELECT action, actor, details FROM audit.events").fetchall()
    assert ev[-1][0] == "detokenise" and ev[-1][1] == "dpo@ledgerlens" and raw not in ev[-1][2]
    with pytest.raises(TokenError, match="failed authentication"):
        Tokeniser(kv, "credit_scoring").detokenise(con, token, actor="x", reason="y")
    assert verify_chain(con).ok


def test_erasure_end_to_end(env) -> None:
    con, kv, inv = env
    PiiVault(con, kv).load_from_ledger()
    victim = con.execute(
        "SELECT user_id FROM ledger.transactions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0][0]
    saved = {
        t: con.sql(f"SELECT * FROM ledger.{t} WHERE user_id = ?", params=[victim]).to_arrow_table()
        for t in ("users", "wallets", "transactions", "loans")
    }
    receipt = forget(con, kv, victim, reason="test")
    assert receipt.data_key_shredded and receipt.ledger_rows_deleted > 0
    assert PiiVault(con, kv).get(victim) is None
    stored = con.execute("SELECT * FROM vault.erasure_requests").fetchall()
    assert victim not in repr(stored)  # only the keyed hash
    assert is_erased(con, kv, victim)
    # re-ingest the old rows: the subject must stay out
    for t, tbl in saved.items():
        con.register("_old", tbl)
        con.execute(f"INSERT INTO ledger.{t} SELECT * FROM _old")
        con.unregister("_old")
    res = minimise(con, inv, load_policy(), kv)
    assert res["credit_scoring"].erased_subjects == 1
    key = kv.purpose_key("credit_scoring")
    p = pseudonym(key, victim)
    for t in ("users", "wallets", "transactions", "loans"):
        n = con.execute(f"SELECT count(*) FROM minimised.credit_{t} WHERE user_id = ?", [p])
        assert n.fetchall()[0][0] == 0, t
    n = con.execute(
        "SELECT count(*) FROM minimised.credit_transactions WHERE counterparty = ?", [p]
    )
    assert n.fetchall()[0][0] == 0
    # the vault reload after re-ingest does not resurrect the subject either
    PiiVault(con, kv).load_from_ledger()
    assert PiiVault(con, kv).get(victim) is None
    # audit chain intact; tampering is detected
    assert verify_chain(con).ok
    con.execute("UPDATE audit.events SET actor = 'mallory' WHERE seq = 1")
    status = verify_chain(con)
    assert not status.ok and status.first_bad_seq == 1
