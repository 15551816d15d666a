"""The erasure register ``vault.erasure_requests``: who asked to be forgotten, without saying who.

A subject is recorded as ``subject_hash = HMAC-SHA256(key of the reserved purpose
"erasure_register", canonical(subject_id))``, never the raw id. The key lives in the key vault,
so the register survives re-ingest of old landing files: anything that later meets the raw id
(minimisation, vault loading) recomputes the hash and filters the subject out.

The key is never created while the register holds requests (:func:`register_key`): a new key would
match none of them and silently bring every erased subject back. A lost key is refused
(:class:`~privacy.keyvault.KeyMissingError`) and must be restored from a backup.
"""

from __future__ import annotations

import duckdb

from privacy._db import fetch_one
from privacy.keyvault import KeyVault
from privacy.pseudonyms import hmac_pads, hmac_sql, pseudonym

__all__ = [
    "ERASURE_PURPOSE",
    "ERASURE_TABLE",
    "ensure_register",
    "erased_hashes",
    "erased_values_sql",
    "register_key",
    "subject_hash",
]

ERASURE_TABLE = "vault.erasure_requests"
ERASURE_PURPOSE = "erasure_register"


def ensure_register(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS vault")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {ERASURE_TABLE} (
            subject_hash VARCHAR NOT NULL,
            requested_at TIMESTAMP NOT NULL,
            reason VARCHAR,
            data_key_shredded BOOLEAN NOT NULL,
            ledger_rows_deleted BIGINT
        )"""
    )


def register_key(con: duckdb.DuckDBPyConnection, keyvault: KeyVault) -> bytes:
    """The register's HMAC key; created only while the register is empty."""
    ensure_register(con)
    row = fetch_one(con, f"SELECT count(*) FROM {ERASURE_TABLE}")
    return keyvault.purpose_key(ERASURE_PURPOSE, create=not (row and row[0]))


def subject_hash(keyvault: KeyVault, subject_id: str) -> str:
    return pseudonym(keyvault.purpose_key(ERASURE_PURPOSE), subject_id)


def erased_hashes(con: duckdb.DuckDBPyConnection) -> set[str]:
    ensure_register(con)
    return {r[0] for r in con.execute(f"SELECT subject_hash FROM {ERASURE_TABLE}").fetchall()}


def erased_values_sql(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    values_sql: str,
    target: str = "_ll_erased",
) -> int:
    """Create TEMP table ``target(v VARCHAR)`` holding the values of the one-column query
    ``values_sql`` whose subject hash is in the register. Returns how many there are."""
    inner, outer = hmac_pads(register_key(con, keyvault))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {target} AS
            SELECT DISTINCT v FROM (
                SELECT CAST(x AS VARCHAR) AS v FROM ({values_sql}) q(x) WHERE x IS NOT NULL
            ) d
            WHERE {hmac_sql("v")} IN (SELECT subject_hash FROM {ERASURE_TABLE})""",
        {"hmac_i": inner, "hmac_o": outer},
    )
    row = fetch_one(con, f"SELECT count(*) FROM {target}")
    return int(row[0]) if row else 0
