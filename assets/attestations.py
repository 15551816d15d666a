"""Attestation assets: the issuer key, a signed Merkle root per ledger snapshot, and a signed score
credential per scored application, each staged for the publish gate.

The cryptography is in ``zk/``; these assets read the warehouse, call ``zk``, record what was
issued in ``attest.*`` and stage the documents (all RFC 8785 bytes, ``zk.envelope``):

- ``issuer/issuer_key.json``                      the issuer public key, the verifiers' trust anchor
- ``dpo/attestations/snapshot-<id>.json``         the signed snapshot commitment
- ``subjects/<pseudonym>/credential-<loan>.json``  the score credential
- ``subjects/<pseudonym>/opening-<loan>.json``     its opening: only ever staged here
- ``issuer/status_list.json``                      the signed revocation list, republished every run

Invariants: a status-list index is recorded in ``attest.credentials`` (unique) before any document
carrying it is staged, so an index is never given to two credentials; the issuer secret is a
named key of the key vault whose key-check value the warehouse records, so a changed or lost
secret is refused instead of signing under a new key.
"""

import os
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from assets.credit import SCORES_KEY, model_registry
from assets.ingest import ledger_key
from assets.resources import DUCKDB_POOL, LedgerHome
from privacy.audit import AuditEvent, append_events
from privacy.keyvault import open_keyvault
from privacy.publish import pending_runs
from zk.attestations import file_digest, snapshot_inclusion
from zk.attestations import snapshot_commitment as sign_snapshot_commitment
from zk.credentials import issue_score_credentials
from zk.envelope import FormatError, read_document, write_document
from zk.merkle import HASHER, MerkleTree, encode_row, merkle_root_packed, number_text
from zk.signatures import ISSUER_KEY_NAME, IssuerKey, write_issuer_public_key
from zk.statuslist import MIN_ENTRIES, StatusList, status_list_credential

ISSUER_KEY_ASSET = dg.AssetKey(["attest", "issuer_key"])
SNAPSHOT_COMMITMENT_KEY = dg.AssetKey(["attest", "snapshot_commitment"])
SCORE_CREDENTIALS_KEY = dg.AssetKey(["attest", "score_credentials"])
TRANSACTIONS_KEY = ledger_key("transactions")
HOLDERS_KEY = dg.AssetKey(["minimised", "credit_transactions"])

ISSUER_PARTY = "issuer"
STATUS_LIST_ID = "urn:ledgerlens:status:scores"
CREDENTIAL_VALIDITY = timedelta(days=90)
STATUS_LIST_VALIDITY = timedelta(days=7)
"""How long a verifier may trust a status list: every run republishes it."""
SCORE_BITS = 10  # scores are 300-850: they fit in [0, 2^10)
BATCH_ROWS = 65_536

# What a leaf commits to, in this order. The holder is the credit-purpose pseudonym (the name the
# subject's credentials and folder carry), never the ledger's user id: a subject receives their own
# leaves, and a raw id in them would leave around the publish gate. Left out: counterparty (a chain
# address or another user), wallet, device, IP and country.
COMMITTED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("txn_id", "CAST(t.txn_id AS VARCHAR)"),
    ("occurred_at", "strftime(t.occurred_at, '%Y-%m-%dT%H:%M:%S.%fZ')"),
    ("holder", "CAST(m.user_id AS VARCHAR)"),
    ("tx_type", "CAST(t.tx_type AS VARCHAR)"),
    ("direction", "CAST(t.direction AS VARCHAR)"),
    ("asset", "CAST(t.asset AS VARCHAR)"),
    ("amount", "CAST(t.amount AS DOUBLE)"),
    ("fee", "CAST(t.fee AS DOUBLE)"),
    ("merchant_id", "CAST(t.merchant_id AS VARCHAR)"),
    ("loan_id", "CAST(t.loan_id AS VARCHAR)"),
)
HOLDERS_TABLE = "minimised.credit_transactions"
"""Where a ledger row's credit-purpose holder pseudonym comes from (joined on txn_id)."""
MERKLE_WORKERS = max(1, min(2, len(os.sched_getaffinity(0))))
"""Threads hashing a snapshot tree's subtrees (OpenSSL in batches, without the GIL) while this
thread reads and encodes the next rows (the machine this is sized for has 2 cores)."""
_FILE_PART_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")

