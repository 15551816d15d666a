"""What ``ledgerlens insights …`` and the Dagster assets call: list, release (audited and
attested), budget, ledger verify.

:func:`audited_release` works on an open connection (an asset's, the CLI's) and appends every
release, re-request and refusal to the audit log (:func:`privacy.audit.append_event`) on that same
connection. Functions on a warehouse path open their own DuckDB connection under the ledger's
file lock (one release at a time across processes, retrying while another writer holds DuckDB's
lock) and close it before returning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from privacy.audit import append_event
from privacy.dp.attestation import ReleaseAttestationError, ReleaseAttester, release_attester
from privacy.dp.base import MissingSourceError
from privacy.dp.catalogue import Catalogue, load_catalogue
from privacy.dp.ledger import (
    LEDGER_TABLE,
    BudgetExceededError,
    LedgerStatus,
    connect_writer,
    ensure_ledger,
    spent,
    verify_ledger,
    warehouse_lock,
)
from privacy.dp.outputs import write_release
from privacy.dp.periods import parse_period
from privacy.dp.release import Release, ReleaseRequestError, release_report
from zk.signatures import IssuerKey

__all__ = [
    "REFUSALS",
    "SELECTION_KEY_NAME",
    "BudgetLine",
    "ReleaseOutcome",
    "ReportSummary",
    "attested_release",
    "audited_release",
    "budget",
    "budget_lines",
    "list_reports",
    "release",
    "verify",
]

SELECTION_KEY_NAME = "insights_selection"
"""Name of the key-vault key that keys the contribution selection (:mod:`privacy.dp.bounding`)."""

REFUSALS = (ReleaseRequestError, BudgetExceededError, MissingSourceError)
"""Errors that refuse a request before anything is charged (bad input or no budget left)."""


@dataclass(frozen=True)
class ReportSummary:
    id: str
    title: str
    rho: float
    description: str


@dataclass(frozen=True)
class ReleaseOutcome:
    release: Release
    output_dir: Path
    charged: bool


@dataclass(frozen=True)
class BudgetLine:
    period: str
    scope: str  # a buyer id, or "global"
    budget_rho: float
    spent_rho: float

    @property
    def remaining_rho(self) -> float:
        return max(0.0, self.budget_rho - self.spent_rho)


def list_reports(catalogue: Catalogue | None = None) -> list[ReportSummary]:
    """The catalogue's reports in file order (the CLI prints ``id`` first on each line)."""
    cat = catalogue or load_catalogue()
    return [ReportSummary(r.id, r.title, r.rho, r.description) for r in cat.reports.values()]


def audited_release(
    con: duckdb.DuckDBPyConnection,
    catalogue: Catalogue,
    report_id: str,
    buyer: str,
    period: str,
    selection_key: bytes,
    *,
    actor: str,
    snapshot_id: str | None = None,
) -> Release:
    """:func:`privacy.dp.release.release_report`, with the outcome appended to the audit log on
    ``con``: ``insights.release`` (charged), ``insights.release_reused`` (an identical earlier
    release, not charged) or ``insights.release_refused`` (then the error is raised again).
    Audit details hold ids, rho and hashes only."""
    subject = f"{buyer}/{report_id}/{period}"
    try:
        rel = release_report(
            con, catalogue, report_id, buyer, period, selection_key, snapshot_id=snapshot_id
        )
    except REFUSALS as exc:
        details: dict[str, object] = {"reason": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, BudgetExceededError):
            details["remaining_rho"] = exc.remaining
        append_event(con, actor, "insights.release_refused", subject, details)
        raise
    append_event(
        con,
        actor,
        "insights.release" if rel.charged else "insights.release_reused",
        subject,
        {
            "release_id": rel.release_id,
            "rho": rel.entry.rho,
            "epsilon": rel.entry.epsilon,
            "delta": rel.entry.delta,
            "snapshot_id": rel.snapshot_id,
            "spec_hash": rel.spec_hash,
            "ledger_seq": rel.entry.seq,
            "ledger_entry_hash": rel.entry.entry_hash,
        },
    )
    return rel


