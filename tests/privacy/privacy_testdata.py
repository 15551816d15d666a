"""Shared test data for the privacy tests: a small generated + ingested ledger, and a hand-made
table of tricky look-alikes. (Helper module, not a test file.)"""

from __future__ import annotations

import random
from pathlib import Path

import duckdb
from faker import Faker

from ledger.identifiers import luhn_check_digit, resident_id_check_digit, to_eip55
from ledger.ingest import ingest
from ledger.synthetic import GeneratorConfig, generate

# Ground truth of the ledger's columns (the landing contract + ingest lineage).
LEDGER_TRUTH: dict[tuple[str, str], str] = {
    ("users", "user_id"): "account_id",
    ("users", "full_name"): "person_name",
    ("users", "mobile"): "mobile_number",
    ("users", "email"): "email",
    ("users", "resident_id"): "resident_id",
    ("users", "date_of_birth"): "date_of_birth",
    ("users", "gender"): "gender",
    ("users", "home_city"): "city",
    ("users", "city_tier"): "city_tier",
    ("users", "device_id"): "device_id",
    ("users", "ip_address"): "ip_address",
    ("users", "kyc_level"): "kyc_level",
    ("users", "signup_date"): "date",
    ("wallets", "wallet_id"): "wallet_id",
    ("wallets", "user_id"): "account_id",
    ("wallets", "chain"): "category",
    ("wallets", "address"): "blockchain_address",
    ("wallets", "created_date"): "date",
    ("merchants", "merchant_id"): "merchant_id",
    ("merchants", "merchant_name"): "merchant_name",
    ("merchants", "mcc"): "category",
    ("merchants", "category"): "category",
    ("merchants", "city"): "city",
    ("merchants", "size_tier"): "category",
    ("merchants", "chargeback_rate"): "rate",
    ("merchants", "refund_rate"): "rate",
    ("merchants", "onboarded_date"): "date",
    ("prices", "price_id"): "record_id",
    ("prices", "price_date"): "date",
    ("prices", "asset"): "asset_code",
    ("prices", "price_base"): "price",
    ("loans", "loan_id"): "loan_id",
    ("loans", "user_id"): "account_id",
    ("loans", "applied_at"): "timestamp",
    ("loans", "principal"): "amount",
    ("loans", "asset"): "asset_code",
    ("loans", "term_days"): "count",
    ("loans", "due_date"): "date",
    ("transactions", "txn_id"): "transaction_id",
    ("transactions", "occurred_at"): "timestamp",
    ("transactions", "user_id"): "account_id",
    ("transactions", "wallet_id"): "wallet_id",
    ("transactions", "tx_type"): "category",
    ("transactions", "direction"): "category",
    ("transactions", "asset"): "asset_code",
    ("transactions", "amount"): "amount",
    ("transactions", "fee"): "amount",
    ("transactions", "counterparty"): "counterparty",
    ("transactions", "merchant_id"): "merchant_id",
    ("transactions", "loan_id"): "loan_id",
    ("transactions", "to_asset"): "asset_code",
    ("transactions", "country"): "country",
    ("transactions", "device_id"): "device_id",
    ("transactions", "ip_address"): "ip_address",
}
LINEAGE = ("_source_file", "_source_row", "_snapshot_id")
ENTITY_TABLES = ("users", "wallets", "merchants", "prices", "loans", "transactions")


def build_ledger(root: Path, users: int = 200, days: int = 30, seed: int = 7) -> Path:
    """Generate + ingest a small ledger into ``root/warehouse.duckdb``; returns the db path."""
    landing = root / "landing"
    generate(landing, GeneratorConfig(users=users, days=days, seed=seed))
    db = root / "warehouse.duckdb"
    con = duckdb.connect(str(db))
    try:
        ingest(con, landing)
    finally:
        con.close()
    return db


def _resident_id(rng: random.Random) -> str:
    first = f"{rng.choice(['110105', '310115', '440305', '510107'])}"
    first += f"{rng.randint(1950, 2004)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    first += f"{rng.randint(0, 999):03d}"
    return first + resident_id_check_digit(first)


