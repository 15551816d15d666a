"""Value detectors: does one sampled cell look like (and validate as) an identifier?

Each :class:`Detector` names the entity type it finds, whether a check digit / checksum validates
the match (``validated``: resident ID MOD 11-2, Luhn, EIP-55, Base58Check, bech32), and a function
from a cell's text to ``bool``. :func:`run_detectors` applies all of them to a column's sample and
returns the matched fraction per detector, the evidence the classifier combines with the column
name (see :mod:`privacy.classifier`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from ledger.identifiers import (
    eip55_checksum_status,
    is_valid_bech32_address,
    is_valid_btc_legacy_address,
    is_valid_luhn,
    is_valid_resident_id,
    is_valid_tron_address,
)

__all__ = [
    "DETECTORS",
    "Detector",
    "DetectorHit",
    "cell_text",
    "digits_only",
    "is_cn_mobile",
    "is_e164",
    "normalise_phone",
    "run_detectors",
]

# -- helpers ---------------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}$"
)
_UUID_BODY = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(rf"^{_UUID_BODY}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_IMEI = re.compile(r"^\d{15}$")
_CARD = re.compile(r"^\d{13,19}$")
_CARD_SEPARATORS = re.compile(r"[\s-]")
_HASH64 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_CJK_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
_EN_NAME = re.compile(
    r"^(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.? )?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?"
    r"(?: [A-Z]\.?)?(?: (?:Mc|Mac|O')?[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?){1,2}"
    r"(?: (?:Jr\.?|Sr\.?|II|III|IV|V|MD|DDS|PhD|DVM))?$"
)
_LATLNG = re.compile(r"^\s*-?\d{1,2}\.\d{4,}\s*,\s*-?\d{1,3}\.\d{4,}\s*$")
_CN_STREET = re.compile(r"[\u4e00-\u9fff]+(路|街|道|巷|弄|胡同).*\d+\s*号?")
_EN_STREET = re.compile(
    r"^\d{1,6} [A-Z][A-Za-z]+(?: [A-Z][A-Za-z]+)* (?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|"
    r"Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Parkway|Circle)\b"
)
_COMPANY = re.compile(
    r"(公司|集团|商行|店|Inc\.?|LLC|Ltd\.?|PLC|Group|Corp\.?|Co\.|and Sons|& Sons)$"
)

# Common Chinese surnames (single and compound) - covers >95% of the population and Faker zh_CN.
_CN_SURNAMES_1 = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃"
    "武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒"
    "阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
    "吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇"
    "桑郎甄丛仲虞敖巩明佘池查麻苑迟邝钮"
)
_CN_SURNAMES_2 = frozenset(
    {
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "西门",
        "南宫",
    }
)
_GENDER_VALUES = frozenset(
    {"f", "m", "male", "female", "男", "女", "man", "woman", "u", "unknown", "x", "other", "o"}
)


def cell_text(value: object) -> str | None:
    """A sampled cell as text (None stays None); dates as ISO strings, floats without '.0'."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e19:
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def digits_only(s: str) -> str:
    return "".join(ch for ch in s if ch.isdigit())


def normalise_phone(s: str) -> str | None:
    """National form of a phone number: CN mobiles as 11 digits (no +86/0086), others as
    E.164 digits without '+'. None when it is not a phone number."""
    t = _PHONE_SEPARATORS.sub("", s.strip())
    if not t:
        return None
    if t.startswith("+86"):
        t = t[3:]
    elif t.startswith("0086"):
        t = t[4:]
    elif t.startswith("86") and len(t) == 13:
        t = t[2:]
    if _CN_MOBILE.match(t):
        return t
    if _E164.match(t):
        return t[1:]
    return None


def is_cn_mobile(s: str) -> bool:
    t = _PHONE_SEPARATORS.sub("", s.strip())
    had_plus = t.startswith("+")
    if t.startswith("+86"):
        t = t[3:]
    elif t.startswith("0086"):
        t = t[4:]
    elif had_plus:
        return False
    return bool(_CN_MOBILE.match(t))


def is_e164(s: str) -> bool:
    t = _PHONE_SEPARATORS.sub("", s.strip())
    return bool(_E164.match(t))


