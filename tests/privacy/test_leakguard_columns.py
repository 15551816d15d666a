"""Leak guard, vectorised column path: the byte pre-filter never drops a cell the per-cell scan
would flag (property tests on hostile cells), digest-shaped cells are probed for hex and long
digit needles, numeric columns are read as the digits they hold, and repetitive columns count
distinct values."""

from __future__ import annotations

import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.identifiers import luhn_check_digit, resident_id_check_digit
from privacy.leakguard import NeedleSet, scan_paths

PHONE = "13712345678"
RID = "11010519491231002X"
RID_DIGITS = "310104198506151288"  # valid check digit, no X: fits in an integer column
DEVICE = "550e8400-e29b-41d4-a716-446655440000"
ETH = "0x40D34EF594e4E5faAe89492627073cA1bE3681b5"
TRON = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
RECORDS = {
    "U0000001": {
        "full_name": "王伟",
        "mobile": f"+86 {PHONE}",
        "resident_id": RID,
        "email": "li.lei@example.com",
        "wallets.address": [ETH, TRON],
        "ip_address": "192.168.1.10",
        "device_id": DEVICE,
    },
    "U0000002": {"full_name": "Cristina Rivers", "ip_address": "2001:db8::7"},
    "U0000003": {"full_name": "Madonna", "resident_id": RID_DIGITS},
}
FIRST17 = "44030619900101123"
CARD = "451234567890123" + luhn_check_digit("451234567890123")


@pytest.fixture(scope="module")
def needles() -> NeedleSet:
    assert resident_id_check_digit(RID_DIGITS[:17]) == RID_DIGITS[17]
    return NeedleSet.from_records(RECORDS)


def _per_cell(ns: NeedleSet, cells: list[str]) -> dict[int, list[tuple[str, str]]]:
    return {i: sorted(h) for i, t in enumerate(cells) if (h := ns.scan_text(t))}


def _vectorised(ns: NeedleSet, cells: list[str]) -> dict[int, list[tuple[str, str]]]:
    return {i: sorted(h) for i, h in ns.scan_array(pa.array(cells, pa.string()))}


# Pieces that exercise every branch of the pre-filter: needles and near misses, separators,
# digest-shaped runs, fullwidth digits, zero-width characters.
_PIECES = [
    PHONE,
    PHONE[:7],
    "86",
    "0086",
    "+",
    RID,
    RID.lower(),
    RID[:17],
    RID_DIGITS,
    FIRST17,
    CARD,
    DEVICE,
    DEVICE.upper(),
    DEVICE.replace("-", ""),
    ETH,
    ETH.lower(),
    ETH[2:].upper(),
    TRON,
    "li.lei@example.com",
    "192.168.001.010",
    "::ffff:192.168.1.10",
    "2001:db8::7",
    "王伟",
    "王",
    "Cristina Rivers",
    "madonna",
    "U0000001",
    "u0000009",
    "0x",
    "e3b0c44298fc1c149afbf4c8996fb924",
    "12:30:00",
    "2026-01-13",
    " ",
    "-",
    ".",
    "(",
    ")",
    "_",
    "/",
    "x",
    "ID",
    "M",
    "ORD20",
    "1",
    "0",
    "9" * 9,
    "\u200b",
    "１３７",
    "abcdef",
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6), min_size=1, max_size=40)
)
def test_the_vectorised_path_finds_exactly_what_the_per_cell_scan_finds(
    needles: NeedleSet, parts: list[list[str]]
) -> None:
    cells = ["".join(p) for p in parts]
    assert _vectorised(needles, cells) == _per_cell(needles, cells)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.text(alphabet="0123456789abcdefABCDEF -x:.+@", min_size=0, max_size=70),
        min_size=1,
        max_size=30,
    )
)
def test_random_hex_and_digit_text_agrees_between_the_two_paths(
    needles: NeedleSet, cells: list[str]
) -> None:
    assert _vectorised(needles, cells) == _per_cell(needles, cells)


_DIGIT_PIECES = [
    PHONE,
    PHONE[:8],
    "86",
    "0086",
    CARD,
    CARD[:13],
    RID_DIGITS,
    FIRST17,
    "1",
    "0",
    "62",
]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(st.sampled_from(_DIGIT_PIECES), st.text(alphabet="0123456789", max_size=9)),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=40,
    )
)
def test_all_digit_cells_agree_between_the_two_paths(
    needles: NeedleSet, parts: list[list[str]]
) -> None:
    """Numbers and numeric ids are decided in numpy (Luhn, MOD 11-2, mobile shapes, probes)."""
    cells = ["".join(p) for p in parts]
    assert _vectorised(needles, cells) == _per_cell(needles, cells)


