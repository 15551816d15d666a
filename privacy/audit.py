"""Append-only, hash-chained audit log in DuckDB table ``audit.events``.

Each event's ``hash`` is SHA-256 over ``prev_hash`` and the canonical JSON (sorted keys, compact
separators, UTF-8) of the event's fields ``seq, event_time, actor, action, subject, details``.
The first event chains from 64 zeros. :func:`verify_chain` recomputes the chain; any edited,
removed or re-ordered row breaks it. Audit events never carry raw identifiers: subjects are
pseudonyms or hashes, and ``details`` must not hold values either (callers' responsibility).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from privacy._db import fetch_one

__all__ = [
    "AUDIT_TABLE",
    "GENESIS_HASH",
    "ChainStatus",
    "append_event",
    "ensure_audit",
    "verify_chain",
]

AUDIT_TABLE = "audit.events"
GENESIS_HASH = "0" * 64


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


def _canonical(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _hash(prev_hash: str, event: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + "\n" + _canonical(event)).encode("utf-8")).hexdigest()


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
    last = fetch_one(con, f"SELECT seq, hash FROM {AUDIT_TABLE} ORDER BY seq DESC LIMIT 1")
    seq = 1 if last is None else int(last[0]) + 1
    prev = GENESIS_HASH if last is None else str(last[1])
    digest = _hash(prev, _event(seq, when, actor, action, subject, details_json))
    con.execute(
        f"INSERT INTO {AUDIT_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, when, actor, action, subject, details_json, prev, digest],
    )
    return digest


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None
    message: str = "chain intact"


def _event(
    seq: int, when: str, actor: str, action: str, subject: str | None, details: str
) -> dict[str, Any]:
    """The hashed content of one event: the same fields when appending and when verifying."""
    return {
        "seq": seq,
        "event_time": when,
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }


def verify_chain(con: duckdb.DuckDBPyConnection) -> ChainStatus:
    """Recompute every hash in order; report the first event that does not chain."""
    ensure_audit(con)
    rows = con.execute(
        f"SELECT seq, event_time, actor, action, subject, details, prev_hash, hash "
        f"FROM {AUDIT_TABLE} ORDER BY seq"
    ).fetchall()
    prev = GENESIS_HASH
    for i, (seq, when, actor, action, subject, details, prev_hash, digest) in enumerate(rows):
        if seq != i + 1:
            return ChainStatus(False, len(rows), prev, seq, f"sequence gap before seq {seq}")
        if prev_hash != prev:
            return ChainStatus(False, len(rows), prev, seq, f"prev_hash mismatch at seq {seq}")
        if _hash(prev, _event(seq, when, actor, action, subject, details)) != digest:
            return ChainStatus(False, len(rows), prev, seq, f"hash mismatch at seq {seq}")
        prev = digest
    return ChainStatus(True, len(rows), prev)
