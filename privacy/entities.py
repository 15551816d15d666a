"""The entity types a column can hold, with their legal classification.

Every column of every ingested table is given exactly one entity type by
:mod:`privacy.classifier`. The type carries what governance needs to know about it:

- ``pipl_category`` / ``pipl_sensitive``: the PIPL (and GB/T 35273-2020 Annex B) category, and
  whether it is *sensitive personal information* (PIPL Art. 28: specific identity, financial
  accounts, whereabouts, ...).
- ``gbt_grade``: GB/T 43697-2024 data grade, ``core`` / ``important`` / ``general``. Personal
  information processed at scale, sensitive PI and financial account data are graded ``important``
  ("when in doubt, grade higher"); nothing in a wallet ledger is ``core`` data.
- ``level``: the internal sensitivity level L1 (public/business) .. L4 (sensitive direct
  identifier).
- ``gdpr_art9``: special category data under GDPR Art. 9 (none of the ledger's types are, but a
  precise location or biometric type added later could be).
- ``retention``: ISO 8601 duration and the legal basis for keeping it.
- ``direct_identifier``: the value alone singles out a person (moves into the PII vault).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ENTITY_TYPES", "EntityType", "DIRECT_IDENTIFIERS", "entity_type"]


@dataclass(frozen=True)
class EntityType:
    name: str
    description: str
    personal: bool
    direct_identifier: bool
    pipl_category: str
    pipl_sensitive: bool
    gbt_grade: str  # core | important | general
    level: str  # L1..L4
    gdpr_art9: bool
    retention: str  # ISO 8601 duration
    retention_basis: str


_AML = "AML: 5 years after the business relationship / transaction ends"
_CONTRACT = "contract + AML record keeping"
_BUSINESS = "business record"


def _e(
    name: str,
    description: str,
    *,
    personal: bool,
    direct: bool = False,
    category: str,
    sensitive: bool = False,
    grade: str = "general",
    level: str = "L1",
    art9: bool = False,
    retention: str = "P5Y",
    basis: str = _AML,
) -> EntityType:
    return EntityType(
        name,
        description,
        personal,
        direct,
        category,
        sensitive,
        grade,
        level,
        art9,
        retention,
        basis,
    )


_TYPES: tuple[EntityType, ...] = (
    # --- direct identifiers (vaulted) -------------------------------------------------------
    _e(
        "resident_id",
        "PRC resident identity number",
        personal=True,
        direct=True,
        category="specific identity (ID document number)",
        sensitive=True,
        grade="important",
        level="L4",
    ),
    _e(
        "bank_card",
        "Bank card number (PAN)",
        personal=True,
        direct=True,
        category="financial account",
        sensitive=True,
        grade="important",
        level="L4",
    ),
    _e(
        "blockchain_address",
        "On-chain address (ETH/TRON/BTC)",
        personal=True,
        direct=True,
        category="financial account",
        sensitive=True,
        grade="important",
        level="L4",
    ),
    _e(
        "precise_location",
        "Precise location (coordinates, street address)",
        personal=True,
        direct=True,
        category="whereabouts / tracking",
        sensitive=True,
        grade="important",
        level="L4",
    ),
    _e(
        "person_name",
        "Person's name",
        personal=True,
        direct=True,
        category="basic personal information",
        grade="important",
        level="L3",
    ),
    _e(
        "mobile_number",
        "Mobile phone number (CN or E.164)",
        personal=True,
        direct=True,
        category="personal contact information",
        grade="important",
        level="L3",
    ),
    _e(
        "email",
        "E-mail address",
        personal=True,
        direct=True,
        category="personal contact information",
        grade="important",
        level="L3",
    ),
    _e(
        "device_id",
        "Device identifier (UUID, IMEI, IDFA)",
        personal=True,
        direct=True,
        category="online identifier / device information",
        grade="important",
        level="L3",
    ),
    _e(
        "ip_address",
        "IPv4 / IPv6 address",
        personal=True,
        direct=True,
        category="online identifier / network information",
        grade="important",
        level="L3",
    ),
    # --- keys that identify an account (pseudonymise) ---------------------------------------
    _e(
        "account_id",
        "Wallet-holder account id (direct identifier key)",
        personal=True,
        direct=False,
        category="account identifier",
        grade="important",
        level="L3",
    ),
    _e(
        "wallet_id",
        "Wallet id (embeds the holder's account)",
        personal=True,
        category="financial account",
        sensitive=True,
        grade="important",
        level="L3",
    ),
    _e(
        "counterparty",
        "Counterparty: an account id or a chain address",
        personal=True,
        category="financial account / transaction record",
        sensitive=True,
        grade="important",
        level="L4",
    ),
    # --- quasi-identifiers and personal attributes ------------------------------------------
    _e(
        "date_of_birth",
        "Date of birth",
        personal=True,
        category="basic personal information",
        grade="important",
        level="L3",
    ),
    _e(
        "gender",
        "Gender",
        personal=True,
        category="basic personal information",
        level="L2",
        grade="important",
    ),
    _e(
        "city",
        "City (home or business)",
        personal=True,
        category="coarse location",
        level="L2",
        grade="important",
    ),
    _e("city_tier", "City tier 1-5", personal=False, category="coarse location", level="L1"),
    _e("country", "Country code", personal=True, category="coarse location", level="L2"),
    _e(
        "kyc_level",
        "KYC verification level",
        personal=True,
        category="identity verification status",
        level="L2",
        grade="important",
    ),
    _e(
        "timestamp",
        "Event time",
        personal=True,
        category="transaction record",
        level="L2",
        grade="important",
    ),
    _e(
        "date",
        "Calendar date of an account or business event",
        personal=False,
        category="business record",
        level="L2",
        basis=_CONTRACT,
    ),
    _e(
        "amount",
        "Monetary amount of a person's transaction or loan",
        personal=True,
        category="property information (transaction record)",
        sensitive=True,
        grade="important",
        level="L3",
    ),
    # --- business keys and attributes -------------------------------------------------------
    _e(
        "transaction_id",
        "Transaction id",
        personal=False,
        category="transaction record",
        level="L2",
        grade="important",
    ),
    _e(
        "loan_id",
        "Loan id",
        personal=False,
        category="credit record",
        level="L2",
        grade="important",
    ),
    _e(
        "tx_hash",
        "On-chain transaction hash or other digest",
        personal=False,
        category="transaction record",
        level="L2",
    ),
    _e(
        "record_id",
        "Surrogate key of a reference record",
        personal=False,
        category="reference",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "merchant_id",
        "Merchant id",
        personal=False,
        category="business partner",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "merchant_name",
        "Merchant trading name",
        personal=False,
        category="business partner",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "asset_code",
        "Asset / currency code",
        personal=False,
        category="reference",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "category",
        "Categorical business attribute (type, direction, MCC, tier)",
        personal=False,
        category="reference",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "price", "Market price", personal=False, category="market data", level="L1", basis=_BUSINESS
    ),
    _e(
        "rate",
        "Business ratio (refund rate, chargeback rate)",
        personal=False,
        category="business metric",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "count",
        "Count or duration (days)",
        personal=False,
        category="business metric",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "lineage",
        "Ingest lineage (source file, row, snapshot id)",
        personal=False,
        category="processing record",
        level="L1",
        basis=_BUSINESS,
    ),
    _e(
        "free_text",
        "Free text or raw records that can embed identifiers",
        personal=True,
        category="unstructured (may hold any personal information)",
        sensitive=True,
        grade="important",
        level="L4",
    ),
    # --- nothing recognised -----------------------------------------------------------------
    _e(
        "unknown",
        "Not recognised, or no non-null sample: dropped by default deny",
        personal=True,
        category="unclassified (treated as personal)",
        grade="important",
        level="L3",
        retention="P0D",
        basis="not processed: default deny",
    ),
)

ENTITY_TYPES: dict[str, EntityType] = {t.name: t for t in _TYPES}
DIRECT_IDENTIFIERS: frozenset[str] = frozenset(t.name for t in _TYPES if t.direct_identifier)


def entity_type(name: str) -> EntityType:
    """The entity type ``name``; KeyError naming the known types otherwise."""
    try:
        return ENTITY_TYPES[name]
    except KeyError:
        raise KeyError(f"unknown entity type {name!r}; known: {sorted(ENTITY_TYPES)}") from None
