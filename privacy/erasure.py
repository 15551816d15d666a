"""Right to erasure: remove or crypto-shred a subject everywhere and keep them out of every rebuild.

:func:`forget_completely` (the ``ledgerlens forget`` command) erases one subject in a single
warehouse transaction, then in the release folders, and counts what it did per place
(:attr:`ErasureReceipt.counts`, only places where something changed):

- **vault**: the wrapped data key and ciphertext are deleted (crypto-shredding:
  ``vault.data_keys``);
- **ledger.quarantine**: reject rows of the subject (``subject_id``, or a raw record, sealed or
  not, whose JSON ``user_id`` is the subject's or, for a raw text line that is not JSON, holds the
  id as a whole token) are deleted; rejects of other subjects that name the subject as
  ``counterparty`` keep their row with the counterparty set to null and the record sealed again
  (``ledger.quarantine.counterparty``);
- **every other table** (ledger, minimised, dbt models, credit, insights, ...: every base table
  outside ``vault``, ``audit`` and ``attest``): a row is deleted when any VARCHAR column equals one
  of the subject's *keys*, and a column whose name contains ``counterparty`` is set to null instead
  (``<table>.<column>``): another subject's transaction with the erased subject stays theirs, but
  no longer says with whom. The keys are the subject id, the subject's wallet ids and addresses,
  and their pseudonym (HMAC) and token (AES-SIV) under every purpose whose key exists
  (:func:`subject_keys`), so minimised tables, marts and credit tables keyed by a purpose's
  pseudonym are reached without knowing their schema. The next run rebuilds them without the
  subject anyway (minimisation excludes the register);
- **attest.credentials**: the subject's credentials are revoked (``revoked``, ``revoked_at``) and
  their ``subject`` replaced by ``'erased'``; the row and its status index stay (an index is never
  reused, and the next run's status list must carry the revocation);
- **archive**: every encrypted landing file that holds the subject is re-encrypted without their
  rows and with a null counterparty where it named them (``archive:<landing path>``,
  :mod:`privacy.archive`); the replaced blobs are deleted after the commit;
- **the register**: the keyed hash (``vault.erasure_requests``) and an ``erasure`` event in the
  hash-chained audit log (details: counts per place, never an identifier);
- **files**, after the transaction commits: ``staging/<run>/subjects/<pseudonym>/`` and
  ``out/subjects/<pseudonym>/`` are removed (``staging``, ``out``); every other staged or published
  Parquet file loses the rows that name the subject (``staging:<file>``, ``out:<file>``); other
  files that still contain a key are listed in :attr:`ErasureReceipt.unresolved_files` (never
  edited blindly). ``out/MANIFEST.*`` is rewritten for what changed.

An id found nowhere (not in ``ledger.users``, the vault, the quarantine or the register) is refused
with :class:`UnknownSubjectError` unless ``force``. A subject already in the register is accepted
again: re-running ``forget`` after a re-landing erases what came back.

:func:`connect_with_wait` opens the warehouse, waiting for a running pipeline that holds DuckDB's
file lock instead of failing, and raises :class:`WarehouseBusyError` after the timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from privacy._db import fetch_one
from privacy.archive import erase_from_archive, whole_token
from privacy.at_rest import QuarantineSealer
from privacy.audit import append_event
from privacy.keyvault import KeyVault
from privacy.pseudonyms import Tokeniser, pseudonym
from privacy.publish import MANIFEST_JSON, MANIFEST_TXT, read_manifest
from privacy.register import (
    ERASURE_PURPOSE,
    ERASURE_TABLE,
    ensure_register,
    erased_hashes,
    register_key,
    subject_hash,
)
from privacy.vault import PiiVault

__all__ = [
    "ErasureReceipt",
    "UnknownSubjectError",
    "WarehouseBusyError",
    "connect_with_wait",
    "forget",
    "forget_completely",
    "is_erased",
    "subject_keys",
]

SUBJECTS_PARTY = "subjects"
_SKIP_SCHEMAS = frozenset({"vault", "audit", "attest", "information_schema", "pg_catalog"})
_KEYS_TABLE = "_ll_erasure_keys"
_ERASED_SUBJECT = "erased"


class UnknownSubjectError(LookupError):
    """The id is in no table the pipeline knows subjects from; nothing was changed."""


class WarehouseBusyError(RuntimeError):
    """Another process (a ledgerlens run) holds the warehouse's write lock past the timeout."""


