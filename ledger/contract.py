"""The landing contract: what a wallet ledger export looks like when it arrives.

Landing layout under ``$LEDGERLENS_HOME/landing``::

    users/*.{parquet,csv,jsonl}          one row per wallet holder (with PII)
    wallets/*.{parquet,csv,jsonl}        on-chain addresses held by users
    merchants/*.{parquet,csv,jsonl}      acquiring merchants
    prices/*.{parquet,csv,jsonl}         daily asset prices in the base currency
    loans/*.{parquet,csv,jsonl}          loan applications / contracts
    transactions/YYYY-MM-DD.{parquet,csv,jsonl}   one file per ledger day

Required columns are the keys, times, types, amounts and assets a ledger cannot do without; every
personal column is optional: a file may leave it out, and it is then NULL in ``ledger.*`` (the
tables always carry every contract column, so nothing downstream meets a missing column).

Files are immutable once landed; ingest records a SHA-256 per file. The generator also writes a
``truth/`` folder *beside* landing (never read by the pipeline) with the latent creditworthiness of
users and the true default probability of every loan.

Every column is described once here; the ingest rules, the README table and the generator use this.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE_CURRENCY = "USD"

ASSETS: tuple[str, ...] = ("USDT", "USDC", "ETH", "BTC", "TRX", "CNHC", "PTS")
"""Known asset codes. CNHC is the CNY-pegged stablecoin; PTS are reward points (priced like any asset)."""

CHAINS: tuple[str, ...] = ("ETH", "TRON", "BTC")

TX_TYPES: tuple[str, ...] = (
    "top_up",
    "withdrawal",
    "p2p_transfer",
    "merchant_payment",
    "cross_border_payment",
    "swap",
    "reward_points",
    "loan_disbursement",
    "loan_repayment",
)

DIRECTIONS: tuple[str, ...] = ("in", "out")

# Direction of each transaction type seen from the user's account. P2P transfers appear once, from
# the sender (direction 'out'); the receiver's inflow is derived from ``counterparty``.
TX_DIRECTION: dict[str, str] = {
    "top_up": "in",
    "withdrawal": "out",
    "p2p_transfer": "out",
    "merchant_payment": "out",
    "cross_border_payment": "out",
    "swap": "out",
    "reward_points": "in",
    "loan_disbursement": "in",
    "loan_repayment": "out",
}

MERCHANT_SIZE_TIERS: tuple[str, ...] = ("micro", "small", "medium", "large")
KYC_LEVELS: tuple[int, ...] = (0, 1, 2, 3)


@dataclass(frozen=True)
class Column:
    """One landing column. ``references`` names the entity whose key this column holds;
    ``bounds`` is the inclusive (low, high) range of a numeric column, either end optional (the
    default of :class:`ledger.rules.Limits`, which a deployment may override)."""

    name: str
    dtype: str  # DuckDB type after ingest
    required: bool
    description: str
    references: str | None = None
    bounds: tuple[float | None, float | None] | None = None


@dataclass(frozen=True)
class Entity:
    name: str
    key: str
    columns: tuple[Column, ...]
    description: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def key_columns(self) -> tuple[Column, ...]:
        """The entity's own key and every column that references another entity's key."""
        return tuple(c for c in self.columns if c.name == self.key or c.references)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(
    name: str,
    dtype: str,
    required: bool,
    description: str,
    references: str | None = None,
    bounds: tuple[float | None, float | None] | None = None,
) -> Column:
    return Column(name, dtype, required, description, references, bounds)


USERS = Entity(
    "users",
    "user_id",
    (
        _c("user_id", "VARCHAR", True, "Stable wallet-holder id, e.g. U0000042"),
        _c("full_name", "VARCHAR", False, "Full name (zh_CN or en)"),
        _c("mobile", "VARCHAR", False, "Mobile number, CN (+86 1xx xxxx xxxx) or E.164"),
        _c("email", "VARCHAR", False, "E-mail address"),
        _c("resident_id", "VARCHAR", False, "PRC resident ID (18 chars, ISO 7064 MOD 11-2 check)"),
        _c("date_of_birth", "DATE", False, "Date of birth"),
        _c("gender", "VARCHAR", False, "F / M"),
        _c("home_city", "VARCHAR", False, "Home city"),
        _c("city_tier", "INTEGER", False, "City tier 1-5", bounds=(1, 5)),
        _c("device_id", "VARCHAR", False, "Primary device id (UUID)"),
        _c("ip_address", "VARCHAR", False, "Sign-up IP address (v4 or v6)"),
        _c("kyc_level", "INTEGER", False, "KYC level 0-3"),
        _c("signup_date", "DATE", True, "Account opening date"),
    ),
    "Wallet holders with their personal data",
)

WALLETS = Entity(
    "wallets",
    "wallet_id",
    (
        _c("wallet_id", "VARCHAR", True, "Wallet id, e.g. W0000042-ETH"),
        _c("user_id", "VARCHAR", True, "Holder", references="users"),
        _c("chain", "VARCHAR", True, "ETH / TRON / BTC"),
        _c("address", "VARCHAR", True, "EIP-55 0x address, TRON base58check T-address, BTC bech32"),
        _c("created_date", "DATE", True, "Date the wallet was opened"),
    ),
    "On-chain addresses held by users",
)

MERCHANTS = Entity(
    "merchants",
    "merchant_id",
    (
        _c("merchant_id", "VARCHAR", True, "Merchant id, e.g. M00042"),
        _c("merchant_name", "VARCHAR", True, "Trading name"),
        _c("mcc", "VARCHAR", True, "ISO 18245 merchant category code (4 digits)"),
        _c("category", "VARCHAR", True, "Readable category of the MCC"),
        _c("city", "VARCHAR", True, "City"),
        _c("size_tier", "VARCHAR", True, "micro / small / medium / large"),
        _c(
            "chargeback_rate",
            "DOUBLE",
            True,
            "Historic chargeback share of payments",
            bounds=(0, 1),
        ),
        _c("refund_rate", "DOUBLE", True, "Historic refund share of payments", bounds=(0, 1)),
        _c("onboarded_date", "DATE", True, "Date the merchant was onboarded"),
    ),
    "Acquiring merchants",
)

PRICES = Entity(
    "prices",
    "price_id",
    (
        _c("price_id", "VARCHAR", True, "asset|date, e.g. ETH|2026-01-01"),
        _c("price_date", "DATE", True, "Day"),
        _c("asset", "VARCHAR", True, "Asset code"),
        _c(
            "price_base",
            "DOUBLE",
            True,
            f"Close price of one unit in {BASE_CURRENCY}",
            bounds=(None, 1e9),
        ),
    ),
    "Daily prices to normalise amounts to the base currency",
)

LOANS = Entity(
    "loans",
    "loan_id",
    (
        _c("loan_id", "VARCHAR", True, "Loan id, e.g. L0000042"),
        _c("user_id", "VARCHAR", True, "Borrower", references="users"),
        _c("applied_at", "TIMESTAMP", True, "Application time (UTC); features must predate it"),
        _c("principal", "DOUBLE", True, "Principal in the loan asset", bounds=(None, 1e9)),
        _c("asset", "VARCHAR", True, "Asset the loan is paid out in"),
        _c("term_days", "INTEGER", True, "Contractual term in days", bounds=(None, 3650)),
        _c("due_date", "DATE", True, "Date the full repayment is due"),
    ),
    "Micro-loans; outcomes follow from the repayment transactions",
)

TRANSACTIONS = Entity(
    "transactions",
    "txn_id",
    (
        _c("txn_id", "VARCHAR", True, "Unique transaction id"),
        _c("occurred_at", "TIMESTAMP", True, "ISO-8601 UTC time; not in the future"),
        _c(
            "user_id",
            "VARCHAR",
            True,
            "Account the transaction belongs to",
            references="users",
        ),
        _c(
            "wallet_id",
            "VARCHAR",
            False,
            "Wallet used, for on-chain movements",
            references="wallets",
        ),
        _c("tx_type", "VARCHAR", True, "One of: " + ", ".join(TX_TYPES)),
        _c("direction", "VARCHAR", True, "in / out, seen from user_id's account"),
        _c("asset", "VARCHAR", True, "One of: " + ", ".join(ASSETS)),
        _c("amount", "DOUBLE", True, "Amount in asset units, > 0", bounds=(None, 1e12)),
        _c("fee", "DOUBLE", True, "Fee charged in asset units, >= 0", bounds=(None, 1e9)),
        _c("counterparty", "VARCHAR", False, "User id (p2p) or chain address (top-up/withdrawal)"),
        _c(
            "merchant_id",
            "VARCHAR",
            False,
            "Merchant, for merchant_payment",
            references="merchants",
        ),
        _c(
            "loan_id",
            "VARCHAR",
            False,
            "Loan, for loan_disbursement / loan_repayment",
            references="loans",
        ),
        _c("to_asset", "VARCHAR", False, "Target asset, for swap"),
        _c("country", "VARCHAR", False, "ISO 3166-1 alpha-2 destination, for cross_border_payment"),
        _c("device_id", "VARCHAR", False, "Device that initiated it"),
        _c("ip_address", "VARCHAR", False, "IP address that initiated it"),
    ),
    "The wallet ledger: one row per movement",
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (USERS, WALLETS, MERCHANTS, PRICES, LOANS, TRANSACTIONS)
}
REFERENCE_ENTITIES: tuple[str, ...] = ("users", "wallets", "merchants", "prices", "loans")
LANDING_FORMATS: tuple[str, ...] = ("parquet", "csv", "jsonl")