def _is_mobile(s: str) -> bool:
    return is_cn_mobile(s) or is_e164(s)


def _is_card(s: str) -> bool:
    t = _CARD_SEPARATORS.sub("", s.strip())
    return bool(_CARD.match(t)) and t[0] in "23456" and is_valid_luhn(t)


def _is_email(s: str) -> bool:
    return len(s) <= 254 and bool(_EMAIL.match(s.strip()))


def _is_ip(s: str) -> bool:
    t = s.strip()
    if not t or len(t) > 45 or ("." not in t and ":" not in t):
        return False
    try:
        ipaddress.ip_address(t)
    except ValueError:
        return False
    return True


def _is_device(s: str) -> bool:
    t = s.strip()
    return bool(_UUID.match(t) or _HEX16.match(t) or (_IMEI.match(t) and is_valid_luhn(t)))


def _is_eth_checksummed(s: str) -> bool:
    # Single-case bodies pass EIP-55 only by chance (2^-letters): demand enough letters.
    t = s.strip()
    return eip55_checksum_status(t) == "checksummed" and sum(c.isalpha() for c in t[2:]) >= 6


def _is_eth_any(s: str) -> bool:
    return eip55_checksum_status(s.strip()) != "invalid"


def _is_chain_validated(s: str) -> bool:
    t = s.strip()
    if t.startswith("0x"):
        return _is_eth_checksummed(t)
    if t.startswith("T"):
        return is_valid_tron_address(t)
    if t[:3].lower() in ("bc1", "tb1"):
        return is_valid_bech32_address(t)
    if t[:1] in ("1", "3"):
        return is_valid_btc_legacy_address(t)
    return False


def _is_hash(s: str) -> bool:
    return bool(_HASH64.match(s.strip()))


def is_person_name(s: str) -> bool:
    t = s.strip()
    if _CJK_NAME.match(t):
        return t[0] in _CN_SURNAMES_1 or t[:2] in _CN_SURNAMES_2
    return bool(_EN_NAME.match(t)) and not _COMPANY.search(t)


def _is_location(s: str) -> bool:
    t = s.strip()
    return bool(_LATLNG.match(t) or _CN_STREET.search(t) or _EN_STREET.match(t))


def _is_resident_id(s: str) -> bool:
    return is_valid_resident_id(s.strip())


def _is_gender(s: str) -> bool:
    return s.strip().lower() in _GENDER_VALUES


# -- detectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detector:
    name: str
    entity: str
    validated: bool
    evidence: str
    match: Callable[[str], bool]


DETECTORS: tuple[Detector, ...] = (
    Detector(
        "resident_id", "resident_id", True, "ISO 7064 MOD 11-2 check + birth date", _is_resident_id
    ),
    Detector("bank_card", "bank_card", True, "13-19 digits, IIN 2-6, Luhn check", _is_card),
    Detector(
        "chain_address",
        "blockchain_address",
        True,
        "EIP-55 checksum / TRON base58check / BTC base58check / bech32(m)",
        _is_chain_validated,
    ),
    Detector(
        "eth_address_unchecked",
        "blockchain_address",
        False,
        "0x + 40 hex without EIP-55 checksum",
        _is_eth_any,
    ),
    Detector(
        "mobile_number", "mobile_number", False, "CN mobile 1[3-9]xxxxxxxxx or E.164", _is_mobile
    ),
    Detector("email", "email", False, "RFC 5322 address shape", _is_email),
    Detector("ip_address", "ip_address", False, "parses as IPv4/IPv6", _is_ip),
    Detector("device_id", "device_id", False, "UUID / 16-hex Android id / IMEI (Luhn)", _is_device),
    Detector(
        "person_name",
        "person_name",
        False,
        "CJK name with a common surname, or capitalised given + family name",
        is_person_name,
    ),
    Detector(
        "precise_location",
        "precise_location",
        False,
        "lat,lng pair or street address",
        _is_location,
    ),
    Detector("hash", "tx_hash", False, "64 hex digest", _is_hash),
    Detector("gender", "gender", False, "gender code (F/M/male/female/男/女)", _is_gender),
)
DETECTOR_BY_NAME: dict[str, Detector] = {d.name: d for d in DETECTORS}


