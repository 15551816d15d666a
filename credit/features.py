"""Point-in-time credit features per loan application, computed in DuckDB SQL.

Every feature of an application uses only ledger rows with ``occurred_at < applied_at`` (an observation
window of ``window_days``, default 180, with a ``short_window_days`` sub-window, default 90), the
subject's static attributes, and earlier loans of the same subject whose repayment is judged only from
repayment rows before ``applied_at``. Nothing at or after the application date can move a feature.

History, not time in the ledger: an applicant's observed history is the time from the later of the
ledger's start and the signup date to ``applied_at``. Window counts and sums are per observed day,
scaled to the window (a 60-day history with 60 transactions reads as 180 over 180 days), balance
and income statistics use observed days and whole observed months only; the balance-path
statistics (``balance_mean``, ``balance_trend``, days negative / near zero) exist only when the
history covers the whole window (NULL otherwise); and below
``min_history_days`` the window features are NULL (missing: scored by the missing-value policy).
``observed_days`` and ``short_history`` are returned beside the features, never as features.
Distinct counts (``distinct_counterparties_30``) do not scale per day: they are taken over the
last 30 days and are missing when the history is shorter. ``prior_loans`` (a context column, not
scored) is a borrowing rate, not a count that grows with time in the ledger: the earlier
loans applied for within the window (repaid, late or still open), per observed day, scaled to
the window; the repayment record of earlier loans (late share, unpaid, days late) covers every
earlier loan that fell due before ``applied_at``.

Input contract (relation names are parameters):

* ledger: subject_id, occurred_at, tx_type, direction ('in'/'out'), amount_base, fee_base, mcc,
  mcc_risk ('low'/'medium'/'high'), counterparty, device_id, country, loan_id.
  A P2P transfer appears once (sender, 'out'); rows whose counterparty is a subject are that
  subject's inflows.
* applications: loan_id, subject_id, applied_at, principal_base, term_days, due_date, label.
* subjects: subject_id, signup_date, kyc_level, city_tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import pandas as pd

KEY_COLUMNS: tuple[str, ...] = ("loan_id", "subject_id", "applied_at")
# returned beside the features, never scored: history length, and the affordability proxy pricing
# uses when no income is declared (median monthly inflow over whole observed months)
# ``prior_loans`` is reported, never scored: loans are a renewal process that starts with the
# loan book (a borrower's next loan comes after the last is settled), so even as a rate per
# observed day it rises with time since the book opened (0.00 in the demo's first month, 0.35 in
# its last) and reads calendar time as risk; the repayment record of earlier loans is scored.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "observed_days",
    "short_history",
    "inflow_monthly_median",
    "prior_loans",
)
# a distinct count does not scale with time (the same counterparties recur), so it is taken over
# a window every scored application has fully observed, and is missing below it
DISTINCT_DAYS = 30

FEATURE_COLUMNS: tuple[str, ...] = (
    # loan asked for (known at application)
    "principal_base",
    "term_days",
    "loan_to_income",
    # income detection and stability
    "income_monthly_mean",
    "income_cv",
    "months_with_income",
    "regular_income_sources",
    "regular_income_monthly",
    # flows
    "inflow_180",
    "outflow_180",
    "inflow_90",
    "outflow_90",
    "net_flow_180",
    "inflow_outflow_ratio",
    # balance from flows within the window
    "balance_mean",
    "balance_mean_90",
    "balance_min",
    "balance_end",
    "balance_trend",
    "days_negative_balance",
    "days_near_zero_balance",
    "buffer_days",
    # spend mix
    "spend_share_high_risk_mcc",
    "spend_share_medium_risk_mcc",
    "p2p_out_share",
    "p2p_in_share",
    "cross_border_share",
    # account, recency, frequency
    "account_age_days",
    "days_since_last_tx",
    "days_since_last_inflow",
    "n_tx_90",
    "n_tx_180",
    "active_days_90",
    # prior repayment history
    "prior_late_share",
    "prior_unpaid",
    "prior_max_days_late",
    "open_loans",
    # risk-engine flags
    "max_tx_per_hour",
    "max_night_tx",
    "night_tx_share",
    "new_device_large_transfers",
    "distinct_counterparties_30",
    "devices_90",
    # static
    "kyc_level",
    "city_tier",
)

MONOTONE: dict[str, int] = {
    # +1: risk (log-odds of bad) rises with the feature; -1: it falls. Only where the direction is known.
    "loan_to_income": 1,
    "income_monthly_mean": -1,
    "income_cv": 1,
    "months_with_income": -1,
    "regular_income_sources": -1,
    "regular_income_monthly": -1,
    "balance_mean": -1,
    "balance_mean_90": -1,
    "balance_min": -1,
    "days_negative_balance": 1,
    "days_near_zero_balance": 1,
    "buffer_days": -1,
    "spend_share_high_risk_mcc": 1,
    "account_age_days": -1,
    "prior_late_share": 1,
    "prior_unpaid": 1,
    "prior_max_days_late": 1,
    "max_tx_per_hour": 1,
    "max_night_tx": 1,
    "new_device_large_transfers": 1,
    "kyc_level": -1,
}

REASON_WORDING: dict[str, dict[str, str]] = {
    # label, and the sentence for a value below ("low") or above ("high") the best-scoring bin;
    # the points decide which one an applicant gets (credit.reasons)
    "principal_base": {
        "label": "Amount requested",
        "low": "Amount requested is small",
        "high": "Amount requested is high",
        "missing": "No information on amount requested",
    },
    "term_days": {
        "label": "Loan term",
        "low": "Loan term requested is short",
        "high": "Loan term requested is long",
        "missing": "No information on loan term",
    },
    "loan_to_income": {
        "label": "Amount requested relative to income",
        "low": "Amount requested is small relative to your income",
        "high": "Amount requested is high relative to your income",
        "missing": "No information on amount requested relative to income",
    },
    "income_monthly_mean": {
        "label": "Monthly income",
        "low": "Income received into the wallet is low",
        "high": "Income received into the wallet is high",
        "missing": "No information on monthly income",
    },
    "income_cv": {
        "label": "Income variability",
        "low": "Income is unusually steady",
        "high": "Income varies a lot from month to month",
        "missing": "No information on income variability",
    },
    "months_with_income": {
        "label": "Months with income",
        "low": "Too few months with income",
        "high": "Many months with income",
        "missing": "No information on months with income",
    },
    "regular_income_sources": {
        "label": "Regular income sources",
        "low": "No regular source of income detected",
        "high": "Many regular sources of income",
        "missing": "No information on regular income sources",
    },
    "regular_income_monthly": {
        "label": "Regular income",
        "low": "Regular income is low",
        "high": "Regular income is high",
        "missing": "No information on regular income",
    },
    "inflow_180": {
        "label": "Money received (6 months)",
        "low": "Money received in the last 6 months is low",
        "high": "Money received in the last 6 months is high",
        "missing": "No information on money received (6 months)",
    },
    "outflow_180": {
        "label": "Spending (6 months)",
        "low": "Spending in the last 6 months is low",
        "high": "Spending in the last 6 months is high",
        "missing": "No information on spending (6 months)",
    },
    "inflow_90": {
        "label": "Money received (3 months)",
        "low": "Money received in the last 3 months is low",
        "high": "Money received in the last 3 months is high",
        "missing": "No information on money received (3 months)",
    },
    "outflow_90": {
        "label": "Spending (3 months)",
        "low": "Spending in the last 3 months is low",
        "high": "Spending in the last 3 months is high",
        "missing": "No information on spending (3 months)",
    },
    "net_flow_180": {
        "label": "Net money flow (6 months)",
        "low": "More money going out than coming in",
        "high": "Much more money coming in than going out",
        "missing": "No information on net money flow (6 months)",
    },
    "inflow_outflow_ratio": {
        "label": "Money received relative to spending",
        "low": "Spending is high relative to money received",
        "high": "Money received is high relative to spending",
        "missing": "No information on money received relative to spending",
    },
    "balance_mean": {
        "label": "Average balance",
        "low": "Average balance is low",
        "high": "Average balance is high",
        "missing": "No information on average balance",
    },
    "balance_mean_90": {
        "label": "Average balance (3 months)",
        "low": "Average balance in the last 3 months is low",
        "high": "Average balance in the last 3 months is high",
        "missing": "No information on average balance (3 months)",
    },
    "balance_min": {
        "label": "Lowest balance",
        "low": "Balance fell too low",
        "high": "Lowest balance is high",
        "missing": "No information on lowest balance",
    },
    "balance_end": {
        "label": "Current balance",
        "low": "Current balance is low",
        "high": "Current balance is high",
        "missing": "No information on current balance",
    },
    "balance_trend": {
        "label": "Balance trend",
        "low": "Balance is falling",
        "high": "Balance is rising fast",
        "missing": "No information on balance trend",
    },
    "days_negative_balance": {
        "label": "Days with a negative balance",
        "low": "Few days with a negative balance",
        "high": "Too many days with a negative balance",
        "missing": "No information on days with a negative balance",
    },
    "days_near_zero_balance": {
        "label": "Days with a balance near zero",
        "low": "Few days with a balance near zero",
        "high": "Too many days with a balance near zero",
        "missing": "No information on days with a balance near zero",
    },
    "buffer_days": {
        "label": "Days of spending the balance covers",
        "low": "Balance covers too few days of usual spending",
        "high": "Balance covers many days of usual spending",
        "missing": "No information on days of spending the balance covers",
    },
    "spend_share_high_risk_mcc": {
        "label": "Share of spending at high-risk merchants",
        "low": "Low share of spending at high-risk merchants",
        "high": "High share of spending at high-risk merchants",
        "missing": "No information on share of spending at high-risk merchants",
    },
    "spend_share_medium_risk_mcc": {
        "label": "Share of spending at medium-risk merchants",
        "low": "Low share of spending at medium-risk merchants",
        "high": "High share of spending at medium-risk merchants",
        "missing": "No information on share of spending at medium-risk merchants",
    },
    "p2p_out_share": {
        "label": "Share of money sent to other people",
        "low": "Low share of money sent to other people",
        "high": "High share of money sent to other people",
        "missing": "No information on share of money sent to other people",
    },
    "p2p_in_share": {
        "label": "Share of money received from other people",
        "low": "Low share of money received from other people",
        "high": "High share of money received from other people",
        "missing": "No information on share of money received from other people",
    },
    "cross_border_share": {
        "label": "Share of cross-border payments",
        "low": "Low share of cross-border payments",
        "high": "High share of cross-border payments",
        "missing": "No information on share of cross-border payments",
    },
    "account_age_days": {
        "label": "Account age",
        "low": "Account is too new",
        "high": "Account is old",
        "missing": "No information on account age",
    },
    "days_since_last_tx": {
        "label": "Days since the last transaction",
        "low": "Very recent account activity",
        "high": "No recent account activity",
        "missing": "No information on days since the last transaction",
    },
    "days_since_last_inflow": {
        "label": "Days since money was last received",
        "low": "Money received very recently",
        "high": "No recent money received",
        "missing": "No information on days since money was last received",
    },
    "n_tx_90": {
        "label": "Transactions (3 months)",
        "low": "Too little account activity in the last 3 months",
        "high": "Very high account activity in the last 3 months",
        "missing": "No information on transactions (3 months)",
    },
    "n_tx_180": {
        "label": "Transactions (6 months)",
        "low": "Too little account activity in the last 6 months",
        "high": "Very high account activity in the last 6 months",
        "missing": "No information on transactions (6 months)",
    },
    "active_days_90": {
        "label": "Active days (3 months)",
        "low": "Too few active days in the last 3 months",
        "high": "Many active days in the last 3 months",
        "missing": "No information on active days (3 months)",
    },
    "prior_late_share": {
        "label": "Earlier loans repaid late",
        "low": "Few earlier loans repaid late",
        "high": "Earlier loans were repaid late",
        "missing": "No information on earlier loans repaid late",
    },
    "prior_unpaid": {
        "label": "Earlier loans unpaid",
        "low": "No earlier loans unpaid",
        "high": "Earlier loans are unpaid past their due date",
        "missing": "No information on earlier loans unpaid",
    },
    "prior_max_days_late": {
        "label": "Days past due on earlier loans",
        "low": "Few days past due on earlier loans",
        "high": "Many days past due on earlier loans",
        "missing": "No information on days past due on earlier loans",
    },
    "open_loans": {
        "label": "Loans currently open",
        "low": "Few other loans currently open",
        "high": "Other loans currently open",
        "missing": "No information on loans currently open",
    },
    "max_tx_per_hour": {
        "label": "Transactions in the busiest hour",
        "low": "Few transactions in the busiest hour",
        "high": "Unusual bursts of transactions",
        "missing": "No information on transactions in the busiest hour",
    },
    "max_night_tx": {
        "label": "Night-time transactions in one night",
        "low": "Little night-time activity",
        "high": "Unusual night-time activity",
        "missing": "No information on night-time transactions in one night",
    },
    "night_tx_share": {
        "label": "Share of night-time activity",
        "low": "Low share of night-time activity",
        "high": "High share of night-time activity",
        "missing": "No information on share of night-time activity",
    },
    "new_device_large_transfers": {
        "label": "Large transfers from a new device",
        "low": "No large transfers from a new device",
        "high": "Large transfers from a new device",
        "missing": "No information on large transfers from a new device",
    },
    "distinct_counterparties_30": {
        "label": "Different counterparties (30 days)",
        "low": "Few different counterparties in the last 30 days",
        "high": "Many different counterparties in the last 30 days",
        "missing": "No information on different counterparties (30 days)",
    },
    "devices_90": {
        "label": "Devices used (3 months)",
        "low": "Few devices used",
        "high": "Many different devices used",
        "missing": "No information on devices used (3 months)",
    },
    "kyc_level": {
        "label": "Identity verification level",
        "low": "Identity verification level is low",
        "high": "Identity verification level is high",
        "missing": "No information on identity verification level",
    },
    "city_tier": {
        "label": "City tier",
        "low": "City tier is low",
        "high": "City tier is high",
        "missing": "No information on city tier",
    },
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


@dataclass(frozen=True)
class FeatureConfig:
    """Windows and thresholds of the feature SQL."""

    window_days: int = 180
    short_window_days: int = 90
    near_zero_balance: float = 10.0
    large_transfer: float = 1000.0
    regular_min_months: int = 3
    night_end_hour: int = 5
    # below this many observed days the window features are NULL (scored as missing, by policy)
    min_history_days: int = 14
    # first day the ledger can hold rows for anyone; None: the earliest row of the ledger relation
    ledger_start: str | None = None


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a plain relation name: {name!r}")
    return name


def feature_sql(
    ledger: str = "ledger",
    applications: str = "applications",
    subjects: str = "subjects",
    config: FeatureConfig | None = None,
) -> str:
    """The SELECT that yields one row per application: keys, ``label`` and FEATURE_COLUMNS."""
    c = config or FeatureConfig()
    if c.short_window_days > c.window_days or c.window_days < 30:
        raise ValueError("need 30 <= short_window_days <= window_days")
    led, app, sub = _ident(ledger), _ident(applications), _ident(subjects)
    w, s = int(c.window_days), int(c.short_window_days)
    months = max(1, w // 30)
    nz, large = float(c.near_zero_balance), float(c.large_transfer)
    min_hist = float(c.min_history_days)
    start_sql = (
        f"CAST('{pd.Timestamp(c.ledger_start).isoformat()}' AS TIMESTAMP)"
        if c.ledger_start is not None
        else f"(SELECT min(CAST(occurred_at AS TIMESTAMP)) FROM {led})"
    )

    def gate(expr: str) -> str:
        return f"CASE WHEN a.enough_history THEN {expr} END"

    def long(expr: str) -> str:
        # a count or sum over the long window, per observed day, scaled to the whole window
        return gate(f"({expr}) * {w} / greatest(a.obs_days, 1.0)")

    def full(expr: str) -> str:
        # path statistics of a balance rebuilt from zero at the window start have no per-day
        # form: only measured when the history covers the whole window, missing otherwise
        return f"CASE WHEN a.history_days >= {w} THEN {expr} END"

    def short(expr: str) -> str:
        return gate(f"({expr}) * {s} / greatest(a.obs_short, 1.0)")

    buffer = (
        f"least(greatest(b.balance_end, 0) * {w} / greatest(a.obs_days, 1.0) / "
        f"nullif(coalesce(g.outflow_90, 0) / greatest(a.obs_short, 1.0), 0), 3650.0)"
    )
    return f"""
