"""A small synthetic wallet ledger in the credit input contract (tests, demos, benchmarks).

A latent creditworthiness per subject drives income, balance behaviour, spend mix, risk flags and the
chance that a loan goes bad, so the feature SQL and the models have a signal to find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_TX_DIRECTION = {
    "top_up": "in",
    "withdrawal": "out",
    "p2p_transfer": "out",
    "merchant_payment": "out",
    "cross_border_payment": "out",
    "swap": "out",
    "reward_points": "in",
}


@dataclass(frozen=True)
class SyntheticLedger:
    ledger: pd.DataFrame
    applications: pd.DataFrame
    subjects: pd.DataFrame
    merchants: pd.DataFrame


def generate(
    n_subjects: int = 1000,
    days: int = 540,
    start: str = "2024-01-01",
    seed: int = 0,
    loans_per_subject: float = 1.5,
) -> SyntheticLedger:
    """Ledger, applications (with labels; NULL when not yet observable), subjects and merchants."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    end = t0 + pd.Timedelta(days=days)
    sid = np.array([f"s{i:06d}" for i in range(n_subjects)], dtype=object)
    q = rng.normal(size=n_subjects)  # latent creditworthiness (higher = better)
    signup_offset = rng.integers(-720, days // 3, size=n_subjects)
    subjects = pd.DataFrame(
        {
            "subject_id": sid,
            "signup_date": (t0 + pd.to_timedelta(signup_offset, unit="D")).date,
            "kyc_level": np.clip(
                np.round(1.5 + 0.6 * q + rng.normal(0, 0.8, n_subjects)), 0, 3
            ).astype(int),
            "city_tier": rng.integers(1, 5, size=n_subjects),
        }
    )
    income = np.exp(7.0 + 0.45 * q + rng.normal(0, 0.4, n_subjects))  # USD per month
    regular = rng.random(n_subjects) < 1 / (1 + np.exp(-(0.3 + 1.2 * q)))
    spend_ratio = np.clip(1.0 - 0.08 * q + rng.normal(0, 0.08, n_subjects), 0.6, 1.5)
    high_risk = np.clip(0.1 - 0.06 * q + rng.normal(0, 0.05, n_subjects), 0, 0.8)
    night = np.clip(0.05 - 0.04 * q + rng.normal(0, 0.03, n_subjects), 0, 0.5)

    rows: list[pd.DataFrame] = []
    active_from = np.maximum(signup_offset, 0)
    # income: monthly salary (regular) or irregular top-ups
    for m in range(days // 30):
        day = m * 30 + rng.integers(0, 3, n_subjects)
        ok = day >= active_from
        reg = ok & regular
        rows.append(
            _rows(
                t0,
                sid[reg],
                day[reg],
                "top_up",
                income[reg] * rng.lognormal(0, 0.05, reg.sum()),
                counterparty=np.array(
                    [f"employer{i % 50}" for i in np.flatnonzero(reg)], dtype=object
                ),
                rng=rng,
                night=night[reg],
            )
        )
        irr = ok & ~regular
        k = rng.poisson(3, irr.sum())
        idx = np.repeat(np.flatnonzero(irr), k)
        amt = income[idx] / 3 * rng.lognormal(0, 0.8, idx.size)
        rows.append(
            _rows(
                t0,
                sid[idx],
                m * 30 + rng.integers(0, 30, idx.size),
                "top_up",
                amt,
                counterparty=np.array(["bank"] * idx.size, dtype=object),
                rng=rng,
                night=night[idx],
            )
        )
    # spending events spread over the days
    n_ev = rng.poisson(days * 1.2, n_subjects)
    idx = np.repeat(np.arange(n_subjects), n_ev)
    day = rng.integers(0, days, idx.size)
    keep = day >= active_from[idx]
    idx, day = idx[keep], day[keep]
    per_event = income[idx] * spend_ratio[idx] / 36.0 * rng.lognormal(0, 0.6, idx.size)
    kind = rng.choice(
        ["merchant_payment", "p2p_transfer", "cross_border_payment", "withdrawal", "swap"],
        p=[0.62, 0.18, 0.05, 0.1, 0.05],
        size=idx.size,
    )
    risk = np.where(
        rng.random(idx.size) < high_risk[idx],
        "high",
        np.where(rng.random(idx.size) < 0.3, "medium", "low"),
    )
    cp = np.where(
        kind == "p2p_transfer",
        sid[rng.integers(0, n_subjects, idx.size)],
        np.where(
            kind == "merchant_payment",
            np.char.add("m", rng.integers(0, 200, idx.size).astype(str)).astype(object),
            np.full(idx.size, None, dtype=object),
        ),
    )
    ev = _rows(
        t0,
        sid[idx],
        day,
        kind,
        per_event,
        counterparty=cp.astype(object),
        rng=rng,
        night=night[idx],
    )
    ev.loc[ev.tx_type == "merchant_payment", "mcc_risk"] = risk[(kind == "merchant_payment")]
    ev.loc[ev.tx_type == "merchant_payment", "mcc"] = "5411"
    rows.append(ev)
    # rewards
    r_idx = rng.integers(0, n_subjects, n_subjects * 3)
    rows.append(
        _rows(
            t0,
            sid[r_idx],
            rng.integers(0, days, r_idx.size),
            "reward_points",
            rng.uniform(0.5, 5, r_idx.size),
            rng=rng,
            night=night[r_idx],
        )
    )
    ledger = pd.concat(rows, ignore_index=True)

    # loan applications after at least 200 days of history
    n_loans = rng.poisson(loans_per_subject, n_subjects)
    li = np.repeat(np.arange(n_subjects), n_loans)
    app_day = rng.integers(200, days - 10, li.size)
    order = np.lexsort((app_day, li))
    li, app_day = li[order], app_day[order]
    applied_at = (
        t0
        + pd.to_timedelta(app_day, unit="D")
        + pd.to_timedelta(rng.integers(8 * 3600, 22 * 3600, li.size), unit="s")
    )
    principal = np.round(income[li] * rng.uniform(0.2, 1.5, li.size), 2)
    term = rng.choice([30, 60, 90], size=li.size)
    due = (applied_at.normalize() + pd.to_timedelta(term, unit="D")).date
    logit = -2.6 - 1.1 * q[li] + 0.5 * principal / income[li] + 1.5 * high_risk[li]
    bad = rng.random(li.size) < 1 / (1 + np.exp(-logit))
    loan_ids = np.array([f"L{i:07d}" for i in range(li.size)], dtype=object)
    observable = (pd.to_datetime(due) + pd.Timedelta(days=30)) < end
    applications = pd.DataFrame(
        {
            "loan_id": loan_ids,
            "subject_id": sid[li],
            "applied_at": applied_at,
            "principal_base": principal,
            "term_days": term.astype(int),
            "due_date": due,
            "label": pd.array(np.where(observable, bad.astype(int), -1), dtype="Int64"),
        }
    )
    applications.loc[~observable, "label"] = pd.NA
    disb = _rows(
        t0, sid[li], app_day, "loan_disbursement", principal, rng=rng, night=np.zeros(li.size)
    )
    disb["direction"] = "in"
    disb["occurred_at"] = applied_at + pd.Timedelta(minutes=5)
    disb["loan_id"] = loan_ids
    # repayments: good loans on time (with a fee), bad ones partly and late
    rep_day = np.where(
        bad,
        app_day + term + rng.integers(31, 90, li.size),
        app_day + term - rng.integers(0, 10, li.size),
    )
    rep_amt = np.where(bad, principal * rng.uniform(0, 0.6, li.size), principal * 1.05)
    rep = _rows(t0, sid[li], rep_day, "loan_repayment", rep_amt, rng=rng, night=np.zeros(li.size))
    rep["direction"] = "out"
    rep["loan_id"] = loan_ids
    rep = rep[(rep.occurred_at < end) & (rep.amount_base > 0)]
    ledger = pd.concat([ledger, disb, rep], ignore_index=True)
    ledger = ledger.sort_values("occurred_at", kind="stable").reset_index(drop=True)

    n_m = 200
    merchants = pd.DataFrame(
        {
            "merchant_id": [f"m{i}" for i in range(n_m)],
            "monthly_volume": np.round(rng.lognormal(9, 1.5, n_m), 2),
            "chargeback_ratio": np.clip(rng.lognormal(-6, 1, n_m), 0, 0.2),
            "refund_ratio": np.clip(rng.lognormal(-4, 0.8, n_m), 0, 0.5),
            "mcc_risk": rng.choice(["low", "medium", "high"], p=[0.6, 0.3, 0.1], size=n_m),
            "months_active": rng.integers(0, 36, n_m),
        }
    )
    return SyntheticLedger(ledger, applications, subjects, merchants)


def _rows(
    t0: pd.Timestamp,
    subject: np.ndarray,
    day: np.ndarray,
    tx_type: str | np.ndarray,
    amount: np.ndarray,
    *,
    rng: np.random.Generator,
    night: np.ndarray,
    counterparty: np.ndarray | None = None,
) -> pd.DataFrame:
    n = len(subject)
    at_night = rng.random(n) < night
    secs = np.where(at_night, rng.integers(0, 5 * 3600, n), rng.integers(7 * 3600, 24 * 3600, n))
    types = np.broadcast_to(np.asarray(tx_type, dtype=object), (n,))
    direction = np.array([_TX_DIRECTION.get(t, "out") for t in types], dtype=object)
    dev = np.where(rng.random(n) < 0.97, "d0", "d1")
    return pd.DataFrame(
        {
            "subject_id": subject,
            "occurred_at": t0 + pd.to_timedelta(day, unit="D") + pd.to_timedelta(secs, unit="s"),
            "tx_type": types,
            "direction": direction,
            "amount_base": np.round(np.asarray(amount, dtype=float), 2),
            "fee_base": np.round(np.asarray(amount, dtype=float) * 0.002, 4),
            "mcc": None,
            "mcc_risk": None,
            "counterparty": counterparty if counterparty is not None else None,
            "device_id": np.char.add(subject.astype(str), np.char.add("-", dev)).astype(object),
            "country": "CN",
            "loan_id": None,
        }
    )