@dataclass(frozen=True)
class DetectorHit:
    detector: str
    entity: str
    validated: bool
    fraction: float
    matched: int
    evidence: str


def run_detectors(texts: Sequence[str]) -> list[DetectorHit]:
    """Matched fraction of each detector over non-empty texts (hits with fraction > 0 only)."""
    cells = [t for t in texts if t and t.strip()]
    if not cells:
        return []
    hits: list[DetectorHit] = []
    n = len(cells)
    for d in DETECTORS:
        m = sum(1 for t in cells if d.match(t))
        if m:
            hits.append(DetectorHit(d.name, d.entity, d.validated, m / n, m, d.evidence))
    return hits


# -- identifiers embedded in free text (the leak guard) -----------------------------------------
#
# ``find_identifiers`` looks *inside* a text for identifiers that validate by shape plus checksum,
# whether or not they are in any vault. Digit groups may be separated the way people write them
# (``138-1234-5678``, ``6222 0212 3456 7890``, ``110105 19491231 002X``) but never across a digit:
# a match must not continue a longer digit run, so order numbers, timestamps and amounts that merely
# contain an identifier-shaped substring are not flagged. Tokens that look like digests (16+ hex
# characters with a letter: pseudonyms, hashes, UUID parts) are not searched for digit identifiers.

_B58 = "1-9A-HJ-NP-Za-km-z"
_CN_MOBILE_PREFIX = r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])"
_EMB_MOBILE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)86[\s-]?|\(\+?86\)\s?|86[\s-]?)?"
    rf"({_CN_MOBILE_PREFIX})[\s.-]?(\d{{4}})[\s.-]?(\d{{4}})(?!\d)"
)
_EMB_E164 = re.compile(r"(?<![\w+])\+([1-9]\d{0,3})((?:[\s.-]?\(?\d{1,5}\)?){1,6})(?!\d)")
_EMB_RID = re.compile(r"(?<!\d)(\d(?:[\s-]?\d){16}[\s-]?[\dXx])(?![\dXx])")
_EMB_CARD = re.compile(
    r"(?<!\d)(\d{4}(?:[\s-]\d{4}){2,3}(?:[\s-]\d{1,4})?|\d{4}[\s-]\d{6}[\s-]\d{4,5}|\d{13,19})"
    r"(?![\dXx])"  # 17 digits + X is a resident ID, not a card
)
_EMB_ETH0X = re.compile(r"(?<![0-9A-Za-z])0[xX]([0-9a-fA-F]{40})(?![0-9a-fA-F])")
_EMB_ETH_BARE = re.compile(r"(?<![0-9a-fA-F])([0-9a-fA-F]{40})(?![0-9a-fA-F])")
_EMB_TRON = re.compile(rf"(?=(T[{_B58}]{{33}}))")
_EMB_BTC = re.compile(rf"(?<![{_B58}])([13][{_B58}]{{25,33}})(?![{_B58}])")
_EMB_BECH32 = re.compile(r"(?=((?:bc|tb|BC|TB)1[02-9ac-hj-np-zAC-HJ-NP-Z]{8,87}))")
_HEXLIKE_TOKEN = re.compile(r"[0-9a-fA-F]{16,}")
_SEPARATORS = re.compile(r"[\s().-]")
# Issuer ranges (ISO/IEC 7812 IIN) of the schemes seen in CN and international wallets.
_CARD_IIN = re.compile(
    r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|35|3[0689]|62|6011|64|65)"
)


# A decimal number with one point: its fractional digits are a measurement, not an identifier
# (float bounds like 0.4532015112830366 would otherwise pass IIN + Luhn by chance). Identifiers
# written with dots have several groups (138.1234.5678) and stay visible; so do integer parts.
_DECIMAL_FRACTION = re.compile(r"(?<![\d.])([-+]?\d+\.)(\d+)(?=(?:[eE][-+]?\d+)?(?![\d.]))")


def _mask_fractions(text: str) -> str:
    return _DECIMAL_FRACTION.sub(lambda m: m.group(1) + "#" * len(m.group(2)), text)


