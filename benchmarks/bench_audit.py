"""Audit log and DPO records: append and verification throughput of the hash-chained audit log,
and the time to build the DPO's records.

Figures (same run), each against the anchor: plain SHA-256 of the very same bytes
(``prev_hash``, newline, canonical event from :func:`privacy.audit.event_bytes`) chained in a
Python loop:

- append: :func:`privacy.audit.append_event` one event at a time (each reads the head and
  inserts one row, as the pipeline does);
- batched append: :func:`privacy.audit.append_events` building the log that is then verified,
  in batches of 100k (one INSERT each), with a checkpoint half-way;
- verify: :func:`privacy.audit.verify_audit` of the whole log with two signed checkpoints (the
  canonical bytes built in DuckDB SQL, read as Arrow batches, every event re-hashed, links and
  checkpoints checked): 1M events (the issue's size; 100k with ``quick``), target >= 200k
  events/s;
- DPO records: :func:`privacy.dpo.products.write_dpo_products` (lineage, RoPA, OpenLineage
  events validated against the schemas, report, audit verification) on a warehouse of the
  contract's tables minimised with the default policy and that audit log, against the anchor:
  verifying the same audit log alone (what the records must at least read).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from benchmarks.common import Row
from ledger.contract import ENTITIES
from privacy.audit import (
    AUDIT_TABLE,
    GENESIS_HASH,
    AuditEvent,
    AuditKey,
    append_event,
    append_events,
    event_bytes,
    verify_audit,
    write_checkpoint,
)
from privacy.classifier import classify_tables, read_inventory, write_inventory
from privacy.dpo.products import default_recipients, write_dpo_products
from privacy.dpo.ropa import Controller
from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault
from privacy.minimise import minimise
from privacy.policy import load_policy

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
BATCH = 100_000


def _event(i: int) -> AuditEvent:
    details = {"loan": f"L{i:09d}", "model": "v3"}
    return AuditEvent("pipeline", "score_issued", f"P{i:09d}", details, event_time=WHEN)


def _sha_anchor(contents: list[bytes]) -> float:
    started = time.perf_counter()
    prev = GENESIS_HASH.encode()
    for c in contents:
        prev = hashlib.sha256(prev + b"\n" + c).hexdigest().encode()
    return time.perf_counter() - started


def _stored_contents(con: duckdb.DuckDBPyConnection) -> list[bytes]:
    """The hashed bytes of every stored event, encoded in Python (not by the SQL under test)."""
    rows = con.execute(
        f"SELECT seq, event_time, actor, action, subject, details FROM {AUDIT_TABLE} ORDER BY seq"
    ).fetchall()
    return [event_bytes(*r) for r in rows]


def _minimised_warehouse(con: duckdb.DuckDBPyConnection, keys: Path) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS ledger")
    for e in ENTITIES.values():
        cols = ", ".join(f'"{c.name}" {c.dtype}' for c in e.columns)
        con.execute(f"CREATE TABLE ledger.{e.name} ({cols})")
    write_inventory(con, classify_tables(con, list(ENTITIES)))
    minimise(con, read_inventory(con), load_policy(), LocalFileKeyVault(keys))


def bench_audit(work: Path, quick: bool = False) -> list[Row]:
    os.environ.pop(MASTER_KEY_ENV, None)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    n_append = 300 if quick else 3_000
    n_verify = 100_000 if quick else 1_000_000
    rows: list[Row] = []

    con = duckdb.connect(str(work / "append.duckdb"))
    started = time.perf_counter()
    for i in range(1, n_append + 1):
        e = _event(i)
        append_event(con, e.actor, e.action, e.subject, e.details, event_time=e.event_time)
    append_s = time.perf_counter() - started
    anchor_s = _sha_anchor(_stored_contents(con))
    con.close()
    rows.append(
        Row(
            "audit",
            "append_event, one at a time",
            append_s,
            n_append,
            "plain SHA-256 chain over the same bytes (Python loop)",
            anchor_s,
            "events/s (pipeline appends one event per action)",
        )
    )

    con = duckdb.connect(str(work / "warehouse.duckdb"))
    con.execute("SET enable_progress_bar = false")
    key = AuditKey.from_seed(os.urandom(32))
    started = time.perf_counter()
    for low, high in ((1, n_verify // 2), (n_verify // 2 + 1, n_verify)):
        for first in range(low, high + 1, BATCH):
            append_events(con, map(_event, range(first, min(first + BATCH, high + 1))))
        write_checkpoint(con, key)
    build_s = time.perf_counter() - started
    contents = _stored_contents(con)
    anchor_s = _sha_anchor(contents)
    rows.append(
        Row(
            "audit",
            f"append_events, {n_verify:,} events in batches of {BATCH:,} + 2 checkpoints",
            build_s,
            n_verify,
            "plain SHA-256 chain over the same bytes (Python loop)",
            anchor_s,
            "events/s (callers that log many events at once)",
        )
    )
    started = time.perf_counter()
    status = verify_audit(con, key)
    verify_s = time.perf_counter() - started
    assert status.ok and status.chain.events == n_verify and status.checkpoints == 2
    rows.append(
        Row(
            "audit",
            f"verify_audit, {n_verify:,} events + 2 checkpoints",
            verify_s,
            n_verify,
            "plain SHA-256 chain over the same bytes (Python loop)",
            anchor_s,
            ">= 200k events/s",
        )
    )

    _minimised_warehouse(con, work / "keys")
    policy = load_policy()
    started = time.perf_counter()
    summary = write_dpo_products(
        con,
        work / "dpo",
        policy,
        controller=Controller(),
        recipients=default_recipients(policy, {"acme": "Acme research"}, "CN"),
        run_id="bench",
        now=WHEN.isoformat(),
        namespace="duckdb://bench",
        audit_key=key,
    )
    dpo_s = time.perf_counter() - started
    assert summary.audit_ok
    started = time.perf_counter()
    verify_audit(con, key)
    alone_s = time.perf_counter() - started
    con.close()
    rows.append(
        Row(
            "audit",
            f"DPO records (lineage, RoPA, OpenLineage, report) over {n_verify:,} audit events",
            dpo_s,
            summary.personal_columns,
            "verify_audit of the same log alone",
            alone_s,
            "report the time (rows: personal columns)",
            extra={"files": len(summary.files), "lineage edges": summary.lineage_edges},
        )
    )
    return rows
