"""Right to erasure: crypto-shred a subject and keep them out of every later minimisation.

:func:`forget`:

1. deletes the subject's wrapped data key (and ciphertext) from the PII vault: without the key the
   record is unrecoverable, including from backups of ``vault.subjects`` (crypto-shredding);
2. appends ``(subject_hash, requested_at, reason)`` to ``vault.erasure_requests``: the hash is a
   keyed HMAC of the subject id, never the raw id or any identifier value;
3. optionally deletes the subject's rows from the ledger tables (``purge_ledger``);
4. writes an ``erasure`` event to the hash-chained audit log.

Minimisation filters on the register (recomputing the keyed hash of each distinct subject id), so
re-ingesting old landing files does not bring the subject back into any minimised table. See
``privacy/ERASURE.md`` for why published DP releases stay valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from privacy._db import fetch_one
from privacy.audit import append_event
from privacy.keyvault import KeyVault
from privacy.register import ERASURE_TABLE, ensure_register, erased_hashes, subject_hash
from privacy.vault import PiiVault

__all__ = ["ErasureReceipt", "forget", "is_erased"]


@dataclass(frozen=True)
class ErasureReceipt:
    subject_hash: str
    requested_at: datetime
    data_key_shredded: bool
    ledger_rows_deleted: int
    already_erased: bool


def is_erased(con: duckdb.DuckDBPyConnection, keyvault: KeyVault, subject_id: str) -> bool:
    return subject_hash(keyvault, subject_id) in erased_hashes(con)


def forget(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    subject_id: str,
    *,
    reason: str = "data subject request (PIPL Art. 47 / GDPR Art. 17)",
    actor: str = "ledgerlens",
    purge_ledger: bool = True,
    ledger_schema: str = "ledger",
    subject_columns: Iterable[str] = ("user_id",),
) -> ErasureReceipt:
    """Erase ``subject_id``: shred its data key, register the request, purge ledger rows."""
    ensure_register(con)
    h = subject_hash(keyvault, subject_id)
    already = h in erased_hashes(con)
    shredded = PiiVault(con, keyvault).shred(subject_id)
    deleted = 0
    if purge_ledger:
        cols = tuple(subject_columns)
        tables = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND column_name IN (SELECT unnest(?::VARCHAR[]))",
            [ledger_schema, list(cols)],
        ).fetchall()
        for table, column in tables:
            row = fetch_one(
                con,
                f'DELETE FROM {ledger_schema}."{table}" WHERE CAST("{column}" AS VARCHAR) = ?',
                [subject_id],
            )
            deleted += int(row[0]) if row else 0
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute(
        f"INSERT INTO {ERASURE_TABLE} VALUES (?, ?, ?, ?, ?)", [h, now, reason, shredded, deleted]
    )
    append_event(
        con,
        actor,
        "erasure",
        subject=h,
        details={
            "reason": reason,
            "data_key_shredded": shredded,
            "ledger_rows_deleted": deleted,
            "repeat_request": already,
        },
    )
    return ErasureReceipt(h, now, shredded, deleted, already)
