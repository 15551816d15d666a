"""Leak guard: every miss the issue lists is caught, in every file type, named by file and
column (or JSON path / line) and kind, never echoed; files it cannot read fail the check."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.identifiers import luhn_check_digit, resident_id_check_digit
from privacy.leakguard import NeedleSet, canonical_ip, scan_paths, scan_release, scan_tables

RID = "11010519491231002X"
PHONE = "13712345678"
ETH = "0x40D34EF594e4E5faAe89492627073cA1bE3681b5"
RECORDS = {
    "U0000001": {
        "full_name": "王伟",
        "mobile": f"+86 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}",
        "resident_id": RID,
        "email": "li.lei@example.com",
        "wallets.address": [ETH],
        "ip_address": "192.168.1.10",
        "device_id": "550e8400-e29b-41d4-a716-446655440000",
    },
    "U0000002": {"full_name": "Cristina Rivers", "ip_address": "2001:db8::7"},
}
SECRETS = [RID, RID.lower(), PHONE, ETH, ETH.lower(), ETH[2:].lower(), "li.lei@example.com"]


@pytest.fixture(scope="module")
def needles() -> NeedleSet:
    return NeedleSet.from_records(RECORDS)


def _kinds(ns: NeedleSet, text: str) -> set[str]:
    return {k for k, _ in ns.scan_text(text)}


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"MER-{RID}", "resident_id"),  # resident ID inside a merchant id
        (f"M{PHONE}", "mobile_number"),  # phone inside a merchant id
        (f"LN{PHONE}-01x", "mobile_number"),  # phone inside a loan id
        ("１３７１２３４５６７８", "mobile_number"),  # fullwidth phone
        ("110105 19491231 002X", "resident_id"),  # resident ID with spaces
        ("1101 0519 4912 3100 2x", "resident_id"),
        ("客户王伟已还款", "person_name"),  # 2-character name inside longer text
        ("Dear CRISTINA  RIVERS,", "person_name"),
        (ETH[2:].lower(), "blockchain_address"),  # ETH address without 0x
        (f"0x{ETH[2:].upper()}", "blockchain_address"),
        ("0" * 24 + ETH[2:].lower(), "blockchain_address"),  # ABI-encoded word
        ("from 192.168.001.010 at noon", "ip_address"),  # IPv4 with leading zeros
        ("::ffff:192.168.1.10", "ip_address"),  # IPv4-mapped IPv6
        ("::ffff:c0a8:10a", "ip_address"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0007", "ip_address"),
        ("LI.LEI＠EXAMPLE.COM", "email"),
        ("ref-li.lei@example.com.cn", "email"),
        ("DEV-550E8400E29B41D4A716446655440000", "device_id"),
        ("137\u200b1234\u200b5678", "mobile_number"),  # zero-width spaces
        ("call 0086 (137) 1234-5678", "mobile_number"),
        # inside longer unseparated digit runs and identifiers
        (f"ORD20{PHONE}", "mobile_number"),
        (f"M+86{PHONE}x", "mobile_number"),
        (f"2026011{PHONE}01", "mobile_number"),
        (f"a1b2c3d4e5{PHONE}f6a7b8c9d0e", "mobile_number"),  # a 32-hex digest-shaped id
        (
            "订单" + f"20{PHONE}01".translate(str.maketrans("0123456789", "０１２３４５６７８９")),
            "mobile_number",
        ),
        (f"NO42{RID}7", "resident_id"),
    ],
)
def test_each_written_form_of_a_vaulted_value_is_found(
    needles: NeedleSet, text: str, kind: str
) -> None:
    assert kind in _kinds(needles, text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("44030619900101" + "1234", None),  # resident-ID shaped, check digit wrong
        ("ID 440306199001011234"[:3] + "44030619900101123" + "5", None),
        ("order 2026011310223345678", None),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", None),
        ("0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060", None),
        ("550e8400-e29b-41d4-a716-446655440001", None),
        ("4111111111111112", None),  # Luhn fails
        ("2026-01-13T10:22:33.123456Z", None),
        ("1768300953123", None),
        ("¥1,234,567.89", None),
        ("L0000042 M00042 W0000042-ETH", None),
        ("10.0.0.1 v1.2.3.4", None),
        # phone / ID shapes of no subject inside longer digit runs keep their boundaries
        ("ORD2015800001111", None),
        ("202601158000011110", None),
        ("a1b2c3d4e515800001111f6a7b8c9d0e", None),
        ("NO4244030619900101123" + "57", None),
    ],
)
def test_hard_negatives_are_not_flagged(needles: NeedleSet, text: str, kind: None) -> None:
    assert needles.scan_text(text) == []


def test_identifiers_in_no_vault_are_flagged_by_shape_and_checksum(needles: NeedleSet) -> None:
    first17 = "44030619900101123"
    rid = first17 + resident_id_check_digit(first17)
    card = "622202123456789" + luhn_check_digit("622202123456789")
    assert needles.scan_text(f"ID{rid}") == [("resident_id", "detected")]
    assert needles.scan_text(f"card {card[:4]} {card[4:8]} {card[8:12]} {card[12:]}") == [
        ("bank_card", "detected")
    ]
    assert needles.scan_text("tel 158-0000-1111") == [("mobile_number", "detected")]
    assert needles.scan_text("+44 7946 095812") == [("mobile_number", "detected")]
    assert needles.scan_text("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t") == [
        ("blockchain_address", "detected")
    ]
    assert needles.scan_text("pay bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4") == [
        ("blockchain_address", "detected")
    ]


def test_canonical_ip() -> None:
    assert canonical_ip("010.001.000.009") == "10.1.0.9"
    assert canonical_ip("::FFFF:10.1.0.9") == "10.1.0.9"
    assert canonical_ip("2001:0db8::0001") == "2001:db8::1"
    assert canonical_ip("256.1.1.1") is None
    assert canonical_ip("1.2.3") is None


@settings(max_examples=30, deadline=None)
@given(
    seps=st.lists(st.sampled_from(["", " ", "-", ".", "\u200b", "  "]), min_size=2, max_size=2),
    prefix=st.sampled_from(["", "M", "ID", "tel:", "LN-", "+86 ", "0086"]),
    suffix=st.sampled_from(["", "x", "-01", " ok", "号"]),
    fullwidth=st.booleans(),
)
def test_a_vaulted_phone_is_found_whatever_separators_and_wrapping(
    needles: NeedleSet, seps: list[str], prefix: str, suffix: str, fullwidth: bool
) -> None:
    body = f"{PHONE[:3]}{seps[0]}{PHONE[3:7]}{seps[1]}{PHONE[7:]}"
    if fullwidth:
        body = body.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert "mobile_number" in _kinds(needles, prefix + body + suffix)


def _planted_tree(root: Path) -> None:
    """One leak per file type, each in a known column / path / line."""
    root.mkdir()
    pq.write_table(
        pa.table(
            {"merchant_id": ["M00001", f"M{PHONE}"], "score": [700, 650], "amount": [1.5, 2.0]}
        ),
        root / "merchant_pricing.parquet",
    )
    pq.write_table(pa.table({"phone_as_int": pa.array([13712345678], pa.int64())}), root / "i.pq")
    (root / "loans.csv").write_text(f"loan_id,score\nL1,700\nLN{PHONE},650\n")
    (root / "marts.tsv").write_text(f"name\tnote\nx\t{RID.replace('X', ' X')}\n")
    (root / "r.json").write_text(json.dumps({"rows": [{"who": "LI.LEI@example.com"}]}))
    (root / "r.jsonl").write_text(json.dumps({"addr": ETH[2:].lower()}) + "\n")
    (root / "report.html").write_text(
        "<table><tr><th>merchant</th></tr><tr><td>王伟餐饮</td></tr></table>"
    )
    (root / "notes.txt").write_text("ok\nok\nhost 192.168.001.010\n")
    (root / "run.log").write_text("line\n::ffff:192.168.1.10 connected\n")
    (root / "EXPORT").write_text(f"id {RID}\n")
    (root / "scores.csv.gz").write_bytes(gzip.compress(f"loan_id\nL{PHONE}\n".encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner/users.jsonl", json.dumps({"device": RECORDS["U0000001"]["device_id"]}))
    (root / "bundle.zip").write_bytes(buf.getvalue())
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        data = b"Dear Cristina Rivers\n"
        info = tarfile.TarInfo("letters/one.md")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (root / "letters.tar").write_bytes(tbuf.getvalue())


EXPECTED = {
    ("merchant_pricing.parquet", "merchant_id", "mobile_number"),
    ("i.pq", "phone_as_int", "mobile_number"),
    ("loans.csv", "loan_id", "mobile_number"),
    ("marts.tsv", "note", "resident_id"),
    ("r.json", "$.rows[].who", "email"),
    ("r.jsonl", "$.addr", "blockchain_address"),
    ("report.html", "merchant", "person_name"),
    ("notes.txt", "line 3", "ip_address"),
    ("run.log", "line 2", "ip_address"),
    ("EXPORT", "line 1", "resident_id"),
    ("scores.csv.gz", "loan_id", "mobile_number"),
    ("bundle.zip!inner/users.jsonl", "$.device", "device_id"),
    ("letters.tar!letters/one.md", "line 1", "person_name"),
}


def test_every_file_type_is_read_and_each_leak_is_located(
    needles: NeedleSet, tmp_path: Path
) -> None:
    _planted_tree(tmp_path / "out")
    report = scan_paths(tmp_path / "out", needles)
    assert not report.ok and report.unreadable == []
    found = {(f.location, f.column, f.kind) for f in report.findings}
    assert found >= EXPECTED, EXPECTED - found
    assert report.files_scanned == 13
    text = report.summary() + repr(report.findings)
    for secret in SECRETS:
        assert secret not in text


def test_clean_files_of_every_type_pass(needles: NeedleSet, tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    pq.write_table(pa.table({"loan_id": ["L1", "L2"], "pd": [0.1, 0.2]}), root / "a.parquet")
    (root / "b.tsv").write_text("k\tv\nscore\t700\n")
    (root / "c.log.gz").write_bytes(gzip.compress(b"2026-01-13T10:22:33Z run ok\n"))
    (root / "README").write_text("Scores for 2026-01.\n")
    report = scan_paths(root, needles)
    assert report.ok, report.summary()
    assert report.files_scanned == 4


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        ("broken.parquet", b"PAR1" + b"\x00" * 20),
        ("broken.gz", b"\x1f\x8b\x08\x00garbage"),
        ("latin1.csv", "naïve,Zürich\n".encode("latin-1")),
        ("broken.zip", b"PK\x03\x04" + b"\x00" * 10),
    ],
)
def test_a_file_the_guard_cannot_read_fails_the_check(
    needles: NeedleSet, tmp_path: Path, name: str, content: bytes
) -> None:
    (tmp_path / name).write_bytes(content)
    report = scan_paths(tmp_path, needles)
    assert not report.ok
    assert [u.location for u in report.unreadable] == [name]
    assert name in report.summary() and "unreadable" in report.summary()


def test_tables_and_extra_needles_from_quarantine(needles: NeedleSet, tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.merchants AS SELECT * FROM (VALUES ('M1', 'shop'), "
        "('M2', '客户张秀英的店'), ('M3', 'qa 13900001111')) t(merchant_id, note)"
    )
    quarantined = NeedleSet.from_records({})
    quarantined.add_many(["张秀英", ("mobile_number", "139-0000-1111")])
    report = scan_tables(con, ["marts.merchants"], quarantined)
    assert {(f.location, f.column, f.kind, f.count) for f in report.findings} == {
        ("marts.merchants", "note", "person_name", 1),
        ("marts.merchants", "note", "mobile_number", 1),
    }


def test_scan_release_needs_a_staging_dir_and_reports_its_files(tmp_path: Path) -> None:
    from privacy.keyvault import LocalFileKeyVault
    from privacy.vault import PiiVault

    con = duckdb.connect()
    kv = LocalFileKeyVault(tmp_path / "keys")
    PiiVault(con, kv).put_many(["U0000007"], [{"mobile": "+86 138 0013 8000"}])
    staging = tmp_path / "staging"
    with pytest.raises(FileNotFoundError):
        scan_release(con, kv, staging)
    (staging / "risk").mkdir(parents=True)
    (staging / "risk" / "scores.csv").write_text("loan\nLN13800138000\n")
    report = scan_release(con, kv, staging, extra_needles=["13500135000"])
    assert [(f.location, f.column, f.kind) for f in report.findings] == [
        ("risk/scores.csv", "loan", "mobile_number")
    ]
    assert report.bytes_scanned > 0


def test_uuids_and_float_fractions_are_not_read_as_phones_or_cards() -> None:
    """Credential ids (urn:uuid) and float bin bounds in published model files blocked releases:
    random hex groups joined across dashes looked like a dashed phone, fractional digits like a
    Luhn-valid card. A dashed phone or a card with its integer digits is still flagged."""
    from privacy.detectors import find_identifiers

    card = "451234567890123" + luhn_check_digit("451234567890123")
    assert find_identifiers("urn:uuid:8a934b19-1381-2345-6789-d2f94fec8b3c") == set()
    assert find_identifiers(f"0.{card}") == set()
    assert find_identifiers("138-1234-5678") == {"mobile_number"}
    assert find_identifiers(f"{card}.0") == {"bank_card"}
