"""What the DPO report states about the warehouse: counts and tamper-evidence, never values.

Every reader tolerates a missing table (a stage that has not run yet) and says so: a missing
audit log or privacy ledger is reported as absent, never created by the DPO view.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from privacy.audit import AUDIT_TABLE, AuditKey, Checkpoint, verify_audit
from privacy.audit_events import EventKind, event_kinds
from privacy.dp.ledger import LEDGER_TABLE, verify_ledger
from privacy.publish import MANIFEST_JSON
from privacy.register import ERASURE_TABLE

__all__ = ["ALL_BUYERS", "BuyerLoss", "DpoStatus", "LossPoint", "loss_timeline", "read_status"]

CREDENTIALS_TABLE = "attest.credentials"


@dataclass(frozen=True)
class BuyerLoss:
    buyer: str
    period: str
    releases: int
    rho: float
    epsilon: float
    budget_rho: float | None
    remaining_rho: float | None


ALL_BUYERS = "all buyers"
"""The scope of a period's population: every buyer's releases together (they can pool them)."""


@dataclass(frozen=True)
class LossPoint:
    """The privacy loss of one scope (a buyer, or :data:`ALL_BUYERS`) of one dataset period on
    one release date (UTC): charged that day and in total up to it, the total as (epsilon,
    delta) by zCDP conversion at ``delta``, and the budget left after it."""

    period: str
    scope: str
    day: str
    releases: int
    rho: float
    rho_total: float
    epsilon_total: float
    delta: float
    budget_rho: float | None
    remaining_rho: float | None


def loss_timeline(
    con: duckdb.DuckDBPyConnection,
    budgets: dict[str, float] | None = None,
    global_budget: float | None = None,
    delta: float | None = None,
) -> list[LossPoint]:
    """Per dataset period, per buyer and for all buyers together, per release date: rho spent and
    cumulative, its (epsilon, delta) and the remaining budget. ``delta``: the delta of the
    (epsilon, delta) statement (default: the largest delta the ledger's entries were released
    at). Composition is in zCDP (rho adds up), then converted once: summing the releases'
    epsilons would overstate the loss. Reads the privacy ledger only."""
    rows = con.execute(
        f"SELECT period, buyer, substr(CAST(created_at AS VARCHAR), 1, 10) AS day, count(*), "
        f"sum(rho), max(delta) FROM {LEDGER_TABLE} GROUP BY ALL ORDER BY period, day, buyer"
    ).fetchall()
    if not rows:
        return []
    from privacy.dp.mechanisms import zcdp_to_approx_dp  # OpenDP: only with entries to convert

    at = delta if delta is not None else max(float(r[5]) for r in rows)
    daily: dict[tuple[str, str], dict[str, tuple[int, float]]] = {}
    for period, buyer, day, n, rho, _ in rows:
        for scope in (str(buyer), ALL_BUYERS):
            per_day = daily.setdefault((str(period), scope), {})
            count, spent = per_day.get(str(day), (0, 0.0))
            per_day[str(day)] = (count + int(n), spent + float(rho))
    points: list[LossPoint] = []
    for (period, scope), per_day in sorted(
        daily.items(), key=lambda kv: (kv[0][0], kv[0][1] == ALL_BUYERS, kv[0][1])
    ):
        budget = global_budget if scope == ALL_BUYERS else (budgets or {}).get(scope)
        total = 0.0
        for day, (n, rho) in sorted(per_day.items()):
            total += rho
            points.append(
                LossPoint(
                    period,
                    scope,
                    day,
                    n,
                    rho,
                    total,
                    zcdp_to_approx_dp(total, at),
                    at,
                    budget,
                    None if budget is None else max(0.0, budget - total),
                )
            )
    return points


@dataclass
class DpoStatus:
    audit: dict[str, Any]
    privacy_ledger: dict[str, Any]
    privacy_loss: list[BuyerLoss] = field(default_factory=list)
    erasure: dict[str, int] = field(default_factory=dict)
    attestations: dict[str, int] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    audit_kinds: list[EventKind] = field(default_factory=list)
    loss_timeline: list[LossPoint] = field(default_factory=list)


def _exists(con: duckdb.DuckDBPyConnection, fq: str) -> bool:
    schema, name = fq.split(".", 1)
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def read_status(
    con: duckdb.DuckDBPyConnection,
    out: Path | None = None,
    budgets: dict[str, float] | None = None,
    audit_key: AuditKey | None = None,
    witnesses: Sequence[Checkpoint] = (),
    global_budget: float | None = None,
    delta: float | None = None,
) -> DpoStatus:
    """Counts and chain checks from the warehouse; ``budgets``: buyer -> rho per period;
    ``global_budget``: rho per period of all buyers together; ``delta``: of the (epsilon, delta)
    statement of the loss timeline (:func:`loss_timeline`);
    ``audit_key``: the trusted checkpoint key (None: the key vault has none); ``witnesses``:
    audit checkpoints kept outside the warehouse (the last published one)."""
    if _exists(con, AUDIT_TABLE):
        au = verify_audit(con, audit_key, witnesses)
        last = au.last_checkpoint
        audit = {
            "present": True,
            "ok": au.ok,
            "chain_ok": au.chain.ok,
            "events": au.chain.events,
            "first_bad_seq": au.first_bad_seq,
            "first_bad_checkpoint": au.first_bad_checkpoint,
            "message": au.message,
            "checkpoints": au.checkpoints,
            "unsigned_events": au.unsigned_events,
            "key_id": au.key_id,
            "last_checkpoint": None
            if last is None
            else {
                "checkpoint_seq": last.checkpoint_seq,
                "event_seq": last.event_seq,
                "created_at": last.created_at,
                "key_id": last.key_id,
            },
        }
    else:
        audit = {
            "present": False,
            "ok": None,
            "chain_ok": None,
            "events": 0,
            "message": "no audit log yet",
        }
    losses: list[BuyerLoss] = []
    timeline: list[LossPoint] = []
    if _exists(con, LEDGER_TABLE):
        timeline = loss_timeline(con, budgets, global_budget, delta)
        st = verify_ledger(con)
        ledger = {
            "present": True,
            "ok": st.ok,
            "entries": st.entries,
            "first_bad_seq": st.first_bad_seq,
            "message": st.reason or "chain intact",
        }
        for buyer, period, n, rho, eps in con.execute(
            f"SELECT buyer, period, count(*), sum(rho), sum(epsilon) FROM {LEDGER_TABLE} "
            "GROUP BY buyer, period ORDER BY period, buyer"
        ).fetchall():
            budget = (budgets or {}).get(str(buyer))
            losses.append(
                BuyerLoss(
                    str(buyer),
                    str(period),
                    int(n),
                    float(rho),
                    float(eps),
                    budget,
                    None if budget is None else max(0.0, budget - float(rho)),
                )
            )
    else:
        ledger = {"present": False, "ok": None, "entries": 0, "message": "no DP release yet"}
    erasure: dict[str, int] = {}
    if _exists(con, ERASURE_TABLE):
        erasure = {
            "requests": _count(con, f"SELECT count(*) FROM {ERASURE_TABLE}"),
            "data key shredded": _count(
                con, f"SELECT count(*) FROM {ERASURE_TABLE} WHERE data_key_shredded"
            ),
            "pending": _count(
                con, f"SELECT count(*) FROM {ERASURE_TABLE} WHERE NOT data_key_shredded"
            ),
        }
    attest: dict[str, int] = {}
    if _exists(con, CREDENTIALS_TABLE):
        attest = {
            "issued": _count(con, f"SELECT count(*) FROM {CREDENTIALS_TABLE}"),
            "revoked": _count(con, f"SELECT count(*) FROM {CREDENTIALS_TABLE} WHERE revoked"),
        }
    manifest: dict[str, Any] = {}
    if out is not None and (out / MANIFEST_JSON).is_file():
        files = json.loads((out / MANIFEST_JSON).read_text(encoding="utf-8"))["files"]
        by_party: dict[str, int] = {}
        for f in files:
            party = str(f["path"]).split("/", 1)[0]
            by_party[party] = by_party.get(party, 0) + 1
        manifest = {
            "files": len(files),
            "by_party": by_party,
            "runs": sorted({str(f["run_id"]) for f in files}),
            "snapshots": sorted({str(f["snapshot_id"]) for f in files if f.get("snapshot_id")}),
            "last_published_at": max((str(f["published_at"]) for f in files), default=""),
        }
    return DpoStatus(audit, ledger, losses, erasure, attest, manifest, event_kinds(con), timeline)