_COMMON: dict[str, Any] = {
    "group_name": "attestations",
    "owners": ["team:privacy"],
    "pool": DUCKDB_POOL,
    "automation_condition": dg.AutomationCondition.eager(),
}

_TABLES = (
    """CREATE TABLE IF NOT EXISTS attest.snapshot_roots (
        snapshot_id VARCHAR PRIMARY KEY, root VARCHAR NOT NULL, rows BIGINT NOT NULL,
        created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS attest.credentials (
        subject VARCHAR NOT NULL, loan_id VARCHAR NOT NULL, status_index BIGINT NOT NULL UNIQUE,
        credential_id VARCHAR PRIMARY KEY, issued_at TIMESTAMP NOT NULL, revoked BOOLEAN NOT NULL,
        model_version VARCHAR NOT NULL, model_hash VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL,
        valid_until TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
)


def _ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS attest")
    for ddl in _TABLES:
        con.execute(ddl)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _naive(when: datetime) -> datetime:
    # The warehouse stores naive UTC timestamps.
    return when.astimezone(UTC).replace(tzinfo=None)


def _issuer_key(ledger_home: LedgerHome) -> IssuerKey:
    """The issuer key from the vault; ``open_keyvault`` verifies every key the warehouse recorded
    (a changed or missing issuer secret is refused, never regenerated) and records new ones."""
    with ledger_home.connect() as con:
        secret = open_keyvault(con, ledger_home.home.keys).key(ISSUER_KEY_NAME)
    return IssuerKey.from_secret(secret)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _latest_snapshot(con: duckdb.DuckDBPyConnection) -> tuple[str, datetime] | None:
    if not _has_table(con, "ledger", "snapshots"):
        return None
    row = con.execute(
        "SELECT snapshot_id, created_at FROM ledger.snapshots "
        "ORDER BY created_at DESC, snapshot_id DESC LIMIT 1"
    ).fetchone()
    return (str(row[0]), row[1]) if row else None


_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(32)} | {
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
"""RFC 8785 (ECMAScript) escapes of the control characters; '"' and '\\' are done first."""
_NEEDS_ESCAPE = np.zeros(256, bool)
_NEEDS_ESCAPE[[*range(0x20), 0x22, 0x5C]] = True
"""Bytes that JSON escapes: U+0000-001F, '"' and '\\' (one table look-up per byte: one pass)."""
_EXPONENT_OR_NAN = np.zeros(256, bool)
_EXPONENT_OR_NAN[[ord("e"), ord("n")]] = True


def _data_bytes(text: pa.Array) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The UTF-8 bytes of a string array's values, without a copy. Only the array's own range:
    a batch sliced from a larger one shares its buffer, and scanning all of it per batch cost
    the whole table's bytes per batch."""
    _, offsets, data = text.buffers()
    if data is None or not len(text):
        return np.zeros(0, np.uint8)
    ends = np.frombuffer(offsets, np.int32 if text.type == pa.string() else np.int64)
    start, stop = int(ends[text.offset]), int(ends[text.offset + len(text)])
    return np.frombuffer(data, np.uint8)[start:stop]


def _escaped(text: pa.Array) -> pa.Array:
    """RFC 8785 string escapes applied to each value (quotes added by the caller); most columns
    need none, and one scan tells."""
    if not _NEEDS_ESCAPE[_data_bytes(text)].any():
        return text
    out = pc.replace_substring(pc.replace_substring(text, "\\", "\\\\"), '"', '\\"')
    for char, escape in _ESCAPES.items():  # after doubling '\\', so theirs stay single
        if pc.any(pc.match_substring(out, char)).as_py():
            out = pc.replace_substring(out, char, escape)
    return out


def _number_strings(values: pa.Array, column: str, first_row: int) -> pa.Array:
    """Each float as its RFC 8785 number text (:func:`zk.merkle.number_text`), as a string.

    Arrow's shortest round-trip text equals it outside exponent form, except for -0; exponent
    forms (and NaN, inf) take the Python path, value by value."""
    text = pc.if_else(pc.equal(values, 0.0), "0", pc.cast(values, pa.string()))
    if _EXPONENT_OR_NAN[_data_bytes(text)].any():  # 1e-07, inf, nan
        odd = pc.fill_null(pc.match_substring_regex(text, "[en]"), False)
        fixed = []
        for i in pc.indices_nonzero(odd).to_pylist():
            try:
                fixed.append(number_text(values[i].as_py()))
            except ValueError:
                raise ValueError(
                    f"ledger.transactions column {column}: the value in row {first_row + i} "
                    "(load order) is not a finite number: fix the landing file and re-ingest"
                ) from None
        text = pc.replace_with_mask(text, odd, pa.array(fixed, pa.string()))
    return text


_NULL = "\x00"
"""Stands for a null cell while the row is joined: escaping leaves no raw U+0000 in any value."""


def encode_rows(table: str, batch: pa.RecordBatch, first_row: int = 0) -> pa.Array:
    """:func:`zk.merkle.encode_row` of every row of ``batch`` at once (Arrow kernels, a few passes
    per column): text as JSON strings, floats as their number text in a JSON string, nulls as
    ``null``. ``first_row`` numbers the rows in error messages."""
    head = encode_row(table, [])[:-2].decode()  # '["<table>', the separator opens the cell
    cells, nulls = [], False
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        nulls = nulls or column.null_count > 0
        if pa.types.is_floating(column.type):
            column = _number_strings(column, name, first_row)
        elif not pa.types.is_string(column.type):
            raise TypeError(f"column {name} is {column.type}: select it as VARCHAR or DOUBLE")
        else:
            column = _escaped(column)
        cells.append(pc.fill_null(column, _NULL) if column.null_count else column)
    rows = pc.binary_join_element_wise(pc.binary_join_element_wise(head, *cells, '","'), '"]', "")
    return pc.replace_substring(rows, f'"{_NULL}"', "null") if nulls else rows


def _packed(encoded: pa.Array) -> tuple[memoryview, memoryview]:
    """The (data, offsets) buffers of a string array, without a copy (:data:`zk.merkle.Segment`)."""
    _, offsets, data = encoded.buffers()
    start = encoded.offset
    return (
        memoryview(data) if data is not None else memoryview(b""),
        memoryview(offsets).cast("i")[start : start + len(encoded) + 1],
    )


_SNAPSHOT_ROWS = """
    WITH snaps AS (
        SELECT snapshot_id, min(created_at) AS created_at FROM ledger.snapshots
        WHERE created_at <= ? GROUP BY snapshot_id)
    SELECT {select} FROM ledger.transactions t JOIN snaps s ON t._snapshot_id = s.snapshot_id
    LEFT JOIN {holders} m ON m.txn_id = t.txn_id
    ORDER BY s.created_at, s.snapshot_id, t._source_file, t._source_row, t.txn_id"""


def _encoded_batches(
    con: duckdb.DuckDBPyConnection, snapshot_at: datetime
) -> Iterator[tuple[pa.Array, pa.Array]]:
    """(encoded rows, holder pseudonyms) of the ledger's transactions as of the snapshot taken at
    ``snapshot_at``, in load order (snapshot, file, row): a later snapshot's tree extends the
    earlier one's leaves. A row whose holder is not in :data:`HOLDERS_TABLE` (e.g. erased)
    commits to a null holder."""
    select = ", ".join(f"{expr} AS {name}" for name, expr in COMMITTED_COLUMNS)
    sql = _SNAPSHOT_ROWS.format(select=select, holders=HOLDERS_TABLE)
    cur = con.cursor()
    try:
        batches = cur.sql(sql, params=[snapshot_at]).to_arrow_reader(BATCH_ROWS)
        yield from encode_ahead("transactions", batches, MERKLE_WORKERS)
    finally:
        cur.close()


def encode_ahead(
    table: str, batches: Iterable[pa.RecordBatch], workers: int
) -> Iterator[tuple[pa.Array, pa.Array]]:
    """(:func:`encode_rows`, holder column) of each batch, in order, encoded on ``workers``
    threads (Arrow's kernels release the GIL) at most ``2 * workers`` batches ahead."""
    with ThreadPoolExecutor(workers, thread_name_prefix="encode") as pool:
        waiting: deque[tuple[Future[pa.Array], pa.Array]] = deque()
        offset = 0
        try:
            for batch in batches:
                job = pool.submit(encode_rows, table, batch, offset)
                waiting.append((job, batch.column("holder")))
                offset += batch.num_rows
                if len(waiting) > 2 * workers:
                    job, holders = waiting.popleft()
                    yield job.result(), holders
            while waiting:
                job, holders = waiting.popleft()
                yield job.result(), holders
        finally:
            for job, _ in waiting:
                job.cancel()


def _missing_holder_columns(con: duckdb.DuckDBPyConnection) -> str:
    """'' when :data:`HOLDERS_TABLE` has the txn_id and user_id the leaves join on."""
    schema, table = HOLDERS_TABLE.split(".")
    have = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchall()
    }
    return ", ".join(c for c in ("txn_id", "user_id") if c not in have)


