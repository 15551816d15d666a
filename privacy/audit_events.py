"""The audit events of the pipeline's security-relevant steps, built in one place.

Every event built here has the same shape: the audit row's ``actor`` (who acted: a Dagster run, a
CLI user), ``action`` (one of :data:`EVENT_KINDS`), ``subject`` (what it is about: an asset, a
column, a key name, a model version) and ``details`` holding at least ``purpose`` (why the step
processes data), ``asset`` (the asset or table it concerns) and ``snapshot_id`` (the ledger
snapshot it ran against, ``None`` before the first ingest).

Invariant: details hold names, counts, hashes, key-check values and decisions only, never a
value of a row. The builders take reports, classifications and counts, not rows, so there is no
value to copy; tests hold every event against the vault's values.

Change events are written only on change: a classification event when a column's classification
differs from the one the inventory held before this run, a policy event when the policy file's
SHA-256 differs from the last one audited.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb

from ledger.ingest import IngestReport
from privacy._db import fetch_one
from privacy.audit import AUDIT_TABLE, AuditEvent
from privacy.classifier import INVENTORY_TABLE, ColumnClassification, read_inventory
from privacy.policy import Policy

__all__ = [
    "CLASSIFICATION_FIELDS",
    "EVENT_KINDS",
    "EventKind",
    "audit_event",
    "classification_events",
    "event_kinds",
    "ingest_events",
    "key_rotation_event",
    "latest_snapshot",
    "policy_digest",
    "policy_event",
    "previous_classification",
    "products_of",
    "publish_event",
    "run_actor",
]

EVENT_KINDS: dict[str, str] = {
    "ingest.snapshot": "a batch of landing files committed to the ledger",
    "tokenise": "identifiers of a batch moved into the vault, tokens left in the ledger",
    "detokenise": "a token turned back into its value",
    "classification.change": "a column's classification differs from the previous run's",
    "policy.change": "the minimisation policy file changed",
    "key.rotated": "the master key was rotated (data keys re-wrapped)",
    "erasure": "an erasure request executed",
    "credit.model_trained": "a credit model candidate trained and registered",
    "credit_model_promoted": "a candidate promoted to champion",
    "credit.scores_issued": "scores issued to the risk team",
    "encrypted_scoring_round": "an encrypted-scoring round compared with plaintext",
    "insights.release": "a DP release charged to the privacy-loss ledger",
    "insights.release_reused": "an identical DP release served again, uncharged",
    "insights.release_refused": "a DP release refused",
    "attest.credentials_issued": "score credentials issued (counts, status-list indexes)",
    "attest.credential_revoked": "a score credential revoked",
    "publish.passed": "the publish gate passed and published the staged products",
    "publish.refused": "the publish gate refused the staged products",
}
"""Every action the pipeline writes, with what it records (the report lists them in this order)."""

CLASSIFICATION_FIELDS = (
    "entity_type",
    "personal",
    "direct_identifier",
    "pipl_category",
    "pipl_sensitive",
    "gdpr_art9",
    "gbt_grade",
    "sensitivity_level",
)
"""The fields that make a column's classification; confidence and evidence vary with the data
and are not a change of classification."""

GOVERNANCE = "data governance"
PROTECTION = "protection at rest"
RECORD_KEEPING = "ledger record keeping"
RELEASE_CONTROL = "release control (publish gate)"
KEY_MANAGEMENT = "key management"


def run_actor(run_id: str) -> str:
    """The actor of an event written by a pipeline run."""
    return f"dagster run {run_id}"


def audit_event(
    action: str,
    *,
    actor: str,
    purpose: str,
    asset: str,
    snapshot_id: str | None,
    subject: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """One event of kind ``action`` (``KeyError`` for a kind not in :data:`EVENT_KINDS`, so the
    report never meets an action it cannot describe); ``subject`` defaults to ``asset``."""
    if action not in EVENT_KINDS:
        raise KeyError(f"audit action {action!r} is not one of EVENT_KINDS; add it there first")
    body = {"purpose": purpose, "asset": asset, "snapshot_id": snapshot_id, **(details or {})}
    return AuditEvent(actor, action, subject if subject is not None else asset, body)


def latest_snapshot(con: duckdb.DuckDBPyConnection) -> str | None:
    """The newest ledger snapshot id (``None`` when nothing was ingested yet)."""
    exists = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'ledger' AND table_name = 'snapshots'",
    )
    if not exists or not exists[0]:
        return None
    row = fetch_one(
        con, "SELECT snapshot_id FROM ledger.snapshots ORDER BY created_at DESC LIMIT 1"
    )
    return str(row[0]) if row else None


def ingest_events(report: IngestReport, *, actor: str) -> list[AuditEvent]:
    """``ingest.snapshot`` (files with their SHA-256, rows read/loaded/quarantined) and, when
    identifiers were protected, ``tokenise`` (the protection counts) for a committed batch; none
    when the batch loaded no file (the snapshot did not change). The asset is the ledger tables
    the batch loaded."""
    loaded = report.by_status("loaded")
    if not loaded or report.snapshot_id is None:
        return []
    snapshot = report.snapshot_id
    asset = ", ".join(sorted({f"ledger.{f.entity}" for f in loaded}))
    files = [
        {
            "file": f.relpath,
            "entity": f.entity,
            "sha256": f.sha256,
            "rows_read": f.rows_read,
            "rows_loaded": f.rows_loaded,
            "rows_quarantined": f.rows_quarantined,
        }
        for f in loaded
    ]
    events = [
        audit_event(
            "ingest.snapshot",
            actor=actor,
            purpose=RECORD_KEEPING,
            asset=asset,
            snapshot_id=snapshot,
            subject=snapshot,
            details={
                "files": files,
                "files_rejected": len(report.by_status("rejected")),
                "files_missing": len(report.by_status("missing")),
                "rows_read": report.rows_read,
                "rows_loaded": report.rows_loaded,
                "rows_quarantined": report.rows_quarantined,
            },
        )
    ]
    if report.protected:
        events.append(
            audit_event(
                "tokenise",
                actor=actor,
                purpose=PROTECTION,
                asset="vault.subjects",
                snapshot_id=snapshot,
                subject=snapshot,
                details={"counts": {str(k): int(v) for k, v in report.protected.items()}},
            )
        )
    return events


class Classified(Protocol):
    """What :func:`classification_events` reads of a classified column."""

    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...


def _classification(row: Classified) -> dict[str, Any]:
    return {f: getattr(row, f) for f in CLASSIFICATION_FIELDS}


def previous_classification(con: duckdb.DuckDBPyConnection) -> list[ColumnClassification]:
    """The inventory as the previous run left it (empty before the first classification)."""
    table = INVENTORY_TABLE.split(".")
    exists = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        table,
    )
    return read_inventory(con) if exists and exists[0] else []


def classification_events(
    before: Sequence[Classified],
    after: Sequence[Classified],
    *,
    actor: str,
    snapshot_id: str | None,
    schema: str = "ledger",
) -> list[AuditEvent]:
    """One ``classification.change`` per column whose classification (:data:`CLASSIFICATION_FIELDS`)
    differs between ``before`` (the inventory of the previous run, empty on the first) and
    ``after``: new columns, changed ones (with the fields that changed) and removed ones."""
    old = {(r.table, r.column): _classification(r) for r in before}
    new = {(r.table, r.column): _classification(r) for r in after}
    events: list[AuditEvent] = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        changed = sorted(
            f for f in CLASSIFICATION_FIELDS if (was or {}).get(f) != (now or {}).get(f)
        )
        events.append(
            audit_event(
                "classification.change",
                actor=actor,
                purpose=GOVERNANCE,
                asset="governance.column_inventory",
                snapshot_id=snapshot_id,
                subject=f"{schema}.{key[0]}.{key[1]}",
                details={"before": was, "after": now, "changed": changed},
            )
        )
    return events


def policy_digest(policy: Policy) -> str:
    """SHA-256 of the policy file's bytes (of its declared content when the file is gone)."""
    path = Path(policy.source)
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    declared = {
        "purposes": sorted(policy.purposes),
        "rules": sorted(
            [r.entity, r.purpose, r.action, r.generaliser] for r in policy.rules.values()
        ),
        "landing_retention": policy.landing_retention,
    }
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()


