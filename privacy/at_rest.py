"""Personal data at rest: plaintext identifiers live only in the encrypted vault.

:class:`LedgerProtector` is the ``protect`` step of :func:`ledger.ingest.ingest`. It runs inside the
ingest transaction, after the batch's rows are written and before the blocking checks, so a row is
never visible with plaintext identifiers and a failure rolls everything back together:

- **vault**: every value of a :data:`PROTECTED` column of the batch is merged into its subject's
  vault record (:class:`privacy.vault.PiiVault`, envelope-encrypted per subject);
- **tokens**: in ``ledger.*`` each such value is replaced by its *at-rest token*
  ``vt_`` + HMAC-SHA256(key ``vault_tokens``, canonical value)[:32 hex] (deterministic, so shared
  devices and addresses still join; one-way without the vault); ``users.date_of_birth`` (a DATE,
  so it cannot hold a token) is set to NULL, resolved from the vault by subject;
- **quarantine**: every raw record of the batch is sealed into ``raw_sealed`` (AES-256-GCM under
  key ``quarantine``, associated data binding entity, file, row and line) and ``raw_record`` is
  cleared;
- **erased subjects**: rows of the batch whose ``user_id`` is in the erasure register are moved
  to the quarantine as ``erased_subject`` with nothing of the row kept (counts still reconcile),
  and a ``counterparty`` naming an erased subject is nulled.

Readers that need plaintext (minimisation, the classifier, the leak guard) resolve it in memory
with :class:`Plaintext`; nothing resolved is ever written back. A warehouse built before this
module existed is migrated by :func:`protect_ledger` (snapshots not in ``vault.protected_snapshots``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Sequence
from typing import Any

import duckdb
import duckdb.func as udf
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy._db import fetch_one
from privacy.keyvault import KeyVault
from privacy.pseudonyms import canonical_value, hmac_pads, hmac_sql
from privacy.register import erased_values_sql
from privacy.vault import PiiVault, ensure_vault

__all__ = [
    "PROTECTED",
    "SUBJECT_RESOLVED",
    "TOKEN_PREFIX",
    "LedgerProtector",
    "Plaintext",
    "QuarantineSealer",
    "plaintext_findings",
    "protect_ledger",
    "quarantine_values",
]

TOKEN_PREFIX = "vt_"
TOKEN_KEY = "vault_tokens"
QUARANTINE_KEY = "quarantine"
PROTECTED_SNAPSHOTS = "vault.protected_snapshots"
ERASED_RULE = "erased_subject"

PROTECTED: dict[str, tuple[str, ...]] = {
    "users": ("full_name", "mobile", "email", "resident_id", "device_id", "ip_address"),
    "wallets": ("address",),
    "transactions": ("device_id", "ip_address"),
}
"""Direct identifiers per ledger table: vaulted, and a token in their place."""

SUBJECT_RESOLVED: dict[str, tuple[str, ...]] = {"users": ("date_of_birth",)}
"""Personal columns that cannot hold a token: vaulted, NULL in the ledger, resolved by subject."""

# Fields of the raw records whose values are personal (needles for the leak guard).
_PERSONAL_FIELDS = frozenset(
    {c for cols in (*PROTECTED.values(), *SUBJECT_RESOLVED.values()) for c in cols}
)
_SUBJECT_COLUMN = "user_id"
_NONCE = 12


def _field(table: str, column: str) -> str:
    """The vault record field of a column: users' own columns by name, others ``table.column``
    (lists: a subject has many wallets and transactions)."""
    return column if table == "users" else f"{table}.{column}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``ledger.<table>`` (empty when there is no such table)."""
    return {
        str(name): str(dtype)
        for name, dtype in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'ledger' "
            "AND table_name = ? AND database_name = current_database()",
            [table],
        ).fetchall()
    }


