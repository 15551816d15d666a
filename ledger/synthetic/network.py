"""Device identifiers (random UUID4 strings) and IP addresses drawn per user or per transaction.

IPv4 first octets come from blocks allocated in mainland China for CN users and from elsewhere for
the others; a share of addresses are IPv6 (China Telecom / Unicom prefixes for CN users).
"""

from __future__ import annotations

import uuid

import numpy as np

from ledger.synthetic.arrays import Bools, Ints

_CN_V4_FIRST: Ints = np.array(
    [1, 14, 27, 36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 112, 113, 114, 115, 116, 117, 119, 120]
    + [121, 122, 123, 124, 125, 180, 182, 183, 202, 210, 211, 218, 219, 220, 221, 222, 223]
)
_OTHER_V4_FIRST: Ints = np.array(
    [3, 8, 13, 18, 23, 31, 45, 52, 64, 66, 71, 78, 81, 86, 94, 103, 151, 175]
)


def uuid4_strings(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` version-4 UUIDs from ``16 * n`` bytes of ``rng``."""
    raw = rng.bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(n)]


def ip_strings(rng: np.random.Generator, is_cn: Bools, v6_share: float = 0.1) -> list[str]:
    """One IP address per entry of ``is_cn``; about ``v6_share`` of them IPv6."""
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
