"""The persistent privacy-loss ledger ``insights.privacy_ledger``: append-only and hash-chained.

Each entry records one charged release: buyer, report, spec hash, snapshot id, dataset period,
rho (zCDP) and its (epsilon, delta), the mechanism and its noise scales, the time, the previous
entry's hash and its own hash: SHA-256 over the RFC 8785 canonical JSON of all other fields. The
first entry chains from 64 zeros. ``insights.privacy_ledger_head`` holds the last (seq, hash);
every charge updates it in the same transaction, which also makes two concurrent charges in one
process conflict instead of both passing the budget check.

Invariants: a charge checks the buyer's and the global budget of the period and appends the entry
in ONE transaction, before any noise is drawn; a refusal writes nothing. ``release_id`` is a
function of (buyer, spec hash, snapshot id), so an identical request finds its entry and is not
charged again. :func:`verify_ledger` names the first entry that was edited, deleted or reordered.
Across processes DuckDB allows one writer; :func:`warehouse_lock` serialises them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import rfc8785

__all__ = [
    "GENESIS_HASH",
    "LEDGER_TABLE",
    "RELEASES_TABLE",
    "BudgetExceededError",
    "Charge",
    "LedgerEntry",
    "LedgerStatus",
    "charge",
    "connect_writer",
    "ensure_ledger",
    "release_id_for",
    "spent",
    "verify_ledger",
    "warehouse_lock",
]

LEDGER_TABLE = "insights.privacy_ledger"
HEAD_TABLE = "insights.privacy_ledger_head"
RELEASES_TABLE = "insights.releases"
GENESIS_HASH = "0" * 64
_FIELDS = (
    "seq",
    "release_id",
    "buyer",
    "report_id",
    "spec_hash",
    "snapshot_id",
    "period",
    "rho",
    "epsilon",
    "delta",
    "mechanism",
    "noise_scales",
    "created_at",
    "prev_hash",
)
_LOCAL = threading.Lock()
_TOLERANCE = 1e-12


class BudgetExceededError(RuntimeError):
    """A release would exceed a budget; nothing was charged. ``remaining`` holds what is left."""

    def __init__(self, message: str, remaining: dict[str, float]) -> None:
        super().__init__(message)
        self.remaining = remaining


@dataclass(frozen=True)
class Charge:
    """What a release is about to cost (everything but seq, hashes and time)."""

    release_id: str
    buyer: str
    report_id: str
    spec_hash: str
    snapshot_id: str
    period: str
    rho: float
    epsilon: float
    delta: float
    mechanism: str
    noise_scales: dict[str, float]


@dataclass(frozen=True)
class LedgerEntry:
    seq: int
    release_id: str
    buyer: str
    report_id: str
    spec_hash: str
    snapshot_id: str
    period: str
    rho: float
    epsilon: float
    delta: float
    mechanism: str
    noise_scales: str  # canonical JSON
    created_at: str
    prev_hash: str
    entry_hash: str

    def fields(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _FIELDS}


@dataclass(frozen=True)
class LedgerStatus:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    first_bad_release: str | None = None
    reason: str = ""


def entry_hash(fields: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps({f: fields[f] for f in _FIELDS})).hexdigest()


def release_id_for(buyer: str, spec_hash: str, snapshot_id: str) -> str:
    digest = hashlib.sha256(f"{buyer}\x1f{spec_hash}\x1f{snapshot_id}".encode()).hexdigest()
    return f"rel-{digest[:20]}"


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS insights")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
            seq BIGINT NOT NULL, release_id VARCHAR NOT NULL, buyer VARCHAR NOT NULL,
            report_id VARCHAR NOT NULL, spec_hash VARCHAR NOT NULL, snapshot_id VARCHAR NOT NULL,
            period VARCHAR NOT NULL, rho DOUBLE NOT NULL, epsilon DOUBLE NOT NULL,
            delta DOUBLE NOT NULL, mechanism VARCHAR NOT NULL, noise_scales VARCHAR NOT NULL,
            created_at VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, entry_hash VARCHAR NOT NULL)"""
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {HEAD_TABLE} (id INTEGER, seq BIGINT, entry_hash VARCHAR)"
    )
    con.execute(
        f"INSERT INTO {HEAD_TABLE} SELECT 1, 0, '{GENESIS_HASH}' "
        f"WHERE NOT EXISTS (SELECT 1 FROM {HEAD_TABLE})"
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {RELEASES_TABLE} (
            release_id VARCHAR NOT NULL, entry_hash VARCHAR NOT NULL, created_at VARCHAR NOT NULL,
            manifest VARCHAR NOT NULL, cells BLOB NOT NULL)"""
    )


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    return LedgerEntry(*row)


_SELECT = f"SELECT {', '.join(_FIELDS)}, entry_hash FROM {LEDGER_TABLE}"


def find_entry(con: duckdb.DuckDBPyConnection, release_id: str) -> LedgerEntry | None:
    rows = con.execute(f"{_SELECT} WHERE release_id = ? ORDER BY seq", [release_id]).fetchall()
    return _entry(rows[0]) if rows else None


def spent(con: duckdb.DuckDBPyConnection, period: str, buyer: str | None = None) -> float:
    """Rho charged in ``period`` (by ``buyer``, or by everyone)."""
    if buyer is None:
        row = con.execute(
            f"SELECT coalesce(sum(rho), 0) FROM {LEDGER_TABLE} WHERE period = ?", [period]
        ).fetchall()
    else:
        row = con.execute(
            f"SELECT coalesce(sum(rho), 0) FROM {LEDGER_TABLE} WHERE period = ? AND buyer = ?",
            [period, buyer],
        ).fetchall()
    return float(row[0][0])


def charge(
    con: duckdb.DuckDBPyConnection,
    c: Charge,
    buyer_budget: float,
    global_budget: float,
    now: str,
) -> tuple[LedgerEntry, bool]:
    """Check both budgets of ``c.period`` and append the entry, in one transaction.

    Returns ``(entry, charged)``: ``charged`` is False when ``c.release_id`` was charged before
    (the stored entry is returned, nothing is written). Raises :class:`BudgetExceededError`
    (nothing written) when the buyer's or the global budget would be exceeded."""
    ensure_ledger(con)
    with _LOCAL:
        con.execute("BEGIN TRANSACTION")
        try:
            existing = find_entry(con, c.release_id)
            if existing is not None:
                con.execute("COMMIT")
                return existing, False
            by_buyer = spent(con, c.period, c.buyer)
            overall = spent(con, c.period)
            remaining = {
                "buyer": max(0.0, buyer_budget - by_buyer),
                "global": max(0.0, global_budget - overall),
            }
            if by_buyer + c.rho > buyer_budget * (
                1 + _TOLERANCE
            ) or overall + c.rho > global_budget * (1 + _TOLERANCE):
                raise BudgetExceededError(
                    f"refused: report {c.report_id!r} costs rho={c.rho:g} but buyer {c.buyer!r} "
                    f"has rho={remaining['buyer']:g} left of {buyer_budget:g} and all buyers "
                    f"together rho={remaining['global']:g} left of {global_budget:g} for period "
                    f"{c.period}; nothing was charged",
                    remaining,
                )
            head = con.execute(f"SELECT seq, entry_hash FROM {HEAD_TABLE}").fetchall()[0]
            fields: dict[str, Any] = {
                "seq": int(head[0]) + 1,
                "release_id": c.release_id,
                "buyer": c.buyer,
                "report_id": c.report_id,
                "spec_hash": c.spec_hash,
                "snapshot_id": c.snapshot_id,
                "period": c.period,
                "rho": float(c.rho),
                "epsilon": float(c.epsilon),
                "delta": float(c.delta),
                "mechanism": c.mechanism,
                "noise_scales": json.dumps(c.noise_scales, sort_keys=True, separators=(",", ":")),
                "created_at": now,
                "prev_hash": str(head[1]),
            }
            h = entry_hash(fields)
            con.execute(
                f"INSERT INTO {LEDGER_TABLE} VALUES ({', '.join('?' * (len(_FIELDS) + 1))})",
                [*fields.values(), h],
            )
            con.execute(
                f"UPDATE {HEAD_TABLE} SET seq = ?, entry_hash = ? WHERE id = 1",
                [fields["seq"], h],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return LedgerEntry(**fields, entry_hash=h), True


def verify_ledger(
    con: duckdb.DuckDBPyConnection, anchor: tuple[int, str] | None = None
) -> LedgerStatus:
    """Recompute the chain. Fails on an edited entry (hash), a deleted or reordered one (seq or
    prev_hash), a deleted tail (head row), a stored release whose entry is gone, or an
    ``anchor`` (seq, entry hash) known from outside the warehouse (e.g. a published manifest)
    that the chain does not contain."""
    ensure_ledger(con)
    rows = [_entry(r) for r in con.execute(f"{_SELECT} ORDER BY seq").fetchall()]
    prev = GENESIS_HASH
    by_hash: dict[str, LedgerEntry] = {}
    for i, e in enumerate(rows, start=1):
        if e.seq != i:
            return LedgerStatus(
                False,
                len(rows),
                e.seq,
                e.release_id,
                f"expected seq {i}: an entry was deleted or the entries were reordered",
            )
        if e.prev_hash != prev:
            return LedgerStatus(
                False,
                len(rows),
                e.seq,
                e.release_id,
                "prev_hash does not match the previous entry: deleted or reordered",
            )
        if entry_hash(e.fields()) != e.entry_hash:
            return LedgerStatus(False, len(rows), e.seq, e.release_id, "entry content was edited")
        by_hash[e.entry_hash] = e
        prev = e.entry_hash
    head = con.execute(f"SELECT seq, entry_hash FROM {HEAD_TABLE}").fetchall()
    if not head or int(head[0][0]) != len(rows) or head[0][1] != prev:
        got = int(head[0][0]) if head else 0
        return LedgerStatus(
            False,
            len(rows),
            len(rows) + 1,
            None,
            f"the head records {got} entries but the chain has {len(rows)}: entries deleted "
            "from the end (or the head was edited)",
        )
    for rid, h in con.execute(f"SELECT release_id, entry_hash FROM {RELEASES_TABLE}").fetchall():
        if h not in by_hash or by_hash[h].release_id != rid:
            return LedgerStatus(
                False, len(rows), None, rid, "a stored release has no matching ledger entry"
            )
    if anchor is not None:
        seq, h = anchor
        if seq > len(rows) or rows[seq - 1].entry_hash != h:
            return LedgerStatus(
                False, len(rows), seq, None, "the chain does not contain the external anchor"
            )
    return LedgerStatus(True, len(rows))


def warehouse_lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".dp-ledger.lock")


@contextlib.contextmanager
def warehouse_lock(warehouse: Path) -> Iterator[None]:
    """An exclusive advisory file lock beside the warehouse: release processes take turns."""
    path = warehouse_lock_path(warehouse)
    with path.open("a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def connect_writer(
    warehouse: Path, attempts: int = 60, first_wait: float = 0.05
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, retrying with backoff while another process (dbt, an
    asset) holds DuckDB's writer lock."""
    wait = first_wait
    for attempt in range(attempts):
        try:
            return duckdb.connect(str(warehouse))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(wait)
            wait = min(wait * 2, 1.0)
    raise AssertionError("unreachable")  # pragma: no cover
