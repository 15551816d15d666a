"""What ``ledgerlens insights …`` calls: list, release, budget, ledger verify.

Functions on a warehouse path open their own DuckDB connection under the ledger's file lock (one
release at a time across processes, retrying while another writer holds DuckDB's lock) and close
it before returning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from privacy.dp.catalogue import Catalogue, load_catalogue
from privacy.dp.ledger import (
    LEDGER_TABLE,
    LedgerStatus,
    connect_writer,
    ensure_ledger,
    spent,
    verify_ledger,
    warehouse_lock,
)
from privacy.dp.outputs import write_release
from privacy.dp.release import Release, ReleaseRequestError, release_report

__all__ = [
    "BudgetLine",
    "ReleaseOutcome",
    "budget",
    "list_reports",
    "release",
    "verify",
]


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


def release(
    warehouse: Path,
    report_id: str,
    buyer: str,
    period: str,
    selection_key: bytes,
    staging_dir: Path,
    *,
    catalogue: Catalogue | None = None,
    snapshot_id: str | None = None,
) -> ReleaseOutcome:
    """Release one report for one buyer and write its files under ``staging_dir``."""
    cat = catalogue or load_catalogue()
    with warehouse_lock(warehouse):
        con = connect_writer(warehouse)
        try:
            rel = release_report(
                con, cat, report_id, buyer, period, selection_key, snapshot_id=snapshot_id
            )
        finally:
            con.close()
    return ReleaseOutcome(rel, write_release(rel, staging_dir), rel.charged)


def budget(
    warehouse: Path,
    buyer: str | None = None,
    period: str | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> list[BudgetLine]:
    """Budget, spent and remaining rho per dataset period: for ``buyer`` (or every buyer) and
    globally. Periods are those with charges, or ``period`` alone."""
    cat = catalogue or load_catalogue()
    if buyer is not None and buyer not in cat.buyers:
        raise ReleaseRequestError(
            f"unknown buyer {buyer!r}; known: {', '.join(sorted(cat.buyers))}"
        )
    with warehouse_lock(warehouse):
        con = connect_writer(warehouse)
        try:
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
                for b in [buyer] if buyer is not None else sorted(cat.buyers):
                    out.append(BudgetLine(p, b, cat.buyers[b].rho, spent(con, p, b)))
                out.append(BudgetLine(p, "global", cat.global_rho, spent(con, p)))
            return out
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