@dataclass(frozen=True)
class ErasureReceipt:
    subject_hash: str
    requested_at: datetime
    data_key_shredded: bool
    ledger_rows_deleted: int
    already_erased: bool
    counts: dict[str, int] = field(default_factory=dict)
    """Rows deleted, values nulled, credentials revoked or files removed, per place."""
    unresolved_files: tuple[str, ...] = ()
    """Staged or published files (relative to the home) that still contain one of the subject's
    keys and are not Parquet: the next run replaces them; remove them by hand before that."""


def is_erased(con: duckdb.DuckDBPyConnection, keyvault: KeyVault, subject_id: str) -> bool:
    return subject_hash(keyvault, subject_id) in erased_hashes(con)


# -- waiting for the warehouse ------------------------------------------------------------------


def connect_with_wait(
    path: str | os.PathLike[str], timeout_s: float, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Connect to the DuckDB file at ``path``, retrying while another process holds its lock
    (``duckdb.IOException`` mentioning the lock) with exponential backoff (50 ms doubling, at most
    1 s) for up to ``timeout_s`` seconds; then :class:`WarehouseBusyError`. Other errors propagate
    at once."""
    deadline = time.monotonic() + max(0.0, timeout_s)
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            left = deadline - time.monotonic()
            if left <= 0:
                raise WarehouseBusyError(
                    f"a ledgerlens run holds the warehouse {path} (waited {timeout_s:g} s); "
                    "try again when it ends or pass --wait N"
                ) from None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 1.0)


# -- which values stand for the subject ---------------------------------------------------------


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = fetch_one(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ? "
        "AND NOT temporary AND database_name = current_database()",
        [schema, table],
    )
    return bool(row and row[0])


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> set[str]:
    return {
        str(r[0])
        for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "AND database_name = current_database()",
            [schema, table],
        ).fetchall()
    }


def _raw_keys(con: duckdb.DuckDBPyConnection, vault: PiiVault, subject_id: str) -> set[str]:
    """The subject id, its wallet ids and addresses (ledger and vault): values that identify
    this subject alone, so a row carrying one is the subject's."""
    keys = {subject_id}
    if _has_table(con, "ledger", "wallets"):
        cols = _columns(con, "ledger", "wallets") & {"wallet_id", "address"}
        for col in sorted(cols):
            for (v,) in con.execute(
                f'SELECT DISTINCT CAST("{col}" AS VARCHAR) FROM ledger.wallets '
                f'WHERE user_id = ? AND "{col}" IS NOT NULL',
                [subject_id],
            ).fetchall():
                keys.add(str(v))
    record = vault.get(subject_id) or {}
    for name in ("wallets.address", "wallets.wallet_id", "address"):
        value = record.get(name)
        for v in value if isinstance(value, list) else [value]:
            if v:
                keys.add(str(v))
    return keys


def _purposes(keyvault: KeyVault) -> tuple[list[str], list[str]]:
    """(purposes with an HMAC key, purposes with a token key) the key vault holds; the erasure
    register's own key is not a pseudonym purpose. No key is created."""
    hmac_purposes: list[str] = []
    token_purposes: list[str] = []
    for name in sorted(keyvault.key_checks()):
        if not name.startswith("purposes/"):
            continue
        purpose, kind = name[len("purposes/") :].rsplit(".", 1)
        if purpose == ERASURE_PURPOSE:
            continue
        (hmac_purposes if kind == "hmac" else token_purposes).append(purpose)
    return hmac_purposes, token_purposes


def subject_keys(keyvault: KeyVault, raw_keys: Iterable[str]) -> dict[str, set[str]]:
    """Per purpose (and ``"raw"``) the values that stand for the subject: each raw key's pseudonym
    under every purpose whose HMAC key exists, and its token under every purpose whose token key
    exists."""
    raw = sorted(set(raw_keys))
    out: dict[str, set[str]] = {"raw": set(raw)}
    hmac_purposes, token_purposes = _purposes(keyvault)
    for purpose in hmac_purposes:
        key = keyvault.purpose_key(purpose, "hmac", create=False)
        out.setdefault(purpose, set()).update(pseudonym(key, v) for v in raw)
    for purpose in token_purposes:
        tok = Tokeniser(keyvault, purpose)
        out.setdefault(purpose, set()).update(tok.tokenise(v) for v in raw)
    return out


# -- places -------------------------------------------------------------------------------------


def _known(con: duckdb.DuckDBPyConnection, subject_id: str, h: str) -> bool:
    checks: list[tuple[str, str]] = []
    if _has_table(con, "ledger", "users"):
        checks.append(("SELECT count(*) FROM ledger.users WHERE user_id = ?", subject_id))
    if _has_table(con, "vault", "subjects"):
        checks.append(("SELECT count(*) FROM vault.subjects WHERE subject_id = ?", subject_id))
    checks.append((f"SELECT count(*) FROM {ERASURE_TABLE} WHERE subject_hash = ?", h))
    if _has_table(con, "ledger", "quarantine"):
        checks.append(
            (
                "SELECT count(*) FROM ledger.quarantine WHERE subject_id = $1 OR ("
                "json_valid(raw_record) AND json_extract_string(raw_record, '$.user_id') = $1)",
                subject_id,
            )
        )
    for sql, param in checks:
        row = fetch_one(con, sql, [param])
        if row and row[0]:
            return True
    return False


def _erase_quarantine(
    con: duckdb.DuckDBPyConnection, keyvault: KeyVault, subject_id: str, counts: dict[str, int]
) -> None:
    if not _has_table(con, "ledger", "quarantine"):
        return
    token = whole_token(subject_id)
    row = fetch_one(
        con,
        """DELETE FROM ledger.quarantine WHERE subject_id = $s
            OR (json_valid(raw_record) AND json_extract_string(raw_record, '$.user_id') = $s)
            OR (NOT json_valid(raw_record) AND regexp_matches(raw_record, $t))""",
        {"s": subject_id, "t": token.pattern},
    )
    _add(counts, "ledger.quarantine", row)
    # Another subject's reject that names the subject as counterparty: rewrite the record with a
    # null counterparty (parsed in Python: the raw JSON's key order and spelling are kept).
    rows = con.execute(
        "SELECT rowid, raw_record FROM ledger.quarantine WHERE json_valid(raw_record) AND "
        "json_extract_string(raw_record, '$.counterparty') = ?",
        [subject_id],
    ).fetchall()
    for rowid, raw in rows:
        con.execute(
            "UPDATE ledger.quarantine SET raw_record = ? WHERE rowid = ?",
            [_without_counterparty(raw), rowid],
        )
    rewritten = len(rows)
    # Sealed records (every reject since at-rest protection): opened in memory, one pass.
    sealer = QuarantineSealer(keyvault)
    deleted = 0
    for rowid, _, raw in sealer.rows(con):
        try:
            record = json.loads(raw)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if record.get("user_id") == subject_id:
                con.execute("DELETE FROM ledger.quarantine WHERE rowid = ?", [rowid])
                deleted += 1
            elif record.get("counterparty") == subject_id:
                sealer.reseal(con, rowid, _without_counterparty(raw))
                rewritten += 1
        elif token.search(raw):
            con.execute("DELETE FROM ledger.quarantine WHERE rowid = ?", [rowid])
            deleted += 1
    if deleted:
        counts["ledger.quarantine"] = counts.get("ledger.quarantine", 0) + deleted
    if rewritten:
        counts["ledger.quarantine.counterparty"] = rewritten


def _without_counterparty(raw: str) -> str:
    record = json.loads(raw)
    record["counterparty"] = None
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _add(counts: dict[str, int], place: str, row: tuple[Any, ...] | None) -> None:
    n = int(row[0]) if row and row[0] else 0
    if n:
        counts[place] = counts.get(place, 0) + n


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _erase_tables(con: duckdb.DuckDBPyConnection, counts: dict[str, int]) -> None:
    """Null counterparty columns, then delete rows, in every base table outside the skipped
    schemas, wherever a VARCHAR column holds a value of ``_KEYS_TABLE``."""
    cols = con.execute(
        """SELECT c.schema_name, c.table_name, c.column_name, c.is_nullable
        FROM duckdb_columns() c JOIN duckdb_tables() t
          ON t.database_name = c.database_name AND t.schema_name = c.schema_name
         AND t.table_name = c.table_name
        WHERE c.database_name = current_database() AND NOT t.temporary
          AND c.data_type = 'VARCHAR' ORDER BY 1, 2, c.column_index"""
    ).fetchall()
    by_table: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for schema, table, column, nullable in cols:
        if schema in _SKIP_SCHEMAS or (schema, table) == ("ledger", "quarantine"):
            continue
        by_table.setdefault((schema, table), []).append((str(column), bool(nullable)))
    keys = f"(SELECT v FROM {_KEYS_TABLE})"
    for (schema, table), columns in by_table.items():
        target = f"{_q(schema)}.{_q(table)}"
        key_cols = []
        for column, nullable in columns:
            if "counterparty" in column.lower() and nullable:
                row = fetch_one(
                    con, f"UPDATE {target} SET {_q(column)} = NULL WHERE {_q(column)} IN {keys}"
                )
                _add(counts, f"{schema}.{table}.{column}", row)
            else:
                key_cols.append(column)
        if key_cols:
            cond = " OR ".join(f"{_q(c)} IN {keys}" for c in key_cols)
            _add(counts, f"{schema}.{table}", fetch_one(con, f"DELETE FROM {target} WHERE {cond}"))


def _revoke_credentials(
    con: duckdb.DuckDBPyConnection, now: datetime, counts: dict[str, int]
) -> None:
    if not _has_table(con, "attest", "credentials"):
        return
    row = fetch_one(
        con,
        "UPDATE attest.credentials SET revoked = true, revoked_at = coalesce(revoked_at, ?), "
        f"subject = ? WHERE subject IN (SELECT v FROM {_KEYS_TABLE})",
        [now, _ERASED_SUBJECT],
    )
    _add(counts, "attest.credentials", row)


# -- files --------------------------------------------------------------------------------------


def _erase_files(
    home: Path, keys: set[str], pseudonyms: set[str], counts: dict[str, int]
) -> list[str]:
    """Remove the subject's folders and Parquet rows under ``staging/`` and ``out/``; returns the
    other files (relative to ``home``) that still contain a key."""
    staging, out = home / "staging", home / "out"
    folders: list[tuple[str, Path]] = []
    if staging.is_dir():
        for run in sorted(p for p in staging.iterdir() if p.is_dir()):
            folders += [("staging", run / SUBJECTS_PARTY / p) for p in sorted(pseudonyms)]
    folders += [("out", out / SUBJECTS_PARTY / p) for p in sorted(pseudonyms)]
    changed_out = False
    for place, folder in folders:
        if folder.is_dir():
            n = sum(1 for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder)
            counts[place] = counts.get(place, 0) + n
            changed_out |= place == "out"
    needles = [k.encode("utf-8") for k in sorted(keys)]
    unresolved: list[str] = []
    for place, root in (("staging", staging), ("out", out)):
        if not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root)
            if place == "out" and len(rel.parts) == 1 and rel.name in (MANIFEST_JSON, MANIFEST_TXT):
                continue
            if path.suffix == ".parquet":
                n = _filter_parquet(path, keys)
                if n:
                    counts[f"{place}:{rel.as_posix()}"] = n
                    changed_out |= place == "out"
                continue
            data = path.read_bytes()
            if any(k in data for k in needles):
                unresolved.append(path.relative_to(home).as_posix())
    if changed_out:
        _rewrite_manifest(out)
    return unresolved


