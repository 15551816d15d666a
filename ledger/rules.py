"""Validation rules for landed rows, declared once.

Each rule is a SQL predicate that is TRUE when a row FAILS it. Ingest evaluates every rule in one
vectorised pass and sends a row to quarantine with the list of every rule it failed.

Inside a predicate, ``<col>`` is the column's typed value (NULL when absent, empty or
unparseable) and ``_p_<col>`` is TRUE when the file carried a non-empty value for it. Rules of
scope ``row`` need nothing but the row; rules of scope ``batch`` read helper columns that ingest
computes over the whole batch and the ledger: ``_is_duplicate``, ``_unknown_<col>`` and
``_erased_subject`` (from the ingest's ``protect`` step; always false without one).

Bounds of numeric columns and the floor of dates are configurable (:class:`Limits`); their
defaults are declared in :mod:`ledger.contract`. The Great Expectations suite in
:mod:`ledger.expectations` is declared separately on purpose: it checks what these rules cannot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from ledger.contract import (
    ASSETS,
    CHAINS,
    DIRECTIONS,
    ENTITIES,
    KYC_LEVELS,
    MERCHANT_SIZE_TIERS,
    TX_DIRECTION,
    TX_TYPES,
    Entity,
)

# Clock skew we tolerate before calling a timestamp "in the future".
FUTURE_TOLERANCE = "INTERVAL 10 MINUTE"

# Control, format (zero-width, bidi, BOM), line/paragraph separators and every space but ASCII
# space: characters that make two keys look equal while comparing unequal (RE2 syntax).
INVISIBLE_CHARACTERS = r"[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]|[^ \P{Z}]"

# Where the generic rule name ("unparseable_occurred_at") is not what an operator would search for.
RULE_NAME_OVERRIDES: dict[tuple[str, str], str] = {
    ("transactions", "unparseable_occurred_at"): "malformed_timestamp",
}

Bounds = tuple[float | None, float | None]


@dataclass(frozen=True)
class Limits:
    """Deployment-specific limits: numeric bounds per (entity, column) and the earliest date.

    ``bounds`` overrides the contract's defaults; a value of ``None`` for a column removes its
    bound. ``date_floor`` applies to every DATE and TIMESTAMP column unless ``date_floors``
    names that column.
    """

    bounds: Mapping[tuple[str, str], Bounds | None] = field(default_factory=dict)
    date_floor: date = date(1900, 1, 1)
    date_floors: Mapping[tuple[str, str], date] = field(default_factory=dict)

    def bounds_for(self, entity: str, column: str) -> Bounds | None:
        if (entity, column) in self.bounds:
            return self.bounds[(entity, column)]
        return ENTITIES[entity].column(column).bounds

    def floor_for(self, entity: str, column: str) -> date:
        return self.date_floors.get((entity, column), self.date_floor)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    fails_when: str
    scope: Literal["row", "batch"] = "row"
    # (column, values) when the rule admits only those values (or NULL) in the column; not part
    # of the rule's identity (the contract version digests the rules' repr).
    closed: tuple[str, tuple[object, ...]] | None = field(default=None, repr=False, compare=False)
    # The text column whose values, when all are printable ASCII, cannot fail the rule (ingest
    # skips it then); not part of the rule's identity either.
    ascii_safe: str | None = field(default=None, repr=False, compare=False)


def _sql_list(values: tuple[object, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values) + ")"


def _bound_rule(column: str, dtype: str, bounds: Bounds) -> Rule:
    low, high = bounds
    tests = []
    if low is not None:
        tests.append(f"{column} < {low!r}")
    if high is not None:
        tests.append(f"{column} > {high!r}")
    # NaN compares greater than every number in DuckDB; it has its own rule.
    guard = f"isfinite({column}) AND " if dtype == "DOUBLE" else ""
    shown = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
    return Rule(
        f"{column}_out_of_range",
        f"{column} must lie within {shown}",
        f"{guard}({' OR '.join(tests)})",
    )


def _column_rules(entity: Entity, limits: Limits) -> list[Rule]:
    rules: list[Rule] = []
    for col in entity.columns:
        name = col.name
        if col.required:
            rules.append(Rule(f"missing_{name}", f"{name} is required", f"NOT _p_{name}"))
        if col.dtype != "VARCHAR":
            rule = RULE_NAME_OVERRIDES.get((entity.name, f"unparseable_{name}"))
            rules.append(
                Rule(
                    rule or f"unparseable_{name}",
                    f"{name} must parse as {col.dtype}",
                    f"_p_{name} AND {name} IS NULL",
                )
            )
        if col.dtype == "DOUBLE":
            rules.append(
                Rule(
                    f"non_finite_{name}", f"{name} must be a finite number", f"NOT isfinite({name})"
                )
            )
        bounds = limits.bounds_for(entity.name, name)
        if bounds is not None and bounds != (None, None):
            rules.append(_bound_rule(name, col.dtype, bounds))
        if col.dtype in ("DATE", "TIMESTAMP"):
            floor = limits.floor_for(entity.name, name)
            rules.append(
                Rule(
                    f"{name}_before_floor",
                    f"{name} must not be earlier than {floor.isoformat()}",
                    f"{name} < DATE '{floor.isoformat()}'",
                )
            )
    for col in entity.key_columns:
        rules.append(
            Rule(
                f"invisible_character_in_{col.name}",
                f"{col.name} holds a control, zero-width or non-ASCII space character",
                f"regexp_matches({col.name}, '{INVISIBLE_CHARACTERS}')",
                ascii_safe=col.name,
            )
        )
    return rules


def _batch_rules(entity: Entity) -> list[Rule]:
    rules = [
        Rule(
            f"unknown_{col.name}",
            f"{col.name} names no row of {col.references}",
            f"_unknown_{col.name}",
            "batch",
        )
        for col in entity.key_columns
        if col.references
    ]
    if "user_id" in entity.column_names:
        rules.append(
            Rule(
                "erased_subject",
                "user_id names a subject in the erasure register: nothing of the row is kept",
                "_erased_subject",
                "batch",
            )
        )
    rules.append(
        Rule(
            f"duplicate_{entity.key}",
            f"{entity.key} already loaded, or seen earlier in this batch; the first row that "
            "passes every other rule wins",
            "_is_duplicate",
            "batch",
        )
    )
    return rules


def _in_set(column: str, values: tuple[object, ...], rule: str, what: str) -> Rule:
    return Rule(
        rule,
        f"{column} must be one of {', '.join(map(str, values))} ({what})",
        f"{column} IS NOT NULL AND {column} NOT IN {_sql_list(values)}",
        closed=(column, values),
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
        Rule("amount_not_positive", "amount must be > 0", "amount <= 0"),
        Rule("negative_fee", "fee must be >= 0", "fee < 0"),
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


def rules_for(entity: str, limits: Limits = DEFAULT_LIMITS) -> list[Rule]:
    """Every rule for an entity: per-column (required, typed, finite, bounded, floor, keys)
    first, then the domain rules, then the batch rules (references, duplicates)."""
    ent = ENTITIES[entity]
    return _column_rules(ent, limits) + DOMAIN_RULES.get(entity, []) + _batch_rules(ent)


def closed_sets(entity: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, tuple[object, ...]]:
    """Columns whose value, in every row that passes the row rules, is NULL or one of a fixed
    set (a row with any other value fails a rule and keeps its raw record)."""
    return {
        r.closed[0]: r.closed[1]
        for r in rules_for(entity, limits)
        if r.closed is not None and r.scope == "row"
    }


def all_rule_names(limits: Limits = DEFAULT_LIMITS) -> dict[str, list[str]]:
    return {name: [r.name for r in rules_for(name, limits)] for name in ENTITIES}
