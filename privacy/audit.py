"""Append-only, hash-chained audit log in ``audit.events``, with signed checkpoints.

**The chain.** Each event's ``hash`` is SHA-256 over ``prev_hash``, a newline and the canonical
JSON (sorted keys, compact separators, UTF-8, non-ASCII as is) of the event's fields ``seq,
event_time, actor, action, subject, details``. The first event chains from 64 zeros.
:func:`verify_chain` recomputes the chain; any edited, removed, inserted or re-ordered row
breaks it and the first such row (in seq order) is named. Audit events never carry raw
identifiers: subjects are pseudonyms or hashes, and ``details`` must not hold values either
(callers' responsibility).

**Verification reads in bulk.** DuckDB builds each row's hashed bytes in SQL (:data:`EVENT_SQL`,
held byte-equal to :func:`event_bytes` by property tests, every function called through the
built-in catalog so a macro stored in the warehouse cannot stand in for one); the rows come out
as Arrow batches and are hashed by hashlib straight from the batch's buffer; sequence, links and
hashes are compared column-wise. Appending many events at once: :func:`append_events`.

**Checkpoints** (``audit.checkpoints``). A hash chain alone does not notice a rewrite of the whole
chain (every hash recomputed) or a cut of its tail. :func:`write_checkpoint` signs the current head
(``event_seq``, ``event_hash``) with an Ed25519 key derived from the key vault's named key
``audit_checkpoint`` (:data:`AUDIT_KEY_NAME`); checkpoints chain among themselves
(``prev_checkpoint_hash``). :func:`verify_audit` checks, against a *trusted* public key (from the
key vault, never from the table):

- every checkpoint is signed by that key, chains from the previous one, and its head is the hash
  the event chain has at ``event_seq`` (a rewrite, even with a new key, is detected);
- the event chain still reaches every checkpoint's ``event_seq`` (a cut tail is detected back to
  the last checkpoint);
- every *witness* (a checkpoint copied outside the warehouse, e.g. the published
  ``out/dpo/audit_checkpoint.json``) is in the table unchanged (deleted checkpoints are detected);
- when the key exists, at least one checkpoint exists (deleting them all is detected).

Not detected: a cut of events appended after the last checkpoint the verifier can see (the
``unsigned_events`` of :class:`AuditStatus` says how many there are), and anything done by someone
holding the key vault. A checkpoint is only written over a chain that verifies since the previous
checkpoint, so signing never vouches for a broken chain.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from privacy._db import fetch_one
from privacy.keyvault import (
    KeyMissingError,
    KeyVault,
    LocalFileKeyVault,
    recorded_key_checks,
)

__all__ = [
    "AUDIT_KEY_NAME",
    "AUDIT_TABLE",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_TABLE",
    "EVENT_SQL",
    "GENESIS_HASH",
    "AuditEvent",
    "AuditKey",
    "AuditStatus",
    "AuditTamperedError",
    "ChainStatus",
    "Checkpoint",
    "append_event",
    "append_events",
    "audit_key_for_verification",
    "ensure_audit",
    "event_bytes",
    "read_checkpoints",
    "read_witness",
    "verify_audit",
    "verify_chain",
    "write_checkpoint",
    "write_witness",
]

AUDIT_TABLE = "audit.events"
CHECKPOINT_TABLE = "audit.checkpoints"
GENESIS_HASH = "0" * 64
AUDIT_KEY_NAME = "audit_checkpoint"
"""Named key of the key vault whose 32 bytes are the Ed25519 seed of the checkpoint key."""
CHECKPOINT_FORMAT = "ledgerlens.audit.checkpoint/1"
_CHECKPOINT_DOMAIN = b"ledgerlens/audit-checkpoint/v1\n"
_BATCH = 131_072


class AuditTamperedError(RuntimeError):
    """The audit log does not verify where a checkpoint was about to be signed."""


def ensure_audit(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
            seq BIGINT PRIMARY KEY,
            event_time VARCHAR NOT NULL,
            actor VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            subject VARCHAR,
            details VARCHAR NOT NULL,
            prev_hash VARCHAR NOT NULL,
            hash VARCHAR NOT NULL
        )"""
    )


