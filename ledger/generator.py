"""Deterministic synthetic wallet-ledger generator.

Writes a landing folder that follows :mod:`ledger.contract` (reference entities as one
Parquet file each, one transaction file per day) and a ``truth/`` folder beside it with what the
pipeline must never see: each user's latent creditworthiness, each loan's true default probability
and outcome, and the list of deliberately dirty transaction rows.

Everything is driven by one seed: numpy ``default_rng`` streams per stage (and per day) plus seeded
Faker instances, so the same seed and config give byte-identical files.

The latent creditworthiness ``z`` (standard normal, higher = better) drives the ledger behaviour
that a model can learn from: income regularity and level, balances, the share of risky merchant
categories (gambling, quasi-cash, wire), night-time activity and velocity bursts, cross-border
payments, device and IP changes, loan appetite and, through the true PD, loan repayment.

Transactions are produced one day at a time (balances carried in a per-user state), so memory stays
bounded by one day of rows.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from faker import Faker

from ledger import contract as schema
from privacy.identifiers import (
    bech32_encode,
    resident_id_check_digit,
    to_eip55,
    tron_address_from_bytes,
)

__all__ = [
    "DIRTY_KINDS",
    "GenerationSummary",
    "GeneratorConfig",
    "generate",
    "transactions_file_format",
]

DIRTY_KINDS: tuple[str, ...] = (
    "duplicate_txn_id",
    "amount_not_positive",
    "unknown_asset",
    "malformed_timestamp",
    "future_timestamp",
    "missing_user_id",
    "unparseable_amount",
)
"""Kinds of deliberate defects in transaction rows (``truth/dirty_rows.parquet``)."""


@dataclass(frozen=True)
class GeneratorConfig:
    users: int = 5000
    days: int = 180
    seed: int = 7
    dirty_rate: float = 0.005
    start: date = date(2026, 1, 1)
    merchants: int | None = None  # default: users // 20, at least 20

    @property
    def n_merchants(self) -> int:
        return self.merchants if self.merchants is not None else max(20, self.users // 20)


@dataclass
class GenerationSummary:
    files: list[Path]  # landing files written
    rows: dict[str, int]  # rows per entity
    dirty_rows: int
    seconds: float
    truth_files: list[Path] = field(default_factory=list)


def transactions_file_format(day_index: int) -> str:
    """Format of the transactions file for 0-based day ``day_index``: every 7th day CSV, every 11th
    day JSON Lines (CSV wins when both apply), otherwise Parquet."""
    n = day_index + 1
    if n % 7 == 0:
        return "csv"
    if n % 11 == 0:
        return "jsonl"
    return "parquet"


# =============================================================================================
# Static reference tables
# =============================================================================================

# (city, tier, 6-digit administrative division code used in resident IDs, population weight)
CN_CITIES: tuple[tuple[str, int, str, float], ...] = (
    ("Beijing", 1, "110105", 6.0),
    ("Shanghai", 1, "310115", 6.5),
    ("Guangzhou", 1, "440106", 5.0),
    ("Shenzhen", 1, "440305", 5.0),
    ("Chengdu", 2, "510107", 4.0),
    ("Hangzhou", 2, "330106", 3.5),
    ("Chongqing", 2, "500103", 4.0),
    ("Wuhan", 2, "420106", 3.5),
    ("Xi'an", 2, "610113", 3.0),
    ("Suzhou", 2, "320505", 3.0),
    ("Tianjin", 2, "120101", 3.0),
    ("Nanjing", 2, "320106", 3.0),
    ("Changsha", 2, "430104", 2.5),
    ("Zhengzhou", 2, "410105", 2.5),
    ("Dongguan", 2, "441900", 2.0),
    ("Qingdao", 2, "370202", 2.0),
    ("Xiamen", 3, "350203", 1.5),
    ("Fuzhou", 3, "350102", 1.5),
    ("Harbin", 3, "230102", 1.5),
    ("Jinan", 3, "370102", 1.5),
    ("Nanning", 3, "450102", 1.2),
    ("Kunming", 3, "530102", 1.2),
    ("Guiyang", 3, "520102", 1.0),
    ("Taiyuan", 3, "140105", 1.0),
    ("Lanzhou", 4, "620102", 0.8),
    ("Luoyang", 4, "410302", 0.8),
    ("Ganzhou", 4, "360702", 0.8),
    ("Mianyang", 4, "510703", 0.7),
    ("Zhuzhou", 4, "430202", 0.6),
    ("Yan'an", 5, "610602", 0.4),
    ("Tianshui", 5, "620502", 0.4),
    ("Shangluo", 5, "611002", 0.3),
)
# (city, tier, ISO2 country, phone country code, weight)
FOREIGN_CITIES: tuple[tuple[str, int, str, str, float], ...] = (
    ("Singapore", 1, "SG", "65", 3.0),
    ("Hong Kong", 1, "HK", "852", 3.0),
    ("London", 1, "GB", "44", 2.0),
    ("New York", 1, "US", "1", 2.0),
    ("Sydney", 2, "AU", "61", 1.0),
    ("Toronto", 2, "CA", "1", 1.0),
    ("Kuala Lumpur", 2, "MY", "60", 1.0),
    ("Dubai", 2, "AE", "971", 1.0),
)

# (mcc, category, risk level 0 low / 1 medium / 2 high, median ticket in USD, base frequency weight)
MCCS: tuple[tuple[str, str, int, float, float], ...] = (
    ("5411", "grocery", 0, 25.0, 0.22),
    ("5812", "restaurants", 0, 18.0, 0.22),
    ("5541", "fuel", 0, 45.0, 0.06),
    ("4121", "taxi_rideshare", 0, 12.0, 0.10),
    ("5311", "department_stores", 0, 60.0, 0.05),
    ("5912", "pharmacy", 0, 20.0, 0.04),
    ("4814", "telecom", 0, 20.0, 0.04),
    ("5691", "clothing", 0, 55.0, 0.04),
    ("8299", "education", 0, 120.0, 0.01),
    ("5732", "electronics", 1, 250.0, 0.03),
    ("4722", "travel_agencies", 1, 350.0, 0.02),
    ("7011", "hotels", 1, 150.0, 0.02),
    ("5815", "digital_goods", 1, 12.0, 0.10),
    ("5999", "misc_retail", 1, 30.0, 0.05),
    ("5993", "tobacco", 1, 15.0, 0.02),
    ("5944", "jewelry", 1, 400.0, 0.005),
    ("7995", "gambling", 2, 80.0, 0.0),
    ("6051", "quasi_cash_crypto", 2, 150.0, 0.0),
    ("4829", "money_transfer", 2, 200.0, 0.0),
)
MCC_RISK_LEVELS: dict[str, str] = {m[0]: ("low", "medium", "high")[m[2]] for m in MCCS}
_RISKY_MCC_WEIGHTS = {"7995": 0.5, "6051": 0.35, "4829": 0.15}

XB_COUNTRIES_NORMAL = ("HK", "SG", "JP", "KR", "US", "TH", "MY", "GB", "AE", "VN", "AU", "TW")
XB_COUNTRIES_RISKY = ("KH", "MM", "PH", "LA")

ASSET_IDX = {a: i for i, a in enumerate(schema.ASSETS)}
USDT, USDC, ETH, BTC, TRX, CNHC, PTS = (
    ASSET_IDX[a] for a in ("USDT", "USDC", "ETH", "BTC", "TRX", "CNHC", "PTS")
)
ASSET_DECIMALS = np.array([2, 2, 6, 8, 2, 2, 0])
UNKNOWN_ASSETS = ("DOGEX", "SHIBZ", "USDX")
ASSET_POOL = pa.array(list(schema.ASSETS) + list(UNKNOWN_ASSETS), pa.string())

CH_ETH, CH_TRON, CH_BTC = 0, 1, 2
CHAIN_NAMES = ("ETH", "TRON", "BTC")
assert CHAIN_NAMES == schema.CHAINS
WITHDRAWAL_FIXED_FEE_USD = np.array([2.5, 1.0, 3.0])  # by chain

TX = {t: i for i, t in enumerate(schema.TX_TYPES)}
TX_POOL = pa.array(list(schema.TX_TYPES), pa.string())
DIR_POOL = pa.array(["in", "out"], pa.string())
TX_DIR_CODE = np.array([0 if schema.TX_DIRECTION[t] == "in" else 1 for t in schema.TX_TYPES])

SWAP_PAIRS = np.array(
    [
        (USDT, ETH),
        (USDT, BTC),
        (ETH, USDT),
        (BTC, USDT),
        (USDT, TRX),
        (TRX, USDT),
        (USDT, CNHC),
        (CNHC, USDT),
        (PTS, USDT),
        (USDC, USDT),
        (USDT, USDC),
    ]
)

MALFORMED_TS = ("{y}-13-45T99:00:00Z", "yesterday", "{y}-02-30T10:61:00Z", "not a timestamp")
UNPARSEABLE_AMOUNTS = ("12,5O", "1.2.3", "7..5", "twelve", "3,4l", "--5")

LOAN_TERMS = np.array([30, 60, 90])
LOAN_INTEREST_PER_30D = 0.02
TARGET_BAD_RATE = 0.15
PD_SLOPE_Z = 1.6
PD_SLOPE_SIZE = 0.4

# Transactions table as written to Parquet (amount/fee double; occurred_at an ISO-8601 string).
TXN_ARROW_SCHEMA = pa.schema(
    [
        pa.field(c.name, pa.float64() if c.name in ("amount", "fee") else pa.string())
        for c in schema.TRANSACTIONS.columns
    ]
)
TXN_CSV_SCHEMA = pa.schema([pa.field(c.name, pa.string()) for c in schema.TRANSACTIONS.columns])

_EPOCH = datetime(1970, 1, 1)


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _epoch_seconds(d: date) -> int:
    return int((datetime(d.year, d.month, d.day) - _EPOCH).total_seconds())


def _uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n)]


_CN_V4_FIRST = np.array(
    [1, 14, 27, 36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 112, 113, 114, 115, 116, 117, 119, 120]
    + [121, 122, 123, 124, 125, 180, 182, 183, 202, 210, 211, 218, 219, 220, 221, 222, 223]
)
_OTHER_V4_FIRST = np.array(
    [3, 8, 13, 18, 23, 31, 45, 52, 64, 66, 71, 78, 81, 86, 94, 103, 151, 175]
)


def _ip_strings(rng: np.random.Generator, is_cn: np.ndarray, v6_share: float = 0.1) -> list[str]:
    n = len(is_cn)
    v6 = rng.random(n) < v6_share
    first = np.where(
        is_cn,
        _CN_V4_FIRST[rng.integers(0, len(_CN_V4_FIRST), n)],
        _OTHER_V4_FIRST[rng.integers(0, len(_OTHER_V4_FIRST), n)],
    )
    octs = rng.integers(1, 255, size=(n, 3))
    groups = rng.integers(0, 65536, size=(n, 6))
    v6_head = np.where(is_cn, np.where(rng.random(n) < 0.5, "240e", "2408"), "2a02")
    out: list[str] = []
    for i in range(n):
        if v6[i]:
            tail = ":".join(f"{g:x}" for g in groups[i])
            out.append(f"{v6_head[i]}:{tail}:{groups[i][0] ^ groups[i][5]:x}")
        else:
            o = octs[i]
            out.append(f"{first[i]}.{o[0]}.{o[1]}.{o[2]}")
    return out


# =============================================================================================
# Users
# =============================================================================================


@dataclass
class _Users:
    n: int
    ids: pa.Array
    z: np.ndarray
    is_cn: np.ndarray
    tier: np.ndarray
    income: np.ndarray  # monthly, USD
    regular: np.ndarray
    payday: np.ndarray
    activity: np.ndarray
    risky_share: np.ndarray
    night_share: np.ndarray
    burst_p: np.ndarray
    xb_rate: np.ndarray
    dev_p: np.ndarray
    ip_p: np.ndarray
    kyc: np.ndarray
    devices: pa.Array
    ips: pa.Array
    friend_rank: np.ndarray  # user index by social rank
    rank_of: np.ndarray
    table: pa.Table


def _make_users(cfg: GeneratorConfig, rng: np.random.Generator) -> _Users:
    n = cfg.users
    is_cn = rng.random(n) < 0.7
    z = rng.standard_normal(n)

    # Home city: CN users from the Chinese table; en users mostly abroad, some in tier-1 cities.
    cn_w = np.array([c[3] for c in CN_CITIES])
    cn_city = rng.choice(len(CN_CITIES), size=n, p=cn_w / cn_w.sum())
    fo_w = np.array([c[4] for c in FOREIGN_CITIES])
    fo_city = rng.choice(len(FOREIGN_CITIES), size=n, p=fo_w / fo_w.sum())
    expat = (~is_cn) & (rng.random(n) < 0.3)
    cn_city = np.where(expat, rng.integers(0, 4, n), cn_city)
    abroad = (~is_cn) & ~expat
    home_city = np.where(
        abroad,
        np.array([c[0] for c in FOREIGN_CITIES], dtype=object)[fo_city],
        np.array([c[0] for c in CN_CITIES], dtype=object)[cn_city],
    )
    tier = np.where(
        abroad,
        np.array([c[1] for c in FOREIGN_CITIES])[fo_city],
        np.array([c[1] for c in CN_CITIES])[cn_city],
    )

    # Demographics. Mild (realistic) association of z with age and city tier.
    age_years = 18 + 57 * rng.beta(2.0, 3.2, n)
    z = z + 0.12 * np.clip((age_years - 40) / 15, -1.5, 1.5) + 0.08 * (3 - tier) / 2
    z = (z - z.mean()) / z.std()
    start_ord = cfg.start.toordinal()
    dob_ord = (start_ord - np.floor(age_years * 365.25)).astype(np.int64)
    dob = [date.fromordinal(int(o)) for o in dob_ord]
    male = rng.random(n) < 0.5
    gender = np.where(male, "M", "F")

    # Names and e-mails with seeded Faker instances (names follow gender).
    fz = Faker("zh_CN")
    fz.seed_instance(cfg.seed)
    fe = Faker("en")
    fe.seed_instance(cfg.seed + 1)
    names: list[str] = []
    firsts: list[str] = []
    lasts: list[str] = []
    for i in range(n):
        f = fz if is_cn[i] else fe
        first = f.first_name_male() if male[i] else f.first_name_female()
        last = f.last_name()
        firsts.append(first)
        lasts.append(last)
        names.append(f"{last}{first}" if is_cn[i] else f"{first} {last}")
    zh_person = next(p for p in fz.providers if type(p).__module__.endswith("person.zh_CN"))
    rom_first = np.array(zh_person.first_romanized_names, dtype=object)
    rom_last = np.array(zh_person.last_romanized_names, dtype=object)
    e_kind = rng.random(n)
    e_num = rng.integers(0, 1000, n)
    qq = rng.integers(10_000_000, 3_000_000_000, n)
    rf = rom_first[rng.integers(0, len(rom_first), n)]
    rl = rom_last[rng.integers(0, len(rom_last), n)]
    cn_domains = ("163.com", "126.com", "qq.com", "sina.com", "foxmail.com", "aliyun.com")
    en_domains = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me")
    dom_i = rng.integers(0, 6, n)
    emails: list[str | None] = []
    for i in range(n):
        if e_kind[i] < 0.08:
            emails.append(None)
        elif is_cn[i]:
            if e_kind[i] < 0.45:
                emails.append(f"{qq[i]}@qq.com")
            else:
                emails.append(f"{rl[i].lower()}{rf[i].lower()}{e_num[i]}@{cn_domains[dom_i[i]]}")
        else:
            local = f"{firsts[i]}.{lasts[i]}".lower().replace(" ", "").replace("'", "")
            suffix = str(e_num[i] % 100) if e_kind[i] < 0.6 else ""
            emails.append(f"{local}{suffix}@{en_domains[dom_i[i]]}")

    # Mobile numbers.
    cn_prefix = np.array(
        [130, 131, 132, 133, 135, 136, 137, 138, 139, 150, 151, 152, 155, 156, 157, 158, 159]
        + [166, 176, 177, 180, 181, 182, 183, 185, 186, 187, 188, 189, 198, 199]
    )
    pre = cn_prefix[rng.integers(0, len(cn_prefix), n)]
    body = rng.integers(0, 100_000_000, n)
    m_style = rng.random(n)
    mob_rest = rng.integers(0, 10**9, n)
    cc_of_city = np.array([c[3] for c in FOREIGN_CITIES], dtype=object)[fo_city]
    mobiles: list[str] = []
    for i in range(n):
        b = f"{body[i]:08d}"
        if is_cn[i] or (expat[i] and m_style[i] < 0.5):
            if m_style[i] < 0.5:
                mobiles.append(f"+86 {pre[i]} {b[:4]} {b[4:]}")
            elif m_style[i] < 0.8:
                mobiles.append(f"{pre[i]}{b}")
            elif m_style[i] < 0.9:
                mobiles.append(f"+86{pre[i]}{b}")
            else:
                mobiles.append(f"{pre[i]}-{b[:4]}-{b[4:]}")
        else:
            cc = cc_of_city[i]
            r = mob_rest[i]
            if cc == "1":
                nat = f"{200 + r % 800}{200 + (r // 1000) % 800}{(r // 10**6) % 10000:04d}"
            elif cc == "44":
                nat = f"7{r % 10**9:09d}"
            elif cc in ("65", "852"):
                nat = f"{8 + r % 2}{(r // 10) % 10**7:07d}"
            elif cc == "61":
                nat = f"4{r % 10**8:08d}"
            else:
                nat = f"5{r % 10**8:08d}"
            mobiles.append(f"+{cc}{nat}")

    # PRC resident IDs for CN users (region of the home city, birth date, seq. parity = gender).
    region = np.array([c[2] for c in CN_CITIES], dtype=object)[cn_city]
    seq = rng.integers(0, 500, n) * 2 + np.where(male, 1, 0)  # 3 digits, odd for men
    rids: list[str | None] = []
    for i in range(n):
        if is_cn[i]:
            first17 = f"{region[i]}{dob[i]:%Y%m%d}{seq[i]:03d}"
            rids.append(first17 + resident_id_check_digit(first17))
        else:
            rids.append(None)

    devices = _uuid4_strings(rng, n)
    ips = _ip_strings(rng, is_cn)

    # Latent-driven behaviour, each a noisy function of z.
    def noisy(scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, n)

    kyc_score = z + noisy(1.0)
    kyc = np.digitize(kyc_score, [-1.8, -0.6, 0.8])
    signup = start_ord - rng.integers(1, 3 * 365, n)
    income = np.exp(np.log(900.0) + 0.35 * z + 0.12 * (3 - tier) + noisy(0.45))
    income = np.where(abroad, income * 2.0, income)
    regular = rng.random(n) < _sigmoid(0.6 + 1.4 * z + noisy(0.5))
    payday = rng.integers(1, 29, n)
    activity = rng.gamma(4.0, 0.25, n)
    risky_share = _sigmoid(-3.0 - 0.9 * z + noisy(0.6))
    night_share = _sigmoid(-2.6 - 0.7 * z + noisy(0.5))
    burst_p = _sigmoid(-4.6 - 0.9 * z + noisy(0.5))
    xb_rate = 0.02 * np.exp(-0.45 * z + noisy(0.4)) * np.where(is_cn, 1.0, 2.0)
    dev_p = _sigmoid(-4.4 - 0.8 * z + noisy(0.4))
    ip_p = _sigmoid(-3.0 - 0.6 * z + noisy(0.4))

    # Social graph with homophily: friends are close in a noisy ordering by z.
    friend_rank = np.argsort(z + noisy(0.8), kind="stable")
    rank_of = np.empty(n, dtype=np.int64)
    rank_of[friend_rank] = np.arange(n)

    ids = pa.array([f"U{i + 1:07d}" for i in range(n)], pa.string())
    table = pa.table(
        {
            "user_id": ids,
            "full_name": pa.array(names, pa.string()),
            "mobile": pa.array(mobiles, pa.string()),
            "email": pa.array(emails, pa.string()),
            "resident_id": pa.array(rids, pa.string()),
            "date_of_birth": pa.array(dob, pa.date32()),
            "gender": pa.array(gender.tolist(), pa.string()),
            "home_city": pa.array(home_city.tolist(), pa.string()),
            "city_tier": pa.array(tier.astype(np.int32)),
            "device_id": pa.array(devices, pa.string()),
            "ip_address": pa.array(ips, pa.string()),
            "kyc_level": pa.array(kyc.astype(np.int32)),
            "signup_date": pa.array([date.fromordinal(int(o)) for o in signup], pa.date32()),
        }
    )
    return _Users(
        n=n,
        ids=ids,
        z=z,
        is_cn=is_cn,
        tier=tier,
        income=income,
        regular=regular,
        payday=payday,
        activity=activity,
        risky_share=risky_share,
        night_share=night_share,
        burst_p=burst_p,
        xb_rate=xb_rate,
        dev_p=dev_p,
        ip_p=ip_p,
        kyc=kyc,
        devices=pa.array(devices, pa.string()),
        ips=pa.array(ips, pa.string()),
        friend_rank=friend_rank,
        rank_of=rank_of,
        table=table,
    )


# =============================================================================================
# Wallets and external addresses
# =============================================================================================


def _address(chain: int, raw: bytes) -> str:
    if chain == CH_ETH:
        return to_eip55("0x" + raw.hex())
    if chain == CH_TRON:
        return tron_address_from_bytes(raw)
    return bech32_encode("bc", 0, raw)


def _make_wallets(
    cfg: GeneratorConfig, users: _Users, rng: np.random.Generator
) -> tuple[np.ndarray, pa.Table, pa.Array]:
    """has_chain (n x 3 bool), wallets table, wallet-id pool indexed by user * 3 + chain."""
    n = users.n
    k = rng.choice([1, 2, 3], size=n, p=[0.5, 0.35, 0.15])
    # Chain preference: CN users favour TRON (USDT-TRC20), en users ETH.
    pref = np.where(users.is_cn[:, None], [[0.35, 0.5, 0.15]], [[0.55, 0.2, 0.25]])
    keys = (
        -np.log(rng.random((n, 3))) / pref
    )  # exponential race = weighted order without replacement
    order = np.argsort(keys, axis=1)
    has = np.zeros((n, 3), dtype=bool)
    for j in range(3):
        sel = k > j
        has[np.nonzero(sel)[0], order[sel, j]] = True
    raw = rng.bytes(20 * 3 * n)
    signup = np.array(
        users.table.column("signup_date").to_numpy(zero_copy_only=False), dtype="datetime64[D]"
    )
    start_np = np.datetime64(cfg.start, "D")
    span = (start_np - signup).astype(np.int64)
    created_off = (rng.random((n, 3)) * span[:, None]).astype(np.int64)
    wid_pool = [f"W{u + 1:07d}-{CHAIN_NAMES[c]}" for u in range(n) for c in range(3)]
    rows_u, rows_c = np.nonzero(has)
    wallet_ids, user_ids, chains, addrs, created = [], [], [], [], []
    for u, c in zip(rows_u.tolist(), rows_c.tolist(), strict=True):
        off = (u * 3 + c) * 20
        wallet_ids.append(wid_pool[u * 3 + c])
        user_ids.append(f"U{u + 1:07d}")
        chains.append(CHAIN_NAMES[c])
        addrs.append(_address(c, raw[off : off + 20]))
        created.append(signup[u] + created_off[u, c])
    table = pa.table(
        {
            "wallet_id": pa.array(wallet_ids, pa.string()),
            "user_id": pa.array(user_ids, pa.string()),
            "chain": pa.array(chains, pa.string()),
            "address": pa.array(addrs, pa.string()),
            "created_date": pa.array(np.array(created, dtype="datetime64[D]"), pa.date32()),
        }
    )
    return has, table, pa.array(wid_pool, pa.string())


def _external_pools(rng: np.random.Generator, per_chain: int = 400) -> list[pa.Array]:
    pools = []
    for c in range(3):
        raw = rng.bytes(20 * per_chain)
        pools.append(
            pa.array(
                [_address(c, raw[20 * i : 20 * i + 20]) for i in range(per_chain)], pa.string()
            )
        )
    return pools


# =============================================================================================
# Merchants and prices
# =============================================================================================


@dataclass
class _Merchants:
    table: pa.Table
    ids: pa.Array
    cat: np.ndarray  # MCC index per merchant
    onboard_day: np.ndarray  # day index (negative = before window)
    by_cat: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # idx sorted by onboard, day, cumw


def _make_merchants(cfg: GeneratorConfig, rng: np.random.Generator) -> _Merchants:
    m = cfg.n_merchants
    base_w = np.array([x[4] for x in MCCS]) + np.array([0.03 if x[2] == 2 else 0.0 for x in MCCS])
    cat = rng.choice(len(MCCS), size=m, p=base_w / base_w.sum())
    # Make sure every category has at least one merchant when there is room.
    if m >= len(MCCS):
        cat[: len(MCCS)] = np.arange(len(MCCS))
        cat = cat[rng.permutation(m)]
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
    cb_base = np.array([0.002, 0.006, 0.02])[risk]
    rf_base = np.array([0.02, 0.04, 0.03])[risk]
    size_mult = np.array([1.4, 1.1, 0.9, 0.7])[size]
    chargeback = np.round(
        cb_base * size_mult * np.where(new, 1.5, 1.0) * rng.lognormal(0, 0.5, m), 5
    )
    refund = np.round(rf_base * size_mult * rng.lognormal(0, 0.4, m), 5)
    fz = Faker("zh_CN")
    fz.seed_instance(cfg.seed + 2)
    fe = Faker("en")
    fe.seed_instance(cfg.seed + 3)
    names = [(fe.company() if foreign[i] else fz.company()) for i in range(m)]
    ids = pa.array([f"M{i + 1:05d}" for i in range(m)], pa.string())
    table = pa.table(
        {
            "merchant_id": ids,
            "merchant_name": pa.array(names, pa.string()),
            "mcc": pa.array([MCCS[c][0] for c in cat], pa.string()),
            "category": pa.array([MCCS[c][1] for c in cat], pa.string()),
            "city": pa.array(city.tolist(), pa.string()),
            "size_tier": pa.array([schema.MERCHANT_SIZE_TIERS[s] for s in size], pa.string()),
            "chargeback_rate": pa.array(chargeback, pa.float64()),
            "refund_rate": pa.array(refund, pa.float64()),
            "onboarded_date": pa.array(
                [cfg.start + timedelta(days=int(d)) for d in onboard_day], pa.date32()
            ),
        }
    )
    weight = np.array([1.0, 3.0, 10.0, 40.0])[size]
    by_cat = {}
    for c in range(len(MCCS)):
        idx = np.nonzero(cat == c)[0]
        if len(idx) == 0:
            continue
        o = idx[np.argsort(onboard_day[idx], kind="stable")]
        by_cat[c] = (o, onboard_day[o], np.cumsum(weight[o]))
    return _Merchants(table, ids, cat, onboard_day, by_cat)


def _make_prices(cfg: GeneratorConfig, rng: np.random.Generator) -> tuple[np.ndarray, pa.Table]:
    d = cfg.days
    p = np.zeros((d, len(schema.ASSETS)))
    p[:, USDT] = 1.0 + rng.normal(0, 0.0005, d)
    p[:, USDC] = 1.0 + rng.normal(0, 0.0003, d)
    for a, s0, vol in ((ETH, 3000.0, 0.035), (BTC, 90000.0, 0.025), (TRX, 0.25, 0.03)):
        steps = rng.normal(-0.5 * vol**2, vol, d)
        steps[0] = 0.0
        p[:, a] = s0 * np.exp(np.cumsum(steps))
    p[:, CNHC] = (1 / 7.2) * (1.0 + rng.normal(0, 0.001, d))
    p[:, PTS] = 0.01
    p = np.round(p, 6)
    dates = [cfg.start + timedelta(days=i) for i in range(d)]
    ids, pdates, assets, vals = [], [], [], []
    for i, dt in enumerate(dates):
        for a, name in enumerate(schema.ASSETS):
            ids.append(f"{name}|{dt.isoformat()}")
            pdates.append(dt)
            assets.append(name)
            vals.append(float(p[i, a]))
    table = pa.table(
        {
            "price_id": pa.array(ids, pa.string()),
            "price_date": pa.array(pdates, pa.date32()),
            "asset": pa.array(assets, pa.string()),
            "price_base": pa.array(vals, pa.float64()),
        }
    )
    return p, table


# =============================================================================================
# Loans
# =============================================================================================


@dataclass
class _LoanEvents:
    table: pa.Table
    truth: pa.Table
    # day -> list of (user, loan index, tx_type code, asset code, amount, second of day)
    by_day: dict[int, list[tuple[int, int, int, int, float, int]]]
    ids: pa.Array


def _make_loans(
    cfg: GeneratorConfig, users: _Users, prices: np.ndarray, rng: np.random.Generator
) -> _LoanEvents:
    days = cfg.days
    n = users.n
    min_hist = min(60, max(7, days // 4))
    rate = 0.006 * np.exp(-0.5 * users.z) * (users.kyc >= 1)  # applications per day
    lti = rng.uniform(0.15, 0.9, n)  # typical loan-to-monthly-income ratio per user

    def logit_pd(z: np.ndarray, lti_: np.ndarray, a: float) -> np.ndarray:
        return a - PD_SLOPE_Z * z + PD_SLOPE_SIZE * np.log(lti_ / 0.5)

    # Calibrate the intercept on the application-weighted population of potential borrowers.
    w = rate / max(rate.sum(), 1e-12)
    lo, hi = -10.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float((w * _sigmoid(logit_pd(users.z, lti, mid))).sum()) > TARGET_BAD_RATE:
            hi = mid
        else:
            lo = mid
    intercept = (lo + hi) / 2

    loan_user: list[int] = []
    applied_day: list[int] = []
    applied_sec: list[int] = []
    principal: list[float] = []
    asset: list[int] = []
    term: list[int] = []
    true_pd: list[float] = []
    outcome: list[str] = []
    repaid_day: list[int | None] = []
    by_day: dict[int, list[tuple[int, int, int, int, float, int]]] = defaultdict(list)
    borrowers = np.nonzero(rate > 0)[0]
    for u in borrowers.tolist():
        t = min_hist + rng.exponential(1.0 / rate[u])
        while t < days:
            d0 = int(t)
            term_d = int(LOAN_TERMS[rng.choice(3, p=[0.5, 0.3, 0.2])])
            due = d0 + term_d
            if due + 30 >= days and rng.random() > 0.25:  # keep most outcomes observable
                break
            size = lti[u] * rng.lognormal(0, 0.25)
            usd = float(np.clip(round(users.income[u] * size / 10) * 10, 50, 5000))
            a = CNHC if (users.is_cn[u] and rng.random() < 0.2) else USDT
            units = round(usd / prices[d0, a], 2)
            pd_ = float(
                _sigmoid(logit_pd(np.array(users.z[u]), np.array(usd / users.income[u]), intercept))
            )
            bad = rng.random() < pd_
            if bad:
                kind = "default" if rng.random() < 0.55 + 0.15 * (users.z[u] < -1) else "late_30"
            else:
                kind = "on_time"
            li = len(loan_user)
            sec = int(rng.integers(8 * 3600, 22 * 3600))
            loan_user.append(u)
            applied_day.append(d0)
            applied_sec.append(sec)
            principal.append(units)
            asset.append(a)
            term.append(term_d)
            true_pd.append(pd_)
            by_day[d0].append((u, li, TX["loan_disbursement"], a, units, sec))
            owed = round(units * (1 + LOAN_INTEREST_PER_30D * term_d / 30), 2)
            pays: list[tuple[int, float]] = []
            if kind == "on_time":
                k = int(rng.choice([1, 2, 3], p=[0.6, 0.25, 0.15]))
                last = due - int(rng.integers(0, 6))
                pay_days = sorted(
                    {max(d0 + 1, last - int(x)) for x in rng.integers(0, term_d, k - 1)}
                )
                pay_days = [x for x in pay_days if x < last] + [last]
                parts = rng.dirichlet(np.ones(len(pay_days))) * owed
                pays = [(dd, float(p)) for dd, p in zip(pay_days, parts, strict=True)]
                done = last
            elif kind == "late_30":
                done = due + int(rng.integers(30, 61))
                if rng.random() < 0.3:
                    part = owed * rng.uniform(0.1, 0.4)
                    pays = [(d0 + int(rng.integers(1, term_d)), part), (done, owed - part)]
                else:
                    pays = [(done, owed)]
            else:
                done = -1
                if rng.random() < 0.5:
                    share = rng.uniform(0.2, 0.6)
                    k = int(rng.integers(1, 3))
                    pdays = d0 + rng.integers(1, term_d + 20, k)
                    pays = [(int(dd), owed * share / k) for dd in sorted(pdays.tolist())]
            for dd, amt in pays:
                amt = round(amt, 2)
                if dd < days and amt > 0:
                    by_day[dd].append(
                        (
                            u,
                            li,
                            TX["loan_repayment"],
                            a,
                            amt,
                            int(rng.integers(7 * 3600, 23 * 3600)),
                        )
                    )
            observable = due + 30 < days
            outcome.append(kind if observable else "open")
            repaid_day.append(done if done >= 0 else None)
            if kind == "default":
                break  # defaulters get no further loans
            t = max(done, due) + 1 + rng.exponential(1.0 / rate[u])

    nl = len(loan_user)
    ids = pa.array([f"L{i + 1:07d}" for i in range(nl)], pa.string())
    start_s = _epoch_seconds(cfg.start)
    applied_ts = np.array(
        [start_s + d * 86400 + s for d, s in zip(applied_day, applied_sec, strict=True)],
        dtype="int64",
    )
    uidx = np.array(loan_user, dtype=np.int64)
    table = pa.table(
        {
            "loan_id": ids,
            "user_id": users.ids.take(pa.array(uidx)) if nl else pa.array([], pa.string()),
            "applied_at": pa.array(applied_ts * 1_000_000, pa.timestamp("us")),
            "principal": pa.array(principal, pa.float64()),
            "asset": pa.array([schema.ASSETS[a] for a in asset], pa.string()),
            "term_days": pa.array(term, pa.int32()),
            "due_date": pa.array(
                [cfg.start + timedelta(days=d + t) for d, t in zip(applied_day, term, strict=True)],
                pa.date32(),
            ),
        }
    )
    truth = pa.table(
        {
            "loan_id": ids,
            "user_id": table.column("user_id"),
            "true_pd": pa.array(true_pd, pa.float64()),
            "outcome": pa.array(outcome, pa.string()),
            "latent_z": pa.array(users.z[uidx] if nl else [], pa.float64()),
            "repaid_date": pa.array(
                [None if r is None else cfg.start + timedelta(days=r) for r in repaid_day],
                pa.date32(),
            ),
        }
    )
    return _LoanEvents(table, truth, dict(by_day), ids)


# =============================================================================================
# Transactions, one day at a time
# =============================================================================================


@dataclass
class _Block:
    """Columns of a batch of transactions before they become strings."""

    user: np.ndarray
    tx: np.ndarray
    asset: np.ndarray
    usd: np.ndarray  # amount in USD (converted to units at the end unless units given)
    sec: np.ndarray
    chain: np.ndarray | None = None  # wallet chain (top-up / withdrawal)
    cp_user: np.ndarray | None = None  # p2p counterparty
    merchant: np.ndarray | None = None
    loan: np.ndarray | None = None
    to_asset: np.ndarray | None = None
    country: np.ndarray | None = None
    units: np.ndarray | None = None  # amount already in asset units (loans)

    def __len__(self) -> int:
        return len(self.user)


_BLOCK_FIELDS = tuple(f for f in _Block.__dataclass_fields__)


def _times(rng: np.random.Generator, users: _Users, u: np.ndarray) -> np.ndarray:
    n = len(u)
    night = rng.random(n) < users.night_share[u]
    day_mode = rng.random(n) < 0.45
    h = np.where(day_mode, rng.normal(12.5, 2.2, n), rng.normal(19.5, 2.0, n))
    h = np.clip(h, 6.0, 23.99)
    h = np.where(night, rng.uniform(0.0, 6.0, n), h)
    return np.minimum((h * 3600).astype(np.int64), 86399)


class _DayGen:
    def __init__(
        self,
        cfg: GeneratorConfig,
        users: _Users,
        has_chain: np.ndarray,
        wallet_pool: pa.Array,
        ext_pools: list[pa.Array],
        merchants: _Merchants,
        prices: np.ndarray,
        loans: _LoanEvents,
    ) -> None:
        self.cfg = cfg
        self.u = users
        self.has_chain = has_chain
        self.n_chain = has_chain.sum(axis=1)
        self.wallet_pool = wallet_pool
        self.ext_pool = pa.concat_arrays(ext_pools)
        self.ext_n = len(ext_pools[0])
        self.m = merchants
        self.prices = prices
        self.loans = loans
        init_rng = np.random.default_rng([cfg.seed, 99])
        self.balance = users.income * init_rng.uniform(0.2, 1.5, users.n) * np.exp(0.3 * users.z)
        self.spend_ratio = np.clip(
            0.92 - 0.12 * users.z + init_rng.normal(0, 0.08, users.n), 0.6, 1.3
        )
        mcc_w = np.array([x[4] for x in MCCS])
        self.safe_p = mcc_w / mcc_w.sum()
        self.risky_cats = np.array([i for i, x in enumerate(MCCS) if x[0] in _RISKY_MCC_WEIGHTS])
        rw = np.array([_RISKY_MCC_WEIGHTS[MCCS[i][0]] for i in self.risky_cats])
        self.risky_p = rw / rw.sum()
        self.median = np.array([x[3] for x in MCCS])
        e_ticket = float((self.safe_p * self.median).sum()) * math.exp(0.8**2 / 2)
        self.merchant_rate = 0.62
        # Merchant spending takes ~70% of income; the rest goes to p2p, cross-border, withdrawals.
        self.ticket_scale = (
            0.7 * users.income * self.spend_ratio / (30 * self.merchant_rate * e_ticket)
        )
        self.ticket_scale /= np.maximum(users.activity, 0.2)
        self.country_pool = pa.array(list(XB_COUNTRIES_NORMAL + XB_COUNTRIES_RISKY), pa.string())

    # -- building blocks ------------------------------------------------------------------
    def _pick_merchants(self, rng: np.random.Generator, cats: np.ndarray, day: int) -> np.ndarray:
        out = np.empty(len(cats), dtype=np.int64)
        for c in np.unique(cats):
            sel = np.nonzero(cats == c)[0]
            c_use = int(c)
            if c_use not in self.m.by_cat:
                c_use = next(iter(self.m.by_cat))
            idx, onb, cumw = self.m.by_cat[c_use]
            avail = max(1, int(np.searchsorted(onb, day, side="right")))
            r = rng.random(len(sel)) * cumw[avail - 1]
            out[sel] = idx[np.minimum(np.searchsorted(cumw, r, side="right"), avail - 1)]
        return out

    def _wallet_chain(self, rng: np.random.Generator, u: np.ndarray) -> np.ndarray:
        """A random wallet (chain) the user holds."""
        k = (rng.random(len(u)) * self.n_chain[u]).astype(np.int64)
        cs = np.cumsum(self.has_chain[u], axis=1)
        return np.argmax(cs > k[:, None], axis=1)

    def _chain_asset(
        self, rng: np.random.Generator, u: np.ndarray, chain: np.ndarray
    ) -> np.ndarray:
        r = rng.random(len(u))
        cn = self.u.is_cn[u]
        eth_asset = np.where(
            r < 0.4,
            USDT,
            np.where(r < 0.65, USDC, np.where(r < 0.85, ETH, np.where(cn, CNHC, USDC))),
        )
        tron_asset = np.where(r < 0.85, USDT, TRX)
        return np.where(chain == CH_ETH, eth_asset, np.where(chain == CH_TRON, tron_asset, BTC))

    def _spend_asset(self, rng: np.random.Generator, u: np.ndarray) -> np.ndarray:
        r = rng.random(len(u))
        cn = self.u.is_cn[u]
        return np.where(
            r < 0.04,
            PTS,
            np.where(
                cn,
                np.where(r < 0.62, USDT, np.where(r < 0.95, CNHC, USDC)),
                np.where(r < 0.5, USDT, USDC),
            ),
        ).astype(np.int64)

    # -- one day ---------------------------------------------------------------------------
    def day(self, d: int, rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
        """Clean transactions of day ``d`` sorted by time, and their tx-type codes."""
        U = self.u
        n = U.n
        cur = self.cfg.start + timedelta(days=d)
        weekend = cur.weekday() >= 5
        act = U.activity
        burst = rng.random(n) < U.burst_p
        burst_mult = np.where(burst, rng.integers(4, 9, n), 1)
        burst_t0 = rng.integers(0, 86400 - 3600, n)
        blocks: list[_Block] = []

        # Inflows: salary-like top-ups on pay day, irregular top-ups otherwise.
        pay = U.regular & (U.payday == cur.day)
        irr_rate = np.where(U.regular, 0.012, 0.1) * np.clip(act, 0.5, 2.0)
        n_irr = rng.poisson(irr_rate)
        tu_u = np.concatenate([np.nonzero(pay)[0], np.repeat(np.arange(n), n_irr)])
        n_pay = int(pay.sum())
        tu_usd = np.empty(len(tu_u))
        tu_usd[:n_pay] = U.income[tu_u[:n_pay]] * rng.normal(1.0, 0.03, n_pay)
        irr_u = tu_u[n_pay:]
        tu_usd[n_pay:] = np.where(
            U.regular[irr_u],
            U.income[irr_u] * rng.lognormal(-1.8, 0.7, len(irr_u)),
            U.income[irr_u] * 0.33 * rng.lognormal(-0.4, 0.9, len(irr_u)),
        )
        tu_sec = _times(rng, U, tu_u)
        tu_sec[:n_pay] = rng.integers(9 * 3600, 11 * 3600, n_pay)
        tu_chain = self._wallet_chain(rng, tu_u)
        blocks.append(
            _Block(
                tu_u,
                np.full(len(tu_u), TX["top_up"]),
                self._chain_asset(rng, tu_u, tu_chain),
                tu_usd,
                tu_sec,
                chain=tu_chain,
            )
        )
        inflow = np.bincount(tu_u, weights=tu_usd, minlength=n)

        # Loans scheduled for today.
        ev = self.loans.by_day.get(d, [])
        if ev:
            arr = np.array(ev, dtype=float)
            lu = arr[:, 0].astype(np.int64)
            la = arr[:, 3].astype(np.int64)
            lunits = arr[:, 4]
            lusd = lunits * self.prices[d, la]
            ltx = arr[:, 2].astype(np.int64)
            blocks.append(
                _Block(
                    lu,
                    ltx,
                    la,
                    lusd,
                    arr[:, 5].astype(np.int64),
                    loan=arr[:, 1].astype(np.int64),
                    units=lunits,
                )
            )
            disb = ltx == TX["loan_disbursement"]
            inflow += np.bincount(lu[disb], weights=lusd[disb], minlength=n)
            loan_out: np.ndarray = np.bincount(lu[~disb], weights=lusd[~disb], minlength=n)
        else:
            loan_out = np.zeros(n)

        avail = np.maximum(self.balance + inflow, 0.0)

        # Discretionary outflows.
        mrate = self.merchant_rate * act * (1.2 if weekend else 1.0) * burst_mult
        mu = np.repeat(np.arange(n), rng.poisson(mrate))
        risky = rng.random(len(mu)) < U.risky_share[mu]
        cats = np.where(
            risky,
            self.risky_cats[rng.choice(len(self.risky_cats), size=len(mu), p=self.risky_p)],
            rng.choice(len(MCCS), size=len(mu), p=self.safe_p),
        )
        m_usd = self.median[cats] * rng.lognormal(0, 0.8, len(mu)) * self.ticket_scale[mu]
        m_block = _Block(
            mu,
            np.full(len(mu), TX["merchant_payment"]),
            self._spend_asset(rng, mu),
            m_usd,
            _times(rng, U, mu),
            merchant=self._pick_merchants(rng, cats, d),
        )
        pu = np.repeat(np.arange(n), rng.poisson(0.17 * act * np.sqrt(burst_mult)))
        offs = rng.integers(1, 21, len(pu)) * np.where(rng.random(len(pu)) < 0.5, -1, 1)
        fr = np.clip(U.rank_of[pu] + offs, 0, n - 1)
        cp = U.friend_rank[fr]
        cp = np.where(cp == pu, U.friend_rank[np.clip(U.rank_of[pu] - np.sign(offs), 0, n - 1)], cp)
        if n > 1:
            cp = np.where(cp == pu, (pu + 1) % n, cp)
        p_usd = 40.0 * np.sqrt(U.income[pu] / 900.0) * rng.lognormal(0, 1.0, len(pu))
        p_block = _Block(
            pu,
            np.full(len(pu), TX["p2p_transfer"]),
            self._spend_asset(rng, pu),
            p_usd,
            _times(rng, U, pu),
            cp_user=cp,
        )
        xu = np.repeat(np.arange(n), rng.poisson(U.xb_rate * act))
        risky_c = rng.random(len(xu)) < np.clip(U.risky_share[xu] * 3, 0, 0.8)
        country = np.where(
            risky_c,
            len(XB_COUNTRIES_NORMAL) + rng.integers(0, len(XB_COUNTRIES_RISKY), len(xu)),
            rng.integers(0, len(XB_COUNTRIES_NORMAL), len(xu)),
        )
        x_usd = 120.0 * np.sqrt(U.income[xu] / 900.0) * rng.lognormal(0, 0.9, len(xu))
        x_asset = np.where(rng.random(len(xu)) < 0.7, USDT, USDC)
        x_block = _Block(
            xu,
            np.full(len(xu), TX["cross_border_payment"]),
            x_asset,
            x_usd,
            _times(rng, U, xu),
            country=country,
        )
        wu = np.repeat(np.arange(n), rng.poisson(0.04 * np.clip(act, 0.5, 2.0)))
        wu = wu[avail[wu] > 30]
        w_chain = self._wallet_chain(rng, wu)
        w_usd = avail[wu] * rng.uniform(0.15, 0.6, len(wu))
        w_block = _Block(
            wu,
            np.full(len(wu), TX["withdrawal"]),
            self._chain_asset(rng, wu, w_chain),
            w_usd,
            _times(rng, U, wu),
            chain=w_chain,
        )

        # Scale discretionary outflows down to what the user can afford today.
        out_blocks = [m_block, p_block, x_block, w_block]
        desired = np.zeros(n)
        for b in out_blocks:
            desired += np.bincount(b.user, weights=b.usd, minlength=n)
        can = np.maximum(avail - loan_out, 0.0) * 0.97
        factor = np.where(desired > can, can / np.maximum(desired, 1e-9), 1.0)
        spent = np.zeros(n)
        for b in out_blocks:
            b.usd = b.usd * factor[b.user]
            keep = b.usd >= 0.5
            _filter(b, keep)
            spent += np.bincount(b.user, weights=b.usd, minlength=n)
            blocks.append(b)

        # Swaps (balance-neutral apart from the fee) and reward points for merchant spend.
        su = np.repeat(np.arange(n), rng.poisson(0.04 * act))
        su = su[avail[su] > 10]
        pair = SWAP_PAIRS[rng.integers(0, len(SWAP_PAIRS), len(su))]
        s_usd = avail[su] * rng.uniform(0.05, 0.4, len(su))
        s_usd = np.where(pair[:, 0] == PTS, np.minimum(s_usd, 25.0), s_usd)  # points are few
        blocks.append(
            _Block(
                su,
                np.full(len(su), TX["swap"]),
                pair[:, 0],
                s_usd,
                _times(rng, U, su),
                to_asset=pair[:, 1],
            )
        )
        m_spend = np.bincount(m_block.user, weights=m_block.usd, minlength=n)
        ru = np.nonzero((m_spend > 1.0) & (rng.random(n) < 0.25))[0]
        r_usd = np.maximum(np.round(m_spend[ru]), 1.0) * 0.01  # 1 point per USD, points worth 0.01
        blocks.append(
            _Block(
                ru,
                np.full(len(ru), TX["reward_points"]),
                np.full(len(ru), PTS),
                r_usd,
                _times(rng, U, ru),
            )
        )

        # Bursts are packed into one hour.
        for b in (m_block, p_block):
            bb = burst[b.user]
            b.sec = np.where(bb, burst_t0[b.user] + rng.integers(0, 3600, len(b)), b.sec)

        received_from = p_block.cp_user
        assert received_from is not None
        self.balance = (
            self.balance
            + inflow
            + np.bincount(ru, weights=r_usd, minlength=n)
            + np.bincount(received_from, weights=p_block.usd, minlength=n)
            - spent
            - loan_out
        )
        return self._assemble(d, rng, blocks)

    def _assemble(
        self, d: int, rng: np.random.Generator, blocks: list[_Block]
    ) -> tuple[pa.Table, np.ndarray]:
        U = self.u
        total = sum(len(b) for b in blocks)

        def cat(attr: str, fill: int = -1, dtype: type = np.int64) -> np.ndarray:
            parts: list[np.ndarray] = []
            for b in blocks:
                v = getattr(b, attr)
                parts.append(
                    np.full(len(b), fill, dtype=dtype) if v is None else np.asarray(v, dtype=dtype)
                )
            return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

        c = {f: cat(f) for f in _BLOCK_FIELDS if f not in ("usd", "units")}
        c["usd"] = cat("usd", 0, float)
        c["units"] = cat("units", -1, float)
        order = np.lexsort((c["user"], c["sec"]))
        c = {k: v[order] for k, v in c.items()}
        user, tx, asset, usd, sec, chain = (
            c[k] for k in ("user", "tx", "asset", "usd", "sec", "chain")
        )
        cp_user, merchant, loan, to_asset, country, units_given = (
            c[k] for k in ("cp_user", "merchant", "loan", "to_asset", "country", "units")
        )
        n = total
        # Reward points are only ever a small balance: cap what is paid or swapped in PTS.
        usd = np.where((asset == PTS) & (tx != TX["reward_points"]), np.minimum(usd, 20.0), usd)
        price = self.prices[d, asset]
        dec = ASSET_DECIMALS[asset]
        scale = 10.0**dec
        amount = np.where(units_given >= 0, units_given, usd / price)
        amount = np.maximum(np.round(amount * scale) / scale, 1.0 / scale)

        fee_usd = np.zeros(n)
        is_w = tx == TX["withdrawal"]
        fee_usd[is_w] = WITHDRAWAL_FIXED_FEE_USD[chain[is_w]] + 0.001 * usd[is_w]
        is_x = tx == TX["cross_border_payment"]
        fee_usd[is_x] = 0.015 * usd[is_x]
        is_s = tx == TX["swap"]
        fee_usd[is_s] = 0.003 * usd[is_s]
        is_ld = tx == TX["loan_disbursement"]
        fee_usd[is_ld] = 0.01 * amount[is_ld] * price[is_ld]
        fee = np.round(fee_usd / price * scale) / scale

        start_s = _epoch_seconds(self.cfg.start) + d * 86400
        ts = pc.strftime(pa.array(start_s + sec, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%SZ")
        ymd = (self.cfg.start + timedelta(days=d)).strftime("%Y%m%d")
        txn_ids = pa.array([f"T{ymd}{i:07d}" for i in range(n)], pa.string())

        # Counterparty: a user (p2p) or an external address on the wallet's chain (top-up/withdraw)
        ext_i = chain * self.ext_n + np.where(
            rng.random(n) < 0.5, rng.integers(0, 20, n), rng.integers(0, self.ext_n, n)
        )
        cp_idx = np.where(cp_user >= 0, cp_user, np.where(chain >= 0, U.n + ext_i, -1))
        cp_pool = pa.concat_arrays([U.ids, self.ext_pool])

        # Devices and IPs: primary most of the time, a fresh one sometimes (more often if risky).
        new_dev = rng.random(n) < U.dev_p[user]
        new_ip = rng.random(n) < U.ip_p[user]
        k_dev, k_ip = int(new_dev.sum()), int(new_ip.sum())
        dev_pool = pa.concat_arrays([U.devices, pa.array(_uuid4_strings(rng, k_dev), pa.string())])
        ip_pool = pa.concat_arrays(
            [U.ips, pa.array(_ip_strings(rng, U.is_cn[user[new_ip]], 0.1), pa.string())]
        )
        dev_idx = user.copy()
        dev_idx[new_dev] = U.n + np.arange(k_dev)
        ip_idx = user.copy()
        ip_idx[new_ip] = U.n + np.arange(k_ip)

        def take(pool: pa.Array, idx: np.ndarray) -> pa.Array:
            return pool.take(pa.array(idx, mask=idx < 0))

        table = pa.table(
            {
                "txn_id": txn_ids,
                "occurred_at": ts,
                "user_id": take(U.ids, user),
                "wallet_id": take(self.wallet_pool, np.where(chain >= 0, user * 3 + chain, -1)),
                "tx_type": take(TX_POOL, tx),
                "direction": take(DIR_POOL, TX_DIR_CODE[tx]),
                "asset": take(ASSET_POOL, asset),
                "amount": pa.array(amount, pa.float64()),
                "fee": pa.array(fee, pa.float64()),
                "counterparty": take(cp_pool, cp_idx),
                "merchant_id": take(self.m.ids, merchant),
                "loan_id": take(self.loans.ids, loan),
                "to_asset": take(ASSET_POOL, to_asset),
                "country": take(self.country_pool, country),
                "device_id": take(dev_pool, dev_idx),
                "ip_address": take(ip_pool, ip_idx),
            },
            schema=TXN_ARROW_SCHEMA,
        )
        return table, tx


def _filter(b: _Block, keep: np.ndarray) -> None:
    for name in _BLOCK_FIELDS:
        v = getattr(b, name)
        if v is not None:
            setattr(b, name, v[keep])


# =============================================================================================
# Dirty rows
# =============================================================================================


@dataclass
class _Dirt:
    table: pa.Table  # final rows in file order (amount NaN where unparseable)
    rows: list[int]
    kinds: list[str]
    txn_ids: list[str]
    unparseable: dict[int, str]  # final row -> text


def _inject_dirt(
    table: pa.Table,
    tx: np.ndarray,
    fmt: str,
    rate: float,
    reservoir: pa.Table | None,
    rng: np.random.Generator,
    year: int,
) -> tuple[_Dirt, np.ndarray]:
    """Corrupt ``rate`` of rows (one defect each); return the dirt and a mask of clean base rows."""
    n = table.num_rows
    clean = np.ones(n, dtype=bool)
    if rate <= 0 or n == 0:
        return _Dirt(table, [], [], [], {}), clean
    kinds = [k for k in DIRTY_KINDS if k != "unparseable_amount" or fmt == "csv"]
    n_dirty = int(rng.binomial(n, rate))
    chosen = rng.integers(0, len(kinds), n_dirty)
    # Loan rows stay clean so loan outcomes remain observable from the ledger.
    eligible = np.nonzero((tx != TX["loan_disbursement"]) & (tx != TX["loan_repayment"]))[0]
    n_dup = int((np.array(kinds)[chosen] == "duplicate_txn_id").sum())
    inplace_kinds = [kinds[c] for c in chosen if kinds[c] != "duplicate_txn_id"]
    n_in = min(len(inplace_kinds), len(eligible))
    victims = (
        np.sort(rng.choice(eligible, size=n_in, replace=False)) if n_in else np.empty(0, np.int64)
    )
    inplace_kinds = [inplace_kinds[i] for i in rng.permutation(n_in)] if n_in else []
    clean[victims] = False

    amount = table.column("amount").to_numpy().copy()
    asset = table.column("asset").to_pylist()
    user = table.column("user_id").to_pylist()
    ts = table.column("occurred_at").to_pylist()
    base_kind: dict[int, str] = {}
    unparseable_base: dict[int, str] = {}
    for v, k in zip(victims.tolist(), inplace_kinds, strict=True):
        base_kind[v] = k
        if k == "amount_not_positive":
            amount[v] = 0.0 if rng.random() < 0.3 else -amount[v]
        elif k == "unknown_asset":
            asset[v] = UNKNOWN_ASSETS[int(rng.integers(0, len(UNKNOWN_ASSETS)))]
        elif k == "malformed_timestamp":
            ts[v] = MALFORMED_TS[int(rng.integers(0, len(MALFORMED_TS)))].format(y=year)
        elif k == "future_timestamp":
            dt = datetime.strptime(ts[v], "%Y-%m-%dT%H:%M:%SZ")
            dt += timedelta(days=365 * int(rng.integers(3, 30)))
            ts[v] = dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif k == "missing_user_id":
            user[v] = None
        elif k == "unparseable_amount":
            amount[v] = float("nan")
            unparseable_base[v] = UNPARSEABLE_AMOUNTS[
                int(rng.integers(0, len(UNPARSEABLE_AMOUNTS)))
            ]
    cols = {name: table.column(name) for name in table.column_names}
    cols["amount"] = pa.chunked_array([pa.array(amount, pa.float64())])
    cols["asset"] = pa.chunked_array([pa.array(asset, pa.string())])
    cols["user_id"] = pa.chunked_array([pa.array(user, pa.string())])
    cols["occurred_at"] = pa.chunked_array([pa.array(ts, pa.string())])
    base = pa.table(cols, schema=TXN_ARROW_SCHEMA)

    # Duplicates: copies of clean earlier rows, from this file (inserted after the original) or from
    # the previous day's file (anywhere in this one). The later occurrence is the dirty row.
    src_pool = np.nonzero(clean & np.isin(np.arange(n), eligible))[0]
    dup_tables, positions = [], []
    n_res = reservoir.num_rows if reservoir is not None else 0
    from_prev = rng.random(n_dup) < (0.3 if n_res else 0.0)
    same = int((~from_prev).sum()) if len(src_pool) else 0
    if same:
        src = rng.choice(src_pool, size=same)
        dup_tables.append(base.take(pa.array(src)))
        positions.extend((src + 1 + (rng.random(same) * (n - src)).astype(np.int64)).tolist())
    k_prev = int(from_prev.sum())
    if k_prev and reservoir is not None:
        dup_tables.append(reservoir.take(pa.array(rng.integers(0, n_res, k_prev))))
        positions.extend(rng.integers(0, n + 1, k_prev).tolist())
    m = len(positions)
    if m:
        combined = pa.concat_tables([base, *dup_tables])
        order = np.insert(np.arange(n), np.array(positions, dtype=np.int64), np.arange(n, n + m))
        final = combined.take(pa.array(order))
    else:
        order = np.arange(n)
        final = base
    final_pos = np.empty(n + m, dtype=np.int64)
    final_pos[order] = np.arange(n + m)

    rows: list[int] = []
    kinds_out: list[str] = []
    for v, k in base_kind.items():
        rows.append(int(final_pos[v]))
        kinds_out.append(k)
    for j in range(m):
        rows.append(int(final_pos[n + j]))
        kinds_out.append("duplicate_txn_id")
    unparseable = {int(final_pos[v]): s for v, s in unparseable_base.items()}
    srt = np.argsort(rows, kind="stable")
    rows = [rows[i] for i in srt]
    kinds_out = [kinds_out[i] for i in srt]
    ids_col = final.column("txn_id")
    txn_ids = [ids_col[r].as_py() for r in rows]
    return _Dirt(final, rows, kinds_out, txn_ids, unparseable), clean


# =============================================================================================
# Writers
# =============================================================================================


def _fmt_amounts(values: np.ndarray) -> list[str]:
    return [np.format_float_positional(v, trim="-") for v in values.tolist()]


def _write_txn(table: pa.Table, path: Path, fmt: str, unparseable: dict[int, str]) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
        return
    if fmt == "csv":
        amount = _fmt_amounts(table.column("amount").to_numpy())
        for r, s in unparseable.items():
            amount[r] = s
        fee = _fmt_amounts(table.column("fee").to_numpy())
        cols = {name: table.column(name) for name in table.column_names}
        cols["amount"] = pa.chunked_array([pa.array(amount, pa.string())])
        cols["fee"] = pa.chunked_array([pa.array(fee, pa.string())])
        pacsv.write_csv(pa.table(cols, schema=TXN_CSV_SCHEMA), path)
        return
    names = table.column_names
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in zip(*(table.column(c).to_pylist() for c in names), strict=True):
            fh.write(
                json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False, allow_nan=False)
            )
            fh.write("\n")


def _write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    return path


def _clear_landing(out_dir: Path, truth_dir: Path) -> None:
    """Remove files this generator owns from a previous run (other files are left alone)."""
    for ent in schema.ENTITIES:
        folder = out_dir / ent
        if folder.is_dir():
            for f in folder.iterdir():
                if f.is_file() and f.suffix.lstrip(".") in schema.LANDING_FORMATS:
                    f.unlink()
    for name in ("users.parquet", "loans.parquet", "dirty_rows.parquet"):
        (truth_dir / name).unlink(missing_ok=True)


# =============================================================================================
# Entry point
# =============================================================================================


def generate(
    out_dir: Path, config: GeneratorConfig, truth_dir: Path | None = None
) -> GenerationSummary:
    """Write a synthetic landing folder under ``out_dir`` and ground truth under ``truth_dir``
    (default ``out_dir.parent / "truth"``). Deterministic for a given config."""
    t0 = time.perf_counter()
    cfg = config
    if cfg.users < 2 or cfg.days < 1:
        raise ValueError("need at least 2 users and 1 day")
    if not 0.0 <= cfg.dirty_rate < 0.5:
        raise ValueError("dirty_rate must be in [0, 0.5)")
    out_dir = Path(out_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else out_dir.parent / "truth"
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    _clear_landing(out_dir, truth_dir)

    ss = np.random.SeedSequence(cfg.seed)
    r_users, r_wallets, r_merch, r_prices, r_loans, r_ext = (
        np.random.default_rng(s) for s in ss.spawn(6)
    )

    users = _make_users(cfg, r_users)
    has_chain, wallets, wallet_pool = _make_wallets(cfg, users, r_wallets)
    ext = _external_pools(r_ext)
    merchants = _make_merchants(cfg, r_merch)
    prices, prices_table = _make_prices(cfg, r_prices)
    loans = _make_loans(cfg, users, prices, r_loans)

    files: list[Path] = []
    rows: dict[str, int] = {}
    for name, tbl in (
        ("users", users.table),
        ("wallets", wallets),
        ("merchants", merchants.table),
        ("prices", prices_table),
        ("loans", loans.table),
    ):
        assert tuple(tbl.column_names) == schema.ENTITIES[name].column_names, name
        files.append(_write_parquet(tbl, out_dir / name / f"{name}.parquet"))
        rows[name] = tbl.num_rows

    gen = _DayGen(cfg, users, has_chain, wallet_pool, ext, merchants, prices, loans)
    tx_dir = out_dir / "transactions"
    tx_dir.mkdir(parents=True, exist_ok=True)
    dirty_file: list[str] = []
    dirty_row: list[int] = []
    dirty_id: list[str] = []
    dirty_kind: list[str] = []
    reservoir: pa.Table | None = None
    n_tx = 0
    for d in range(cfg.days):
        rng = np.random.default_rng([cfg.seed, 1_000 + d])
        clean_table, tx = gen.day(d, rng)
        fmt = transactions_file_format(d)
        day = cfg.start + timedelta(days=d)
        rel = f"transactions/{day.isoformat()}.{fmt}"
        dirt, clean_mask = _inject_dirt(
            clean_table, tx, fmt, cfg.dirty_rate, reservoir, rng, day.year
        )
        path = out_dir / rel
        _write_txn(dirt.table, path, fmt, dirt.unparseable)
        files.append(path)
        n_tx += dirt.table.num_rows
        dirty_file.extend([rel] * len(dirt.rows))
        dirty_row.extend(dirt.rows)
        dirty_id.extend(dirt.txn_ids)
        dirty_kind.extend(dirt.kinds)
        if cfg.dirty_rate > 0:
            ok = np.nonzero(
                clean_mask & (tx != TX["loan_disbursement"]) & (tx != TX["loan_repayment"])
            )[0]
            if len(ok):
                pick = np.sort(rng.choice(ok, size=min(200, len(ok)), replace=False))
                reservoir = dirt_base_rows(clean_table, pick)
    rows["transactions"] = n_tx

    # Ground truth beside landing.
    band = np.empty(users.n, dtype=np.int32)
    band[np.argsort(users.z, kind="stable")] = 1 + (np.arange(users.n) * 5) // users.n
    truth_files = [
        _write_parquet(
            pa.table(
                {
                    "user_id": users.ids,
                    "latent_z": pa.array(users.z, pa.float64()),
                    "latent_band": pa.array(band),
                }
            ),
            truth_dir / "users.parquet",
        ),
        _write_parquet(loans.truth, truth_dir / "loans.parquet"),
        _write_parquet(
            pa.table(
                {
                    "file": pa.array(dirty_file, pa.string()),
                    "row": pa.array(dirty_row, pa.int64()),
                    "txn_id": pa.array(dirty_id, pa.string()),
                    "kind": pa.array(dirty_kind, pa.string()),
                }
            ),
            truth_dir / "dirty_rows.parquet",
        ),
    ]
    return GenerationSummary(
        files=files,
        rows=rows,
        dirty_rows=len(dirty_kind),
        seconds=time.perf_counter() - t0,
        truth_files=truth_files,
    )


def dirt_base_rows(clean_table: pa.Table, idx: np.ndarray) -> pa.Table:
    """Rows of the uncorrupted day table kept to be duplicated into a later file."""
    return clean_table.take(pa.array(idx))