def _filter_parquet(path: Path, keys: set[str]) -> int:
    """Drop the rows of ``path`` in which a string column equals a key (counterparty columns are
    nulled instead); rewrite atomically. Returns the rows dropped plus the values nulled."""
    table = pq.read_table(path)
    needles = pa.array(sorted(keys), pa.string())
    hit = pa.array([False] * table.num_rows, pa.bool_())
    changed = 0
    columns = []
    for name in table.column_names:
        col = table.column(name)
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            columns.append(col)
            continue
        match = pc.fill_null(pc.is_in(col, value_set=needles.cast(col.type)), False)
        if "counterparty" in name.lower():
            n = pc.sum(match).as_py() or 0
            changed += n
            columns.append(pc.if_else(match, pa.scalar(None, col.type), col) if n else col)
        else:
            hit = pc.or_(hit, match)
            columns.append(col)
    dropped = pc.sum(hit).as_py() or 0
    if not dropped and not changed:
        return 0
    new = pa.table(columns, schema=table.schema).filter(pc.invert(hit))
    tmp = path.with_name(f".{path.name}.erasure.tmp")
    pq.write_table(new, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return int(dropped) + int(changed)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def _rewrite_manifest(out: Path) -> None:
    """Same format as :func:`privacy.publish.publish`: entries of removed files are dropped, and
    files erasure rewrote get their new hash and size (run and snapshot stay those that
    published them)."""
    if not (out / MANIFEST_JSON).exists():
        return
    entries = read_manifest(out)
    for rel in list(entries):
        path = out / rel
        if not path.is_file():
            del entries[rel]
        elif (
            path.stat().st_size != entries[rel]["bytes"] or _sha256(path) != entries[rel]["sha256"]
        ):
            entries[rel] = {**entries[rel], "sha256": _sha256(path), "bytes": path.stat().st_size}
    ordered = [entries[k] for k in sorted(entries)]
    _write_atomic(out / MANIFEST_JSON, json.dumps({"files": ordered}, indent=1) + "\n")
    _write_atomic(
        out / MANIFEST_TXT,
        "".join(f"{e['sha256']}  {e['bytes']:>12}  {e['run_id']}  {e['path']}\n" for e in ordered),
    )


# -- the erasure --------------------------------------------------------------------------------


def forget_completely(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    subject_id: str,
    *,
    reason: str = "data subject request (PIPL Art. 47 / GDPR Art. 17)",
    actor: str = "ledgerlens",
    force: bool = False,
    home: Path | None = None,
) -> ErasureReceipt:
    """Erase ``subject_id`` everywhere (see the module docstring); ``home`` is the data home whose
    ``staging/`` and ``out/`` folders are cleaned (None: warehouse only).

    Invariants: the warehouse changes in one transaction (all or nothing); the request is recorded
    in the register only together with the removal; an unknown id (unless ``force``) changes
    nothing; no error message contains a stored value."""
    ensure_register(con)
    h = pseudonym(register_key(con, keyvault), subject_id)
    if not force and not _known(con, subject_id, h):
        raise UnknownSubjectError(
            f"the id given ({len(subject_id)} characters) is not in ledger.users, the PII vault, "
            "ledger.quarantine or the erasure register: check it for typos (ids look like "
            "U0000042), or pass --force to record the request anyway"
        )
    already = h in erased_hashes(con)
    now = datetime.now(UTC).replace(tzinfo=None)
    counts: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        vault = PiiVault(con, keyvault)
        per_purpose = subject_keys(keyvault, _raw_keys(con, vault, subject_id))
        keys = set().union(*per_purpose.values())
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_KEYS_TABLE} (v VARCHAR)")
        con.executemany(f"INSERT INTO {_KEYS_TABLE} VALUES (?)", [[k] for k in sorted(keys)])
        shredded = vault.shred(subject_id)
        if shredded:
            counts["vault"] = 1
        _erase_quarantine(con, keyvault, subject_id, counts)
        archived = (
            erase_from_archive(con, keyvault, Path(home) / "archive", subject_id) if home else None
        )
        for path, n in (archived.counts if archived else {}).items():
            counts[f"archive:{path}"] = n
        _erase_tables(con, counts)
        _revoke_credentials(con, now, counts)
        ledger_rows = sum(
            n for p, n in counts.items() if p.startswith("ledger.") and p.count(".") == 1
        )
        con.execute(
            f"INSERT INTO {ERASURE_TABLE} VALUES (?, ?, ?, ?, ?)",
            [h, now, reason, shredded, ledger_rows],
        )
        append_event(
            con,
            actor,
            "erasure",
            subject=h,
            details={"reason": reason, "counts": counts, "repeat_request": already, "force": force},
        )
        con.execute(f"DROP TABLE IF EXISTS {_KEYS_TABLE}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if archived is not None:
        archived.delete_stale()
    unresolved: list[str] = []
    if home is not None:
        pseudonyms = set().union(*(v for p, v in per_purpose.items() if p != "raw"))
        unresolved = _erase_files(Path(home), keys, pseudonyms, counts)
    return ErasureReceipt(h, now, shredded, ledger_rows, already, counts, tuple(unresolved))


def forget(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    subject_id: str,
    *,
    reason: str = "data subject request (PIPL Art. 47 / GDPR Art. 17)",
    actor: str = "ledgerlens",
    purge_ledger: bool = True,
    ledger_schema: str = "ledger",
    subject_columns: Sequence[str] = ("user_id",),
) -> ErasureReceipt:
    """The narrow erasure kept for callers that want only the vault and the ledger rows (no
    quarantine, derived tables or files, no refusal of unknown ids): shred the data key, register
    the request, delete ``ledger_schema`` rows whose ``subject_columns`` hold the id."""
    ensure_register(con)
    h = pseudonym(register_key(con, keyvault), subject_id)
    already = h in erased_hashes(con)
    shredded = PiiVault(con, keyvault).shred(subject_id)
    deleted = 0
    if purge_ledger:
        tables = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND column_name IN (SELECT unnest(?::VARCHAR[]))",
            [ledger_schema, list(subject_columns)],
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
