"""The PII vault: direct identifiers, encrypted per subject with envelope encryption.

Tables (DuckDB schema ``vault``):

- ``vault.subjects(subject_id, nonce, ciphertext, fields, updated_at)``: one row per subject; the
  ciphertext is AES-256-GCM of the subject's identifier record (compact JSON) under the subject's
  own data key, with associated data ``ledgerlens/vault/v1|<subject_id>`` (a ciphertext moved to
  another subject fails authentication).
- ``vault.data_keys(subject_id, wrapped_key, master_fingerprint)``: the data key wrapped by the key
  vault's master key (AAD binds the subject id). Deleting it crypto-shreds the subject.
- ``vault.meta(key, value)``: the fingerprint of the master key the vault was written under.

Opening a vault that holds data keys with a key vault whose master key has another fingerprint is
refused (:class:`~privacy.keyvault.MasterKeyError`). :func:`rotate_master_key` re-wraps the data
keys (not the data) under a new master key. Batch APIs move data through Arrow.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy._db import fetch_one
from privacy.keyvault import KeyVault, KeyVaultError, KeyWrapper, MasterKeyError
from privacy.pseudonyms import pseudonym
from privacy.register import ERASURE_PURPOSE, erased_hashes

__all__ = [
    "DATA_KEYS_TABLE",
    "META_TABLE",
    "SUBJECTS_TABLE",
    "DEFAULT_VAULT_SOURCES",
    "PiiVault",
    "VaultIntegrityError",
    "rotate_master_key",
]

SUBJECTS_TABLE = "vault.subjects"
DATA_KEYS_TABLE = "vault.data_keys"
META_TABLE = "vault.meta"

# Which ledger columns are vaulted per subject when no inventory is given.
DEFAULT_VAULT_SOURCES: dict[str, tuple[str, ...]] = {
    "users": (
        "full_name",
        "mobile",
        "email",
        "resident_id",
        "date_of_birth",
        "device_id",
        "ip_address",
    ),
    "wallets": ("address",),
}
_VAULTED_ENTITIES = frozenset(
    {
        "person_name",
        "mobile_number",
        "email",
        "resident_id",
        "bank_card",
        "device_id",
        "ip_address",
        "precise_location",
        "date_of_birth",
        "blockchain_address",
    }
)

_NONCE = 12
# Records are stored as compact JSON (non-ASCII kept as is).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


class VaultIntegrityError(RuntimeError):
    """A vault record failed authentication (corrupted or tampered ciphertext or data key)."""


def _data_aad(subject_id: str) -> bytes:
    return b"ledgerlens/vault/v1|" + subject_id.encode("utf-8")


def _union(old: Sequence[Any], new: Sequence[Any]) -> list[Any]:
    """Each value of ``old`` then ``new`` once (``==``), first-seen order, None left out. By a
    dict (a subject's IPs and devices are hashed once, not compared pairwise); a JSON list or
    object cannot be hashed, and then values are compared one by one."""
    try:
        seen = dict.fromkeys((*old, *new) if old else new)
    except TypeError:
        out: list[Any] = []
        for v in (*old, *new):
            if v is not None and v not in out:
                out.append(v)
        return out
    seen.pop(None, None)
    return list(seen)


def _encode(records: Sequence[Mapping[str, Any]]) -> tuple[list[bytes], list[str]]:
    """Each record as stored: compact JSON of its non-None fields, and their sorted names."""
    plains: list[bytes] = []
    fields: list[str] = []
    for rec in records:
        clean = {k: v for k, v in rec.items() if v is not None}
        plains.append(_JSON.encode(clean).encode("utf-8"))
        fields.append(",".join(sorted(clean)))
    return plains, fields


def _key_aad(subject_id: str) -> bytes:
    return b"ledgerlens/data-key/v1|" + subject_id.encode("utf-8")


@dataclass(frozen=True)
class VaultStats:
    subjects: int
    shredded: int


class PiiVault:
    """Envelope-encrypted identifier records per subject, stored in DuckDB."""

    def __init__(self, con: duckdb.DuckDBPyConnection, keyvault: KeyVault) -> None:
        self.con = con
        self.keyvault = keyvault
        ensure_vault(con)
        stored = fetch_one(con, f"SELECT value FROM {META_TABLE} WHERE key = 'master_fingerprint'")
        n_keys = fetch_one(con, f"SELECT count(*) FROM {DATA_KEYS_TABLE}")
        has_keys = bool(n_keys and n_keys[0])
        if stored is None:
            if has_keys:
                raise MasterKeyError("vault.data_keys has keys but vault.meta has no fingerprint")
            con.execute(
                f"INSERT INTO {META_TABLE} VALUES ('master_fingerprint', ?)", [keyvault.fingerprint]
            )
        elif stored[0] != keyvault.fingerprint and has_keys:
            raise MasterKeyError(
                f"the PII vault was written under master key {stored[0]} but the key vault holds "
                f"{keyvault.fingerprint}: refusing (restore the right LEDGERLENS_MASTER_KEY)"
            )
        elif stored[0] != keyvault.fingerprint:
            con.execute(
                f"UPDATE {META_TABLE} SET value = ? WHERE key = 'master_fingerprint'",
                [keyvault.fingerprint],
            )

    # -- pure batch crypto ------------------------------------------------------------------
    def encrypt_batch(
        self, subject_ids: Sequence[str], records: Sequence[Mapping[str, Any]]
    ) -> tuple[pa.Table, pa.Table]:
        """(subjects rows, data_keys rows) as Arrow tables, ready to insert."""
        if len(records) != len(subject_ids):
            raise ValueError("subject_ids and records differ in length")
        return self._seal(subject_ids, *_encode(records))

    def _seal(
        self, subject_ids: Sequence[str], plains: Sequence[bytes], fields: Sequence[str]
    ) -> tuple[pa.Table, pa.Table]:
        """Encrypt encoded records (JSON bytes), each under a fresh data key wrapped by the
        master key: (subjects rows, data_keys rows) as Arrow tables."""
        n = len(subject_ids)
        rnd = os.urandom(n * (32 + _NONCE))
        nonces: list[bytes] = []
        cts: list[bytes] = []
        dks: list[bytes] = []
        key_aads: list[bytes] = []
        for i, (sid, plain) in enumerate(zip(subject_ids, plains, strict=True)):
            off = i * (32 + _NONCE)
            dk = rnd[off : off + 32]
            nonce = rnd[off + 32 : off + 32 + _NONCE]
            cts.append(AESGCM(dk).encrypt(nonce, plain, _data_aad(sid)))
            nonces.append(nonce)
            dks.append(dk)
            key_aads.append(_key_aad(sid))
        wrapped = self.keyvault.wrapper().wrap_many(dks, key_aads)
        ids = pa.array(subject_ids, pa.string())
        subjects = pa.table(
            {
                "subject_id": ids,
                "nonce": pa.array(nonces, pa.binary()),
                "ciphertext": pa.array(cts, pa.binary()),
                "fields": pa.array(fields, pa.string()),
            }
        )
        keys = pa.table(
            {
                "subject_id": ids,
                "wrapped_key": pa.array(wrapped, pa.binary()),
                "master_fingerprint": pa.array([self.keyvault.fingerprint] * n, pa.string()),
            }
        )
        return subjects, keys

    def decrypt_batch(self, rows: pa.Table) -> dict[str, dict[str, Any]]:
        """Decrypt Arrow rows (subject_id, nonce, ciphertext, wrapped_key); shredded rows (no
        wrapped key) are skipped. Raises :class:`VaultIntegrityError` naming the subject."""
        sids = rows.column("subject_id").to_pylist()
        nonces = rows.column("nonce").to_pylist()
        cts = rows.column("ciphertext").to_pylist()
        wrapped = rows.column("wrapped_key").to_pylist()
        live = [i for i, w in enumerate(wrapped) if w is not None]
        try:
            dks = self.keyvault.wrapper().unwrap_many(
                [wrapped[i] for i in live], [_key_aad(sids[i]) for i in live]
            )
        except KeyVaultError as exc:
            raise VaultIntegrityError(f"PII vault: {exc}") from None
        loads = json.loads
        out: dict[str, dict[str, Any]] = {}
        for i, dk in zip(live, dks, strict=True):
            sid = sids[i]
            try:
                plain = AESGCM(dk).decrypt(nonces[i], cts[i], _data_aad(sid))
            except InvalidTag:
                raise VaultIntegrityError(
                    f"PII vault record of subject {sid!r} failed authentication: the ciphertext "
                    "is corrupted or was tampered with (AES-GCM tag mismatch)"
                ) from None
            out[sid] = loads(plain)
        return out

    # -- storage ----------------------------------------------------------------------------
    def put_many(
        self,
        subject_ids: Sequence[str],
        records: Sequence[Mapping[str, Any]],
        *,
        own_transaction: bool = True,
    ) -> int:
        """Insert or replace the records of these subjects. Returns the number written.
        ``own_transaction=False``: the caller has a transaction open (ingest vaults in its own)."""
        if not subject_ids:
            return 0
        self._store(*self.encrypt_batch(subject_ids, records), own_transaction=own_transaction)
        return len(subject_ids)

    def _store(self, subjects: pa.Table, keys: pa.Table, *, own_transaction: bool) -> None:
        """Replace the subjects' rows of both tables by these encrypted rows."""
        con = self.con
        con.register("_ll_vault_subjects", subjects)
        con.register("_ll_vault_keys", keys)
        try:
            own = own_transaction
            if own:
                con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    f"DELETE FROM {SUBJECTS_TABLE} WHERE subject_id IN "
                    "(SELECT subject_id FROM _ll_vault_subjects)"
                )
                con.execute(
                    f"DELETE FROM {DATA_KEYS_TABLE} WHERE subject_id IN "
                    "(SELECT subject_id FROM _ll_vault_keys)"
                )
                con.execute(
                    f"INSERT INTO {SUBJECTS_TABLE} SELECT subject_id, nonce, ciphertext, fields, "
                    "now()::TIMESTAMP FROM _ll_vault_subjects"
                )
                con.execute(
                    f"INSERT INTO {DATA_KEYS_TABLE} SELECT subject_id, wrapped_key, "
                    "master_fingerprint FROM _ll_vault_keys"
                )
                if own:
                    con.execute("COMMIT")
            except Exception:
                if own:
                    con.execute("ROLLBACK")
                raise
        finally:
            con.unregister("_ll_vault_subjects")
            con.unregister("_ll_vault_keys")

    def merge_many(
        self,
        additions: Mapping[str, Mapping[str, Sequence[Any]]],
        *,
        own_transaction: bool = True,
    ) -> int:
        """Merge values into the subjects' records (created when absent): per field the union,
        first-seen order; a subject's own field (no ``.`` in its name) with one value is stored
        as that value, as :meth:`load_from_ledger` does. Returns the subjects written."""
        if not additions:
            return 0
        ids, merged = self._merged(additions)
        return self.put_many(ids, merged, own_transaction=own_transaction)

    def _merged(
        self, additions: Mapping[str, Mapping[str, Sequence[Any]]]
    ) -> tuple[list[str], list[dict[str, Any]]]:
        """The subjects (sorted) and their current records with ``additions`` merged in."""
        ids = sorted(additions)
        current = self.get_many(ids)
        merged: list[dict[str, Any]] = []
        for sid in ids:
            rec = dict(current.get(sid, {}))
            for name, values in additions[sid].items():
                old = rec.get(name)
                seen = _union(
                    old if isinstance(old, list) else ([] if old is None else [old]), values
                )
                if seen:
                    rec[name] = seen[0] if "." not in name and len(seen) == 1 else seen
            merged.append(rec)
        return ids, merged

    def merge_table(self, table: str, *, own_transaction: bool = True) -> int:
        """:meth:`merge_many` of the values in a DuckDB table of ``(subject_id VARCHAR, field
        VARCHAR, vals VARCHAR[])``, ``vals`` distinct and not NULL (a (subject, field) on several
        rows is unioned). A subject without a record has it encoded by DuckDB
        (``json_group_object``) and only encrypted here; a subject with one has it decrypted and
        merged as by :meth:`merge_many`. Returns the subjects written."""
        repeated = fetch_one(
            self.con, f"SELECT count(*) - count(DISTINCT (subject_id, field)) FROM {table}"
        )
        source = table
        if repeated and repeated[0]:
            source = (
                f"(SELECT subject_id, field, list_distinct(flatten(list(vals))) AS vals "
                f"FROM {table} GROUP BY 1, 2)"
            )
        rows = (
            f"SELECT subject_id, field, vals FROM {source} t WHERE subject_id IS NOT NULL "
            "AND field IS NOT NULL AND len(vals) > 0"
        )
        known = f"(SELECT subject_id FROM {SUBJECTS_TABLE})"
        additions: dict[str, dict[str, list[Any]]] = {}
        for sid, name, vals in self.con.execute(
            f"SELECT subject_id, field, vals FROM ({rows}) g WHERE subject_id IN {known}"
        ).fetchall():
            additions.setdefault(str(sid), {})[str(name)] = list(vals)
        new = self.con.sql(
            f"""SELECT subject_id,
                json_group_object(field, CASE WHEN NOT contains(field, '.') AND len(vals) = 1
                    THEN to_json(vals[1]) ELSE to_json(vals) END) AS record,
                string_agg(field, ',' ORDER BY field) AS fields
            FROM ({rows}) g WHERE subject_id NOT IN {known} GROUP BY 1 ORDER BY 1"""
        ).to_arrow_table()
        ids, merged = self._merged(additions) if additions else ([], [])
        plains, fields = _encode(merged)
        ids += new.column("subject_id").to_pylist()
        plains += [str(r).encode("utf-8") for r in new.column("record").to_pylist()]
        fields += new.column("fields").to_pylist()
        if not ids:
            return 0
        self._store(*self._seal(ids, plains, fields), own_transaction=own_transaction)
        return len(ids)

    def get_many(self, subject_ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Decrypted records, all (None) or of the given subjects; shredded subjects are absent."""
        sql = (
            f"SELECT s.subject_id, s.nonce, s.ciphertext, k.wrapped_key FROM {SUBJECTS_TABLE} s "
            f"LEFT JOIN {DATA_KEYS_TABLE} k USING (subject_id)"
        )
        if subject_ids is None:
            rows = self.con.sql(sql).to_arrow_table()
        else:
            ids = pa.table({"subject_id": pa.array(list(subject_ids), pa.string())})
            self.con.register("_ll_vault_ids", ids)
            try:
                rows = self.con.sql(
                    sql + " WHERE s.subject_id IN (SELECT subject_id FROM _ll_vault_ids)"
                ).to_arrow_table()
            finally:
                self.con.unregister("_ll_vault_ids")
        return self.decrypt_batch(rows)

    def get(self, subject_id: str) -> dict[str, Any] | None:
        return self.get_many([subject_id]).get(subject_id)

    def shred(self, subject_id: str) -> bool:
        """Delete the subject's wrapped data key and ciphertext. True if a key was deleted."""
        n = fetch_one(
            self.con, f"SELECT count(*) FROM {DATA_KEYS_TABLE} WHERE subject_id = ?", [subject_id]
        )
        self.con.execute(f"DELETE FROM {DATA_KEYS_TABLE} WHERE subject_id = ?", [subject_id])
        self.con.execute(f"DELETE FROM {SUBJECTS_TABLE} WHERE subject_id = ?", [subject_id])
        return bool(n and n[0])

    def stats(self) -> VaultStats:
        row = fetch_one(
            self.con,
            f"SELECT count(*), count(*) FILTER (WHERE k.subject_id IS NULL) FROM {SUBJECTS_TABLE} "
            f"s LEFT JOIN {DATA_KEYS_TABLE} k USING (subject_id)",
        )
        assert row is not None
        return VaultStats(int(row[0]), int(row[1]))

    def load_from_ledger(
        self,
        sources: Mapping[str, Sequence[str]] | None = None,
        *,
        schema: str = "ledger",
        subject_column: str = "user_id",
    ) -> int:
        """Vault the identifier columns of each subject (default :data:`DEFAULT_VAULT_SOURCES`;
        list-valued when a subject has several rows, e.g. wallets). Subjects in the erasure
        register are skipped. Returns how many subjects were written."""
        sources = dict(sources or DEFAULT_VAULT_SOURCES)
        existing = {
            (t, c)
            for t, c in self.con.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = ?",
                [schema],
            ).fetchall()
        }
        parts: list[tuple[str, str]] = []
        for table, cols in sources.items():
            present = [c for c in cols if (table, c) in existing]
            if not present or (table, subject_column) not in existing:
                continue
            aggs = ", ".join(
                f"list(DISTINCT CAST({c} AS VARCHAR)) FILTER (WHERE {c} IS NOT NULL) AS {c}"
                for c in present
            )
            parts.append(
                (
                    table,
                    f"SELECT {subject_column} AS subject_id, {aggs} "
                    f"FROM {schema}.{table} WHERE {subject_column} IS NOT NULL GROUP BY 1",
                )
            )
        if not parts:
            return 0
        merged: dict[str, dict[str, Any]] = {}
        for table, sql in parts:
            one_row_each = table == "users"
            tbl = self.con.sql(sql).to_arrow_table()
            cols = [c for c in tbl.column_names if c != "subject_id"]
            sids = tbl.column("subject_id").to_pylist()
            data = {c: tbl.column(c).to_pylist() for c in cols}
            for i, sid in enumerate(sids):
                rec = merged.setdefault(sid, {})
                for c in cols:
                    vals = data[c][i]
                    if vals:
                        field = c if one_row_each else f"{table}.{c}"
                        rec[field] = vals[0] if one_row_each and len(vals) == 1 else vals
        gone = erased_hashes(self.con)
        if gone:
            key = self.keyvault.purpose_key(ERASURE_PURPOSE)
            merged = {s: r for s, r in merged.items() if pseudonym(key, s) not in gone}
        ids = sorted(merged)
        return self.put_many(ids, [merged[s] for s in ids])