def _ensure_checkpoints(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS audit")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} (
            checkpoint_seq BIGINT PRIMARY KEY,
            event_seq BIGINT NOT NULL,
            event_hash VARCHAR NOT NULL,
            created_at VARCHAR NOT NULL,
            prev_checkpoint_hash VARCHAR NOT NULL,
            key_id VARCHAR NOT NULL,
            public_key VARCHAR NOT NULL,
            signature VARCHAR NOT NULL
        )"""
    )


# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# default=str) builds on every call, built once.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _canonical(value: Any) -> str:
    return _ENCODER.encode(value)


_string = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) writes


def event_bytes(
    seq: int, when: str, actor: str, action: str, subject: str | None, details: str
) -> bytes:
    """The hashed content of one event, the same bytes when appending and when verifying: the
    canonical JSON of ``{seq, event_time, actor, action, subject, details}`` with keys sorted.

    Written out by hand because appending runs it once per event; it equals ``_canonical`` of
    the dict, and :data:`EVENT_SQL` (what verification computes) equals it (property tests hold
    the three together)."""
    subj = "null" if subject is None else _string(subject)
    return (
        f'{{"action":{_string(action)},"actor":{_string(actor)},"details":{_string(details)},'
        f'"event_time":{_string(when)},"seq":{int(seq)},"subject":{subj}}}'
    ).encode()


def _hash(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + content).hexdigest()


# -- the canonical event in SQL ----------------------------------------------------------------
#
# Every function is called as system.main.<name>: a macro stored in the warehouse (CREATE MACRO
# sha256(x) ..., even one named "||") shadows a built-in of the same unqualified name, and
# whoever can edit the log can store one. The built-in catalog cannot be written to.

_SYS = "system.main."
_JSON_ESCAPES = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}


def _cat(*parts: str) -> str:
    # concat, unlike ||, reads NULL as '': NULL fields are refused separately (_FIELDS_PRESENT).
    return f"{_SYS}concat({', '.join(parts)})"


def _json_string_sql(column: str) -> str:
    """SQL for ``json.encoder.encode_basestring(column)`` (JSON string, non-ASCII as is).

    DuckDB's ``to_json`` of a VARCHAR writes the same bytes except one thing: upper-case hex in
    the escapes of U+000B, U+000E-000F and U+001A-001F (checked over every code point). So when
    its output holds no ``\\u00`` at all it is taken as is; otherwise (a control character, or
    a literal backslash-u in the text) the string is escaped by a chain of ``replace`` over the
    original: backslash first, then the quote, then each of the 32 control characters, which is
    exactly the rule of ``encode_basestring``."""
    chain = f"{_SYS}replace({_SYS}replace({column}, '\\', '\\\\'), '\"', '\\\"')"
    for code in range(32):
        escape = _JSON_ESCAPES.get(code, f"\\u{code:04x}")
        chain = f"{_SYS}replace({chain}, {_SYS}chr({code}), '{escape}')"
    as_json = f"CAST({_SYS}to_json({column}) AS VARCHAR)"
    quote = "'\"'"
    return (
        f"CASE WHEN {_SYS}strpos({as_json}, '\\u00') = 0 THEN {as_json} "
        f"ELSE {_cat(quote, chain, quote)} END"
    )


EVENT_SQL = _cat(
    "'{\"action\":'",
    _json_string_sql("action"),
    "',\"actor\":'",
    _json_string_sql("actor"),
    "',\"details\":'",
    _json_string_sql("details"),
    "',\"event_time\":'",
    _json_string_sql("event_time"),
    "',\"seq\":'",
    "CAST(seq AS VARCHAR)",
    "',\"subject\":'",
    f"CASE WHEN subject IS NULL THEN 'null' ELSE {_json_string_sql('subject')} END",
    "'}'",
)
"""SQL over a row of ``audit.events`` giving :func:`event_bytes` of it as VARCHAR (UTF-8)."""

_FIELDS_PRESENT = (
    "(seq IS NOT NULL AND event_time IS NOT NULL AND actor IS NOT NULL AND action IS NOT NULL "
    "AND details IS NOT NULL AND prev_hash IS NOT NULL AND hash IS NOT NULL)"
)
_PREIMAGE_SQL = _cat("prev_hash", f"{_SYS}chr(10)", EVENT_SQL)


@dataclass(frozen=True)
class AuditEvent:
    """One event to append; ``details`` must be JSON-serialisable and hold no personal values."""

    actor: str
    action: str
    subject: str | None = None
    details: dict[str, Any] | None = None
    event_time: datetime | None = None


def _head(con: duckdb.DuckDBPyConnection) -> tuple[int, str]:
    last = fetch_one(con, f"SELECT seq, hash FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1")
    return (0, GENESIS_HASH) if last is None else (int(last[0]), str(last[1]))


def append_event(
    con: duckdb.DuckDBPyConnection,
    actor: str,
    action: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    *,
    event_time: datetime | None = None,
) -> str:
    """Append one event and return its hash. ``details`` must be JSON-serialisable."""
    ensure_audit(con)
    when = (event_time or datetime.now(UTC)).isoformat()
    details_json = _canonical(details or {})
    last_seq, prev = _head(con)
    seq = last_seq + 1
    digest = _hash(prev, event_bytes(seq, when, actor, action, subject, details_json))
    con.execute(
        f"INSERT INTO {AUDIT_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, when, actor, action, subject, details_json, prev, digest],
    )
    return digest


def append_events(con: duckdb.DuckDBPyConnection, events: Iterable[AuditEvent]) -> list[str]:
    """Append ``events`` in order as one INSERT (all or none of them land) and return their
    hashes. The chain is the one :func:`append_event` would build one event at a time; events
    without ``event_time`` share the time of the call."""
    ensure_audit(con)
    now = datetime.now(UTC)
    last_seq, prev = _head(con)
    # Events logged together mostly share one time. Keyed with the offset too: aware datetimes
    # of one instant are equal whatever their offset, and isoformat writes the offset.
    times: dict[tuple[datetime, timedelta | None], str] = {}
    rows: list[tuple[int, str, str, str, str | None, str, str, str]] = []
    for seq, event in enumerate(events, start=last_seq + 1):
        moment = event.event_time or now
        key = (moment, moment.utcoffset())
        when = times.get(key) or times.setdefault(key, moment.isoformat())
        details_json = _canonical(event.details or {})
        digest = _hash(
            prev, event_bytes(seq, when, event.actor, event.action, event.subject, details_json)
        )
        rows.append(
            (seq, when, event.actor, event.action, event.subject, details_json, prev, digest)
        )
        prev = digest
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    names = ("seq", "event_time", "actor", "action", "subject", "details", "prev_hash", "hash")
    batch = pa.table(
        {
            name: pa.array(values, pa.int64() if name == "seq" else pa.string())
            for name, values in zip(names, columns, strict=True)
        }
    )
    name = f"audit_append_{uuid.uuid4().hex}"
    con.register(name, batch)
    try:
        con.execute(
            f"INSERT INTO {AUDIT_TABLE} SELECT seq, event_time, actor, action, subject, details, "
            f'prev_hash, hash FROM "{name}"'
        )
    finally:
        con.unregister(name)
    return [str(h) for h in columns[-1]]


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None
    message: str = "chain intact"


@dataclass(frozen=True)
class _Break:
    """Where a walk stopped: the offset of the failing row in its batch and why."""

    index: int
    seq: int | None
    message: str


def _first_break(
    seqs: pa.Array,
    prevs: list[str | None],
    hashes: list[str | None],
    recomputed: list[str],
    present: list[bool],
    start: int,
    prev: str,
) -> _Break:
    """The first row of a failing batch (rows ``start + 1 ..`` of the walk, in order) that does
    not chain, checked in the order of the per-event walk: sequence, then link, then hash."""
    expected = np.arange(start + 1, start + 1 + len(hashes), dtype=np.int64)
    gaps = np.flatnonzero(pc.fill_null(seqs, -1).to_numpy(zero_copy_only=False) != expected)
    first = int(gaps[0]) if len(gaps) else len(hashes)
    links = [prev, *hashes[:-1]]
    for i in range(first):
        if prevs[i] != links[i] or recomputed[i] != hashes[i] or not present[i]:
            first = i
            break
    seq = seqs[first].as_py()
    if seq is None:
        return _Break(first, start + 1 + first, f"an event without seq after seq {start + first}")
    if seq != start + 1 + first:
        return _Break(first, seq, f"sequence gap before seq {seq}")
    if prevs[first] != links[first]:
        return _Break(first, seq, f"prev_hash mismatch at seq {seq}")
    return _Break(first, seq, f"hash mismatch at seq {seq}")


def _buffer(strings: pa.Array) -> tuple[memoryview, list[int]]:
    """The data buffer of a StringArray and its offsets (row i is ``data[o[i]:o[i + 1]]``)."""
    offsets = np.frombuffer(strings.buffers()[1], dtype=np.int32)
    bounds = offsets[strings.offset : strings.offset + len(strings) + 1].tolist()
    return memoryview(strings.buffers()[2] or b""), bounds


_HASH_TYPE = type(hashlib.sha256())


def _sha256_hex(preimages: pa.Array) -> list[str]:
    """SHA-256 (hex) of each string of a StringArray, hashed straight from its data buffer: one
    hashlib call per row over a slice of the buffer, no Python string per row."""
    strings = pc.fill_null(preimages, "") if preimages.null_count else preimages
    data, bounds = _buffer(strings)
    slices = map(data.__getitem__, map(slice, bounds, bounds[1:]))
    return list(map(_HASH_TYPE.hexdigest, map(hashlib.sha256, slices)))


def _batch_intact(batch: pa.RecordBatch, start: int, prev: str, recomputed: list[str]) -> bool:
    """Whether every row of the batch chains (the fast check: column-wise, no row objects).

    Stored hashes are compared as one byte string with the recomputed ones after checking each
    is 64 bytes long, so the concatenation matching means every row matches."""
    seqs, prevs, hashes, _, present = batch.columns
    n = batch.num_rows
    if seqs.null_count or prevs.null_count or hashes.null_count:
        return False
    if not np.array_equal(seqs.to_numpy(), np.arange(start + 1, start + 1 + n, dtype=np.int64)):
        return False
    if not pc.all(present).as_py() or prevs[0].as_py() != prev:
        return False
    if n > 1 and not pc.all(pc.equal(prevs.slice(1), hashes.slice(0, n - 1))).as_py():
        return False
    data, bounds = _buffer(hashes)
    if not np.all(np.diff(bounds) == 64):
        return False
    return bytes(data[bounds[0] : bounds[-1]]) == "".join(recomputed).encode("ascii")


def _walk_pass(
    con: duckdb.DuckDBPyConnection, wanted: set[int], since: int, prev: str, *, ordered: bool
) -> tuple[ChainStatus, dict[int, str]]:
    where = f"WHERE seq > {int(since)}" if since else ""
    order = "ORDER BY seq" if ordered else ""
    reader = con.sql(
        f"SELECT seq, prev_hash, hash, {_PREIMAGE_SQL} AS preimage, {_FIELDS_PRESENT} AS present "
        f"FROM {AUDIT_TABLE} {where} {order}"
    ).to_arrow_reader(_BATCH)
    seen: dict[int, str] = {}
    count = since
    for batch in reader:
        n = batch.num_rows
        if not n:
            continue
        recomputed = _sha256_hex(batch.column(3))
        hashes = batch.column(2)
        stop = None
        if not _batch_intact(batch, count, prev, recomputed):
            stop = _first_break(
                batch.column(0),
                batch.column(1).to_pylist(),
                hashes.to_pylist(),
                recomputed,
                batch.column(4).to_pylist(),
                count,
                prev,
            )
        good = n if stop is None else stop.index
        for s in wanted:
            if count < s <= count + good:
                seen[s] = str(hashes[s - count - 1].as_py())
        if stop is not None:
            head = prev if stop.index == 0 else str(hashes[stop.index - 1].as_py())
            return ChainStatus(False, count + good, head, stop.seq, stop.message), seen
        prev = str(hashes[n - 1].as_py())
        count += n
    return ChainStatus(True, count, prev), seen


def _walk(
    con: duckdb.DuckDBPyConnection, want: Iterable[int] = (), *, since: int = 0, prev: str = ""
) -> tuple[ChainStatus, dict[int, str]]:
    """Recompute the chain from ``seq > since`` (chaining from ``prev``, the hash at ``since``;
    from the very first row, whatever its seq, when ``since`` is 0); returns the status and the
    recomputed-and-matching hash at each wanted seq reached.

    The rows are first read in storage order, which is seq order for a log only ever appended
    to: if that pass verifies, the rows were in seq order and the result is the ordered one.
    Any failure re-reads them ``ORDER BY seq`` and reports from that pass, so what is named is
    always the first failing event in seq order."""
    wanted = set(want)
    prev = prev or GENESIS_HASH
    status, seen = _walk_pass(con, wanted, since, prev, ordered=False)
    if status.ok:
        return status, seen
    return _walk_pass(con, wanted, since, prev, ordered=True)


def verify_chain(con: duckdb.DuckDBPyConnection) -> ChainStatus:
    """Recompute every hash in order; report the first event that does not chain. ``events`` is
    the number of events in the table (all of them chain when ``ok``). Reads only."""
    if not _has_table(con, AUDIT_TABLE):
        return ChainStatus(True, 0, GENESIS_HASH)
    total = fetch_one(con, f"SELECT count(*) FROM {AUDIT_TABLE}")
    status, _ = _walk(con)
    n = int(total[0]) if total else 0
    return ChainStatus(status.ok, n, status.head, status.first_bad_seq, status.message)


# -- checkpoints ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditKey:
    """The Ed25519 key of the checkpoints. ``repr`` never shows the private part; a key built
    from a public key only verifies."""

    public_key: bytes
    _private: Ed25519PrivateKey | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_seed(cls, seed: bytes) -> AuditKey:
        if len(seed) != 32:
            raise ValueError(f"the audit key seed must be 32 bytes, got {len(seed)}")
        private = Ed25519PrivateKey.from_private_bytes(seed)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(public, private)

    @classmethod
    def from_keyvault(cls, keyvault: KeyVault) -> AuditKey:
        """The signing key; created in the key vault on first use, then recorded and never
        regenerated (the key vault refuses a changed or missing recorded key)."""
        return cls.from_seed(keyvault.key(AUDIT_KEY_NAME))

    @property
    def key_id(self) -> str:
        """The first 16 bytes of SHA-256 of the raw public key, hex."""
        return hashlib.sha256(self.public_key).hexdigest()[:32]

    def sign(self, message: bytes) -> bytes:
        if self._private is None:
            raise ValueError("this audit key holds only a public key: it cannot sign")
        return self._private.sign(message)

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "the audit log's event ``event_seq`` has hash ``event_hash``"."""

    checkpoint_seq: int
    event_seq: int
    event_hash: str
    created_at: str
    prev_checkpoint_hash: str
    key_id: str
    public_key: str
    signature: str

    def body(self) -> dict[str, Any]:
        """The signed fields (the public key and the signature are not signed)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "checkpoint_seq": self.checkpoint_seq,
            "event_seq": self.event_seq,
            "event_hash": self.event_hash,
            "created_at": self.created_at,
            "prev_checkpoint_hash": self.prev_checkpoint_hash,
            "key_id": self.key_id,
        }

    def message(self) -> bytes:
        return _CHECKPOINT_DOMAIN + _canonical(self.body()).encode("utf-8")

    def digest(self) -> str:
        """What the next checkpoint chains from."""
        return hashlib.sha256(self.message()).hexdigest()

    def document(self) -> dict[str, Any]:
        return self.body() | {"public_key": self.public_key, "signature": self.signature}


_CHECKPOINT_COLUMNS = (
    "checkpoint_seq, event_seq, event_hash, created_at, prev_checkpoint_hash, key_id, "
    "public_key, signature"
)


def _has_table(con: duckdb.DuckDBPyConnection, fq: str) -> bool:
    schema, name = fq.split(".", 1)
    row = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    )
    return bool(row and row[0])


def read_checkpoints(con: duckdb.DuckDBPyConnection) -> list[Checkpoint]:
    """Every checkpoint in ``checkpoint_seq`` order (empty when none was ever written)."""
    if not _has_table(con, CHECKPOINT_TABLE):
        return []
    rows = con.execute(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINT_TABLE} ORDER BY checkpoint_seq"
    ).fetchall()
    return [
        Checkpoint(int(a), int(b), str(c), str(d), str(e), str(f), str(g), str(h))
        for a, b, c, d, e, f, g, h in rows
    ]


def write_checkpoint(
    con: duckdb.DuckDBPyConnection, key: AuditKey, *, now: datetime | None = None
) -> Checkpoint | None:
    """Sign the current head of the audit log; returns the new checkpoint, the last one when no
    event was appended since, or ``None`` for an empty log.

    The chain is verified from the last checkpoint (its event must still have the signed hash)
    to the head first; a chain that does not verify raises :class:`AuditTamperedError` naming the
    event, and nothing is signed."""
    ensure_audit(con)
    _ensure_checkpoints(con)
    checkpoints = read_checkpoints(con)
    last = checkpoints[-1] if checkpoints else None
    head = fetch_one(con, f"SELECT seq, hash FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1")
    if head is None:
        if last is not None:
            raise AuditTamperedError(
                f"audit.events is empty but checkpoint {last.checkpoint_seq} signed events up "
                f"to seq {last.event_seq}: the log was truncated; run `ledgerlens audit verify`"
            )
        return None
    if last is not None and last.event_seq == int(head[0]) and last.event_hash == str(head[1]):
        return last
    since, prev = 0, GENESIS_HASH
    if last is not None:
        at = fetch_one(con, f"SELECT hash FROM {AUDIT_TABLE} WHERE seq = ?", [last.event_seq])
        if at is None or str(at[0]) != last.event_hash:
            raise AuditTamperedError(
                f"event seq {last.event_seq} no longer has the hash checkpoint "
                f"{last.checkpoint_seq} signed: refusing to sign a new checkpoint; run "
                "`ledgerlens audit verify`"
            )
        since, prev = last.event_seq, last.event_hash
    status, _ = _walk(con, since=since, prev=prev)
    if not status.ok:
        raise AuditTamperedError(
            f"audit log broken ({status.message}): refusing to sign a checkpoint over it; run "
            "`ledgerlens audit verify`"
        )
    unsigned = Checkpoint(
        checkpoint_seq=1 if last is None else last.checkpoint_seq + 1,
        event_seq=int(head[0]),
        event_hash=status.head,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        prev_checkpoint_hash=GENESIS_HASH if last is None else last.digest(),
        key_id=key.key_id,
        public_key=key.public_key.hex(),
        signature="",
    )
    signed = replace(unsigned, signature=key.sign(unsigned.message()).hex())
    con.execute(
        f"INSERT INTO {CHECKPOINT_TABLE} ({_CHECKPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            signed.checkpoint_seq,
            signed.event_seq,
            signed.event_hash,
            signed.created_at,
            signed.prev_checkpoint_hash,
            signed.key_id,
            signed.public_key,
            signed.signature,
        ],
    )
    return signed


def write_witness(path: Path, checkpoint: Checkpoint) -> Path:
    """Write a checkpoint as a JSON document (a copy kept outside the warehouse)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(checkpoint.document(), indent=1) + "\n", encoding="utf-8")
    return path