def _last_audited_policy(con: duckdb.DuckDBPyConnection) -> str | None:
    exists = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'audit' AND table_name = 'events'",
    )
    if not exists or not exists[0]:
        return None
    row = fetch_one(
        con,
        f"SELECT details FROM {AUDIT_TABLE} WHERE action = 'policy.change' "
        "ORDER BY seq DESC LIMIT 1",
    )
    if row is None:
        return None
    digest = json.loads(str(row[0])).get("sha256")
    return str(digest) if digest else None


def policy_event(
    con: duckdb.DuckDBPyConnection,
    policy: Policy,
    *,
    actor: str,
    asset: str,
    snapshot_id: str | None,
) -> AuditEvent | None:
    """``policy.change`` when the policy's SHA-256 differs from the last one audited on ``con``
    (or none was audited yet), else ``None``. Names the file, not its host path."""
    digest = policy_digest(policy)
    previous = _last_audited_policy(con)
    if digest == previous:
        return None
    return audit_event(
        "policy.change",
        actor=actor,
        purpose=GOVERNANCE,
        asset=asset,
        snapshot_id=snapshot_id,
        subject=Path(policy.source).name,
        details={
            "sha256": digest,
            "previous_sha256": previous,
            "purposes": sorted(policy.purposes),
            "rules": len(policy.rules),
            "landing_retention": policy.landing_retention,
        },
    )