# A UUID is random hex in 8-4-4-4-12 groups: its digit groups joined across the dashes can look
# like a dashed phone or card number (one credential id in a few hundred did).
_UUID_EMBEDDED = re.compile(rf"(?<![0-9A-Za-z]){_UUID_BODY}(?![0-9A-Za-z])")


def _mask_uuids(text: str) -> str:
    return _UUID_EMBEDDED.sub(lambda m: "#" * len(m.group()), text)


def _mask_hexlike(text: str) -> str:
    """``text`` with digest-like tokens blanked out: 16+ hex characters with at least 4 letters
    (a random 32-hex pseudonym has about 12; ``ID`` + digits has one)."""

    def blank(m: re.Match[str]) -> str:
        tok = m.group()
        return "#" * len(tok) if sum(c.isalpha() for c in tok) >= 4 else tok

    return _HEXLIKE_TOKEN.sub(blank, text)


def _has_birth_date(digits: str) -> bool:
    try:
        born = date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= date.today().year


def _is_card_number(digits: str) -> bool:
    # An 18-digit number laid out like a resident ID (a birth date in positions 7-14) is one,
    # whatever its Luhn sum: 18-digit card numbers are rare, resident IDs are all 18 digits.
    if len(digits) == 18 and _has_birth_date(digits):
        return False
    return 13 <= len(digits) <= 19 and bool(_CARD_IIN.match(digits)) and is_valid_luhn(digits)


def find_identifiers(text: str) -> set[str]:
    """Entity types of the validated identifiers found anywhere inside ``text``: ``resident_id``
    (MOD 11-2 + birth date), ``bank_card`` (IIN + Luhn, 13-19 digits), ``mobile_number`` (CN mobile
    with a carrier prefix, or ``+`` and 8-15 digits), ``blockchain_address`` (``0x`` + 40 hex, bare
    EIP-55 checksummed hex, TRON/BTC Base58Check, bech32/bech32m). ``text`` should already be
    Unicode-normalised (NFKC); the values themselves are never returned."""
    found: set[str] = set()
    if not text:
        return found
    masked = _mask_fractions(_mask_hexlike(_mask_uuids(text)))
    if any(ch.isdigit() for ch in masked):
        for m in _EMB_RID.finditer(masked):
            if is_valid_resident_id(_SEPARATORS.sub("", m.group(1)).upper()):
                found.add("resident_id")
        for m in _EMB_CARD.finditer(masked):
            if _is_card_number(_SEPARATORS.sub("", m.group(1))):
                found.add("bank_card")
        if _EMB_MOBILE.search(masked):
            found.add("mobile_number")
        for m in _EMB_E164.finditer(masked):
            digits = m.group(1) + digits_only(m.group(2))
            if 8 <= len(digits) <= 15 and not digits.startswith("86"):
                found.add("mobile_number")
    if "x" in text or "X" in text:
        for m in _EMB_ETH0X.finditer(text):
            if eip55_checksum_status("0x" + m.group(1)) != "invalid":
                found.add("blockchain_address")
    if "blockchain_address" not in found:
        for m in _EMB_ETH_BARE.finditer(text):
            body = m.group(1)
            if body != body.lower() and body != body.upper() and _is_eth_checksummed("0x" + body):
                found.add("blockchain_address")
        if _has_base58_address(text) or _has_bech32(text):
            found.add("blockchain_address")
    return found


def _has_base58_address(text: str) -> bool:
    if "T" in text and any(is_valid_tron_address(m.group(1)) for m in _EMB_TRON.finditer(text)):
        return True
    return any(is_valid_btc_legacy_address(m.group(1)) for m in _EMB_BTC.finditer(text))


def _has_bech32(text: str) -> bool:
    if "1" not in text:
        return False
    for m in _EMB_BECH32.finditer(text):
        run = m.group(1)
        # The address may be followed by more bech32 characters (embedded in an identifier):
        # try the standard lengths (P2WPKH 42, P2WSH/P2TR 62) before the whole run.
        for cand in (run[:42], run[:62], run):
            if is_valid_bech32_address(cand):
                return True
    return False
