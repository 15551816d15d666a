"""Risk-based pricing: PD -> master-scale grade -> APR and credit limit; merchant fee tiers.

APR = cost of funds + annualised PD x LGD + operating cost + capital ratio x hurdle rate + margin,
capped. Configuration lives in ``credit/pricing.yaml``.

Credit limit = min(grade limit, affordable limit, max_limit), rounded down, where over a term of
``t`` days (``t / 30`` months) and a monthly income ``I``:

* grade limit = I x income_multiple[grade] x t / 30 (falls as PD rises);
* affordable limit = max_debt_service x I x (t / 30) / (1 + APR x t / 365): the repayments, principal
  and interest, take at most that share of income each month.

``I`` is the declared income (``income_monthly``) where there is one; otherwise the median monthly
inflow over the applicant's whole observed months (``inflow_monthly_median``, a proxy), otherwise
the mean monthly inflow (``income_monthly_mean``); ``income_basis`` says which, row by row. An
applicant is declined for every rule that fails, listed in ``decline_reason``: ``grade`` (a decline
grade), ``apr_cap`` (the uncapped APR is above the cap), ``affordability`` (the affordable limit is
below ``min_limit``, including no income and no inflow at all).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

DEFAULT_CONFIG = Path(__file__).with_name("pricing.yaml")

PRICING_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "subject_id",
    "score",
    "pd",
    "grade",
    "term_days",
    "annualised_pd",
    "cost_of_funds",
    "expected_loss",
    "operating_cost",
    "capital_charge",
    "margin",
    "apr_uncapped",
    "apr",
    "apr_capped",
    "decision",
    "decline_reason",
    "income_used",
    "income_basis",
    "grade_limit",
    "affordable_limit",
    "credit_limit",
)
INCOME_SOURCES: tuple[tuple[str, str], ...] = (
    ("income_monthly", "declared income"),
    ("inflow_monthly_median", "median monthly inflow over observed months (proxy: no income)"),
    ("income_monthly_mean", "mean monthly inflow (proxy: no income)"),
)
MERCHANT_PRICING_COLUMNS: tuple[str, ...] = (
    "merchant_id",
    "monthly_volume",
    "volume_band",
    "risk_score",
    "risk_tier",
    "base_bps",
    "risk_addon_bps",
    "list_fee_bps",
    "promotion",
    "effective_fee_bps",
    "fixed_fee",
)


@lru_cache(maxsize=8)
def _load(path: str) -> dict[str, Any]:
    return dict(yaml.safe_load(Path(path).read_text()))


def load_config(path: str | Path | None = None) -> dict[str, Any]:
    return _load(str(path or DEFAULT_CONFIG))


def grade(pd_: np.ndarray | pd.Series, config: dict[str, Any] | None = None) -> np.ndarray:
    """Master-scale grade: the first grade whose PD bound is >= the PD."""
    cfg = config or load_config()
    scale = cfg["master_scale"]
    names = np.array(list(scale), dtype=object)
    bounds = np.array(list(scale.values()), dtype=float)
    i = np.searchsorted(bounds, np.asarray(pd_, dtype=float), side="left")
    return names[np.minimum(i, len(names) - 1)]


def annualised_pd(pd_: np.ndarray, term_days: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(pd_, dtype=float), 0.0, 1.0 - 1e-12)
    t = np.maximum(np.asarray(term_days, dtype=float), 1.0)
    return np.asarray(1.0 - np.power(1.0 - p, 365.0 / t), dtype=np.float64)


def credit_limit(
    income_monthly: np.ndarray,
    grades: np.ndarray,
    config: dict[str, Any] | None = None,
    term_days: np.ndarray | None = None,
    apr: np.ndarray | None = None,
) -> np.ndarray:
    """Suggested limit: min(grade limit, affordable limit, max_limit) rounded down; 0 where the
    grade lends nothing or the limit is below ``min_limit`` (term 30 days and APR 0 by default)."""
    grade_lim, afford = _limits(income_monthly, grades, config, term_days, apr)
    cfg = (config or load_config())["credit_limit"]
    lim = np.minimum(np.minimum(grade_lim, afford), cfg["max_limit"])
    r = float(cfg["rounding"])
    lim = np.floor(lim / r) * r
    return np.where(lim >= cfg["min_limit"], lim, 0.0)


def _limits(
    income_monthly: np.ndarray,
    grades: np.ndarray,
    config: dict[str, Any] | None,
    term_days: np.ndarray | None,
    apr: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    cfg = (config or load_config())["credit_limit"]
    inc = np.nan_to_num(np.asarray(income_monthly, dtype=float), nan=0.0)
    inc = np.maximum(inc, 0.0)
    n = len(inc)
    months = (np.full(n, 30.0) if term_days is None else np.asarray(term_days, float)) / 30.0
    rate = np.zeros(n) if apr is None else np.asarray(apr, dtype=float)
    mult = np.array([cfg["income_multiple"].get(g, 0.0) for g in grades], dtype=float)
    grade_lim = inc * mult * months
    afford = cfg["max_debt_service"] * inc * months / (1.0 + rate * months * 30.0 / 365.0)
    return grade_lim, afford


def affordability_income(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Monthly income per row and its basis: the first of INCOME_SOURCES present and positive."""
    n = len(frame)
    inc = np.full(n, np.nan)
    basis = np.full(n, "none: no income and no inflow observed", dtype=object)
    for col, why in INCOME_SOURCES:
        if col not in frame:
            continue
        v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        take = np.isnan(inc) & np.isfinite(v) & (v > 0)
        inc[take] = v[take]
        basis[take] = why
    return inc, basis


