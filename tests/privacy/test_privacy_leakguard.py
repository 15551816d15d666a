"""Leak guard: planted identifiers are found (normalised forms), named by file + column, never
echoed; clean outputs pass."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from privacy_testdata import ENTITY_TABLES

from privacy.classifier import classify_tables
from privacy.keyvault import LocalFileKeyVault
from privacy.leakguard import NeedleSet, scan_outputs, scan_paths
from privacy.minimise import minimise
from privacy.policy import load_policy
from privacy.vault import PiiVault


@pytest.fixture
def env(working_copy):
    con, kv = working_copy
    PiiVault(con, kv).load_from_ledger()
    return con, kv


def _cn_user(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str, str, str]:
    return con.execute(
        "SELECT user_id, mobile, resident_id, email, full_name FROM ledger.users "
        "WHERE resident_id IS NOT NULL AND (mobile LIKE '+86%' OR mobile LIKE '1%') "
        "AND email IS NOT NULL ORDER BY user_id LIMIT 1"
    ).fetchall()[0]


def _clean_outputs(con: duckdb.DuckDBPyConnection, kv: LocalFileKeyVault, out: Path) -> None:
    minimise(con, classify_tables(con, ENTITY_TABLES), load_policy(), kv)
    (out / "risk").mkdir(parents=True)
    tbl = con.sql("SELECT * FROM minimised.credit_users").to_arrow_table()
    pq.write_table(tbl, out / "risk" / "scores.parquet")
    con.sql("SELECT * FROM minimised.insights_users").write_csv(str(out / "risk" / "users.csv"))
    rows = con.execute("SELECT user_id, age_band FROM minimised.credit_users LIMIT 5").fetchall()
    cells = "".join(f"<tr><td>{u}</td><td>{a}</td></tr>" for u, a in rows)
    (out / "report.html").write_text(
        f"<html><body><h1>Report</h1><table><tr><th>user</th><th>age</th></tr>{cells}"
        "</table><p>Totals 13,812,345 and 2026-01-01.</p></body></html>"
    )
    (out / "notes.md").write_text("# Notes\n\n| k | v |\n|---|---|\n| users | 200 |\n")
    (out / "release.json").write_text(json.dumps({"count": 200, "mean": 12.5}))


def test_clean_output_passes(env, tmp_path: Path) -> None:
    con, kv = env
    out = tmp_path / "out"
    _clean_outputs(con, kv, out)
    report = scan_outputs(con, kv, out, ["minimised.credit_transactions", "minimised.credit_users"])
    assert report.ok, report.summary()
    assert report.files_scanned == 5 and report.needles > 0


def test_planted_identifiers_are_caught_without_echo(env, tmp_path: Path) -> None:
    con, kv = env
    out = tmp_path / "out"
    _clean_outputs(con, kv, out)
    uid, mobile, rid, email, name = _cn_user(con)
    digits = "".join(ch for ch in mobile if ch.isdigit())[-11:]
    spaced = f"+86 {digits[:3]}-{digits[3:7]}-{digits[7:]}"  # separators, with country code
    # Parquet: resident id in lower-case x form / e-mail upper-cased
    tbl = pq.read_table(out / "risk" / "scores.parquet")
    contact = [None] * tbl.num_rows
    contact[0] = f"mail: {email.upper()}"
    pq.write_table(
        tbl.append_column("contact", pa.array(contact, pa.string())),
        out / "risk" / "scores.parquet",
    )
    # CSV: phone with separators in a 'note' column
    csv_path = out / "risk" / "users.csv"
    lines = csv_path.read_text().splitlines()
    lines[0] += ",note"
    lines[1] += f",call {spaced} asap"
    for i in range(2, len(lines)):
        lines[i] += ","
    csv_path.write_text("\n".join(lines) + "\n")
    # HTML: resident id with lower-case x (or as is) in a table cell, name in text
    (out / "report.html").write_text(
        "<html><body><table><tr><th>user</th><th>id_number</th></tr>"
        f"<tr><td>x</td><td>ID {rid.lower()}</td></tr></table><p>Dear {name},</p></body></html>"
    )
    report = scan_outputs(con, kv, out)
    assert not report.ok
    where = {(Path(f.location).name, f.column, f.kind) for f in report.findings}
    assert ("scores.parquet", "contact", "email") in where, where
    assert ("users.csv", "note", "mobile_number") in where, where
    assert ("report.html", "id_number", "resident_id") in where, where
    assert ("report.html", "text", "person_name") in where, where
    text = report.summary() + repr(report.findings)
    for secret in (mobile, digits, spaced, rid, rid.lower(), email, email.upper(), name):
        assert secret not in text


def test_needles_normalised_forms() -> None:
    ns = NeedleSet.from_records(
        {
            "U0000001": {
                "mobile": "+86 138 1234 5678",
                "resident_id": "11010519491231002X",
                "email": "Li.Lei@Example.com",
                "wallets.address": ["0x40D34EF594e4E5faAe89492627073cA1bE3681b5"],
                "ip_address": "2001:db8:0:0::1",
                "full_name": "王秀英",
            }
        }
    )
    assert ns.scan_text("13812345678")
    assert ns.scan_text("tel 8613812345678.")
    assert ns.scan_text("(+86) 138.1234.5678")
    assert ns.scan_text("id=11010519491231002x")
    assert ns.scan_text("LI.LEI@EXAMPLE.COM")
    assert ns.scan_text("to 0x40d34ef594e4e5faae89492627073ca1be3681b5")
    assert ns.scan_text("from 2001:db8::1 at")
    assert ns.scan_text("客户王秀英的账单")
    assert ns.scan_text("user U0000001 paid")
    # Near misses are not claimed as vault values; an 11-digit number with a carrier prefix is a
    # phone number by shape, so the detector still flags it (as "detected", not as a vault value).
    assert ns.scan_text("order 13812345679, amount 38123456780000") == [
        ("mobile_number", "detected")
    ]
    # The vaulted phone inside a longer digit run is the vault value, whatever surrounds it.
    assert ns.scan_text("amount 138123456780000") == [("mobile_number", "normalised")]
    assert not ns.scan_text("110105194912310021")
    assert not ns.scan_text("order 2812345679, amount 38123456780000")


def test_scan_paths_duckdb_and_json(tmp_path: Path) -> None:
    ns = NeedleSet.from_records({"U0000009": {"email": "a.b@example.org"}})
    (tmp_path / "r.jsonl").write_text(json.dumps({"rows": [{"who": "A.B@example.org"}]}) + "\n")
    report = scan_paths(tmp_path, ns)
    assert [(f.column, f.kind) for f in report.findings] == [("$.rows[].who", "email")]
