"""Validation rules for landed rows, declared once.

Each rule is a SQL predicate that is TRUE when a row FAILS it. Ingest evaluates all rules in one
vectorised pass and sends a row to quarantine with the list of every rule it failed; the Great
Expectations suite in :mod:`ledger.expectations` is built from the same declarations and
re-validates what was loaded.

Inside a predicate, ``r_<col>`` is the raw text of a column as it arrived and ``<col>`` its typed
value (NULL when missing or unparseable).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.contract import (
    ASSETS,
    CHAINS,
    DIRECTIONS,
    ENTITIES,
    KYC_LEVELS,
    MERCHANT_SIZE_TIERS,
    TX_DIRECTION,
    TX_TYPES,
    Column,
    Entity,
)

# Clock skew we tolerate before calling a timestamp "in the future".
FUTURE_TOLERANCE = "INTERVAL 10 MINUTE"

# Where the generic rule name ("unparseable_occurred_at") is not what an operator would search for.
RULE_NAME_OVERRIDES: dict[tuple[str, str], str] = {
    ("transactions", "unparseable_occurred_at"): "malformed_timestamp",
}


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    fails_when: str
    # Great Expectations expectation that holds on every row that passed this rule, if expressible.
    expectation: tuple[str, dict[str, object]] | None = field(default=None, compare=False)


def _sql_list(values: tuple[object, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + ")"


def typed_expression(column: Column) -> str:
    """SQL turning the raw text ``r_<col>`` into the column's declared type, NULL if it cannot."""
    raw = f"NULLIF(TRIM(r_{column.name}), '')"
    if column.dtype == "VARCHAR":
        return raw
    if column.dtype == "TIMESTAMP":
        # Offsets are honoured and everything is stored as naive UTC (the connection runs in UTC).
        return f"timezone('UTC', TRY_CAST({raw} AS TIMESTAMPTZ))"
    return f"TRY_CAST({raw} AS {column.dtype})"


def _generic_rules(entity: Entity) -> list[Rule]:
    rules: list[Rule] = []
    for col in entity.columns:
        raw = f"NULLIF(TRIM(r_{col.name}), '')"
        if col.required:
            rules.append(
                Rule(
                    f"missing_{col.name}",
                    f"{col.name} is required",
                    f"{raw} IS NULL",
                    ("expect_column_values_to_not_be_null", {"column": col.name}),
                )
            )
        if col.dtype != "VARCHAR":
            name = RULE_NAME_OVERRIDES.get((entity.name, f"unparseable_{col.name}"))
            rules.append(
                Rule(
                    name or f"unparseable_{col.name}",
                    f"{col.name} must parse as {col.dtype}",
                    f"{raw} IS NOT NULL AND {col.name} IS NULL",
                )
            )
    rules.append(
        Rule(
            f"duplicate_{entity.key}",
            f"{entity.key} already seen (earlier in this batch or already loaded); first one wins",
            "_is_later_duplicate OR _already_loaded",
            ("expect_column_values_to_be_unique", {"column": entity.key}),
        )
    )
    return rules


def _in_set(column: str, values: tuple[object, ...], rule: str, what: str) -> Rule:
    return Rule(
        rule,
        f"{column} must be one of {', '.join(map(str, values))} ({what})",
        f"{column} IS NOT NULL AND {column} NOT IN {_sql_list(values)}",
        ("expect_column_values_to_be_in_set", {"column": column, "value_set": list(values)}),
    )


def _direction_cases() -> str:
    whens = " ".join(f"WHEN '{t}' THEN '{d}'" for t, d in TX_DIRECTION.items())
    return f"CASE tx_type {whens} END"


DOMAIN_RULES: dict[str, list[Rule]] = {
    "transactions": [
        Rule(
            "future_timestamp",
            f"occurred_at is later than now (+{FUTURE_TOLERANCE} skew)",
            f"occurred_at > timezone('UTC', now()) + {FUTURE_TOLERANCE}",
        ),
        _in_set("tx_type", TX_TYPES, "unknown_tx_type", "transaction types"),
        _in_set("direction", DIRECTIONS, "unknown_direction", "in or out"),
        Rule(
            "direction_mismatch",
            "direction contradicts the transaction type",
            f"tx_type IN {_sql_list(TX_TYPES)} AND direction IS NOT NULL "
            f"AND direction <> {_direction_cases()}",
        ),
        _in_set("asset", ASSETS, "unknown_asset", "known asset codes"),
        Rule(
            "amount_not_positive",
            "amount must be > 0",
            "amount <= 0",
            (
                "expect_column_values_to_be_between",
                {"column": "amount", "min_value": 0, "strict_min": True},
            ),
        ),
        Rule(
            "negative_fee",
            "fee must be >= 0",
            "fee < 0",
            ("expect_column_values_to_be_between", {"column": "fee", "min_value": 0}),
        ),
        Rule(
            "missing_merchant_id",
            "merchant_payment needs merchant_id",
            "tx_type = 'merchant_payment' AND merchant_id IS NULL",
        ),
        Rule(
            "missing_loan_id",
            "loan transactions need loan_id",
            "tx_type IN ('loan_disbursement', 'loan_repayment') AND loan_id IS NULL",
        ),
        Rule(
            "unknown_to_asset",
            "swap needs a known to_asset",
            f"tx_type = 'swap' AND (to_asset IS NULL OR to_asset NOT IN {_sql_list(ASSETS)})",
        ),
    ],
    "users": [
        Rule(
            "city_tier_out_of_range",
            "city_tier must be 1-5",
            "city_tier NOT BETWEEN 1 AND 5",
            (
                "expect_column_values_to_be_between",
                {"column": "city_tier", "min_value": 1, "max_value": 5},
            ),
        ),
        _in_set("kyc_level", KYC_LEVELS, "unknown_kyc_level", "KYC levels"),
        Rule(
            "date_of_birth_in_future",
            "date_of_birth after today",
            "date_of_birth > current_date",
        ),
    ],
    "wallets": [_in_set("chain", CHAINS, "unknown_chain", "supported chains")],
    "merchants": [
        _in_set("size_tier", MERCHANT_SIZE_TIERS, "unknown_size_tier", "size tiers"),
        Rule("malformed_mcc", "mcc must be 4 digits", "NOT regexp_full_match(mcc, '[0-9]{4}')"),
        Rule(
            "rate_out_of_range",
            "chargeback_rate and refund_rate must be within [0, 1]",
            "chargeback_rate NOT BETWEEN 0 AND 1 OR refund_rate NOT BETWEEN 0 AND 1",
        ),
    ],
    "prices": [
        _in_set("asset", ASSETS, "unknown_asset", "known asset codes"),
        Rule("price_not_positive", "price_base must be > 0", "price_base <= 0"),
    ],
    "loans": [
        _in_set("asset", ASSETS, "unknown_asset", "known asset codes"),
        Rule("principal_not_positive", "principal must be > 0", "principal <= 0"),
        Rule("term_not_positive", "term_days must be > 0", "term_days <= 0"),
    ],
}


def rules_for(entity: str) -> list[Rule]:
    """Every rule for an entity, generic (required/typed/unique) first."""
    return _generic_rules(ENTITIES[entity]) + DOMAIN_RULES.get(entity, [])


def all_rule_names() -> dict[str, list[str]]:
    return {name: [r.name for r in rules_for(name)] for name in ENTITIES}