def snapshot_root(con: duckdb.DuckDBPyConnection, snapshot_at: datetime) -> tuple[bytes, int]:
    """(RFC 9162 root, rows) of the ledger as of ``snapshot_at``, hashed on
    :data:`MERKLE_WORKERS` threads."""
    counted = [0]

    def segments() -> Iterator[tuple[memoryview, memoryview]]:
        for encoded, _ in _encoded_batches(con, snapshot_at):
            counted[0] += len(encoded)
            yield _packed(encoded)

    return merkle_root_packed(segments(), workers=MERKLE_WORKERS), counted[0]


def _subject_tree(
    con: duckdb.DuckDBPyConnection, snapshot_at: datetime, subjects: Sequence[str]
) -> tuple[MerkleTree, dict[str, list[tuple[int, bytes]]]]:
    """The whole tree of the snapshot and, per subject, ``(index, encoded row)`` of their rows."""
    wanted = pa.array(sorted(set(subjects)), pa.string())
    rows: dict[str, list[tuple[int, bytes]]] = {}
    start = [0]

    def segments() -> Iterator[tuple[memoryview, memoryview]]:
        for encoded, holders in _encoded_batches(con, snapshot_at):
            for i in pc.indices_nonzero(pc.is_in(holders, value_set=wanted)).to_pylist():
                leaf = encoded[i].as_py().encode("utf-8")
                rows.setdefault(holders[i].as_py(), []).append((start[0] + i, leaf))
            start[0] += len(encoded)
            yield _packed(encoded)

    tree = MerkleTree.from_packed(segments(), workers=MERKLE_WORKERS)
    return tree, rows


