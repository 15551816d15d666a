"""Static reference data the generator draws from: cities, merchant categories, cross-border
countries, and integer codes for the contract's assets, chains and transaction types.

Codes index the tuples in :mod:`ledger.contract` (``ASSETS``, ``CHAINS``, ``TX_TYPES``), so a code
turns back into the contract's string by indexing; nothing here restates the contract.
"""

from __future__ import annotations

import numpy as np

from ledger import contract
from ledger.synthetic.arrays import Floats, Ints

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
# High-risk categories are drawn only through a user's risky share, with these relative weights.
RISKY_MCC_WEIGHTS: dict[str, float] = {"7995": 0.5, "6051": 0.35, "4829": 0.15}

XB_COUNTRIES_NORMAL: tuple[str, ...] = (
    "HK",
    "SG",
    "JP",
    "KR",
    "US",
    "TH",
    "MY",
    "GB",
    "AE",
    "VN",
    "AU",
    "TW",
)
XB_COUNTRIES_RISKY: tuple[str, ...] = ("KH", "MM", "PH", "LA")

ASSET: dict[str, int] = {a: i for i, a in enumerate(contract.ASSETS)}
USDT, USDC, ETH, BTC, TRX, CNHC, PTS = (
    ASSET[a] for a in ("USDT", "USDC", "ETH", "BTC", "TRX", "CNHC", "PTS")
)
ASSET_DECIMALS: Ints = np.array([2, 2, 6, 8, 2, 2, 0])

CH_ETH, CH_TRON, CH_BTC = (contract.CHAINS.index(c) for c in ("ETH", "TRON", "BTC"))
WITHDRAWAL_FIXED_FEE_USD: Floats = np.array([2.5, 1.0, 3.0])  # by chain code

TX: dict[str, int] = {t: i for i, t in enumerate(contract.TX_TYPES)}
TX_DIRECTION_CODE: Ints = np.array(
    [contract.DIRECTIONS.index(contract.TX_DIRECTION[t]) for t in contract.TX_TYPES]
)

SWAP_PAIRS: Ints = np.array(
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
