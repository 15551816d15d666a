"""Check-digit and address-format helpers for the identifiers found in a wallet ledger.

Pure Python (stdlib + ``base58`` + pycryptodome's keccak). Used by the synthetic generator to make
valid identifiers and by classification to recognise them with high confidence:

- PRC resident ID (GB 11643-1999): 18 chars, ISO 7064 MOD 11-2 check character, birth date in
  positions 7-14.
- Luhn (ISO/IEC 7812) check digit for card-like numbers.
- Ethereum EIP-55 mixed-case checksum addresses.
- Base58Check (TRON ``T…`` addresses with version byte 0x41, BTC legacy P2PKH/P2SH 0x00/0x05).
- Bech32 (BIP-173, witness v0) and Bech32m (BIP-350, witness v1+) segwit addresses.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from typing import Literal

import base58
from Crypto.Hash import keccak

__all__ = [
    "base58check_decode",
    "base58check_encode",
    "bech32_decode_address",
    "bech32_encode",
    "eip55_checksum_status",
    "is_valid_bech32_address",
    "is_valid_btc_legacy_address",
    "is_valid_eip55",
    "is_valid_luhn",
    "is_valid_resident_id",
    "is_valid_tron_address",
    "luhn_check_digit",
    "resident_id_check_digit",
    "to_eip55",
    "tron_address_from_bytes",
]

# --------------------------------------------------------------------------------------------
# PRC resident identity number (GB 11643-1999, ISO 7064 MOD 11-2)
# --------------------------------------------------------------------------------------------

_RID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
_RID_CHECK = "10X98765432"
_RID_RE = re.compile(r"^\d{17}[\dXx]$")


def resident_id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("first17 must be exactly 17 ASCII digits")
    total = sum(int(ch) * w for ch, w in zip(first17, _RID_WEIGHTS, strict=True))
    return _RID_CHECK[total % 11]


def is_valid_resident_id(s: str) -> bool:
    """18 chars, 17 digits + check character (X case-insensitive), valid birth date (pos. 7-14)."""
    if not isinstance(s, str) or not _RID_RE.match(s):
        return False
    try:
        born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
    except ValueError:
        return False
    if born.year < 1900:
        return False
    return resident_id_check_digit(s[:17]) == s[17].upper()


# --------------------------------------------------------------------------------------------
# Luhn
# --------------------------------------------------------------------------------------------


def _luhn_sum(digits: str, double_first: bool) -> int:
    total = 0
    double = double_first
    for ch in reversed(digits):
        d = int(ch)
        if double:
            d *= 2
            if d > 9:
                d -= 9
        total += d
        double = not double
    return total


def luhn_check_digit(partial: str) -> str:
    """The Luhn digit to append to ``partial`` (digits only)."""
    if not partial.isascii() or not partial.isdigit():
        raise ValueError("partial must be ASCII digits")
    return str((10 - _luhn_sum(partial, True) % 10) % 10)


def is_valid_luhn(s: str) -> bool:
    """True when ``s`` (digits only, at least 2) passes the Luhn check."""
    if not isinstance(s, str) or len(s) < 2 or not s.isascii() or not s.isdigit():
        return False
    return _luhn_sum(s, False) % 10 == 0


# --------------------------------------------------------------------------------------------
# Ethereum EIP-55
# --------------------------------------------------------------------------------------------

_ETH_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _keccak256(data: bytes) -> bytes:
    h = keccak.new(digest_bits=256)
    h.update(data)
    return h.digest()


def to_eip55(address: str) -> str:
    """Checksum a ``0x`` + 40-hex address (any case) per EIP-55."""
    if not isinstance(address, str) or not _ETH_RE.match(address):
        raise ValueError(f"not a 0x + 40 hex address: {address!r}")
    lower = address[2:].lower()
    digest = _keccak256(lower.encode("ascii")).hex()
    out = [
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower)
    ]
    return "0x" + "".join(out)


def eip55_checksum_status(s: str) -> Literal["checksummed", "unchecksummed", "invalid"]:
    """'checksummed' (mixed case, correct), 'unchecksummed' (all one case), else 'invalid'."""
    if not isinstance(s, str) or not _ETH_RE.match(s):
        return "invalid"
    body = s[2:]
    if body == body.lower() or body == body.upper():
        # A correctly checksummed address can also be single-case (few letters): fine either way.
        return "checksummed" if to_eip55(s) == s else "unchecksummed"
    return "checksummed" if to_eip55(s) == s else "invalid"


def is_valid_eip55(s: str) -> bool:
    """True for a correctly checksummed address or a single-case (unchecksummed) one."""
    return eip55_checksum_status(s) != "invalid"


# --------------------------------------------------------------------------------------------
# Base58Check (TRON, BTC legacy)
# --------------------------------------------------------------------------------------------


def base58check_encode(payload: bytes) -> str:
    """Base58 of ``payload`` + first 4 bytes of double SHA-256 (payload includes version)."""
    checksum = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return base58.b58encode(payload + checksum).decode("ascii")


def base58check_decode(s: str) -> bytes | None:
    """The payload (with version byte) or None when ``s`` is not valid Base58Check."""
    if not isinstance(s, str) or not s or not s.isascii():
        return None
    try:
        raw = base58.b58decode(s)
    except ValueError:
        return None
    if len(raw) < 5:
        return None
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return None
    return payload


def tron_address_from_bytes(b20: bytes) -> str:
    """TRON ``T…`` address for a 20-byte account id (version byte 0x41)."""
    if len(b20) != 20:
        raise ValueError("TRON account id must be 20 bytes")
    return base58check_encode(b"\x41" + b20)


def is_valid_tron_address(s: str) -> bool:
    """34-char Base58Check string whose payload is 0x41 + 20 bytes."""
    if not isinstance(s, str) or len(s) != 34 or not s.startswith("T"):
        return False
    payload = base58check_decode(s)
    return payload is not None and len(payload) == 21 and payload[0] == 0x41


def is_valid_btc_legacy_address(s: str) -> bool:
    """Mainnet P2PKH (0x00, ``1…``) or P2SH (0x05, ``3…``) Base58Check address."""
    if not isinstance(s, str) or not 25 <= len(s) <= 35:
        return False
    payload = base58check_decode(s)
    return payload is not None and len(payload) == 21 and payload[0] in (0x00, 0x05)


# --------------------------------------------------------------------------------------------
# Bech32 / Bech32m (BIP-173, BIP-350)
# --------------------------------------------------------------------------------------------

_B32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_B32_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_BECH32_CONST = 1
_BECH32M_CONST = 0x2BC830A3
_BTC_HRPS = ("bc", "tb")


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= _B32_GEN[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _create_checksum(hrp: str, data: list[int], const: int) -> list[int]:
    values = _hrp_expand(hrp) + data
    polymod = _polymod(values + [0] * 6) ^ const
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def _convertbits(
    data: bytes | list[int], frombits: int, tobits: int, pad: bool
) -> list[int] | None:
    acc = 0
    bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    max_acc = (1 << (frombits + tobits - 1)) - 1
    for value in data:
        if value < 0 or value >> frombits:
            return None
        acc = ((acc << frombits) | value) & max_acc
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad:
        if bits:
            ret.append((acc << (tobits - bits)) & maxv)
    elif bits >= frombits or ((acc << (tobits - bits)) & maxv):
        return None
    return ret


def _bech32_decode(bech: str) -> tuple[str, list[int], int] | None:
    """(hrp, data without checksum, const) or None. ``const`` tells bech32 from bech32m."""
    if any(ord(x) < 33 or ord(x) > 126 for x in bech):
        return None
    if bech.lower() != bech and bech.upper() != bech:
        return None
    bech = bech.lower()
    pos = bech.rfind("1")
    if pos < 1 or pos + 7 > len(bech) or len(bech) > 90:
        return None
    if not all(x in _B32_CHARSET for x in bech[pos + 1 :]):
        return None
    hrp = bech[:pos]
    data = [_B32_CHARSET.find(x) for x in bech[pos + 1 :]]
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (_BECH32_CONST, _BECH32M_CONST):
        return None
    return hrp, data[:-6], const


def bech32_encode(hrp: str, witver: int, program: bytes) -> str:
    """Segwit address: bech32 for witness version 0, bech32m for versions 1-16."""
    if not 0 <= witver <= 16:
        raise ValueError("witness version must be 0..16")
    if not 2 <= len(program) <= 40 or (witver == 0 and len(program) not in (20, 32)):
        raise ValueError("invalid witness program length")
    const = _BECH32_CONST if witver == 0 else _BECH32M_CONST
    conv = _convertbits(program, 8, 5, True)
    assert conv is not None
    data = [witver, *conv]
    combined = data + _create_checksum(hrp, data, const)
    return hrp + "1" + "".join(_B32_CHARSET[d] for d in combined)


def bech32_decode_address(hrp: str, addr: str) -> tuple[int, bytes] | None:
    """(witness version, program) of a segwit address for ``hrp``, or None if invalid."""
    dec = _bech32_decode(addr)
    if dec is None:
        return None
    hrpgot, data, const = dec
    if hrpgot != hrp or not data:
        return None
    witver = data[0]
    if witver > 16:
        return None
    prog = _convertbits(data[1:], 5, 8, False)
    if prog is None or not 2 <= len(prog) <= 40:
        return None
    if witver == 0 and len(prog) not in (20, 32):
        return None
    if (witver == 0) != (const == _BECH32_CONST):
        return None
    return witver, bytes(prog)


def is_valid_bech32_address(s: str) -> bool:
    """A valid segwit address (bech32 v0 / bech32m v1+) for hrp ``bc`` (mainnet) or ``tb``."""
    if not isinstance(s, str):
        return False
    low = s.lower()
    return any(
        low.startswith(h + "1") and bech32_decode_address(h, s) is not None for h in _BTC_HRPS
    )