def attested_release(
    con: duckdb.DuckDBPyConnection,
    catalogue: Catalogue,
    report_id: str,
    buyer: str,
    period: str,
    selection_key: bytes,
    issuer: IssuerKey,
    *,
    actor: str,
    snapshot_id: str | None = None,
) -> tuple[Release, ReleaseAttester]:
    """:func:`audited_release`, after resolving who attests it
    (:func:`privacy.dp.attestation.release_attester`): a release that cannot be attested is
    refused before the charge, audited as ``insights.release_refused``, and the
    :class:`~privacy.dp.attestation.ReleaseAttestationError` raised again."""
    try:
        attester = release_attester(con, issuer)
    except ReleaseAttestationError as exc:
        append_event(
            con,
            actor,
            "insights.release_refused",
            f"{buyer}/{report_id}/{period}",
            {"reason": type(exc).__name__, "message": str(exc)},
        )
        raise
    rel = audited_release(
        con,
        catalogue,
        report_id,
        buyer,
        period,
        selection_key,
        actor=actor,
        snapshot_id=snapshot_id,
    )
    return rel, attester


def release(
    warehouse: Path,
    report_id: str,
    buyer: str,
    period: str,
    selection_key: bytes,
    buyers_dir: Path,
    *,
    issuer: IssuerKey,
    catalogue: Catalogue | None = None,
    snapshot_id: str | None = None,
    actor: str = "ledgerlens insights release",
) -> ReleaseOutcome:
    """Release one report for one buyer (audited) and write its files, attestation signed by
    ``issuer`` included, under ``buyers_dir`` (a run's ``staging/<run id>/buyers`` folder, for the
    publish gate). Raises :class:`privacy.dp.attestation.ReleaseAttestationError` before charging
    when the data's ledger snapshot has no committed Merkle root."""
    cat = catalogue or load_catalogue()
    with warehouse_lock(warehouse):
        con = connect_writer(warehouse)
        try:
            rel, attester = attested_release(
                con,
                cat,
                report_id,
                buyer,
                period,
                selection_key,
                issuer,
                actor=actor,
                snapshot_id=snapshot_id,
            )
        finally:
            con.close()
    return ReleaseOutcome(rel, write_release(rel, buyers_dir, attester), rel.charged)


def budget_lines(
    con: duckdb.DuckDBPyConnection,
    catalogue: Catalogue,
    buyer: str | None = None,
    period: str | None = None,
) -> list[BudgetLine]:
    """Budget, spent and remaining rho per dataset period: for ``buyer`` (or every buyer) and
    globally. Periods are those with charges, or ``period`` alone."""
    if buyer is not None and buyer not in catalogue.buyers:
        raise ReleaseRequestError(
            f"unknown buyer {buyer!r}; known: {', '.join(sorted(catalogue.buyers))}"
        )
    if period is not None:
        try:
            parse_period(period)
        except ValueError as exc:
            raise ReleaseRequestError(str(exc)) from None
    ensure_ledger(con)
    periods = (
        [period]
        if period is not None
        else [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT period FROM {LEDGER_TABLE} ORDER BY 1"
            ).fetchall()
        ]
    )
    out: list[BudgetLine] = []
    for p in periods:
        for b in [buyer] if buyer is not None else sorted(catalogue.buyers):
            out.append(BudgetLine(p, b, catalogue.buyers[b].rho, spent(con, p, b)))
        out.append(BudgetLine(p, "global", catalogue.global_rho, spent(con, p)))
    return out


def budget(
    warehouse: Path,
    buyer: str | None = None,
    period: str | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> list[BudgetLine]:
    """:func:`budget_lines` on the warehouse at ``warehouse``."""
    cat = catalogue or load_catalogue()
    with warehouse_lock(warehouse):
        con = connect_writer(warehouse)
        try:
            return budget_lines(con, cat, buyer, period)
        finally:
            con.close()


def verify(warehouse: Path, anchor: tuple[int, str] | None = None) -> LedgerStatus:
    """``ledgerlens insights ledger verify``: recompute the chain (exit non-zero unless ok)."""
    with warehouse_lock(warehouse):
        con = connect_writer(warehouse)
        try:
            return verify_ledger(con, anchor)
        finally:
            con.close()
