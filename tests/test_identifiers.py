"""Known-vector tests for ledger.identifiers."""

from __future__ import annotations

import pytest

from ledger.identifiers import (
    base58check_decode,
    base58check_encode,
    bech32_decode_address,
    bech32_encode,
    eip55_checksum_status,
    is_valid_bech32_address,
    is_valid_btc_legacy_address,
    is_valid_eip55,
    is_valid_luhn,
    is_valid_resident_id,
    is_valid_tron_address,
    luhn_check_digit,
    resident_id_check_digit,
    to_eip55,
    tron_address_from_bytes,
)

# --- PRC resident ID -------------------------------------------------------------------------


def test_resident_id_known_example() -> None:
    assert resident_id_check_digit("11010519491231002") == "X"
    assert is_valid_resident_id("11010519491231002X")
    assert is_valid_resident_id("11010519491231002x")  # X is case-insensitive


@pytest.mark.parametrize(
    "bad",
    [
        "110105194912310021",  # wrong check digit
        "11010519491331002X",  # month 13
        "11010519490230002X",  # 30 February (check digit irrelevant: date invalid first)
        "11010519491231002",  # 17 chars
        "11010519491231002X1",  # 19 chars
        "A1010519491231002X",  # non-digit body
        "",
    ],
)
def test_resident_id_invalid(bad: str) -> None:
    assert not is_valid_resident_id(bad)


def test_resident_id_check_digit_roundtrip() -> None:
    first17 = "44030619900101123"
    full = first17 + resident_id_check_digit(first17)
    assert is_valid_resident_id(full)
    # Any other check character fails.
    for c in "0123456789X":
        if c != full[-1]:
            assert not is_valid_resident_id(first17 + c)
    with pytest.raises(ValueError):
        resident_id_check_digit("1234")


# --- Luhn ------------------------------------------------------------------------------------


def test_luhn() -> None:
    assert luhn_check_digit("7992739871") == "3"
    assert is_valid_luhn("79927398713")
    assert not is_valid_luhn("79927398710")
    assert is_valid_luhn("4111111111111111")
    assert is_valid_luhn("5555555555554444")
    assert not is_valid_luhn("4111111111111112")
    assert not is_valid_luhn("4111-1111")
    assert not is_valid_luhn("0")


# --- EIP-55 ----------------------------------------------------------------------------------

EIP55_VECTORS = [
    # From EIP-55 itself: all caps, all lower, normal.
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]


@pytest.mark.parametrize("addr", EIP55_VECTORS)
def test_eip55_vectors(addr: str) -> None:
    assert to_eip55(addr.lower()) == addr
    assert to_eip55(addr.upper().replace("0X", "0x")) == addr
    assert eip55_checksum_status(addr) == "checksummed"
    assert is_valid_eip55(addr)


def test_eip55_status() -> None:
    good = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert eip55_checksum_status(good.lower()) == "unchecksummed"
    assert eip55_checksum_status("0x" + good[2:].upper()) == "unchecksummed"
    assert is_valid_eip55(good.lower())
    flipped = good[:-1] + "D"  # wrong case on the last letter
    assert eip55_checksum_status(flipped) == "invalid"
    assert not is_valid_eip55(flipped)
    assert eip55_checksum_status("0x1234") == "invalid"
    assert eip55_checksum_status("5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed") == "invalid"
    with pytest.raises(ValueError):
        to_eip55("0xzz")


# --- Base58Check: TRON and BTC legacy --------------------------------------------------------


def test_tron_usdt_contract() -> None:
    usdt = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    assert is_valid_tron_address(usdt)
    payload = base58check_decode(usdt)
    assert payload is not None
    assert payload.hex() == "41a614f803b6fd780986a42c78ec9c7f77e6ded13c"
    assert tron_address_from_bytes(payload[1:]) == usdt
    assert not is_valid_tron_address(usdt[:-1] + "u")  # checksum broken
    assert not is_valid_tron_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")


def test_btc_legacy() -> None:
    assert is_valid_btc_legacy_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa")  # genesis P2PKH
    assert is_valid_btc_legacy_address("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")  # P2SH
    assert not is_valid_btc_legacy_address("1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb")
    assert not is_valid_btc_legacy_address("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t")  # version 0x41
    assert not is_valid_btc_legacy_address("0OIl")


def test_base58check_roundtrip() -> None:
    payload = b"\x00" + bytes(range(20))
    enc = base58check_encode(payload)
    assert enc.startswith("1")
    assert base58check_decode(enc) == payload
    assert base58check_decode("") is None
    assert base58check_decode("0OIl") is None  # not in the alphabet


# --- Bech32 / Bech32m ------------------------------------------------------------------------

VALID_SEGWIT = [
    # BIP-173
    ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", 0, "751e76e8199196d454941c45d1b3a323f1433bd6"),
    (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        0,
        "1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
    ),
    (
        "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
        0,
        "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
    ),
    # BIP-350 (bech32m for v1+)
    (
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        1,
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    ),
    ("BC1SW50QGDZ25J", 16, "751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", 2, "751e76e8199196d454941c45d1b3a323"),
]


@pytest.mark.parametrize(("addr", "ver", "prog"), VALID_SEGWIT)
def test_bech32_valid(addr: str, ver: int, prog: str) -> None:
    assert is_valid_bech32_address(addr)
    hrp = addr[:2].lower()
    assert bech32_decode_address(hrp, addr) == (ver, bytes.fromhex(prog))
    assert bech32_encode(hrp, ver, bytes.fromhex(prog)) == addr.lower()


@pytest.mark.parametrize(
    "addr",
    [
        "tc1qw508d6qejxtdg4y5r3zarvary0c5xw7kg3g4ty",  # invalid hrp
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",  # invalid checksum
        "BC13W508D6QEJXTDG4Y5R3ZARVARY0C5XW7KN40WF2",  # invalid witness version
        "bc1rw5uspcuh",  # invalid program length
        "bc1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",  # mixed case
        # v1 with a bech32 (not bech32m) checksum: valid under BIP-173, invalid under BIP-350
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7k7grplx",
        "bc1gmk9yu",  # empty data
        "",
    ],
)
def test_bech32_invalid(addr: str) -> None:
    assert not is_valid_bech32_address(addr)


def test_bech32_v0_uses_bech32_v1_uses_bech32m() -> None:
    prog = bytes(range(20))
    v0 = bech32_encode("bc", 0, prog)
    assert v0.startswith("bc1q") and is_valid_bech32_address(v0)
    prog32 = bytes(range(32))
    v1 = bech32_encode("bc", 1, prog32)
    assert v1.startswith("bc1p") and is_valid_bech32_address(v1)
    with pytest.raises(ValueError):
        bech32_encode("bc", 0, bytes(21))