def key_rotation_event(
    *,
    actor: str,
    reason: str,
    before: str,
    after: str,
    data_keys: int,
    snapshot_id: str | None,
) -> AuditEvent:
    """``key.rotated``: the master key's fingerprints before and after (fingerprints identify a
    key without revealing it) and how many subjects' data keys were re-wrapped."""
    return audit_event(
        "key.rotated",
        actor=actor,
        purpose=KEY_MANAGEMENT,
        asset="vault.data_keys",
        snapshot_id=snapshot_id,
        subject="master",
        details={
            "reason": reason,
            "fingerprint_before": before,
            "fingerprint_after": after,
            "data_keys_rewrapped": data_keys,
        },
    )


def products_of(paths: Sequence[str]) -> list[str]:
    """The products a set of ``out/``-relative paths belongs to: the party folder, and a
    buyer's own folder (``buyers/<buyer>``); a subject's folder is counted as ``subjects``."""
    found = set()
    for path in paths:
        parts = Path(path).parts
        if len(parts) > 2 and parts[0] == "buyers":
            found.add(f"buyers/{parts[1]}")
        elif parts:
            found.add(parts[0])
    return sorted(found)


def publish_event(
    *,
    passed: bool,
    actor: str,
    snapshot_id: str | None,
    products: Sequence[str],
    counts: Mapping[str, int],
    reason: str,
    runs: Sequence[str] = (),
) -> AuditEvent:
    """The publish gate's decision: ``publish.passed`` or ``publish.refused``. ``products``: the
    ``out/`` parties (or files) concerned; ``counts``: files, tables, identifiers checked,
    findings; ``reason``: the leak guard's summary (locations, kinds and counts, no values)."""
    return audit_event(
        "publish.passed" if passed else "publish.refused",
        actor=actor,
        purpose=RELEASE_CONTROL,
        asset="governance.release_manifest",
        snapshot_id=snapshot_id,
        details={
            "products": sorted(products),
            "counts": {str(k): int(v) for k, v in counts.items()},
            "reason": reason,
            "runs": sorted(runs),
        },
    )


@dataclass(frozen=True)
class EventKind:
    """How often one action was audited, and its latest event (details as written)."""

    action: str
    description: str
    count: int
    latest_seq: int
    latest_time: str
    latest_actor: str
    latest_subject: str | None
    latest_details: dict[str, Any]


def event_kinds(con: duckdb.DuckDBPyConnection) -> list[EventKind]:
    """Per action in the audit log: the count and the latest event, in :data:`EVENT_KINDS`
    order (actions not listed there last, by name). Empty without an audit log. Reads only."""
    exists = fetch_one(
        con,
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = 'audit' AND table_name = 'events'",
    )
    if not exists or not exists[0]:
        return []
    rows = con.execute(
        f"""SELECT action, count(*) OVER (PARTITION BY action), seq, event_time, actor, subject,
                   details
            FROM {AUDIT_TABLE}
            QUALIFY row_number() OVER (PARTITION BY action ORDER BY seq DESC) = 1"""
    ).fetchall()
    order = {a: i for i, a in enumerate(EVENT_KINDS)}
    kinds = []
    for action, n, seq, when, actor, subject, details in rows:
        try:
            body = json.loads(str(details))
        except ValueError:
            body = {"unreadable": "details are not JSON"}
        kinds.append(
            EventKind(
                str(action),
                EVENT_KINDS.get(str(action), "not a kind the pipeline writes"),
                int(n),
                int(seq),
                str(when),
                str(actor),
                None if subject is None else str(subject),
                body if isinstance(body, dict) else {"value": body},
            )
        )
    return sorted(kinds, key=lambda k: (order.get(k.action, len(order)), k.action))
