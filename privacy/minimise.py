"""Per-purpose minimised copies of the ledger, built in SQL.

For each purpose of the policy and each classified table ``ledger.<table>`` this creates
``minimised.<short>_<table>``, where ``<short>`` is the purpose's short name from the policy
(``credit_scoring`` -> ``credit``, ``insights_sale`` -> ``insights``, ``dpo_audit`` -> ``dpo``):
``minimised.credit_transactions``, ``minimised.credit_users``, ``minimised.insights_users``, ...

Column conventions (so downstream models switch sources cheaply):

- ``keep`` / ``pseudonymise`` / ``tokenise``: the column keeps its name (pseudonyms and tokens are
  VARCHAR);
- ``generalise``: the column is replaced by a descriptively named one, from the generaliser
  (``date_of_birth`` -> ``age_band``, ``ip_address`` -> ``ip_prefix``, ``occurred_at`` ->
  ``occurred_date`` (day) / ``occurred_hour``, ``home_city`` -> ``home_city_region``,
  ``amount`` -> ``amount_band``, ``signup_date`` -> ``signup_month``);
- ``drop`` (explicit or default deny): the column is absent.

Pseudonyms are one HMAC key per purpose over the canonical value, so user ids, wallet ids,
device ids and counterparties join within a purpose and never across purposes. They are computed
in SQL over the DISTINCT values only (a mapping table joined back). Tokens (AES-SIV) are computed
in Python over the distinct values. Rows of subjects in the erasure register are excluded (any
``account_id`` column), and counterparties that are erased subjects are nulled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import duckdb
import pyarrow as pa

from privacy._db import fetch_one
from privacy.generalisers import GENERALISERS
from privacy.keyvault import KeyVault
from privacy.policy import Policy
from privacy.pseudonyms import Tokeniser, hmac_pads, hmac_sql
from privacy.register import ERASURE_TABLE, ensure_register, erased_values_sql

__all__ = [
    "MINIMISED_SCHEMA",
    "ColumnRecord",
    "MinimisedTable",
    "MinimiseResult",
    "minimise",
    "minimised_table_name",
]

MINIMISED_SCHEMA = "minimised"
_SUBJECT_ENTITIES = frozenset({"account_id"})
_ERASED = "_ll_erased"


class _Classified(Protocol):
    table: str
    column: str
    entity_type: str


@dataclass(frozen=True)
class ColumnRecord:
    """What happened to one source column under one purpose (Dagster column metadata)."""

    purpose: str
    source_table: str
    column: str
    entity_type: str
    action: str
    generaliser: str | None
    output_table: str | None
    output_column: str | None
    default_deny: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class MinimisedTable:
    purpose: str
    source_table: str
    output_table: str | None
    rows: int
    columns: list[ColumnRecord] = field(default_factory=list)


@dataclass
class MinimiseResult:
    purpose: str
    short: str
    tables: list[MinimisedTable]
    erased_subjects: int

    @property
    def records(self) -> list[ColumnRecord]:
        return [c for t in self.tables for c in t.columns]


def minimised_table_name(short: str, table: str, schema: str = MINIMISED_SCHEMA) -> str:
    """``minimised.<purpose short>_<table>``, e.g. ``minimised.credit_transactions``."""
    return f"{schema}.{short}_{table}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def minimise(
    con: duckdb.DuckDBPyConnection,
    inventory: Sequence[_Classified],
    policy: Policy,
    keyvault: KeyVault,
    *,
    purposes: Iterable[str] | None = None,
    source_schema: str = "ledger",
    target_schema: str = MINIMISED_SCHEMA,
    as_of: str = "CURRENT_DATE",
    relations: Mapping[str, str] | None = None,
) -> dict[str, MinimiseResult]:
    """Build the minimised tables of every (or the given) purpose. ``as_of`` is the SQL date
    expression age bands are computed at. ``relations`` maps a table to the relation read in
    its place (same columns): the pipeline passes views with the vault's plaintext in place of
    at-rest tokens (:class:`privacy.at_rest.Plaintext`), so generalisers, pseudonyms and tokens
    are computed from the real values, in memory. Returns per purpose the column-level records."""
    by_table: dict[str, list[_Classified]] = {}
    for row in inventory:
        by_table.setdefault(row.table, []).append(row)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {target_schema}")
    src = _Sources(source_schema, dict(relations or {}))
    n_erased = _prepare_erased(con, keyvault, by_table, src)
    results: dict[str, MinimiseResult] = {}
    for purpose in purposes if purposes is not None else list(policy.purposes):
        results[purpose] = _minimise_purpose(
            con, by_table, policy, keyvault, purpose, src, target_schema, as_of, n_erased
        )
    con.execute(f"DROP TABLE IF EXISTS {_ERASED}")
    return results


@dataclass(frozen=True)
class _Sources:
    """Where each source table is read from, and the name it is reported under."""

    schema: str
    relations: dict[str, str]

    def read(self, table: str) -> str:
        return self.relations.get(table) or f"{self.schema}.{_q(table)}"

    def name(self, table: str) -> str:
        return f"{self.schema}.{table}"


def _prepare_erased(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    by_table: dict[str, list[_Classified]],
    src: _Sources,
) -> int:
    ensure_register(con)
    row = fetch_one(con, f"SELECT count(*) FROM {ERASURE_TABLE}")
    subject_cols = [
        (t, r.column)
        for t, rows in by_table.items()
        for r in rows
        if r.entity_type in _SUBJECT_ENTITIES
    ]
    if not row or not row[0] or not subject_cols:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_ERASED} (v VARCHAR)")
        return 0
    union = " UNION ".join(
        f"SELECT DISTINCT CAST({_q(c)} AS VARCHAR) FROM {src.read(t)}" for t, c in subject_cols
    )
    return erased_values_sql(con, keyvault, union, _ERASED)


def _minimise_purpose(
    con: duckdb.DuckDBPyConnection,
    by_table: dict[str, list[_Classified]],
    policy: Policy,
    keyvault: KeyVault,
    purpose: str,
    src: _Sources,
    target_schema: str,
    as_of: str,
    n_erased: int,
) -> MinimiseResult:
    short = policy.short(purpose)
    decisions = {
        (t, r.column): policy.decide(r.entity_type, purpose)
        for t, rows in by_table.items()
        for r in rows
    }
    # One pseudonym map per purpose over the distinct values of every pseudonymised column.
    pmap = f"_ll_pmap_{short}"
    pcols = [(t, c) for (t, c), d in decisions.items() if d.action == "pseudonymise"]
    if pcols:
        inner, outer = hmac_pads(keyvault.purpose_key(purpose, "hmac"))
        union = " UNION ".join(
            f"SELECT CAST({_q(c)} AS VARCHAR) AS v FROM {src.read(t)} WHERE {_q(c)} IS NOT NULL"
            for t, c in pcols
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {pmap} AS SELECT v, {hmac_sql('v')} AS p "
            f"FROM ({union}) u",
            {"hmac_i": inner, "hmac_o": outer},
        )
    tmap = f"_ll_tmap_{short}"
    tcols = [(t, c) for (t, c), d in decisions.items() if d.action == "tokenise"]
    if tcols:
        union = " UNION ".join(
            f"SELECT CAST({_q(c)} AS VARCHAR) AS v FROM {src.read(t)} WHERE {_q(c)} IS NOT NULL"
            for t, c in tcols
        )
        values = [r[0] for r in con.execute(union).fetchall()]
        tok = Tokeniser(keyvault, purpose)
        con.register(
            "_ll_tmap_src",
            pa.table(
                {
                    "v": pa.array(values, pa.string()),
                    "p": pa.array(tok.tokenise_many(values), pa.string()),
                }
            ),
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {tmap} AS SELECT * FROM _ll_tmap_src")
        con.unregister("_ll_tmap_src")

    tables: list[MinimisedTable] = []
    for table, rows in by_table.items():
        out_table = minimised_table_name(short, table, target_schema)
        selects: list[str] = []
        joins: list[str] = []
        where: list[str] = []
        records: list[ColumnRecord] = []
        used: set[str] = set()
        temps: list[str] = []
        for i, r in enumerate(rows):
            d = decisions[(table, r.column)]
            col = f"t.{_q(r.column)}"
            out_col: str | None = r.column
            if r.entity_type in _SUBJECT_ENTITIES and n_erased:
                where.append(
                    f"({col} IS NULL OR CAST({col} AS VARCHAR) NOT IN (SELECT v FROM {_ERASED}))"
                )
            if d.action == "drop":
                out_col = None
            elif d.action == "keep":
                expr = col
            elif d.action in ("pseudonymise", "tokenise"):
                alias = f"m{i}"
                joins.append(
                    f"LEFT JOIN {pmap if d.action == 'pseudonymise' else tmap} {alias} "
                    f"ON {alias}.v = CAST({col} AS VARCHAR)"
                )
                expr = f"{alias}.p"
            else:  # generalise
                assert d.generaliser is not None
                g = GENERALISERS[d.generaliser]
                out_col = g.output_name(r.column)
                if g.by_distinct:
                    gmap = f"_ll_gmap_{short}_{i}"
                    con.execute(
                        f"CREATE OR REPLACE TEMP TABLE {gmap} AS SELECT v, {g.sql('v', as_of)} AS g "
                        f"FROM (SELECT DISTINCT {_q(r.column)} AS v FROM "
                        f"{src.read(table)} WHERE {_q(r.column)} IS NOT NULL) d"
                    )
                    temps.append(gmap)
                    joins.append(f"LEFT JOIN {gmap} g{i} ON g{i}.v = {col}")
                    expr = f"g{i}.g"
                else:
                    expr = g.sql(col, as_of)
            if out_col is not None:
                if r.entity_type == "counterparty" and n_erased:
                    expr = (
                        f"(CASE WHEN CAST({col} AS VARCHAR) IN (SELECT v FROM {_ERASED}) "
                        f"THEN NULL ELSE {expr} END)"
                    )
                while out_col in used:
                    out_col = f"{out_col}_g"
                used.add(out_col)
                selects.append(f"{expr} AS {_q(out_col)}")
            records.append(
                ColumnRecord(
                    purpose=purpose,
                    source_table=src.name(table),
                    column=r.column,
                    entity_type=r.entity_type,
                    action=d.action,
                    generaliser=d.generaliser,
                    output_table=out_table if out_col is not None else None,
                    output_column=out_col,
                    default_deny=d.default_deny,
                    reason=d.reason,
                )
            )
        schema_, name_ = out_table.split(".", 1)
        if not selects:
            con.execute(f"DROP TABLE IF EXISTS {schema_}.{_q(name_)}")
            records = [ColumnRecord(**{**asdict(c), "output_table": None}) for c in records]
            tables.append(MinimisedTable(purpose, src.name(table), None, 0, records))
            continue
        sql = (
            f"CREATE OR REPLACE TABLE {schema_}.{_q(name_)} AS SELECT {', '.join(selects)} "
            f"FROM {src.read(table)} t {' '.join(joins)}"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        con.execute(sql)
        for tmp in temps:
            con.execute(f"DROP TABLE IF EXISTS {tmp}")
        cnt = fetch_one(con, f"SELECT count(*) FROM {schema_}.{_q(name_)}")
        tables.append(
            MinimisedTable(purpose, src.name(table), out_table, int(cnt[0]) if cnt else 0, records)
        )
    con.execute(f"DROP TABLE IF EXISTS {pmap}")
    con.execute(f"DROP TABLE IF EXISTS {tmap}")
    return MinimiseResult(purpose, short, tables, n_erased)