def read_witness(path: Path) -> Checkpoint:
    """A checkpoint document written by :func:`write_witness`; ``ValueError`` naming the file
    and the field when it is not one. The signature is checked by :func:`verify_audit`."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable checkpoint document ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a {CHECKPOINT_FORMAT} document (field 'format')")
    try:
        return Checkpoint(
            checkpoint_seq=int(doc["checkpoint_seq"]),
            event_seq=int(doc["event_seq"]),
            event_hash=str(doc["event_hash"]),
            created_at=str(doc["created_at"]),
            prev_checkpoint_hash=str(doc["prev_checkpoint_hash"]),
            key_id=str(doc["key_id"]),
            public_key=str(doc["public_key"]),
            signature=str(doc["signature"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: checkpoint field {exc} missing or malformed") from None


@dataclass(frozen=True)
class AuditStatus:
    """The chain and its checkpoints. ``first_bad_seq``: the first event that fails (chain or
    checkpoint); ``first_bad_checkpoint``: the first checkpoint that fails. ``unsigned_events``:
    events after the last valid checkpoint (a cut among them is not detectable)."""

    ok: bool
    chain: ChainStatus
    checkpoints: int
    last_checkpoint: Checkpoint | None
    unsigned_events: int
    key_id: str | None
    first_bad_seq: int | None = None
    first_bad_checkpoint: int | None = None
    messages: tuple[str, ...] = ()

    @property
    def message(self) -> str:
        if self.messages:
            return "; ".join(self.messages)
        return (
            "chain and checkpoints intact" if self.checkpoints else "chain intact; not signed yet"
        )


def _signature_ok(key: AuditKey, cp: Checkpoint) -> bool:
    try:
        return key.verifies(cp.message(), bytes.fromhex(cp.signature))
    except ValueError:
        return False


def _checkpoint_problem(
    cp: Checkpoint, key: AuditKey, expected_seq: int, prev_digest: str, prev_event_seq: int
) -> str | None:
    """Why ``cp`` does not verify on its own terms (signature, key, order), or None."""
    n = cp.checkpoint_seq
    if cp.key_id != key.key_id or cp.public_key != key.public_key.hex():
        return (
            f"checkpoint {n} is signed by key {cp.key_id}, not by the audit key of the key vault "
            f"({key.key_id}): the checkpoints were re-signed, the log was rewritten"
        )
    if not _signature_ok(key, cp):
        return f"checkpoint {n}: signature does not verify (the checkpoint was edited)"
    if n != expected_seq:
        return f"checkpoint {expected_seq} is missing (next is {n}): checkpoints were deleted"
    if cp.prev_checkpoint_hash != prev_digest:
        return f"checkpoint {n} does not chain from checkpoint {n - 1}"
    if cp.event_seq <= prev_event_seq:
        return f"checkpoint {n} signs event seq {cp.event_seq}, not after {prev_event_seq}"
    return None


def verify_audit(
    con: duckdb.DuckDBPyConnection,
    key: AuditKey | None,
    witnesses: Sequence[Checkpoint] = (),
) -> AuditStatus:
    """Verify the chain and every checkpoint against ``key``: the trusted key, from the key vault
    (:func:`audit_key_for_verification`), ``None`` when the vault has never held one; a key that
    exists means at least one checkpoint was signed. ``witnesses``: checkpoints kept outside the
    warehouse. Reads only."""
    checkpoints = read_checkpoints(con)
    signed_seqs = {cp.event_seq for cp in checkpoints} | {w.event_seq for w in witnesses}
    walked, hashes = ChainStatus(True, 0, GENESIS_HASH), dict[int, str]()
    total = last_seq = 0
    if _has_table(con, AUDIT_TABLE):
        total_row = fetch_one(con, f"SELECT count(*), max(seq) FROM {AUDIT_TABLE}")
        total = int(total_row[0]) if total_row else 0
        last_seq = int(total_row[1]) if total_row and total_row[1] is not None else 0
        walked, hashes = _walk(con, signed_seqs)
    chain = ChainStatus(walked.ok, total, walked.head, walked.first_bad_seq, walked.message)
    messages: list[str] = [] if chain.ok else [f"event chain: {chain.message}"]
    bad_seq = chain.first_bad_seq
    bad_cp: int | None = None

    def fail(cp: int | None, seq: int | None, text: str) -> None:
        nonlocal bad_cp, bad_seq
        messages.append(text)
        if cp is not None and bad_cp is None:
            bad_cp = cp
        if seq is not None and (bad_seq is None or seq < bad_seq):
            bad_seq = seq

    last_good: Checkpoint | None = None
    if checkpoints and key is None:
        fail(
            checkpoints[0].checkpoint_seq,
            None,
            f"{len(checkpoints)} checkpoints but no audit key ({AUDIT_KEY_NAME}) in the key vault "
            "to verify them: restore the keys directory from a backup",
        )
    elif key is not None:
        if not checkpoints and total:
            fail(
                None,
                None,
                f"no checkpoint in {CHECKPOINT_TABLE} although the audit key exists: the "
                "checkpoints were deleted (compare with out/dpo/audit_checkpoint.json)",
            )
        prev_digest, prev_event, expected = GENESIS_HASH, 0, 1
        for cp in checkpoints:
            problem = _checkpoint_problem(cp, key, expected, prev_digest, prev_event)
            if problem is not None:
                fail(cp.checkpoint_seq, None, problem)
                break
            if cp.event_seq > last_seq:
                fail(
                    cp.checkpoint_seq,
                    last_seq + 1,
                    f"events after seq {last_seq} are missing: checkpoint {cp.checkpoint_seq} "
                    f"signed the log up to seq {cp.event_seq} (the tail was cut)",
                )
                break
            if cp.event_seq in hashes and hashes[cp.event_seq] != cp.event_hash:
                fail(
                    cp.checkpoint_seq,
                    cp.event_seq,
                    f"event seq {cp.event_seq} is not the event checkpoint {cp.checkpoint_seq} "
                    "signed (the chain was rewritten)",
                )
                break
            if cp.event_seq not in hashes:
                # The chain broke before this checkpoint: already reported, stop here.
                break
            last_good = cp
            prev_digest, prev_event, expected = cp.digest(), cp.event_seq, cp.checkpoint_seq + 1
        stored = {cp.checkpoint_seq: cp for cp in checkpoints}
        for w in witnesses:
            if not _signature_ok(key, w) or w.key_id != key.key_id:
                fail(
                    w.checkpoint_seq,
                    None,
                    f"witness checkpoint {w.checkpoint_seq} is not signed by the audit key of "
                    "the key vault",
                )
            elif stored.get(w.checkpoint_seq) != w:
                fail(
                    w.checkpoint_seq,
                    min(w.event_seq, last_seq + 1),
                    f"checkpoint {w.checkpoint_seq} (events up to seq {w.event_seq}, kept outside "
                    f"the warehouse) is missing from {CHECKPOINT_TABLE} or differs: checkpoints "
                    "were deleted or rewritten",
                )
            elif w.event_seq > last_seq or hashes.get(w.event_seq) != w.event_hash:
                fail(
                    w.checkpoint_seq,
                    min(w.event_seq, last_seq + 1),
                    f"the log no longer holds event seq {w.event_seq} as witness checkpoint "
                    f"{w.checkpoint_seq} signed it",
                )
    unsigned = total - (last_good.event_seq if last_good else 0)
    return AuditStatus(
        ok=not messages,
        chain=chain,
        checkpoints=len(checkpoints),
        last_checkpoint=last_good,
        unsigned_events=max(0, unsigned),
        key_id=key.key_id if key is not None else None,
        first_bad_seq=bad_seq,
        first_bad_checkpoint=bad_cp,
        messages=tuple(messages),
    )


def audit_key_for_verification(
    con: duckdb.DuckDBPyConnection, keys_dir: Path, master_key: bytes | str | None = None
) -> AuditKey | None:
    """The trusted checkpoint key from the key vault, read without writing anything: ``None``
    when the vault has never held it. Every key the warehouse recorded is verified first; a
    recorded audit key that is missing or changed raises the key vault's
    :class:`~privacy.keyvault.KeyCheckError` (naming the file)."""
    recorded = recorded_key_checks(con)
    if not keys_dir.exists() and not recorded:
        return None
    kv = LocalFileKeyVault(keys_dir, master_key, expected=recorded, existing_warehouse=True)
    try:
        return AuditKey.from_seed(kv.key(AUDIT_KEY_NAME, create=False))
    except KeyMissingError:
        if AUDIT_KEY_NAME in recorded:
            raise
        return None
