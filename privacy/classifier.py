"""Column classification: every column of every table gets an entity type with evidence.

Signals, combined per column:

1. **Name rules** (:data:`NAME_RULES`, first match wins) on the normalised column name, e.g.
   ``mobile`` -> mobile_number, ``order_no`` -> transaction_id, ``tx_hash`` -> tx_hash.
2. **Value detectors** (:mod:`privacy.detectors`) over a sample of non-null values (reservoir
   sample, default 1,000 rows), validated by check digits where one exists.

Decision:

- a *validated* detector (resident ID, bank card, checksummed chain address) matching >= 90% of
  the sample wins over any name ("when in doubt, grade higher");
- otherwise a name rule decides, with confidence raised when the values agree with it (a name that
  says "reference / order number / hash / amount" vetoes look-alike values: order numbers that look
  like phone numbers, 18-digit amounts, hex hashes);
- otherwise an unvalidated detector matching >= 90% decides;
- a column whose sample is all null, or that nothing recognises, is ``unknown`` (dropped by default
  deny).

The result rows (:class:`ColumnClassification`) are the rows of ``governance.column_inventory``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime

import duckdb
import pyarrow as pa

from privacy.detectors import DetectorHit, cell_text, run_detectors
from privacy.entities import ENTITY_TYPES, entity_type

__all__ = [
    "INVENTORY_TABLE",
    "NAME_RULES",
    "ColumnClassification",
    "classify_column",
    "classify_table",
    "classify_tables",
    "inventory_arrow",
    "normalise_column_name",
    "write_inventory",
]

INVENTORY_TABLE = "governance.column_inventory"
VALUE_THRESHOLD = 0.9

# (pattern on the normalised name, entity type). First match wins; order matters.
NAME_RULES: tuple[tuple[str, str], ...] = (
    (r"^_?(source_file|source_row|snapshot_id|file_path|source_path)$", "lineage"),
    (
        r"(^|_)(raw_record|raw|payload|notes?|comments?|memo|remarks?|message|body|text|error"
        r"|description)$",
        "free_text",
    ),
    # look-alike vetoes: references, hashes
    (
        r"(^|_)(order|invoice|ref|reference|serial|ticket|trade|receipt|booking|tracking|voucher)"
        r"(_?(id|no|num|number|code|ref))?$",
        "transaction_id",
    ),
    (
        r"(^|_)(tx|txn|transaction|block)_?hash$|(^|_)(hash|digest|checksum|sha\d*|md5)$|^txid$",
        "tx_hash",
    ),
    (r"^(txn|tx|transaction|trans|payment|transfer)_?(id|no|num|number|key)$", "transaction_id"),
    (
        r"^(resident_?id|id_?card(_?(no|num|number))?|(national|citizen)_?id|identity_?(no|number|card)"
        r"|id_?(no|num|number)|ssn|sfz|shenfenzheng)$",
        "resident_id",
    ),
    (
        r"^(user|account|acct|customer|cust|client|member|holder|borrower|subject|uid)"
        r"(_?(id|no|num|number|key))?$",
        "account_id",
    ),
    (r"^wallet_?(id|no|key)$", "wallet_id"),
    (r"^(merchant|mch|shop|store|acquirer)_?(id|no|key|code)$", "merchant_id"),
    (r"^(merchant|shop|store|business|trading|company)_?name$|^company$", "merchant_name"),
    (r"^(loan|contract|credit|application)_?(id|no|number)$", "loan_id"),
    (
        r"counter_?party|^(payee|payer|beneficiary|recipient|sender|receiver)(_.*)?$"
        r"|^(to|from)_?(addr|address|account|wallet)$",
        "counterparty",
    ),
    (r"(^|_)(bank_?card|card|credit_?card|debit_?card|pan)(_?(no|num|number))?$", "bank_card"),
    (
        r"(^|_)(mobile|phone|tel|telephone|msisdn|cell|cellphone)(_?(no|num|number))?$",
        "mobile_number",
    ),
    (r"(^|_)e_?mail(_?(address|addr))?$", "email"),
    (r"(^|_)ip(_?(address|addr|v4|v6))?$|^ipv[46]$|^remote_addr$", "ip_address"),
    (
        r"(^|_)(device|imei|idfa|udid|android|gaid|oaid)(_?(id|no|number|fingerprint))?$",
        "device_id",
    ),
    (
        r"(^|_)(lat|lng|lon|latitude|longitude|geo|gps|coordinates|location|street|street_address"
        r"|home_address|postal_address|residential_address)$",
        "precise_location",
    ),
    (
        r"^((wallet|chain|crypto|btc|eth|tron|deposit|withdrawal|onchain)_)?(address|addr)$",
        "blockchain_address",
    ),
    (r"(^|_)(dob|birth|birthday|birthdate|birth_date|date_of_birth)$", "date_of_birth"),
    (
        r"^(full|first|last|given|family|real|middle|legal|holder|customer|display)_?name$|^name$"
        r"|^surname$|^nickname$|^user_?name$",
        "person_name",
    ),
    (r"(^|_)(gender|sex)$", "gender"),
    (r"^(home_|merchant_|shop_)?city_?(tier|level|class)$", "city_tier"),
    (r"(^|_)(city|town|province|district|prefecture|county)$", "city"),
    (r"(^|_)(country|nation|country_code|nationality)$", "country"),
    (r"(^|_)kyc(_.*)?$", "kyc_level"),
    (r"(^|_)(id|key|code)$", "record_id"),
    (r"(_at|_time|_ts|_timestamp|_datetime)$|^(timestamp|ts|datetime|time)$", "timestamp"),
    (r"(_date|_day)$|^(date|day)$", "date"),
    (r"(_rate|_ratio|_share|_pct|_percent)$|^(rate|ratio)$", "rate"),
    (r"(^|_)price(_.*)?$", "price"),
    (
        r"(^|_)(amount|amt|principal|fee|fees|balance|value|volume|total|sum|limit|income|salary"
        r"|payment|deposit|withdrawal)(_.*)?$",
        "amount",
    ),
    (
        r"(_days|_count|_cnt|_qty|_quantity|_months|_years|_bytes|_rows)$"
        r"|^(count|n|qty|quantity|term|files|rows|records)$|^(num|n|rows)_",
        "count",
    ),
    (r"(^|_)(asset|currency|ccy|coin|token|symbol)$", "asset_code"),
    (
        r"(^|_)(type|direction|status|category|mcc|tier|kind|class|segment|channel|chain|level"
        r"|flag|method|network|entity|format|rules?)$",
        "category",
    ),
)
_COMPILED = tuple((re.compile(p), e) for p, e in NAME_RULES)
# Name rules that say "this is a reference / digest / quantity": they veto unvalidated detectors.
_VETO_ENTITIES = frozenset(
    {
        "transaction_id",
        "tx_hash",
        "amount",
        "price",
        "rate",
        "count",
        "record_id",
        "loan_id",
        "merchant_id",
        "date",
        "timestamp",
    }
)


_KEY_ENTITIES = frozenset(
    {"account_id", "wallet_id", "merchant_id", "loan_id", "transaction_id", "record_id"}
)
_KEY_RE = re.compile(r"^[\w\-|:.]{3,64}$")


def normalise_column_name(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    return s


def name_signal(column: str) -> tuple[str, str] | None:
    """(entity, rule pattern) of the first name rule matching ``column``, if any."""
    norm = normalise_column_name(column)
    for rx, entity in _COMPILED:
        if rx.search(norm):
            return entity, rx.pattern
    return None


@dataclass(frozen=True)
class ColumnClassification:
    table: str
    column: str
    dtype: str
    entity_type: str
    confidence: float
    evidence: str
    pipl_category: str
    pipl_sensitive: bool
    gbt_grade: str
    sensitivity_level: str
    gdpr_art9: bool
    retention: str
    retention_basis: str
    direct_identifier: bool
    personal: bool
    sampled: int
    non_null: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _value_agreement(entity: str, dtype: str, values: Sequence[object]) -> tuple[float, str]:
    """For name-only entity types, how well the values fit (fraction, evidence)."""
    vals = [v for v in values if v is not None]
    if not vals:
        return 0.0, ""
    dt = dtype.upper()
    if entity == "date_of_birth":
        today = date.today()
        ages = []
        for v in vals:
            d = v.date() if isinstance(v, datetime) else v
            if isinstance(d, str):
                try:
                    d = date.fromisoformat(d[:10])
                except ValueError:
                    continue
            if isinstance(d, date):
                ages.append((today - d).days / 365.25)
        ok = sum(1 for a in ages if 0 <= a <= 120)
        return ok / len(vals), f"{ok}/{len(vals)} values are dates with an age in 0-120"
    if entity in ("timestamp", "date"):
        ok = sum(1 for v in vals if isinstance(v, date))
        typed = dt.startswith(("TIMESTAMP", "DATE"))
        return (1.0 if typed else ok / len(vals)), f"type {dtype}"
    if entity in ("amount", "price", "rate", "count", "kyc_level", "city_tier"):
        ok = sum(1 for v in vals if isinstance(v, int | float) and not isinstance(v, bool))
        return ok / len(vals), f"{ok}/{len(vals)} numeric values (type {dtype})"
    if entity in _KEY_ENTITIES:
        ok = sum(1 for v in vals if isinstance(v, str) and _KEY_RE.match(v))
        return ok / len(vals), f"{ok}/{len(vals)} values are key-shaped (no spaces, 3-64 chars)"
    if entity in ("category", "asset_code", "country"):
        distinct = len({str(v) for v in vals})
        ok = distinct <= max(60, len(vals) // 10)
        return (1.0 if ok else 0.0), f"{distinct} distinct values in {len(vals)}"
    if entity == "lineage":
        return 1.0, "ingest lineage column"
    if entity == "counterparty":
        ok = sum(1 for v in vals if isinstance(v, str) and _KEY_RE.match(v))
        return ok / len(vals), f"{ok}/{len(vals)} values are ids or addresses"
    if entity == "gender":
        codes = {str(v).strip().lower() for v in vals}
        fits = codes <= {"f", "m", "male", "female", "男", "女", "u", "x", "o", "other", "unknown"}
        return (1.0 if fits else 0.0), f"{len(codes)} distinct gender codes"
    return 0.0, ""


def classify_column(
    table: str, column: str, dtype: str, values: Sequence[object]
) -> ColumnClassification:
    """Classify one column from its name, DuckDB type and sampled values."""
    non_null = [v for v in values if v is not None]
    texts = [t for t in (cell_text(v) for v in non_null) if t is not None and t.strip()]
    sig = name_signal(column)
    evidence: list[str] = []
    if not texts:
        evidence.append(f"all {len(values)} sampled values are null or empty")
        if sig:
            # Nothing to check against, and nothing to leak: an absent optional column (or an
            # entity a ledger does not send) keeps its contract meaning, so minimisation treats it
            # as what it would hold and the downstream models keep their columns (all NULL).
            evidence.append(f"no values to check: classified by its name as {sig[0]}")
            return _row(table, column, dtype, sig[0], 0.5, evidence, len(values), len(non_null))
        return _row(table, column, dtype, "unknown", 1.0, evidence, len(values), len(non_null))

    hits = run_detectors(texts)
    hit_by_entity: dict[str, DetectorHit] = {}
    for h in hits:
        best = hit_by_entity.get(h.entity)
        if best is None or (h.validated, h.fraction) > (best.validated, best.fraction):
            hit_by_entity[h.entity] = h
    validated = sorted(
        (h for h in hits if h.validated and h.fraction >= VALUE_THRESHOLD),
        key=lambda h: -h.fraction,
    )
    unvalidated = sorted(
        (h for h in hits if not h.validated and h.fraction >= VALUE_THRESHOLD),
        key=lambda h: -h.fraction,
    )

    def describe(h: DetectorHit) -> str:
        tag = "validated" if h.validated else "pattern"
        return f"{h.detector}: {h.matched}/{len(texts)} ({h.fraction:.0%}) {tag} [{h.evidence}]"

    entity: str
    conf: float
    if validated:
        h = validated[0]
        entity = h.entity
        agrees = sig is not None and sig[0] == entity
        conf = 0.7 + 0.3 * h.fraction if agrees else 0.6 + 0.35 * h.fraction
        evidence.append(describe(h))
        if sig is not None:
            evidence.append(
                f"name '{column}' -> {sig[0]}" + (" (agrees)" if agrees else " (overridden)")
            )
    elif sig is not None:
        entity = sig[0]
        evidence.append(f"name '{column}' matches rule /{sig[1]}/ -> {entity}")
        h2 = hit_by_entity.get(entity)
        if h2 is not None:
            conf = 0.7 + 0.3 * h2.fraction
            evidence.append(describe(h2))
        else:
            frac, why = _value_agreement(entity, dtype, non_null)
            conf = 0.75 + 0.2 * frac
            if why:
                evidence.append(why)
        if entity in _VETO_ENTITIES:
            looks = [h for h in unvalidated if h.entity != entity]
            if looks:
                evidence.append(
                    "values look like "
                    + ", ".join(h.detector for h in looks)
                    + f" but the name says {entity}: look-alike vetoed"
                )
        else:
            others = [h for h in hits if h.entity != entity and h.fraction >= 0.05]
            if others:
                evidence.append("also seen: " + "; ".join(describe(h) for h in others))
    elif unvalidated:
        h = unvalidated[0]
        entity = h.entity
        conf = 0.5 + 0.35 * h.fraction
        evidence.append(describe(h))
        evidence.append(f"name '{column}' matches no rule")
    else:
        entity, conf = "unknown", 0.5
        evidence.append(f"name '{column}' matches no rule and no detector matched >= 90%")
        if hits:
            evidence.append("partial: " + "; ".join(describe(h) for h in hits))
    return _row(table, column, dtype, entity, conf, evidence, len(values), len(non_null))


def _row(
    table: str,
    column: str,
    dtype: str,
    entity: str,
    conf: float,
    evidence: list[str],
    sampled: int,
    non_null: int,
) -> ColumnClassification:
    et = entity_type(entity)
    return ColumnClassification(
        table=table,
        column=column,
        dtype=dtype,
        entity_type=entity,
        confidence=round(min(conf, 1.0), 3),
        evidence="; ".join(evidence),
        pipl_category=et.pipl_category,
        pipl_sensitive=et.pipl_sensitive,
        gbt_grade=et.gbt_grade,
        sensitivity_level=et.level,
        gdpr_art9=et.gdpr_art9,
        retention=et.retention,
        retention_basis=et.retention_basis,
        direct_identifier=et.direct_identifier,
        personal=et.personal,
        sampled=sampled,
        non_null=non_null,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def classify_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    schema: str = "ledger",
    sample_size: int = 1000,
    seed: int = 7,
    relation: str | None = None,
) -> list[ColumnClassification]:
    """Classify every column of ``schema.table`` from a reservoir sample of its rows; columns
    sparse in that sample get their own sample of non-null values. ``relation`` is read instead
    of the table (same columns), e.g. a view with the vault's plaintext in place of tokens
    (:class:`privacy.at_rest.Plaintext`), so columns are classified by what they hold."""
    cols = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    fq = relation or f"{_quote(schema)}.{_quote(table)}"
    sample = con.sql(
        f"SELECT * FROM {fq} USING SAMPLE reservoir({int(sample_size)} ROWS) REPEATABLE ({seed})"
    ).to_arrow_table()
    out: list[ColumnClassification] = []
    for name, dtype in cols:
        values = sample.column(name).to_pylist()
        nn = sum(1 for v in values if v is not None)
        if nn < min(100, sample_size // 4) and sample.num_rows:
            extra = con.sql(
                f"SELECT {_quote(name)} FROM {fq} WHERE {_quote(name)} IS NOT NULL "
                f"LIMIT {int(sample_size)}"
            ).to_arrow_table()
            if extra.num_rows:
                values = extra.column(0).to_pylist()
        out.append(classify_column(table, name, dtype, values))
    return out


def classify_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Iterable[str] | None = None,
    *,
    schema: str = "ledger",
    sample_size: int = 1000,
    relations: Mapping[str, str] | None = None,
) -> list[ColumnClassification]:
    """Classify every column of the given tables (default: every base table in ``schema``);
    ``relations`` maps a table to the relation read in its place (see :func:`classify_table`)."""
    if tables is None:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
                "AND table_type = 'BASE TABLE' ORDER BY table_name",
                [schema],
            ).fetchall()
        ]
    out: list[ColumnClassification] = []
    for t in tables:
        rel = (relations or {}).get(t)
        out.extend(classify_table(con, t, schema=schema, sample_size=sample_size, relation=rel))
    return out


_ARROW_TYPES: dict[str, pa.DataType] = {
    "confidence": pa.float64(),
    "pipl_sensitive": pa.bool_(),
    "gdpr_art9": pa.bool_(),
    "direct_identifier": pa.bool_(),
    "personal": pa.bool_(),
    "sampled": pa.int64(),
    "non_null": pa.int64(),
}


def inventory_arrow(rows: Sequence[ColumnClassification]) -> pa.Table:
    names = [f.name for f in fields(ColumnClassification)]
    return pa.table(
        {
            n: pa.array([getattr(r, n) for r in rows], _ARROW_TYPES.get(n, pa.string()))
            for n in names
        }
    )


def write_inventory(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[ColumnClassification],
    table: str = INVENTORY_TABLE,
) -> int:
    """Replace ``governance.column_inventory`` with ``rows``. Returns the row count."""
    schema = table.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.register("_ll_inventory", inventory_arrow(rows))
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _ll_inventory")
    finally:
        con.unregister("_ll_inventory")
    return len(rows)


def read_inventory(
    con: duckdb.DuckDBPyConnection, table: str = INVENTORY_TABLE
) -> list[ColumnClassification]:
    names = [f.name for f in fields(ColumnClassification)]
    rows = con.execute(f"SELECT {', '.join(_quote(n) for n in names)} FROM {table}").fetchall()
    return [ColumnClassification(*r) for r in rows]


assert set(ENTITY_TYPES) >= {e for _, e in NAME_RULES}
