"""Loans: applications drawn per user over the window, each with a true PD from the latent model,
an outcome drawn from that PD, and the disbursement and repayment events the transaction days
replay.

Invariants the credit tests rely on:

- applications start after a history of ``min(60, max(7, days // 4))`` days; users with KYC level 0
  never borrow; a defaulter gets no further loans;
- an outcome is reported (``on_time``, ``late_30``, ``default``) only when ``due + 30`` falls inside
  the window, otherwise ``open``; most loans whose outcome would fall outside are not drawn at all;
- on-time loans repay exactly principal plus ``LOAN_INTEREST_PER_30D`` per 30 days (to the cent,
  split over 1-3 payments by the due date); late loans repay it all 30-60 days after the due date;
  defaulters repay at most 60% of it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ledger import contract
from ledger.synthetic import arrays
from ledger.synthetic.arrays import Floats, Ints
from ledger.synthetic.config import GeneratorConfig
from ledger.synthetic.latent import calibrated_intercept, logit_pd, sigmoid
from ledger.synthetic.prices import Prices
from ledger.synthetic.reference import CNHC, TX, USDT
from ledger.synthetic.users import Users

LOAN_TERMS: Ints = np.array([30, 60, 90])
LOAN_INTEREST_PER_30D = 0.02

LoanEvent = tuple[int, int, int, int, float, int]
"""(user, loan index, tx-type code, asset code, amount in asset units, second of day)."""


@dataclass
class LoanEvents:
    table: pa.Table  # contract ``loans`` columns
    truth: pa.Table  # true PD, outcome and latent z per loan (truth/loans.parquet)
    by_day: dict[int, list[LoanEvent]]  # day index -> disbursements and repayments that day
    ids: pa.Array


@dataclass(frozen=True)
class _Borrowing:
    """What every borrower's draws depend on."""

    days: int
    min_hist: int
    users: Users
    prices: Floats
    rate: Floats  # applications per day
    lti: Floats  # typical loan-to-monthly-income ratio
    intercept: float


@dataclass
class _Book:
    """Loans in the order drawn, column by column."""

    user: list[int] = field(default_factory=list)
    applied_day: list[int] = field(default_factory=list)
    applied_sec: list[int] = field(default_factory=list)
    principal: list[float] = field(default_factory=list)
    asset: list[int] = field(default_factory=list)
    term: list[int] = field(default_factory=list)
    true_pd: list[float] = field(default_factory=list)
    outcome: list[str] = field(default_factory=list)
    repaid_day: list[int | None] = field(default_factory=list)
    by_day: defaultdict[int, list[LoanEvent]] = field(default_factory=lambda: defaultdict(list))


def _repayments(
    rng: np.random.Generator, kind: str, d0: int, term_d: int, owed: float
) -> tuple[list[tuple[int, float]], int]:
    """Payments (day, amount) of a loan with outcome ``kind``, and the day it was settled (-1 if
    never)."""
    due = d0 + term_d
    if kind == "on_time":
        k = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))
        last = due - int(rng.integers(0, 6))
        pay_days = sorted({max(d0 + 1, last - int(x)) for x in rng.integers(0, term_d, k - 1)})
        pay_days = [x for x in pay_days if x < last] + [last]
        parts = rng.dirichlet(np.ones(len(pay_days))) * owed
        return [(dd, float(p)) for dd, p in zip(pay_days, parts, strict=True)], last
    if kind == "late_30":
        done = due + int(rng.integers(30, 61))
        if rng.random() < 0.3:
            part = owed * rng.uniform(0.1, 0.4)
            return [(d0 + int(rng.integers(1, term_d)), part), (done, owed - part)], done
        return [(done, owed)], done
    pays: list[tuple[int, float]] = []
    if rng.random() < 0.5:
        share = rng.uniform(0.2, 0.6)
        k = int(rng.integers(1, 3))
        pdays = d0 + rng.integers(1, term_d + 20, k)
        pays = [(int(dd), owed * share / k) for dd in sorted(pdays.tolist())]
    return pays, -1