def _sql_list(values: Sequence[str]) -> str:
    """A SQL list literal of strings (for a query handed on as text, where it cannot be bound)."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


class Tokens:
    """At-rest tokens: the Python and SQL forms agree byte for byte."""

    def __init__(self, keyvault: KeyVault) -> None:
        self._key = keyvault.key(TOKEN_KEY)
        self._pads = hmac_pads(self._key)

    def token(self, value: object) -> str:
        digest = hmac.new(self._key, canonical_value(value).encode("utf-8"), hashlib.sha256)
        return TOKEN_PREFIX + digest.hexdigest()[:32]

    def sql(self, expr: str) -> str:
        return f"('{TOKEN_PREFIX}' || {hmac_sql(expr)})"

    @property
    def params(self) -> dict[str, bytes]:
        return {"hmac_i": self._pads[0], "hmac_o": self._pads[1]}


class QuarantineSealer:
    """Seals and opens quarantined raw records."""

    def __init__(self, keyvault: KeyVault) -> None:
        self._aead = AESGCM(keyvault.key(QUARANTINE_KEY))

    @staticmethod
    def aad(entity: str, source_file: str | None, row: int | None, line: int | None) -> bytes:
        return f"ledgerlens/quarantine/v1|{entity}|{source_file}|{row}|{line}".encode()

    def seal(self, raw: str, aad: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, raw.encode("utf-8"), aad)

    def open(self, sealed: bytes, aad: bytes) -> str:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad).decode("utf-8")
        except InvalidTag:
            raise ValueError(
                "a sealed quarantine record failed authentication (corrupted, moved to another "
                "row, or sealed under another quarantine key)"
            ) from None

    def rows(
        self, con: duckdb.DuckDBPyConnection, where: str = "true", params: Any = None
    ) -> list[tuple[int, str, str]]:
        """(rowid, entity, raw record) of the sealed quarantine rows matching ``where``."""
        out = []
        for rowid, entity, f, row, line, sealed in con.execute(
            "SELECT rowid, entity, source_file, source_row, source_line, raw_sealed "
            f"FROM ledger.quarantine WHERE raw_sealed IS NOT NULL AND ({where})",
            params,
        ).fetchall():
            out.append((int(rowid), str(entity), self.open(sealed, self.aad(entity, f, row, line))))
        return out

    def reseal(self, con: duckdb.DuckDBPyConnection, rowid: int, raw: str) -> None:
        entity, f, row, line = con.execute(
            "SELECT entity, source_file, source_row, source_line FROM ledger.quarantine "
            "WHERE rowid = ?",
            [rowid],
        ).fetchall()[0]
        con.execute(
            "UPDATE ledger.quarantine SET raw_sealed = ? WHERE rowid = ?",
            [self.seal(raw, self.aad(entity, f, row, line)), rowid],
        )


class LedgerProtector:
    """The ``protect`` step of ingest (:class:`ledger.ingest.Protect`; module docstring).

    Values are transformed in the INSERT that writes them, so no plaintext identifier is ever
    written to a ledger table, not even inside the transaction: tokens by SQL HMAC (the key's
    pads sit in a temp table for the batch), quarantined records sealed by a Python UDF."""

    _PADS = "_ll_at_rest_pads"
    _TOKENS = "_ll_at_rest_tokens"
    _ROWS = "_ll_at_rest_rows"
    _VALS = "_ll_at_rest_vals"

    def __init__(self, keyvault: KeyVault) -> None:
        self.keyvault = keyvault
        # One function name per protector: a rolled-back batch drops the function from the
        # catalog but not from the connection's registry, so a name is never reused.
        self._seal_fn = f"ll_seal_{uuid.uuid4().hex[:12]}"
        self._tokens = Tokens(keyvault)
        self._sealer = QuarantineSealer(keyvault)
        self._erased: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        self._vaulting = False
        self._ready: duckdb.DuckDBPyConnection | None = None

    def _ensure(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._ready is con:
            return
        ensure_vault(con)
        _ensure_protected_table(con)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self._PADS} (i BLOB, o BLOB)")
        con.execute(f"INSERT INTO {self._PADS} VALUES ($hmac_i, $hmac_o)", self._tokens.params)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {self._TOKENS} (v VARCHAR, t VARCHAR)")
        _values_table(con, self._VALS)
        sealer, aad = self._sealer, self._sealer.aad

        def seal(
            entity: pa.Array, file: pa.Array, row: pa.Array, line: pa.Array, raw: pa.Array
        ) -> pa.Array:
            cols = zip(
                entity.to_pylist(),
                file.to_pylist(),
                row.to_pylist(),
                line.to_pylist(),
                raw.to_pylist(),
                strict=True,
            )
            return pa.array(
                [None if r is None else sealer.seal(r, aad(e, f, w, n)) for e, f, w, n, r in cols],
                pa.binary(),
            )

        con.create_function(
            self._seal_fn,
            seal,
            ["VARCHAR", "VARCHAR", "BIGINT", "BIGINT", "VARCHAR"],
            "BLOB",
            type=udf.ARROW,
            null_handling=udf.SPECIAL,
            side_effects=True,
        )
        self._ready = con

    def excluded(self, con: duckdb.DuckDBPyConnection, entity: str, ids_sql: str) -> str | None:
        self._ensure(con)
        table = f"_ll_erased_{entity}"
        if not erased_values_sql(con, self.keyvault, ids_sql, table):
            con.execute(f"DROP TABLE IF EXISTS {table}")
            self._erased.pop(entity, None)
            return None
        self._erased[entity] = table
        return table

    def prepare(self, con: duckdb.DuckDBPyConnection, entity: str, rows_sql: str) -> None:
        """Collect the rows' personal values for the vault (written once, in :meth:`finish`)
        and add the tokens of their distinct identifier values to the batch's token map."""
        self._ensure(con)
        cols = PROTECTED.get(entity, ())
        personal = [*cols, *SUBJECT_RESOLVED.get(entity, ())]
        if not personal:
            return
        # The rows are read once (the caller's query joins the whole stage): their distinct
        # (subject, personal values) into a temporary table that the vault records and the tokens
        # both read; far fewer than the rows (a subject repeats its devices and addresses).
        keep = ", ".join(_q(c) for c in dict.fromkeys([_SUBJECT_COLUMN, *personal]))
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {self._ROWS} AS SELECT DISTINCT {keep} FROM ({rows_sql}) r"
        )
        rows_sql = f"SELECT * FROM {self._ROWS}"
        try:
            self._vaulting |= _add_values(con, entity, rows_sql, self._VALS)
            if cols:
                self._add_tokens(con, cols, rows_sql)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {self._ROWS}")

    def _add_tokens(
        self, con: duckdb.DuckDBPyConnection, cols: tuple[str, ...], rows_sql: str
    ) -> None:
        distinct = " UNION ".join(
            f"SELECT CAST({_q(c)} AS VARCHAR) AS v FROM ({rows_sql}) r WHERE {_q(c)} IS NOT NULL"
            for c in cols
        )
        pad = f"(SELECT {{}} FROM {self._PADS})"
        token = f"'{TOKEN_PREFIX}' || {hmac_sql('v', pad.format('i'), pad.format('o'))}"
        # Each distinct value is hashed once (a day of transactions repeats devices and IPs).
        con.execute(
            f"INSERT INTO {self._TOKENS} SELECT v, {token} FROM ({distinct}) u "
            f"WHERE v NOT IN (SELECT v FROM {self._TOKENS})"
        )

    def column_sql(self, entity: str, column: str, expr: str) -> str:
        if column in PROTECTED.get(entity, ()):
            return f"(SELECT m.t FROM {self._TOKENS} m WHERE m.v = CAST({expr} AS VARCHAR))"
        if column in SUBJECT_RESOLVED.get(entity, ()):
            return "NULL"
        if column == "counterparty" and entity in self._erased:
            return f"(CASE WHEN {expr} IN (SELECT v FROM {self._erased[entity]}) THEN NULL ELSE {expr} END)"
        return expr

    def raw_sql(self, raw: str, entity: str, file: str, row: str, line: str) -> tuple[str, str]:
        return "NULL", f"{self._seal_fn}({entity}, {file}, {row}, {line}, {raw})"

    def finish(self, con: duckdb.DuckDBPyConnection, snapshot: str) -> dict[str, int]:
        if self._vaulting:
            # One merge-encrypt per subject for the whole batch, in its transaction.
            vaulted = PiiVault(con, self.keyvault).merge_table(self._VALS, own_transaction=False)
            if vaulted:
                self._counts["subjects vaulted"] = vaulted
        con.execute(
            f"INSERT INTO {PROTECTED_SNAPSHOTS} VALUES (?, timezone('UTC', now()))", [snapshot]
        )
        counts = dict(self._counts)
        row = fetch_one(
            con,
            "SELECT count(*) FILTER (WHERE raw_sealed IS NOT NULL), "
            "count(*) FILTER (WHERE list_contains(failed_rules, 'erased_subject')) "
            "FROM ledger.quarantine WHERE snapshot_id = ?",
            [snapshot],
        )
        if row and row[0]:
            counts["quarantined records sealed"] = int(row[0])
        if row and row[1]:
            counts["rows of erased subjects refused"] = int(row[1])
        con.execute(f"DROP TABLE IF EXISTS {self._PADS}")
        con.execute(f"DROP TABLE IF EXISTS {self._TOKENS}")
        con.execute(f"DROP TABLE IF EXISTS {self._VALS}")
        for table in self._erased.values():
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.remove_function(self._seal_fn)
        self._erased, self._counts, self._vaulting, self._ready = {}, {}, False, None
        return counts


