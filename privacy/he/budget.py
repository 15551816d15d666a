"""The scorer's query budget against model extraction: applicants scored per holder per period,
checked and charged before any ciphertext is touched, in a hash-chained append-only file.

A holder that decrypts a linear function of inputs it chose can solve for the points (see
THREAT_MODEL.md): what limits it is how much the scorer agrees to score. The unit charged is the
**capacity** of the ciphertexts scored (batches x slots x applicants per slot), not the count the
holder declares: the scorer cannot see how many slots hold real applicants, and a holder that
under-declares would otherwise get crafted slots for free. An honest round pays at most one
partly filled batch more than its applicants.

Ledger: one JSON object per line, fields ``_FIELDS`` plus ``hash`` = SHA-256 over the RFC 8785
canonical JSON of the others; the first entry chains from 64 zeros.

Invariants:
- check and charge run under an exclusive ``flock`` on ``<ledger>.lock`` (a separate file, so a
  replaced ledger cannot drop the lock), read and verify the whole chain, append and fsync the
  entry; two processes can never both pass the check on the same remaining budget;
- a refusal writes nothing and names the holder, the budget, the period and what to do;
- an edited, inserted, deleted or reordered entry breaks the chain and every later charge is
  refused, naming the ledger line; dropping entries from the end leaves a valid shorter chain,
  so each charge's entry hash also goes into the result manifest the holder receives: a holder
  can show an entry the scorer's ledger no longer holds;
- the same ciphertexts (same input digest) for the same holder are charged once: scoring is
  deterministic, so scoring them again tells the holder nothing new.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from privacy.he.errors import HEError

GENESIS_HASH = "0" * 64
PERIODS = ("day", "week", "month", "quarter", "year")
_FIELDS = (
    "seq",
    "at",
    "holder",
    "period",
    "limit",
    "charged",
    "spent_after",
    "round_id",
    "key_id",
    "model_hash",
    "input_sha256",
    "prev_hash",
)


class BudgetExceededError(HEError):
    """A round would take a holder past its budget for the period; nothing was charged or scored.

    ``exit_code`` is what the CLI exits with (distinct from other refusals, which exit 1).
    """

    exit_code = 3


@dataclass(frozen=True)
class QueryBudget:
    """``limit`` applicants (capacity) per ``holder`` per calendar ``period`` (UTC), recorded in
    ``ledger``. ``holder`` is the name the scorer knows the sender by (its contract party), not
    the key id: a holder mints key ids at will."""

    ledger: Path
    holder: str
    limit: int
    period: str = "month"

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise HEError(
                "query budget", f"unknown budget period {self.period!r}", f"use one of {PERIODS}"
            )
        if self.limit < 0:
            raise HEError("query budget", f"limit {self.limit} is negative", "give 0 or more")
        if not self.holder.strip():
            raise HEError("query budget", "names no holder", "name who sent the round (--holder)")


@dataclass(frozen=True)
class Charge:
    """One ledger entry, as written (``hash`` chains it); ``repeat`` when an identical earlier
    request was found and nothing new was charged."""

    entry: dict[str, Any]
    repeat: bool

    @property
    def remaining(self) -> int:
        return int(self.entry["limit"]) - int(self.entry["spent_after"])


def period_label(when: datetime, period: str) -> str:
    """The calendar period (UTC) ``when`` falls in: 2026-01-05, 2026-W02, 2026-01, 2026-Q1, 2026."""
    d = when.astimezone(UTC).date()
    if period == "day":
        return d.isoformat()
    if period == "week":
        y, w, _ = d.isocalendar()
        return f"{y:04d}-W{w:02d}"
    if period == "month":
        return f"{d.year:04d}-{d.month:02d}"
    if period == "quarter":
        return f"{d.year:04d}-Q{(d.month - 1) // 3 + 1}"
    if period == "year":
        return f"{d.year:04d}"
    raise ValueError(f"unknown budget period {period!r}: use one of {list(PERIODS)}")


def _entry_hash(entry: dict[str, Any]) -> str:
    return hashlib.sha256(rfc8785.dumps({k: entry[k] for k in _FIELDS})).hexdigest()


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Every entry of the ledger after verifying the chain; ``HEError`` naming the first bad line."""
    path = Path(path)
    if not path.exists():
        return []
    fix = (
        "the budget ledger was altered: restore it from backup (or audit who changed it); no "
        "round is scored against a broken ledger"
    )
    entries: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            where = f"{path}, line {line_no}"
            try:
                entry = json.loads(line)
                ok = isinstance(entry, dict) and set(entry) == {*_FIELDS, "hash"}
            except json.JSONDecodeError:
                ok = False
            if not ok:
                raise HEError(where, "is not a budget ledger entry (edited or truncated?)", fix)
            if entry["seq"] != line_no or entry["prev_hash"] != prev:
                raise HEError(where, "does not chain to the entry before it", fix)
            if _entry_hash(entry) != entry["hash"]:
                raise HEError(where, "does not match its own hash (edited)", fix)
            prev = entry["hash"]
            entries.append(entry)
    return entries


@contextmanager
def _locked(ledger: Path) -> Iterator[None]:
    ledger.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{ledger}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def spent(budget: QueryBudget, now: datetime | None = None) -> int:
    """Applicants charged to ``budget.holder`` in the current period (chain verified)."""
    label = period_label(now or datetime.now(UTC), budget.period)
    return _spent(read_ledger(budget.ledger), budget.holder, budget.period, label)


def _spent(entries: list[dict[str, Any]], holder: str, granularity: str, label: str) -> int:
    return sum(
        int(e["charged"])
        for e in entries
        if e["holder"] == holder and e["period"] == f"{granularity}:{label}"
    )


def charge(
    budget: QueryBudget,
    applicants: int,
    binding: dict[str, Any],
    input_sha256: str,
    now: datetime | None = None,
) -> Charge:
    """Check ``budget`` and charge ``applicants`` for the round ``binding`` names (round_id,
    key_id, model_hash); ``BudgetExceededError`` when it does not fit, having written nothing."""
    when = now or datetime.now(UTC)
    label = period_label(when, budget.period)
    period = f"{budget.period}:{label}"
    with _locked(budget.ledger):
        entries = read_ledger(budget.ledger)
        for e in entries:
            if e["holder"] == budget.holder and e["input_sha256"] == input_sha256:
                return Charge(e, repeat=True)
        used = _spent(entries, budget.holder, budget.period, label)
        if used + applicants > budget.limit:
            raise BudgetExceededError(
                f"holder {budget.holder!r}",
                f"this round needs {applicants:,} applicants of query budget (its ciphertexts' "
                f"capacity) but {used:,} of {budget.limit:,} per {budget.period} are already "
                f"spent in {label}; nothing was scored",
                f"wait for the next {budget.period}, ask the holder to send fewer applicants, or "
                "raise this holder's budget deliberately (--budget); every charge is in "
                f"{budget.ledger}",
            )
        entry: dict[str, Any] = {
            "seq": len(entries) + 1,
            "at": when.astimezone(UTC).isoformat(timespec="seconds"),
            "holder": budget.holder,
            "period": period,
            "limit": budget.limit,
            "charged": applicants,
            "spent_after": used + applicants,
            "round_id": str(binding["round_id"]),
            "key_id": str(binding["key_id"]),
            "model_hash": str(binding["model_hash"]),
            "input_sha256": input_sha256,
            "prev_hash": entries[-1]["hash"] if entries else GENESIS_HASH,
        }
        entry["hash"] = _entry_hash(entry)
        fd = os.open(budget.ledger, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return Charge(entry, repeat=False)