def _one_loan(
    rng: np.random.Generator, ctx: _Borrowing, book: _Book, u: int, d0: int, term_d: int
) -> tuple[str, int]:
    """Draw one loan of user ``u`` applied on day ``d0``; book it and its events. Returns the
    outcome kind and the day it was settled (-1 if never)."""
    users = ctx.users
    size = ctx.lti[u] * rng.lognormal(0, 0.25)
    usd = float(np.clip(round(users.income[u] * size / 10) * 10, 50, 5000))
    a = CNHC if (users.is_cn[u] and rng.random() < 0.2) else USDT
    units = round(usd / ctx.prices[d0, a], 2)
    loan_to_income = np.array(usd / users.income[u])
    pd_ = float(sigmoid(logit_pd(np.array(users.z[u]), loan_to_income, ctx.intercept)))
    if rng.random() < pd_:
        kind = "default" if rng.random() < 0.55 + 0.15 * (users.z[u] < -1) else "late_30"
    else:
        kind = "on_time"
    li = len(book.user)
    sec = int(rng.integers(8 * 3600, 22 * 3600))
    book.user.append(u)
    book.applied_day.append(d0)
    book.applied_sec.append(sec)
    book.principal.append(units)
    book.asset.append(a)
    book.term.append(term_d)
    book.true_pd.append(pd_)
    book.by_day[d0].append((u, li, TX["loan_disbursement"], a, units, sec))
    owed = round(units * (1 + LOAN_INTEREST_PER_30D * term_d / 30), 2)
    pays, done = _repayments(rng, kind, d0, term_d, owed)
    for dd, amt in pays:
        amt = round(amt, 2)
        if dd < ctx.days and amt > 0:
            sec_r = int(rng.integers(7 * 3600, 23 * 3600))
            book.by_day[dd].append((u, li, TX["loan_repayment"], a, amt, sec_r))
    book.outcome.append(kind if d0 + term_d + 30 < ctx.days else "open")
    book.repaid_day.append(done if done >= 0 else None)
    return kind, done


def _borrow(rng: np.random.Generator, ctx: _Borrowing, book: _Book, u: int) -> None:
    """All loans of user ``u``: a renewal process at the user's application rate."""
    t = ctx.min_hist + rng.exponential(1.0 / ctx.rate[u])
    while t < ctx.days:
        d0 = int(t)
        term_d = int(LOAN_TERMS[rng.choice(3, p=[0.5, 0.3, 0.2])])
        due = d0 + term_d
        if due + 30 >= ctx.days and rng.random() > 0.25:  # keep most outcomes observable
            return
        kind, done = _one_loan(rng, ctx, book, u, d0, term_d)
        if kind == "default":
            return
        t = max(done, due) + 1 + rng.exponential(1.0 / ctx.rate[u])


def _tables(cfg: GeneratorConfig, users: Users, book: _Book) -> LoanEvents:
    nl = len(book.user)
    ids = pa.array([f"L{i + 1:07d}" for i in range(nl)], pa.string())
    applied_ts = np.array(
        [
            cfg.day_start_seconds(d) + s
            for d, s in zip(book.applied_day, book.applied_sec, strict=True)
        ],
        dtype="int64",
    )
    uidx = np.array(book.user, dtype=np.int64)
    due = [cfg.day(d + t) for d, t in zip(book.applied_day, book.term, strict=True)]
    table = pa.table(
        {
            "loan_id": ids,
            "user_id": users.ids.take(pa.array(uidx)) if nl else pa.array([], pa.string()),
            "applied_at": pa.array(applied_ts * 1_000_000, pa.timestamp("us")),
            "principal": pa.array(book.principal, pa.float64()),
            "asset": pa.array([contract.ASSETS[a] for a in book.asset], pa.string()),
            "term_days": pa.array(book.term, pa.int32()),
            "due_date": pa.array(due, pa.date32()),
        }
    )
    truth = pa.table(
        {
            "loan_id": ids,
            "user_id": table.column("user_id"),
            "true_pd": pa.array(book.true_pd, pa.float64()),
            "outcome": pa.array(book.outcome, pa.string()),
            "latent_z": pa.array(users.z[uidx] if nl else [], pa.float64()),
            "repaid_date": pa.array(
                [None if r is None else cfg.day(r) for r in book.repaid_day], pa.date32()
            ),
        }
    )
    return LoanEvents(table, truth, dict(book.by_day), ids)


def make_loans(
    cfg: GeneratorConfig, users: Users, prices: Prices, rng: np.random.Generator
) -> LoanEvents:
    """Every loan of the window with its landing table, its truth and its day-by-day events."""
    rate = 0.006 * arrays.exp(-0.5 * users.z) * (users.kyc >= 1)
    lti = rng.uniform(0.15, 0.9, users.n)
    # The intercept is calibrated on the application-weighted population of potential borrowers.
    intercept = calibrated_intercept(users.z, lti, rate / max(rate.sum(), 1e-12))
    ctx = _Borrowing(
        days=cfg.days,
        min_hist=min(60, max(7, cfg.days // 4)),
        users=users,
        prices=prices.base,
        rate=rate,
        lti=lti,
        intercept=intercept,
    )
    book = _Book()
    for u in np.nonzero(rate > 0)[0].tolist():
        _borrow(rng, ctx, book, u)
    return _tables(cfg, users, book)