def _values_table(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """A temporary table of vault values, (subject, vault field, distinct values), for
    :meth:`privacy.vault.PiiVault.merge_table`."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} (subject_id VARCHAR, field VARCHAR, vals VARCHAR[])"
    )


def _add_values(con: duckdb.DuckDBPyConnection, table: str, rows_sql: str, into: str) -> bool:
    """Add to ``into`` the personal values of ``rows_sql`` (rows of ``table``) per subject and
    vault field. False when ``table`` has no personal column."""
    both = [*PROTECTED.get(table, ()), *SUBJECT_RESOLVED.get(table, ())]
    if not both:
        return False
    subject = f"CAST({_SUBJECT_COLUMN} AS VARCHAR)"
    con.execute(
        f"INSERT INTO {into} "
        + " UNION ALL ".join(
            f"SELECT {subject}, '{_field(table, c)}', list(DISTINCT CAST({_q(c)} AS VARCHAR)) "
            f"FROM ({rows_sql}) r WHERE {_SUBJECT_COLUMN} IS NOT NULL AND {_q(c)} IS NOT NULL "
            "GROUP BY 1"
            for c in both
        )
    )
    return True


def protect_ledger(con: duckdb.DuckDBPyConnection, keyvault: KeyVault) -> dict[str, int]:
    """Protect every snapshot of the ledger not protected yet (a warehouse from before at-rest
    protection), in one transaction. Idempotent: a protected snapshot is never touched again."""
    ensure_vault(con)
    _ensure_protected_table(con)
    if fetch_one(
        con,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ledger' "
        "AND table_name = 'snapshots'",
    ) == (0,):
        return {}
    todo = [
        str(r[0])
        for r in con.execute(
            f"SELECT snapshot_id FROM ledger.snapshots WHERE snapshot_id NOT IN "
            f"(SELECT snapshot_id FROM {PROTECTED_SNAPSHOTS}) ORDER BY created_at"
        ).fetchall()
    ]
    if not todo:
        return {}
    con.execute("BEGIN TRANSACTION")
    try:
        counts = _protect(con, keyvault, todo, [*PROTECTED, "loans", "merchants", "prices"])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts


def _ensure_protected_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {PROTECTED_SNAPSHOTS} "
        "(snapshot_id VARCHAR NOT NULL, protected_at TIMESTAMP NOT NULL)"
    )


def _protect(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    snapshots: Sequence[str],
    entities: Sequence[str],
) -> dict[str, int]:
    ensure_vault(con)
    _ensure_protected_table(con)
    counts: dict[str, int] = {}
    snaps = list(snapshots)
    with_subject = [e for e in entities if _SUBJECT_COLUMN in _table_columns(con, e)]
    _refuse_erased(con, keyvault, snaps, with_subject, counts)
    _vault_values(con, keyvault, snaps, entities, counts)
    _seal_quarantine(con, keyvault, snaps, counts)
    con.executemany(
        f"INSERT INTO {PROTECTED_SNAPSHOTS} VALUES (?, timezone('UTC', now()))",
        [[s] for s in snaps],
    )
    return counts


def _refuse_erased(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    snaps: list[str],
    entities: Sequence[str],
    counts: dict[str, int],
) -> None:
    """Rows of erased subjects become bare quarantine rows; counterparties naming one are nulled."""
    ids = [
        f"SELECT {_SUBJECT_COLUMN} FROM ledger.{_q(e)} WHERE list_contains($s, _snapshot_id)"
        for e in entities
    ]
    ids.append("SELECT subject_id FROM ledger.quarantine WHERE list_contains($s, snapshot_id)")
    if "transactions" in entities:
        ids.append(
            "SELECT counterparty FROM ledger.transactions WHERE list_contains($s, _snapshot_id)"
        )
    # erased_values_sql takes one query; bind the snapshot list by inlining it as a literal.
    union = " UNION ".join(ids).replace("$s", _sql_list(snaps))
    if not erased_values_sql(con, keyvault, union, "_ll_erased_at_ingest"):
        con.execute("DROP TABLE IF EXISTS _ll_erased_at_ingest")
        return
    erased = "(SELECT v FROM _ll_erased_at_ingest)"
    for e in entities:
        row = fetch_one(
            con,
            f"""INSERT INTO ledger.quarantine (entity, source_file, source_row, source_line,
                failed_rules, reason, raw_record, snapshot_id, quarantined_at, subject_id)
            SELECT ?, _source_file, _source_row, NULL, ['{ERASED_RULE}'],
                'the subject is in the erasure register: nothing of the row is kept',
                NULL, _snapshot_id, timezone('UTC', now()), NULL
            FROM ledger.{_q(e)} WHERE list_contains(?, _snapshot_id)
              AND CAST({_SUBJECT_COLUMN} AS VARCHAR) IN {erased}""",
            [e, snaps],
        )
        con.execute(
            f"DELETE FROM ledger.{_q(e)} WHERE list_contains(?, _snapshot_id) "
            f"AND CAST({_SUBJECT_COLUMN} AS VARCHAR) IN {erased}",
            [snaps],
        )
        if row and row[0]:
            counts[f"erased-subject rows refused ({e})"] = int(row[0])
    row = fetch_one(
        con,
        f"""UPDATE ledger.quarantine SET raw_record = NULL, raw_sealed = NULL, subject_id = NULL,
            failed_rules = list_append(failed_rules, '{ERASED_RULE}')
        WHERE list_contains(?, snapshot_id) AND subject_id IN {erased}""",
        [snaps],
    )
    if row and row[0]:
        counts["erased-subject rejects emptied"] = int(row[0])
    if "transactions" in entities:
        row = fetch_one(
            con,
            f"UPDATE ledger.transactions SET counterparty = NULL WHERE "
            f"list_contains(?, _snapshot_id) AND counterparty IN {erased}",
            [snaps],
        )
        if row and row[0]:
            counts["counterparties naming an erased subject nulled"] = int(row[0])
    con.execute("DROP TABLE IF EXISTS _ll_erased_at_ingest")


def _vault_values(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    snaps: list[str],
    entities: Sequence[str],
    counts: dict[str, int],
) -> None:
    literal = _sql_list(snaps)
    plans: list[tuple[str, list[str], list[str]]] = []
    values = "_ll_protect_vals"
    _values_table(con, values)
    for table in entities:
        present = _table_columns(con, table)
        cols = [c for c in PROTECTED.get(table, ()) if c in present]
        by_subject = [c for c in SUBJECT_RESOLVED.get(table, ()) if c in present]
        if not (cols or by_subject) or _SUBJECT_COLUMN not in present:
            continue
        plans.append((table, cols, by_subject))
        rows_sql = f"SELECT * FROM ledger.{_q(table)} WHERE list_contains({literal}, _snapshot_id)"
        _add_values(con, table, rows_sql, values)
    if plans:
        vaulted = PiiVault(con, keyvault).merge_table(values, own_transaction=False)
        if vaulted:
            counts["subjects vaulted"] = vaulted
    con.execute(f"DROP TABLE {values}")
    tokens = Tokens(keyvault)
    for table, cols, by_subject in plans:
        sets = [f"{_q(c)} = {tokens.sql(_q(c))}" for c in cols]
        sets += [f"{_q(c)} = NULL" for c in by_subject]
        row = fetch_one(
            con,
            f"UPDATE ledger.{_q(table)} SET {', '.join(sets)} WHERE list_contains($s, _snapshot_id)",
            {**tokens.params, "s": snaps},
        )
        if row and row[0]:
            counts[f"rows tokenised ({table})"] = int(row[0])


def _seal_quarantine(
    con: duckdb.DuckDBPyConnection, keyvault: KeyVault, snaps: list[str], counts: dict[str, int]
) -> None:
    rows = con.execute(
        "SELECT rowid, entity, source_file, source_row, source_line, raw_record "
        "FROM ledger.quarantine WHERE list_contains(?, snapshot_id) AND raw_record IS NOT NULL",
        [snaps],
    ).fetchall()
    if not rows:
        return
    sealer = QuarantineSealer(keyvault)
    sealed = pa.table(
        {
            "rid": pa.array([int(r[0]) for r in rows], pa.int64()),
            "ct": pa.array(
                [sealer.seal(str(r[5]), sealer.aad(r[1], r[2], r[3], r[4])) for r in rows],
                pa.binary(),
            ),
        }
    )
    con.register("_ll_sealed", sealed)
    try:
        con.execute(
            "UPDATE ledger.quarantine SET raw_sealed = s.ct, raw_record = NULL "
            "FROM _ll_sealed s WHERE ledger.quarantine.rowid = s.rid"
        )
    finally:
        con.unregister("_ll_sealed")
    counts["quarantined records sealed"] = len(rows)


# -- reading plaintext back, in memory only ---------------------------------------------------


class Plaintext:
    """In-memory plaintext of the protected columns, for minimisation and classification.

    :meth:`relation` gives a TEMP VIEW of ``ledger.<table>`` with tokens replaced by the vault's
    values (and subject-resolved columns filled in). The maps behind it are Arrow tables
    registered on the connection: they never reach a DuckDB table or a file. Call
    :meth:`close` (or use as a context manager) to unregister them.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, keyvault: KeyVault) -> None:
        self.con = con
        records = PiiVault(con, keyvault).get_many()
        tokens = Tokens(keyvault)
        by_token: dict[str, str] = {}
        by_subject: dict[str, dict[str, str]] = {}
        for sid, rec in records.items():
            for name, value in rec.items():
                values = value if isinstance(value, list) else [value]
                for v in values:
                    if isinstance(v, str):
                        by_token.setdefault(tokens.token(v), v)
                if "." not in name and values:
                    by_subject.setdefault(name, {})[sid] = str(values[0])
        self._names: list[str] = []
        self._register(
            "_ll_plain_tokens",
            pa.table(
                {
                    "tok": pa.array(list(by_token), pa.string()),
                    "v": pa.array(list(by_token.values()), pa.string()),
                }
            ),
        )
        self._subject_fields = set()
        for name in {c for cols in SUBJECT_RESOLVED.values() for c in cols}:
            m = by_subject.get(name, {})
            self._register(
                f"_ll_plain_{name}",
                pa.table(
                    {
                        "sid": pa.array(list(m), pa.string()),
                        "v": pa.array(list(m.values()), pa.string()),
                    }
                ),
            )
            self._subject_fields.add(name)
        self.tokens = len(by_token)

    def _register(self, name: str, table: pa.Table) -> None:
        self.con.register(name, table)
        self._names.append(name)

    def relation(self, table: str) -> str:
        """A TEMP VIEW of ``ledger.<table>`` with plaintext in the protected columns."""
        types = _table_columns(self.con, table)
        cols = [c for c in PROTECTED.get(table, ()) if c in types]
        subj = [c for c in SUBJECT_RESOLVED.get(table, ()) if c in types]
        if not (cols or subj):
            return f"ledger.{_q(table)}"
        replace, joins = [], []
        for i, c in enumerate(cols):
            # A value that is not a token (a ledger written without protection) is kept as is.
            replace.append(
                f"(CASE WHEN starts_with(t.{_q(c)}, '{TOKEN_PREFIX}') THEN p{i}.v "
                f"ELSE t.{_q(c)} END) AS {_q(c)}"
            )
            joins.append(f"LEFT JOIN _ll_plain_tokens p{i} ON p{i}.tok = t.{_q(c)}")
        for j, c in enumerate(subj):
            replace.append(f"coalesce(t.{_q(c)}, CAST(s{j}.v AS {types[c]})) AS {_q(c)}")
            joins.append(
                f"LEFT JOIN _ll_plain_{c} s{j} ON s{j}.sid = CAST(t.{_SUBJECT_COLUMN} AS VARCHAR)"
            )
        name = f"_ll_plain_view_{table}"
        self.con.execute(
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT t.* REPLACE ({', '.join(replace)}) "
            f"FROM ledger.{_q(table)} t {' '.join(joins)}"
        )
        self._names.append(f"VIEW {name}")
        return name

    def close(self) -> None:
        for name in reversed(self._names):
            if name.startswith("VIEW "):
                self.con.execute(f"DROP VIEW IF EXISTS {name[5:]}")
            else:
                self.con.unregister(name)
        self._names = []

    def __enter__(self) -> Plaintext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def quarantine_values(con: duckdb.DuckDBPyConnection, keyvault: KeyVault) -> list[str]:
    """The personal values of sealed quarantined records (JSON records' personal fields), in
    memory: needles for the leak guard, so a rejected user's phone is caught too."""
    if fetch_one(
        con,
        "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 'ledger' "
        "AND table_name = 'quarantine' AND column_name = 'raw_sealed'",
    ) == (0,):
        return []
    out: set[str] = set()
    for _, _, raw in QuarantineSealer(keyvault).rows(con):
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict):
            for k, v in record.items():
                if k in _PERSONAL_FIELDS and isinstance(v, str) and v.strip():
                    out.add(v)
    return sorted(out)


def plaintext_findings(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per place, how many values are plaintext where only tokens may rest (should be all 0):
    protected columns holding a non-token, subject-resolved columns holding a value, and raw
    quarantine records not sealed."""
    out: dict[str, int] = {}
    not_token = f"NOT starts_with({{c}}, '{TOKEN_PREFIX}')"
    for table in dict.fromkeys([*PROTECTED, *SUBJECT_RESOLVED]):
        present = _table_columns(con, table)
        checks = [(c, not_token) for c in PROTECTED.get(table, ())]
        checks += [(c, "true") for c in SUBJECT_RESOLVED.get(table, ())]
        for c, plain in checks:
            if c in present:
                row = fetch_one(
                    con,
                    f"SELECT count(*) FROM ledger.{_q(table)} WHERE {_q(c)} IS NOT NULL "
                    f"AND {plain.format(c=_q(c))}",
                )
                out[f"ledger.{table}.{c}"] = int(row[0]) if row else 0
    if "raw_record" in _table_columns(con, "quarantine"):
        row = fetch_one(con, "SELECT count(*) FROM ledger.quarantine WHERE raw_record IS NOT NULL")
        out["ledger.quarantine.raw_record"] = int(row[0]) if row else 0
    return out