def _skipped(reason: str, **metadata: Any) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"status": "skipped", "reason": reason, **metadata})


@dg.asset(key=ISSUER_KEY_ASSET, kinds={"json"}, **_COMMON)
def issuer_key(context: dg.AssetExecutionContext, ledger_home: LedgerHome) -> dg.MaterializeResult:
    """The issuer's BLS public key with its proof of possession: what every verifier trusts."""
    started = time.perf_counter()
    key = _issuer_key(ledger_home)
    write_issuer_public_key(
        ledger_home.stage(context.run.run_id, ISSUER_PARTY) / "issuer_key.json", key
    )
    return dg.MaterializeResult(
        metadata={
            "issuer key id": key.key_id,
            "issuer": key.issuer,
            "staged for": "out/issuer/issuer_key.json",
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


@dg.asset(
    key=SNAPSHOT_COMMITMENT_KEY,
    deps=[TRANSACTIONS_KEY, HOLDERS_KEY, ISSUER_KEY_ASSET],
    kinds={"duckdb", "json"},
    **_COMMON,
)
def snapshot_commitment(
    context: dg.AssetExecutionContext, ledger_home: LedgerHome
) -> dg.MaterializeResult:
    """Issuer-signed RFC 9162 Merkle root over the ledger's transactions at the latest snapshot."""
    started = time.perf_counter()
    key = _issuer_key(ledger_home)
    with ledger_home.connect() as con:
        _ensure_tables(con)
        latest = _latest_snapshot(con)
        if latest is None:
            return _skipped("no ledger snapshot has been ingested yet")
        snapshot_id, snapshot_at = latest
        recorded = con.execute(
            "SELECT root, rows, created_at FROM attest.snapshot_roots WHERE snapshot_id = ?",
            [snapshot_id],
        ).fetchone()
        if recorded is None:
            missing = _missing_holder_columns(con)
            if missing:
                return _skipped(f"{HOLDERS_TABLE} lacks {missing}: the leaves name the holder")
            digest, rows = snapshot_root(con, snapshot_at)
            root, issued = digest.hex(), _now()
            con.execute(
                "INSERT INTO attest.snapshot_roots VALUES (?, ?, ?, ?)",
                [snapshot_id, root, rows, _naive(issued)],
            )
            status = "committed"
        else:
            # Rows can be purged after an erasure: the commitment stays the one made at the time.
            root, rows, issued = str(recorded[0]), int(recorded[1]), recorded[2].replace(tzinfo=UTC)
            status = "already committed (document restaged)"
    doc = sign_snapshot_commitment(
        issuer=key, snapshot_id=snapshot_id, root=bytes.fromhex(root), size=rows, issued=issued
    )
    name = f"snapshot-{snapshot_id}.json"
    write_document(ledger_home.stage(context.run.run_id, "dpo") / "attestations" / name, doc)
    return dg.MaterializeResult(
        metadata={
            "status": status,
            "snapshot_id": snapshot_id,
            "merkle root": root,
            "rows": rows,
            "dagster/row_count": rows,
            "committed columns": ", ".join(n for n, _ in COMMITTED_COLUMNS),
            "merkle hasher": f"{HASHER}, {MERKLE_WORKERS} thread(s)",
            "issuer key id": key.key_id,
            "staged for": f"out/dpo/attestations/{name}",
            "seconds": round(time.perf_counter() - started, 3),
        }
    )


@dataclass(frozen=True)
class _Held:
    """A credential recorded in ``attest.credentials`` and not revoked."""

    credential_id: str
    subject: str
    loan_id: str
    model_version: str
    valid_until: datetime
    status_index: int


def _scored(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, str]]:
    if not _has_table(con, "credit", "scores"):
        return []
    rows = con.execute(
        "SELECT loan_id, subject_id, score, model_version FROM credit.scores "
        "WHERE score IS NOT NULL ORDER BY loan_id"
    ).fetchall()
    return [(str(loan), str(subj), int(score), str(v)) for loan, subj, score, v in rows]


def _held(con: duckdb.DuckDBPyConnection) -> dict[str, list[_Held]]:
    by_loan: dict[str, list[_Held]] = {}
    for cid, subject, loan, version, until, index in con.execute(
        "SELECT credential_id, subject, loan_id, model_version, valid_until, status_index "
        "FROM attest.credentials WHERE NOT revoked"
    ).fetchall():
        by_loan.setdefault(loan, []).append(
            _Held(cid, subject, loan, version, until.replace(tzinfo=UTC), int(index))
        )
    return by_loan


def _credential_path(pseudonym: str, loan_id: str) -> Path:
    return Path("subjects") / pseudonym / f"credential-{loan_id}.json"


def _delivered(ledger_home: LedgerHome, held: _Held) -> bool:
    """Is the credential published in out/ or waiting in a staging folder? A blocked gate
    discards staged files, and the opening exists nowhere else: such a credential is re-issued."""
    home = ledger_home.home
    rel = _credential_path(held.subject, held.loan_id)
    for folder in (home.out, *pending_runs(home.staging)):
        path = folder / rel
        if path.is_file():
            try:
                if read_document(path).get("id") == held.credential_id:
                    return True
            except FormatError:
                continue
    return False


def _check_file_parts(scores: Sequence[tuple[str, str, int, str]]) -> None:
    for row, (loan, subject, _, version) in enumerate(scores):
        for column, value in (
            ("loan_id", loan),
            ("subject_id", subject),
            ("model_version", version),
        ):
            if not _FILE_PART_RE.match(value):
                raise dg.Failure(
                    description=f"credit.scores row {row} (ordered by loan_id), column {column}: "
                    "not usable as a file or folder name (1-128 characters of [A-Za-z0-9_.-], "
                    "not starting with '.'): fix the value upstream"
                )


def _model_hash(ledger_home: LedgerHome, version: str) -> str:
    """SHA-256 of the model's points table, the file the risk team receives with the model."""
    points = model_registry(ledger_home).card_path(version).parent / "points_table.json"
    if not points.is_file():
        raise dg.Failure(
            description=f"credit.scores names model version {version}, but {points} is missing: "
            "re-run credit/model (the scores' model must be in the registry to be attested)"
        )
    return file_digest(points)


@dataclass(frozen=True)
class _Revocation:
    credential_id: str
    status_index: int
    reason: str


@dataclass(frozen=True)
class _Plan:
    to_issue: dict[str, list[tuple[str, str, int]]]
    """model version -> (loan, pseudonym, score) to issue a credential for"""
    superseded: list[_Revocation]
    """credentials to revoke (by credential id): replaced, or never delivered"""
    kept: int


def _plan(
    ledger_home: LedgerHome,
    scores: Sequence[tuple[str, str, int, str]],
    held: dict[str, list[_Held]],
    now: datetime,
) -> _Plan:
    """A loan keeps its credential while it is unrevoked, unexpired, of the same subject and
    model version, and delivered; otherwise a new one is issued and the old ones revoked, each
    with the reason it no longer stands."""
    to_issue: dict[str, list[tuple[str, str, int]]] = {}
    superseded: dict[str, _Revocation] = {}
    kept = 0
    for loan, subject, score, version in scores:
        reasons: dict[str, str] = {}
        keep = None
        for h in (h for h in held.get(loan, []) if h.valid_until > now):
            if h.subject != subject:
                reasons[h.credential_id] = "the loan's scored subject changed"
            elif h.model_version != version:
                reasons[h.credential_id] = f"superseded by model version {version}"
            elif keep is not None:
                reasons[h.credential_id] = "a duplicate: another valid credential is kept"
            elif not _delivered(ledger_home, h):
                reasons[h.credential_id] = "never delivered (the publish gate discarded it)"
            else:
                keep = h
        if keep is None:
            to_issue.setdefault(version, []).append((loan, subject, score))
        else:
            kept += 1
        for h in held.get(loan, []):
            if h.credential_id in reasons:
                superseded[h.credential_id] = _Revocation(
                    h.credential_id, h.status_index, reasons[h.credential_id]
                )
    return _Plan(to_issue, [superseded[c] for c in sorted(superseded)], kept)


@dataclass(frozen=True)
class _Issued:
    loan_id: str
    subject: str
    model_version: str
    credential: dict[str, Any]
    opening: dict[str, Any]


def _issue(
    ledger_home: LedgerHome,
    to_issue: dict[str, list[tuple[str, str, int]]],
    key: IssuerKey,
    hashes: dict[str, str],
    root: str,
    now: datetime,
) -> list[_Issued]:
    with ledger_home.connect() as con:
        row = con.execute("SELECT max(status_index) FROM attest.credentials").fetchone()
    next_index = int(row[0]) + 1 if row and row[0] is not None else 0
    issued: list[_Issued] = []
    for version, group in sorted(to_issue.items()):
        try:
            result = issue_score_credentials(
                ((subject, score) for _, subject, score in group),
                issuer=key,
                model_version=version,
                model_hash=hashes[version],
                snapshot_root=root,
                valid_from=now,
                valid_until=now + CREDENTIAL_VALIDITY,
                status_list_id=STATUS_LIST_ID,
                status_index_start=next_index,
                bits=SCORE_BITS,
            )
        except ValueError as exc:
            raise dg.Failure(
                description=f"credit.scores, model version {version}: {exc} (row numbers count "
                "the applications of that version, ordered by loan_id)"
            ) from None
        next_index += len(group)
        issued += [
            _Issued(loan, subject, version, cred, opening)
            for (loan, subject, _), cred, opening in zip(
                group, result.credentials, result.openings, strict=True
            )
        ]
    return issued


def _index_ranges(indexes: Sequence[int]) -> list[list[int]]:
    """Sorted indexes as ``[first, last]`` runs: credentials issued together take consecutive
    status-list indexes, so a run's thousands of indexes are a few pairs."""
    runs: list[list[int]] = []
    for i in sorted(indexes):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return runs


def _audit_events(
    run_id: str, issued: Sequence[_Issued], superseded: Sequence[_Revocation], snapshot_id: str
) -> list[AuditEvent]:
    """``attest.credentials_issued`` (how many, per model version, and their status-list
    indexes) and one ``attest.credential_revoked`` per revoked credential (its id, index and
    reason). Never a score, a commitment opening, a pseudonym or a loan id: the credential id
    (a random UUID URN) links an event to ``attest.credentials`` for whoever may read that."""
    actor = f"dagster run {run_id}"
    common = {
        "purpose": "score credentials (issuance and revocation)",
        "asset": SCORE_CREDENTIALS_KEY.to_user_string(),
        "snapshot_id": snapshot_id,
        "status_list": STATUS_LIST_ID,
    }
    events = []
    if issued:
        versions: dict[str, int] = {}
        for item in issued:
            versions[item.model_version] = versions.get(item.model_version, 0) + 1
        indexes = [int(i.credential["credentialStatus"]["statusListIndex"]) for i in issued]
        events.append(
            AuditEvent(
                actor,
                "attest.credentials_issued",
                STATUS_LIST_ID,
                {
                    **common,
                    "credentials": len(issued),
                    "by_model_version": dict(sorted(versions.items())),
                    "status_list_indexes": _index_ranges(indexes),
                },
            )
        )
    events += [
        AuditEvent(
            actor,
            "attest.credential_revoked",
            r.credential_id,
            {**common, "status_list_index": r.status_index, "reason": r.reason},
        )
        for r in superseded
    ]
    return events


def _record(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    issued: Sequence[_Issued],
    superseded: Sequence[_Revocation],
    hashes: dict[str, str],
    snapshot_id: str,
    now: datetime,
) -> None:
    """Insert the new credentials, revoke the superseded ones and audit both, in one
    transaction: no credential is recorded or revoked without its audit event."""
    con.execute("BEGIN TRANSACTION")
    try:
        if issued:
            con.executemany(
                "INSERT INTO attest.credentials VALUES (?, ?, ?, ?, ?, false, ?, ?, ?, ?, NULL)",
                [
                    [
                        item.subject,
                        item.loan_id,
                        int(item.credential["credentialStatus"]["statusListIndex"]),
                        item.credential["id"],
                        _naive(now),
                        item.model_version,
                        hashes[item.model_version],
                        snapshot_id,
                        _naive(now + CREDENTIAL_VALIDITY),
                    ]
                    for item in issued
                ],
            )
        if superseded:
            con.execute(
                "UPDATE attest.credentials SET revoked = true, revoked_at = ? "
                "WHERE list_contains(?, credential_id)",
                [_naive(now), [r.credential_id for r in superseded]],
            )
        if events := _audit_events(run_id, issued, superseded, snapshot_id):
            append_events(con, events)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _status_list_size(highest: int) -> int:
    size = MIN_ENTRIES
    while size <= highest:
        size *= 2
    return size


def _stage_status_list(
    con: duckdb.DuckDBPyConnection, key: IssuerKey, folder: Path, now: datetime
) -> tuple[int, int]:
    """Sign and stage the status list from ``attest.credentials``; (entries, revoked)."""
    row = con.execute("SELECT max(status_index) FROM attest.credentials").fetchone()
    highest = int(row[0]) if row and row[0] is not None else -1
    status = StatusList(_status_list_size(highest))
    revoked = [
        int(i)
        for (i,) in con.execute(
            "SELECT status_index FROM attest.credentials WHERE revoked"
        ).fetchall()
    ]
    for index in revoked:
        status.revoke(index)
    doc = status_list_credential(
        status,
        issuer=key,
        list_id=STATUS_LIST_ID,
        valid_from=now,
        valid_until=now + STATUS_LIST_VALIDITY,
    )
    write_document(folder / "status_list.json", doc)
    return status.size, len(revoked)


@dataclass(frozen=True)
class _Committed:
    """A snapshot root as recorded in ``attest.snapshot_roots``."""

    snapshot_id: str
    snapshot_at: datetime
    root: bytes
    rows: int
    issued: datetime  # naive UTC, as stored


def _stage_inclusions(
    ledger_home: LedgerHome,
    key: IssuerKey,
    committed: _Committed,
    subjects: Sequence[str],
    folder: Path,
) -> tuple[int, str]:
    """Stage ``<subject>/inclusion-<snapshot>.json`` (their rows, audit paths and the signed
    snapshot commitment) for each subject with rows in the snapshot; (staged, what happened).

    The tree is rebuilt from the ledger and must hash to the committed root: after an erasure
    purged or unlinked rows it no longer does, and no proof is given until the next snapshot."""
    if not _FILE_PART_RE.match(committed.snapshot_id):
        return 0, f"snapshot id {committed.snapshot_id!r} is not usable as a file name"
    with ledger_home.connect() as con:
        tree, rows = _subject_tree(con, committed.snapshot_at, subjects)
    if tree.root != committed.root or tree.size != committed.rows:
        return 0, (
            f"the ledger rows of snapshot {committed.snapshot_id} no longer hash to its committed "
            f"root ({tree.size} rows now, {committed.rows} committed; rows purged or unlinked "
            "after an erasure): proofs resume with the next snapshot"
        )
    commitment = sign_snapshot_commitment(
        issuer=key,
        snapshot_id=committed.snapshot_id,
        root=committed.root,
        size=committed.rows,
        issued=committed.issued.replace(tzinfo=UTC),
    )
    for subject, leaves in rows.items():
        write_document(
            folder / subject / f"inclusion-{committed.snapshot_id}.json",
            snapshot_inclusion(commitment, tree, leaves),
        )
    missing = len(subjects) - len(rows)
    return len(rows), (
        f"{sum(map(len, rows.values()))} rows of {len(rows)} subjects in snapshot "
        f"{committed.snapshot_id} of {committed.rows}"
        + (f"; {missing} subjects have no rows in it" if missing else "")
    )


@dg.asset(
    key=SCORE_CREDENTIALS_KEY,
    deps=[SCORES_KEY, SNAPSHOT_COMMITMENT_KEY, ISSUER_KEY_ASSET],
    kinds={"duckdb", "json"},
    **_COMMON,
)
def score_credentials(
    context: dg.AssetExecutionContext, ledger_home: LedgerHome
) -> dg.MaterializeResult:
    """A signed commitment to each applicant's score (opening to the subject only), bound to the
    model and the snapshot root, revocable through the issuer's status list."""
    started = time.perf_counter()
    key = _issuer_key(ledger_home)
    now = _now()
    with ledger_home.connect() as con:
        _ensure_tables(con)
        scores = _scored(con)
        latest = _latest_snapshot(con)
        recorded = (
            con.execute(
                "SELECT root, rows, created_at FROM attest.snapshot_roots WHERE snapshot_id = ?",
                [latest[0]],
            ).fetchone()
            if latest
            else None
        )
        held = _held(con)
    if not scores:
        reason = "credit.scores is empty: no credit model has been trained yet"
        with ledger_home.connect() as con:
            has_any = con.execute("SELECT count(*) FROM attest.credentials").fetchone()
            if has_any and has_any[0]:  # earlier credentials still need a current status list
                entries, revoked = _stage_status_list(
                    con, key, ledger_home.stage(context.run.run_id, ISSUER_PARTY), now
                )
                return _skipped(reason, **{"status list entries": entries, "revoked": revoked})
        return _skipped(reason)
    if latest is None or recorded is None:
        raise dg.Failure(
            description="no committed snapshot root for the latest ledger snapshot: materialise "
            f"{SNAPSHOT_COMMITMENT_KEY.to_user_string()} first"
        )
    snapshot_id, root = latest[0], str(recorded[0])
    _check_file_parts(scores)
    hashes = {v: _model_hash(ledger_home, v) for v in sorted({s[3] for s in scores})}

    plan = _plan(ledger_home, scores, held, now)
    issued = _issue(ledger_home, plan.to_issue, key, hashes, root, now)
    with ledger_home.connect() as con:
        # Recorded and committed before any file carrying a status index is staged.
        _record(con, context.run.run_id, issued, plan.superseded, hashes, snapshot_id, now)
        entries, revoked = _stage_status_list(
            con, key, ledger_home.stage(context.run.run_id, ISSUER_PARTY), now
        )
        subjects_total = con.execute(
            "SELECT count(DISTINCT subject) FROM attest.credentials WHERE NOT revoked"
        ).fetchone()
    inclusions, inclusion_note = 0, "no credential issued"
    if issued:
        subjects = ledger_home.stage(context.run.run_id, "subjects")
        for item in issued:
            folder = subjects / item.subject
            folder.mkdir(mode=0o700, exist_ok=True)
            write_document(folder / f"credential-{item.loan_id}.json", item.credential)
            write_document(folder / f"opening-{item.loan_id}.json", item.opening)
        commitment = _Committed(
            snapshot_id, latest[1], bytes.fromhex(root), int(recorded[1]), recorded[2]
        )
        inclusions, inclusion_note = _stage_inclusions(
            ledger_home, key, commitment, sorted({i.subject for i in issued}), subjects
        )
    staged = len(issued)
    return dg.MaterializeResult(
        metadata={
            "status": "issued" if staged else "unchanged",
            "scored applications": len(scores),
            "credentials issued": staged,
            "kept (already valid)": plan.kept,
            "revoked (superseded or undelivered)": len(plan.superseded),
            "subjects holding a credential": int(subjects_total[0]) if subjects_total else 0,
            "status list entries": entries,
            "revoked in status list": revoked,
            "snapshot_id": snapshot_id,
            "snapshot root": root,
            "inclusion proofs staged": inclusions,
            "inclusion proofs": inclusion_note,
            "model hash": dg.MetadataValue.json(hashes),
            "model hash of": "models/credit/candidates/<version>/points_table.json (SHA-256)",
            "valid until": (now + CREDENTIAL_VALIDITY).isoformat(),
            "issuer key id": key.key_id,
            "staged for": "out/subjects/<pseudonym>/ (credentials, openings, inclusion proofs), "
            "out/issuer/status_list.json",
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