WITH start AS (SELECT {start_sql} AS ledger_start),
apps0 AS (
  SELECT p.loan_id, p.subject_id, CAST(p.applied_at AS TIMESTAMP) AS applied_at,
         CAST(p.applied_at AS TIMESTAMP) - INTERVAL {w} DAY AS win_start,
         p.principal_base, p.term_days, p.label,
         greatest(date_diff('second',
                            greatest((SELECT ledger_start FROM start),
                                     coalesce(CAST(s0.signup_date AS TIMESTAMP),
                                              (SELECT ledger_start FROM start))),
                            CAST(p.applied_at AS TIMESTAMP)) / 86400.0, 0.0) AS history_days
  FROM {app} p LEFT JOIN {sub} s0 ON s0.subject_id = p.subject_id
),
apps AS (
  SELECT *, least(history_days, {w}) AS obs_days, least(history_days, {s}) AS obs_short,
         greatest(1, least({months}, CAST(floor(history_days / 30) AS BIGINT))) AS obs_months,
         history_days >= {min_hist} AS enough_history
  FROM apps0
),
flows AS (
  SELECT subject_id, occurred_at, tx_type, direction, amount_base,
         coalesce(fee_base, 0.0) AS fee_base, mcc_risk, counterparty, device_id,
         FALSE AS received
  FROM {led}
  UNION ALL
  SELECT counterparty, occurred_at, tx_type, 'in', amount_base, 0.0, NULL, subject_id, NULL, TRUE
  FROM {led}
  WHERE tx_type = 'p2p_transfer' AND direction = 'out' AND counterparty IS NOT NULL
),
w AS (
  SELECT a.loan_id, f.occurred_at, f.tx_type, f.direction, f.amount_base, f.fee_base,
         f.mcc_risk, f.counterparty, f.device_id, f.received,
         date_diff('second', f.occurred_at, a.applied_at) / 86400.0 AS age_days,
         CASE WHEN f.tx_type = 'swap' THEN 0.0
              WHEN f.direction = 'in' THEN f.amount_base
              ELSE -f.amount_base - f.fee_base END AS signed,
         (f.direction = 'in' AND f.tx_type NOT IN ('loan_disbursement', 'swap')) AS is_income,
         (f.direction = 'out' AND f.tx_type <> 'swap') AS is_spend
  FROM apps a JOIN flows f
    ON f.subject_id = a.subject_id AND f.occurred_at < a.applied_at
   AND f.occurred_at >= a.win_start
),
agg AS (
  SELECT loan_id,
    count(*) AS n_tx_180,
    count(*) FILTER (WHERE age_days < {s}) AS n_tx_90,
    count(DISTINCT CAST(occurred_at AS DATE)) FILTER (WHERE age_days < {s}) AS active_days_90,
    min(age_days) AS days_since_last_tx,
    min(age_days) FILTER (WHERE direction = 'in') AS days_since_last_inflow,
    coalesce(sum(amount_base) FILTER (WHERE is_income), 0) AS inflow_180,
    coalesce(sum(amount_base + fee_base) FILTER (WHERE is_spend), 0) AS outflow_180,
    coalesce(sum(amount_base) FILTER (WHERE is_income AND age_days < {s}), 0) AS inflow_90,
    coalesce(sum(amount_base + fee_base) FILTER (WHERE is_spend AND age_days < {s}), 0)
      AS outflow_90,
    coalesce(sum(signed), 0) AS net_flow_180,
    coalesce(sum(amount_base) FILTER (WHERE tx_type = 'merchant_payment' AND is_spend), 0)
      AS merchant_spend,
    coalesce(sum(amount_base) FILTER (WHERE tx_type = 'merchant_payment' AND is_spend
                                          AND mcc_risk = 'high'), 0) AS spend_high,
    coalesce(sum(amount_base) FILTER (WHERE tx_type = 'merchant_payment' AND is_spend
                                          AND mcc_risk = 'medium'), 0) AS spend_medium,
    coalesce(sum(amount_base) FILTER (WHERE tx_type = 'p2p_transfer' AND is_spend), 0) AS p2p_out,
    coalesce(sum(amount_base) FILTER (WHERE tx_type = 'p2p_transfer' AND is_income), 0) AS p2p_in,
    coalesce(sum(amount_base) FILTER (WHERE tx_type = 'cross_border_payment' AND is_spend), 0)
      AS cross_border,
    count(*) FILTER (WHERE NOT received AND hour(occurred_at) < {int(c.night_end_hour)})
      AS n_night,
    count(*) FILTER (WHERE NOT received) AS n_own,
    count(DISTINCT counterparty) FILTER (WHERE age_days < {DISTINCT_DAYS}
                                           AND tx_type = 'p2p_transfer')
      AS distinct_counterparties_30,
    count(DISTINCT device_id) FILTER (WHERE age_days < {s}) AS devices_90
  FROM w GROUP BY loan_id
),
months AS (
  SELECT a.loan_id, m.i AS month_idx FROM apps a CROSS JOIN range(0, {months}) m(i)
  WHERE m.i < a.obs_months
),
minc AS (
  SELECT loan_id, CAST(floor(age_days / 30) AS BIGINT) AS month_idx, sum(amount_base) AS inc
  FROM w WHERE is_income AND age_days < {months * 30} GROUP BY ALL
),
inc AS (
  SELECT m.loan_id,
    avg(coalesce(inc, 0)) AS income_monthly_mean,
    stddev_pop(coalesce(inc, 0)) / nullif(avg(coalesce(inc, 0)), 0) AS income_cv,
    count(*) FILTER (WHERE inc > 0) AS months_with_income,
    median(coalesce(inc, 0)) AS inflow_monthly_median
  FROM months m LEFT JOIN minc USING (loan_id, month_idx) GROUP BY m.loan_id
),
src AS (
  SELECT w.loan_id, w.counterparty, sum(w.amount_base) AS amt,
         count(DISTINCT CAST(floor(w.age_days / 30) AS BIGINT)) AS n_months
  FROM w JOIN apps a ON a.loan_id = w.loan_id
  WHERE w.is_income AND w.counterparty IS NOT NULL AND w.age_days < 30 * a.obs_months
  GROUP BY ALL
),
reg AS (
  SELECT s.loan_id, count(*) AS regular_income_sources,
         sum(s.amt) / any_value(a.obs_months) AS regular_income_monthly
  FROM src s JOIN apps a ON a.loan_id = s.loan_id
  WHERE s.n_months >= {int(c.regular_min_months)} GROUP BY s.loan_id
),
daily AS (
  SELECT loan_id, least(CAST(floor(age_days) AS BIGINT), {w - 1}) AS d_before, sum(signed) AS net
  FROM w GROUP BY ALL
),
cal AS (SELECT a.loan_id, d.i AS day_idx FROM apps a CROSS JOIN range(0, {w}) d(i)),
bal AS (
  SELECT c.loan_id, c.day_idx,
    sum(coalesce(dl.net, 0)) OVER (PARTITION BY c.loan_id ORDER BY c.day_idx
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS bal
  FROM cal c LEFT JOIN daily dl ON dl.loan_id = c.loan_id AND dl.d_before = {w - 1} - c.day_idx
),
bal_obs AS (
  SELECT b.* FROM bal b JOIN apps a ON a.loan_id = b.loan_id
  WHERE b.day_idx >= {w} - ceil(a.obs_days)
),
bal_stats AS (
  SELECT loan_id,
    avg(bal) AS balance_mean,
    avg(bal) FILTER (WHERE day_idx >= {w - s}) AS balance_mean_90,
    min(bal) AS balance_min,
    arg_max(bal, day_idx) AS balance_end,
    coalesce(regr_slope(bal, day_idx), 0) AS balance_trend,
    count(*) FILTER (WHERE bal < 0) / count(*) AS negative_share,
    count(*) FILTER (WHERE bal < {nz}) / count(*) AS near_zero_share
  FROM bal_obs GROUP BY loan_id
),
hourly AS (
  SELECT loan_id, max(n) AS max_tx_per_hour FROM (
    SELECT loan_id, date_trunc('hour', occurred_at) AS h, count(*) AS n
    FROM w WHERE NOT received GROUP BY ALL) GROUP BY loan_id
),
night AS (
  SELECT loan_id, max(n) AS max_night_tx FROM (
    SELECT loan_id, CAST(occurred_at AS DATE) AS d, count(*) AS n
    FROM w WHERE NOT received AND hour(occurred_at) < {int(c.night_end_hour)}
    GROUP BY ALL) GROUP BY loan_id
),
devfirst AS (
  SELECT a.loan_id, l.device_id, min(l.occurred_at) AS first_seen
  FROM apps a JOIN {led} l
    ON l.subject_id = a.subject_id AND l.occurred_at < a.applied_at AND l.device_id IS NOT NULL
  GROUP BY ALL
),
devnew AS (
  SELECT d.loan_id, d.device_id, d.first_seen FROM devfirst d
  WHERE d.first_seen > (SELECT min(d2.first_seen) FROM devfirst d2 WHERE d2.loan_id = d.loan_id)
),
newdev AS (
  SELECT w.loan_id, count(*) AS new_device_large_transfers
  FROM w JOIN devnew n ON n.loan_id = w.loan_id AND n.device_id = w.device_id
  WHERE w.is_spend AND w.amount_base >= {large}
    AND w.tx_type IN ('p2p_transfer', 'cross_border_payment', 'withdrawal')
    AND w.occurred_at < n.first_seen + INTERVAL 1 DAY
  GROUP BY w.loan_id
),
prior AS (
  SELECT a.loan_id, a.applied_at, p.loan_id AS prior_id, p.principal_base AS prior_principal,
         CAST(p.due_date AS DATE) AS due_date,
         CAST(p.applied_at AS TIMESTAMP) >= a.win_start AS in_window
  FROM apps a JOIN {app} p
    ON p.subject_id = a.subject_id AND CAST(p.applied_at AS TIMESTAMP) < a.applied_at
   AND p.loan_id <> a.loan_id
),
rep AS (
  SELECT pr.loan_id, pr.prior_id, pr.prior_principal, pr.due_date, pr.applied_at, pr.in_window,
    coalesce(sum(l.amount_base) FILTER (WHERE CAST(l.occurred_at AS DATE) <= pr.due_date), 0)
      AS repaid_by_due,
    coalesce(sum(l.amount_base), 0) AS repaid,
    max(l.occurred_at) AS last_repayment
  FROM prior pr LEFT JOIN {led} l
    ON l.loan_id = pr.prior_id AND l.tx_type = 'loan_repayment' AND l.occurred_at < pr.applied_at
  GROUP BY ALL
),
prior_stats AS (
  SELECT loan_id,
    count(*) FILTER (WHERE in_window) AS prior_loans,
    count(*) FILTER (WHERE due_date >= CAST(applied_at AS DATE)) AS open_loans,
    avg(CASE WHEN repaid_by_due < 0.999 * prior_principal THEN 1.0 ELSE 0.0 END)
      FILTER (WHERE due_date < CAST(applied_at AS DATE)) AS prior_late_share,
    count(*) FILTER (WHERE due_date < CAST(applied_at AS DATE)
                       AND repaid < 0.999 * prior_principal) AS prior_unpaid,
    max(CASE WHEN repaid_by_due >= 0.999 * prior_principal THEN 0
             WHEN repaid >= 0.999 * prior_principal
               THEN date_diff('day', due_date, CAST(last_repayment AS DATE))
             ELSE date_diff('day', due_date, CAST(applied_at AS DATE)) END)
      FILTER (WHERE due_date < CAST(applied_at AS DATE)) AS prior_max_days_late
  FROM rep GROUP BY loan_id
)
SELECT a.loan_id, a.subject_id, a.applied_at, a.label,
  CAST(a.obs_days AS DOUBLE) AS observed_days,
  NOT a.enough_history OR a.obs_days < {s} AS short_history,
  CAST({gate("i.inflow_monthly_median")} AS DOUBLE) AS inflow_monthly_median,
  CAST(a.principal_base AS DOUBLE) AS principal_base,
  CAST(a.term_days AS DOUBLE) AS term_days,
  CAST({gate("a.principal_base / (coalesce(i.income_monthly_mean, 0) + 1.0)")} AS DOUBLE)
    AS loan_to_income,
  CAST({gate("i.income_monthly_mean")} AS DOUBLE) AS income_monthly_mean,
  CAST({gate("i.income_cv")} AS DOUBLE) AS income_cv,
  CAST({gate(f"coalesce(i.months_with_income, 0) * {months} / a.obs_months")} AS DOUBLE)
    AS months_with_income,
  CAST(CASE WHEN a.obs_months >= {int(c.regular_min_months)}
            THEN coalesce(r.regular_income_sources, 0) END AS DOUBLE) AS regular_income_sources,
  CAST(CASE WHEN a.obs_months >= {int(c.regular_min_months)}
            THEN coalesce(r.regular_income_monthly, 0) END AS DOUBLE) AS regular_income_monthly,
  CAST({long("coalesce(g.inflow_180, 0)")} AS DOUBLE) AS inflow_180,
  CAST({long("coalesce(g.outflow_180, 0)")} AS DOUBLE) AS outflow_180,
  CAST({short("coalesce(g.inflow_90, 0)")} AS DOUBLE) AS inflow_90,
  CAST({short("coalesce(g.outflow_90, 0)")} AS DOUBLE) AS outflow_90,
  CAST({long("coalesce(g.net_flow_180, 0)")} AS DOUBLE) AS net_flow_180,
  CAST({gate("coalesce(g.inflow_180, 0) / (coalesce(g.outflow_180, 0) + 1.0)")} AS DOUBLE)
    AS inflow_outflow_ratio,
  CAST({full("b.balance_mean")} AS DOUBLE) AS balance_mean,
  CAST({long("b.balance_mean_90")} AS DOUBLE) AS balance_mean_90,
  CAST({long("b.balance_min")} AS DOUBLE) AS balance_min,
  CAST({long("b.balance_end")} AS DOUBLE) AS balance_end,
  CAST({full("b.balance_trend")} AS DOUBLE) AS balance_trend,
  CAST({full(f"b.negative_share * {w}")} AS DOUBLE) AS days_negative_balance,
  CAST({full(f"b.near_zero_share * {w}")} AS DOUBLE) AS days_near_zero_balance,
  CAST({gate(buffer)} AS DOUBLE) AS buffer_days,
  CAST(g.spend_high / nullif(g.merchant_spend, 0) AS DOUBLE) AS spend_share_high_risk_mcc,
  CAST(g.spend_medium / nullif(g.merchant_spend, 0) AS DOUBLE) AS spend_share_medium_risk_mcc,
  CAST(g.p2p_out / nullif(g.outflow_180, 0) AS DOUBLE) AS p2p_out_share,
  CAST(g.p2p_in / nullif(g.inflow_180, 0) AS DOUBLE) AS p2p_in_share,
  CAST(g.cross_border / nullif(g.outflow_180, 0) AS DOUBLE) AS cross_border_share,
  CAST(date_diff('day', CAST(s.signup_date AS DATE), CAST(a.applied_at AS DATE)) AS DOUBLE)
    AS account_age_days,
  CAST(g.days_since_last_tx AS DOUBLE) AS days_since_last_tx,
  CAST(g.days_since_last_inflow AS DOUBLE) AS days_since_last_inflow,
  CAST({short("coalesce(g.n_tx_90, 0)")} AS DOUBLE) AS n_tx_90,
  CAST({long("coalesce(g.n_tx_180, 0)")} AS DOUBLE) AS n_tx_180,
  CAST({short("coalesce(g.active_days_90, 0)")} AS DOUBLE) AS active_days_90,
  CAST({long("coalesce(p.prior_loans, 0)")} AS DOUBLE) AS prior_loans,
  CAST(p.prior_late_share AS DOUBLE) AS prior_late_share,
  CAST(coalesce(p.prior_unpaid, 0) AS DOUBLE) AS prior_unpaid,
  CAST(coalesce(p.prior_max_days_late, 0) AS DOUBLE) AS prior_max_days_late,
  CAST(coalesce(p.open_loans, 0) AS DOUBLE) AS open_loans,
  CAST(coalesce(h.max_tx_per_hour, 0) AS DOUBLE) AS max_tx_per_hour,
  CAST(coalesce(n.max_night_tx, 0) AS DOUBLE) AS max_night_tx,
  CAST(g.n_night / nullif(g.n_own, 0) AS DOUBLE) AS night_tx_share,
  CAST({long("coalesce(nd.new_device_large_transfers, 0)")} AS DOUBLE)
    AS new_device_large_transfers,
  CAST(CASE WHEN a.history_days >= {DISTINCT_DAYS}
            THEN coalesce(g.distinct_counterparties_30, 0) END AS DOUBLE)
    AS distinct_counterparties_30,
  CAST(coalesce(g.devices_90, 0) AS DOUBLE) AS devices_90,
  CAST(s.kyc_level AS DOUBLE) AS kyc_level,
  CAST(s.city_tier AS DOUBLE) AS city_tier
FROM apps a
LEFT JOIN {sub} s ON s.subject_id = a.subject_id
LEFT JOIN agg g ON g.loan_id = a.loan_id
LEFT JOIN inc i ON i.loan_id = a.loan_id
LEFT JOIN reg r ON r.loan_id = a.loan_id
LEFT JOIN bal_stats b ON b.loan_id = a.loan_id
LEFT JOIN hourly h ON h.loan_id = a.loan_id
LEFT JOIN night n ON n.loan_id = a.loan_id
LEFT JOIN newdev nd ON nd.loan_id = a.loan_id
LEFT JOIN prior_stats p ON p.loan_id = a.loan_id
ORDER BY a.applied_at, a.loan_id
"""


def build_features(
    con: duckdb.DuckDBPyConnection,
    ledger: str = "ledger",
    applications: str = "applications",
    subjects: str = "subjects",
    config: FeatureConfig | None = None,
) -> pd.DataFrame:
    """One row per application: KEY_COLUMNS, label, CONTEXT_COLUMNS and FEATURE_COLUMNS."""
    return con.execute(feature_sql(ledger, applications, subjects, config)).df()