def ensure_vault(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS vault")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {SUBJECTS_TABLE} (
            subject_id VARCHAR NOT NULL, nonce BLOB NOT NULL, ciphertext BLOB NOT NULL,
            fields VARCHAR, updated_at TIMESTAMP)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {DATA_KEYS_TABLE} (
            subject_id VARCHAR NOT NULL, wrapped_key BLOB NOT NULL,
            master_fingerprint VARCHAR NOT NULL)"""
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key VARCHAR, value VARCHAR)")


def rotate_master_key(
    con: duckdb.DuckDBPyConnection, keyvault: KeyVault, new_master_key: bytes | None = None
) -> bytes:
    """Re-wrap every data key (and the key vault's purpose keys) under a new master key, without
    re-encrypting any record. Returns the new master key (store it: when the old one came from
    ``$LEDGERLENS_MASTER_KEY`` the environment must be updated)."""
    PiiVault(con, keyvault)  # refuses a mismatched master key before anything changes

    def rewrap(old: KeyWrapper, new: KeyWrapper) -> None:
        rows = con.execute(f"SELECT subject_id, wrapped_key FROM {DATA_KEYS_TABLE}").fetchall()
        sids = [r[0] for r in rows]
        aads = [_key_aad(s) for s in sids]
        keys = old.unwrap_many([r[1] for r in rows], aads)
        rewrapped = new.wrap_many(keys, aads)
        tbl = pa.table(
            {
                "subject_id": pa.array(sids, pa.string()),
                "wrapped_key": pa.array(rewrapped, pa.binary()),
                "master_fingerprint": pa.array([new.fingerprint] * len(sids), pa.string()),
            }
        )
        con.register("_ll_rewrapped", tbl)
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(f"DELETE FROM {DATA_KEYS_TABLE}")
            con.execute(f"INSERT INTO {DATA_KEYS_TABLE} SELECT * FROM _ll_rewrapped")
            con.execute(
                f"UPDATE {META_TABLE} SET value = ? WHERE key = 'master_fingerprint'",
                [new.fingerprint],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        finally:
            con.unregister("_ll_rewrapped")

    return keyvault.rotate(new_master_key, rewrap)