def _card(rng: random.Random) -> str:
    body = "62" + "".join(str(rng.randint(0, 9)) for _ in range(15))
    return body + luhn_check_digit(body)


def faker_table(n: int = 400, seed: int = 3) -> tuple[dict[str, list[object]], dict[str, str]]:
    """Columns with synonym names built with Faker zh_CN + en, and their true entity types."""
    rng = random.Random(seed)
    zh, en = Faker("zh_CN"), Faker("en_US")
    zh.seed_instance(seed)
    en.seed_instance(seed + 1)
    cols: dict[str, list[object]] = {
        "customer_no": [f"C{i:06d}" for i in range(n)],
        "real_name": [zh.name() if i % 2 else en.name() for i in range(n)],
        "phone_number": [
            zh.phone_number() if i % 3 else f"+1{rng.randint(2000000000, 9999999999)}"
            for i in range(n)
        ],
        "contact_email": [zh.email() if i % 2 else en.email() for i in range(n)],
        "id_card_no": [_resident_id(rng) for _ in range(n)],
        "bank_card_no": [_card(rng) for _ in range(n)],
        "login_ip": [en.ipv4() if i % 4 else en.ipv6() for i in range(n)],
        "imei": [en.uuid4() for _ in range(n)],
        "eth_address": [to_eip55("0x" + rng.randbytes(20).hex()) for _ in range(n)],
        "birthday": [en.date_of_birth(minimum_age=18, maximum_age=80) for _ in range(n)],
        "geo": [f"{en.latitude():.6f},{en.longitude():.6f}" for _ in range(n)],
        "notes_col_all_null": [None] * n,
        # No name signal at all: the values must speak.
        "c1": [_resident_id(rng) for _ in range(n)],
        "c2": [en.email() for _ in range(n)],
    }
    truth = {
        "customer_no": "account_id",
        "real_name": "person_name",
        "phone_number": "mobile_number",
        "contact_email": "email",
        "id_card_no": "resident_id",
        "bank_card_no": "bank_card",
        "login_ip": "ip_address",
        "imei": "device_id",
        "eth_address": "blockchain_address",
        "birthday": "date_of_birth",
        "geo": "precise_location",
        "notes_col_all_null": "unknown",
        "c1": "resident_id",
        "c2": "email",
    }
    return cols, truth


def tricky_table(n: int = 400, seed: int = 5) -> tuple[dict[str, list[object]], dict[str, str]]:
    """Look-alikes that must NOT be classified as the identifier they resemble."""
    rng = random.Random(seed)
    cols: dict[str, list[object]] = {
        # 11 digits starting 13x-19x: shaped like CN mobiles, but order numbers.
        "order_no": [f"1{rng.randint(3, 9)}{rng.randint(0, 999999999):09d}" for _ in range(n)],
        # 18-digit amounts (in minor units), as text.
        "amount": [str(rng.randint(10**17, 10**18 - 1)) for _ in range(n)],
        # 64-hex digests.
        "payload_hash": [rng.randbytes(32).hex() for _ in range(n)],
        # 0x + 40 lowercase hex: transaction hashes shaped like ETH addresses.
        "tx_hash": ["0x" + rng.randbytes(20).hex() for _ in range(n)],
        # bare 40-hex lowercase hashes.
        "block_hash": [rng.randbytes(20).hex() for _ in range(n)],
        # phone-shaped reference numbers.
        "reference": [
            f"+86 1{rng.randint(3, 9)}{rng.randint(0, 9)} {rng.randint(0, 9999):04d} "
            f"{rng.randint(0, 9999):04d}"
            for _ in range(n)
        ],
    }
    truth = {
        "order_no": "transaction_id",
        "amount": "amount",
        "payload_hash": "tx_hash",
        "tx_hash": "tx_hash",
        "block_hash": "tx_hash",
        "reference": "transaction_id",
    }
    return cols, truth
