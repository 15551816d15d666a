"""Risk-based pricing: PD -> master-scale grade -> APR and credit limit; merchant fee tiers.

APR = cost of funds + annualised PD x LGD + operating cost + capital ratio x hurdle rate + margin,
capped. Configuration lives in ``credit/pricing.yaml``.
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
    "credit_limit",
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
    return yaml.safe_load(Path(path).read_text())


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
    return 1.0 - np.power(1.0 - p, 365.0 / t)


def credit_limit(
    income_monthly: np.ndarray, grades: np.ndarray, config: dict[str, Any] | None = None
) -> np.ndarray:
    """Suggested limit: monthly income x a multiple by grade, floored, capped and rounded down."""
    cfg = (config or load_config())["credit_limit"]
    mult = np.array([cfg["income_multiple"].get(g, 0.0) for g in grades], dtype=float)
    inc = np.asarray(income_monthly, dtype=float)
    lim = np.where(np.isnan(inc) | (inc <= 0), cfg["no_income_limit"] * (mult > 0), inc * mult)
    lim = np.where(mult > 0, np.clip(lim, cfg["min_limit"], cfg["max_limit"]), 0.0)
    r = float(cfg["rounding"])
    return np.floor(lim / r) * r


def price_loans(scores: pd.DataFrame, config: dict[str, Any] | None = None) -> pd.DataFrame:
    """Rows of ``credit.pricing`` from rows of ``credit.scores`` (needs pd and term_days; uses
    income_monthly_mean for the limit when present)."""
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
    declined = np.isin(g, list(a.get("decline_grades", []))) | (raw > a["cap"])
    income = (
        scores["income_monthly_mean"].to_numpy(dtype=float)
        if ("income_monthly_mean" in scores)
        else np.full(len(scores), np.nan)
    )
    limit = np.where(declined, 0.0, credit_limit(income, g, cfg))
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
            "apr": np.minimum(raw, a["cap"]),
            "apr_capped": raw > a["cap"],
            "decision": np.where(declined, "decline", "approve"),
            "credit_limit": limit,
        }
    )
    return out.loc[:, list(PRICING_COLUMNS)]


def merchant_risk_score(
    merchants: pd.DataFrame, config: dict[str, Any] | None = None
) -> np.ndarray:
    cfg = (config or load_config())["merchant_fees"]
    w = cfg["risk_weights"]
    mcc = merchants.get("mcc_risk", pd.Series("low", index=merchants.index)).fillna("medium")
    return (
        w["chargeback_ratio"] * merchants["chargeback_ratio"].fillna(0).to_numpy(float)
        + w["refund_ratio"] * merchants["refund_ratio"].fillna(0).to_numpy(float)
        + mcc.map(cfg["mcc_risk_points"]).fillna(cfg["mcc_risk_points"]["medium"]).to_numpy(float)
    )


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