def price_loans(scores: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    """Rows of ``credit.pricing`` from rows of ``credit.scores`` (needs pd and term_days; income
    from the columns of INCOME_SOURCES that are present, see the module docstring)."""
    cfg = config or load_config()
    a = cfg["apr"]
    p = scores["pd"].to_numpy(dtype=float)
    term = (
        scores["term_days"].to_numpy(dtype=float)
        if "term_days" in scores
        else np.full(len(scores), 30.0)
    )
    g = grade(p, cfg)
    apd = annualised_pd(p, term)
    el = apd * a["lgd"]
    cap_charge = a["capital_ratio"] * a["hurdle_rate"]
    raw = a["cost_of_funds"] + el + a["operating_cost"] + cap_charge + a["margin"]
    apr = np.minimum(raw, a["cap"])
    income, basis = affordability_income(scores)
    grade_lim, afford = _limits(income, g, cfg, term, apr)
    limit = credit_limit(income, g, cfg, term, apr)
    reasons = {
        "grade": np.isin(g, list(a.get("decline_grades", []))),
        "apr_cap": raw > a["cap"],
        "affordability": afford < cfg["credit_limit"]["min_limit"],
    }
    why = np.array(
        [";".join(k for k, v in reasons.items() if v[i]) or None for i in range(len(p))],
        dtype=object,
    )
    declined = why != None  # noqa: E711
    n = len(scores)
    out = pd.DataFrame(
        {
            "loan_id": scores["loan_id"].to_numpy() if "loan_id" in scores else np.arange(n),
            "subject_id": scores["subject_id"].to_numpy() if "subject_id" in scores else None,
            "score": scores["score"].to_numpy() if "score" in scores else None,
            "pd": p,
            "grade": g,
            "term_days": term.astype(np.int64),
            "annualised_pd": apd,
            "cost_of_funds": np.full(n, a["cost_of_funds"]),
            "expected_loss": el,
            "operating_cost": np.full(n, a["operating_cost"]),
            "capital_charge": np.full(n, cap_charge),
            "margin": np.full(n, a["margin"]),
            "apr_uncapped": raw,
            "apr": apr,
            "apr_capped": raw > a["cap"],
            "decision": np.where(declined, "decline", "approve"),
            "decline_reason": why,
            "income_used": income,
            "income_basis": basis,
            "grade_limit": grade_lim,
            "affordable_limit": afford,
            "credit_limit": np.where(declined, 0.0, limit),
        }
    )
    return out.loc[:, list(PRICING_COLUMNS)]


def price_applications(
    scores: pd.DataFrame, features: pd.DataFrame, config: dict[str, Any] | None = None
) -> pd.DataFrame:
    """``price_loans`` of scores joined (on loan_id) to the term and income columns of the
    features: the call the pipeline makes."""
    cols = ["loan_id", "term_days"] + [c for c, _ in INCOME_SOURCES if c in features]
    extra = features.loc[:, cols]
    joined = scores.drop(columns=[c for c in cols[1:] if c in scores]).merge(
        extra, on="loan_id", how="left"
    )
    return price_loans(joined, config)


def decide(
    pd_: np.ndarray, term_days: np.ndarray | float = 30.0, config: dict[str, Any] | None = None
) -> np.ndarray:
    """The approval rule on risk alone (grade and APR cap, before affordability): True = approve."""
    cfg = config or load_config()
    a = cfg["apr"]
    p = np.asarray(pd_, dtype=float)
    t = np.broadcast_to(np.asarray(term_days, dtype=float), p.shape)
    raw = (
        a["cost_of_funds"]
        + annualised_pd(p, t) * a["lgd"]
        + a["operating_cost"]
        + a["capital_ratio"] * a["hurdle_rate"]
        + a["margin"]
    )
    ok = ~np.isin(grade(p, cfg), list(a.get("decline_grades", []))) & (raw <= a["cap"])
    return np.asarray(ok, dtype=bool)


def merchant_risk_score(
    merchants: pd.DataFrame, config: dict[str, Any] | None = None
) -> np.ndarray:
    cfg = (config or load_config())["merchant_fees"]
    w = cfg["risk_weights"]
    mcc = merchants.get("mcc_risk", pd.Series("low", index=merchants.index)).fillna("medium")
    risk = (
        w["chargeback_ratio"] * merchants["chargeback_ratio"].fillna(0).to_numpy(float)
        + w["refund_ratio"] * merchants["refund_ratio"].fillna(0).to_numpy(float)
        + mcc.map(cfg["mcc_risk_points"]).fillna(cfg["mcc_risk_points"]["medium"]).to_numpy(float)
    )
    return np.asarray(risk, dtype=np.float64)


def price_merchants(merchants: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    """Rows of ``credit.merchant_pricing``: fee by volume band plus a risk add-on (monotone in
    risk), then promotions from the config. Needs merchant_id, monthly_volume, chargeback_ratio,
    refund_ratio, mcc_risk; months_active enables promotions."""
    cfg = (config or load_config())["merchant_fees"]
    vol = merchants["monthly_volume"].fillna(0).to_numpy(float)
    bands = sorted(cfg["volume_bands"], key=lambda b: b["min_volume"])
    b_idx = np.searchsorted([b["min_volume"] for b in bands], vol, side="right") - 1
    b_idx = np.clip(b_idx, 0, len(bands) - 1)
    band = np.array([b["name"] for b in bands], dtype=object)[b_idx]
    base = np.array([b["base_bps"] for b in bands], dtype=float)[b_idx]
    risk = merchant_risk_score(merchants, {"merchant_fees": cfg})
    tiers = sorted(cfg["risk_tiers"], key=lambda t: t["min_score"])
    t_idx = np.clip(
        np.searchsorted([t["min_score"] for t in tiers], risk, side="right") - 1, 0, len(tiers) - 1
    )
    tier = np.array([t["name"] for t in tiers], dtype=object)[t_idx]
    addon = np.maximum.accumulate(np.array([t["addon_bps"] for t in tiers], dtype=float))[t_idx]
    list_fee = np.minimum(base + addon, cfg["max_fee_bps"])
    months = (
        merchants["months_active"].to_numpy(float)
        if "months_active" in merchants
        else (np.full(len(merchants), np.inf))
    )
    promo = np.full(len(merchants), None, dtype=object)
    mult = np.ones(len(merchants))
    for rule in cfg.get("promotions", []):
        ok = (promo == None) & (months <= rule.get("max_months_active", np.inf))  # noqa: E711
        ok &= vol <= rule.get("max_monthly_volume", np.inf)
        if "risk_tiers" in rule:
            ok &= np.isin(tier, rule["risk_tiers"])
        promo[ok] = rule["name"]
        mult[ok] = rule["fee_multiplier"]
    out = pd.DataFrame(
        {
            "merchant_id": merchants["merchant_id"].to_numpy(),
            "monthly_volume": vol,
            "volume_band": band,
            "risk_score": risk,
            "risk_tier": tier,
            "base_bps": base,
            "risk_addon_bps": addon,
            "list_fee_bps": list_fee,
            "promotion": promo,
            "effective_fee_bps": list_fee * mult,
            "fixed_fee": np.where(mult == 0, 0.0, cfg["fixed_fee"]),
        }
    )
    return out.loc[:, list(MERCHANT_PRICING_COLUMNS)]
