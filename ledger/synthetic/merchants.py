"""Acquiring merchants: category (MCC), city, size, onboarding date and the chargeback and refund
rates that rise with category risk, small size and newness.

Every category has at least one merchant when there are at least as many merchants as categories.
``by_cat`` lets a transaction day draw, per category, only merchants onboarded by that day,
larger merchants more often.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from faker import Faker

from ledger import contract
from ledger.synthetic.arrays import Bools, Floats, Ints
from ledger.synthetic.config import GeneratorConfig
from ledger.synthetic.reference import CN_CITIES, FOREIGN_CITIES, MCCS

_SIZE_WEIGHT: Floats = np.array([1.0, 3.0, 10.0, 40.0])  # draw weight by size tier


@dataclass
class CategoryPool:
    """Merchants of one category sorted by onboarding day, with cumulative draw weights."""

    merchant: Ints
    onboard_day: Ints
    cum_weight: Floats


@dataclass
class Merchants:
    table: pa.Table
    ids: pa.Array
    by_cat: dict[int, CategoryPool]  # MCC index -> pool; categories without merchants absent


@dataclass
class _Attributes:
    cat: Ints  # MCC index
    foreign: Bools
    city: list[str]
    size: Ints  # index into MERCHANT_SIZE_TIERS
    onboard_day: Ints  # day index (negative = before the window)
    chargeback: Floats
    refund: Floats


def _categories(rng: np.random.Generator, m: int) -> Ints:
    base_w = np.array([x[4] for x in MCCS]) + np.array([0.03 if x[2] == 2 else 0.0 for x in MCCS])
    cat = rng.choice(len(MCCS), size=m, p=base_w / base_w.sum())
    if m >= len(MCCS):
        cat[: len(MCCS)] = np.arange(len(MCCS))
        cat = cat[rng.permutation(m)]
    return cat


def _attributes(cfg: GeneratorConfig, rng: np.random.Generator) -> _Attributes:
    m = cfg.n_merchants
    cat = _categories(rng, m)
    foreign = rng.random(m) < 0.1
    cn_w = np.array([c[3] for c in CN_CITIES])
    city_cn = rng.choice(len(CN_CITIES), size=m, p=cn_w / cn_w.sum())
    city_fo = rng.integers(0, len(FOREIGN_CITIES), m)
    city = np.where(
        foreign,
        np.array([c[0] for c in FOREIGN_CITIES], dtype=object)[city_fo],
        np.array([c[0] for c in CN_CITIES], dtype=object)[city_cn],
    )
    size = rng.choice(4, size=m, p=[0.4, 0.35, 0.18, 0.07])
    new = rng.random(m) < 0.15
    onboard_day = np.where(new, rng.integers(0, max(1, cfg.days), m), -rng.integers(1, 5 * 365, m))
    risk = np.array([MCCS[c][2] for c in cat])
    size_mult = np.array([1.4, 1.1, 0.9, 0.7])[size]
    cb_base = np.array([0.002, 0.006, 0.02])[risk]
    chargeback = np.round(
        cb_base * size_mult * np.where(new, 1.5, 1.0) * rng.lognormal(0, 0.5, m), 5
    )
    rf_base = np.array([0.02, 0.04, 0.03])[risk]
    refund = np.round(rf_base * size_mult * rng.lognormal(0, 0.4, m), 5)
    return _Attributes(cat, foreign, city.tolist(), size, onboard_day, chargeback, refund)


def _names(cfg: GeneratorConfig, foreign: Bools) -> list[str]:
    fz = Faker("zh_CN")
    fz.seed_instance(cfg.seed + 2)
    fe = Faker("en")
    fe.seed_instance(cfg.seed + 3)
    return [(fe.company() if foreign[i] else fz.company()) for i in range(len(foreign))]


def _by_category(a: _Attributes) -> dict[int, CategoryPool]:
    weight = _SIZE_WEIGHT[a.size]
    by_cat = {}
    for c in range(len(MCCS)):
        idx = np.nonzero(a.cat == c)[0]
        if len(idx) == 0:
            continue
        o = idx[np.argsort(a.onboard_day[idx], kind="stable")]
        by_cat[c] = CategoryPool(o, a.onboard_day[o], np.cumsum(weight[o]))
    return by_cat


def make_merchants(cfg: GeneratorConfig, rng: np.random.Generator) -> Merchants:
    """``cfg.n_merchants`` merchants with their landing table (contract ``merchants`` columns)."""
    a = _attributes(cfg, rng)
    ids = pa.array([f"M{i + 1:05d}" for i in range(len(a.cat))], pa.string())
    table = pa.table(
        {
            "merchant_id": ids,
            "merchant_name": pa.array(_names(cfg, a.foreign), pa.string()),
            "mcc": pa.array([MCCS[c][0] for c in a.cat], pa.string()),
            "category": pa.array([MCCS[c][1] for c in a.cat], pa.string()),
            "city": pa.array(a.city, pa.string()),
            "size_tier": pa.array([contract.MERCHANT_SIZE_TIERS[s] for s in a.size], pa.string()),
            "chargeback_rate": pa.array(a.chargeback, pa.float64()),
            "refund_rate": pa.array(a.refund, pa.float64()),
            "onboarded_date": pa.array([cfg.day(int(d)) for d in a.onboard_day], pa.date32()),
        }
    )
    return Merchants(table, ids, _by_category(a))