def test_valid_numbers_of_no_subject_are_still_detected_in_a_numeric_column(
    needles: NeedleSet,
) -> None:
    rid = FIRST17 + resident_id_check_digit(FIRST17)
    cells = [CARD, rid, "15800001111", "8615800001111", "1768300953123", "2026011310223345678"]
    assert _vectorised(needles, cells) == {
        0: [("bank_card", "detected")],
        1: [("resident_id", "detected")],
        2: [("mobile_number", "detected")],
        3: [("mobile_number", "detected")],
    }


def test_digest_shaped_cells_are_probed_for_hex_and_long_digit_needles(needles: NeedleSet) -> None:
    cells = [
        "e3b0c44298fc1c149afbf4c8996fb924",  # a digest of nobody
        DEVICE.replace("-", ""),  # the device id, exact in its compact form
        "ab" + DEVICE.replace("-", "").upper() + "CD",  # inside a longer digest, upper case
        "0x" + "0" * 24 + ETH[2:].lower(),  # an ABI-encoded address
        f"a1b2c3d4e5{PHONE}f6a7b8c9d0e",  # a phone inside a 32-hex id
        "a1b2c3d4e515800001111f6a7b8c9d0e",  # a phone of nobody inside a 32-hex id
        "0x" + "ab" * 20,  # an Ethereum address of nobody
    ]
    got = _vectorised(needles, cells)
    assert got == {
        1: [("device_id", "normalised")],
        2: [("device_id", "normalised")],
        3: [("blockchain_address", "normalised")],
        4: [("mobile_number", "normalised")],
        6: [("blockchain_address", "detected")],
    }
    assert got == _per_cell(needles, cells)


def test_an_exact_value_no_byte_test_selects_is_still_found(needles: NeedleSet) -> None:
    """A one-word name has no digits, separators or non-ASCII bytes: only a whole-cell lookup
    sees it."""
    cells = ["Madonna", " MADONNA ", "Madonnas", "madonna inn"]
    assert _vectorised(needles, cells) == {
        0: [("person_name", "exact")],
        1: [("person_name", "exact")],
    }


def test_numbers_are_scanned_as_the_digits_they_hold(needles: NeedleSet, tmp_path: Path) -> None:
    table = pa.table(
        {
            "small": pa.array([1, 2, 3], pa.int16()),
            "phone_int": pa.array([int(PHONE), 42, int(PHONE)], pa.int64()),
            "order_int": pa.array([int(f"20{PHONE}"), 7, 8], pa.int64()),
            "rid_int": pa.array([int(RID_DIGITS), 1, 2], pa.uint64()),
            "phone_float": pa.array([float(PHONE), 0.5, 1e6], pa.float64()),
            "rid_decimal": pa.array(
                [decimal.Decimal(RID_DIGITS), decimal.Decimal("12.50"), None], pa.decimal128(20, 2)
            ),
            "card_decimal": pa.array(
                [decimal.Decimal(CARD), decimal.Decimal(1), None], pa.decimal128(19, 0)
            ),
            "amount": pa.array([1234567.5, 99.0, 100000.25], pa.float64()),
        }
    )
    pq.write_table(table, tmp_path / "n.parquet")
    report = scan_paths(tmp_path, needles)
    assert report.unreadable == []
    found = {(f.column, f.kind, f.count) for f in report.findings}
    assert found == {
        ("phone_int", "mobile_number", 1),
        ("order_int", "mobile_number", 1),
        ("rid_int", "resident_id", 1),
        ("phone_float", "mobile_number", 1),
        ("rid_decimal", "resident_id", 1),
        ("card_decimal", "bank_card", 1),
    }


def test_a_repetitive_column_counts_each_distinct_value_once(
    needles: NeedleSet, tmp_path: Path
) -> None:
    filler = [f"M{i % 50:05d}" for i in range(20_000)]
    leaks = [f"M{PHONE}", f"LN{PHONE}-01", DEVICE.replace("-", "")]
    ids = [f"L{i:09d}" for i in range(20_000)]
    pq.write_table(
        pa.table(
            {
                "merchant_id": filler + leaks * 100,
                "loan_id": ids + [f"L{PHONE}"] + ids[:299],
            }
        ),
        tmp_path / "m.parquet",
    )
    report = scan_paths(tmp_path, needles)
    assert {(f.column, f.kind, f.count) for f in report.findings} == {
        ("merchant_id", "mobile_number", 2),
        ("merchant_id", "device_id", 1),
        ("loan_id", "mobile_number", 1),
    }
