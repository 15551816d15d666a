"""Column-level lineage of the Python assets, derived from what the code already declares.

- **Minimised tables**: the minimisation's own records (:class:`privacy.minimise.ColumnRecord`:
  source column, action, generaliser, output column).
- **Credit features**: sqlglot's lineage of the feature SQL itself (:func:`credit.features.
  feature_sql`) over the marts' columns.
- **Scores**: the keys pass through; every other column (points, PD, grade, reasons) is computed
  from the scored features (:data:`credit.features.FEATURE_COLUMNS`), ``thin_file`` also from
  the short-history flag.
- **Pricing**: columns named as a score column are that column; ``term_days`` is the feature;
  every other column is computed from PD, grade, term and the income sources pricing declares
  (:data:`credit.pricing.INCOME_SOURCES`): an over-approximation (a constant cost line is
  listed too), never a miss.
- **Merchant pricing**: sqlglot's lineage of the SELECT the asset runs, then the pass-through
  columns of :data:`credit.pricing.MERCHANT_PRICING_COLUMNS`; every other column from all inputs.
- **DP releases**: each cell column from the insight base columns it is (a dimension) or measures
  (:data:`privacy.dp.base.BASE_COLUMNS` declares their minimised sources).

Each function returns ``column -> ((relation, column), ...)`` (sorted), the shape of the dbt
models' lineage (:mod:`privacy.dpo.column_lineage`), so the asset layer records both alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from credit.features import FEATURE_COLUMNS, KEY_COLUMNS, feature_sql
from credit.pricing import INCOME_SOURCES, MERCHANT_PRICING_COLUMNS, PRICING_COLUMNS
from credit.scoring import SCORES_COLUMNS
from privacy.dp.base import BASE_COLUMNS, SCHEMA
from privacy.dp.catalogue import Report
from privacy.dpo.column_lineage import ColumnDeps, sql_column_lineage

__all__ = [
    "ColumnMap",
    "feature_columns",
    "merchant_pricing_columns",
    "minimised_columns",
    "pricing_columns",
    "release_columns",
    "score_columns",
]

ColumnMap = dict[str, ColumnDeps]


class Minimised(Protocol):
    """The fields of :class:`privacy.minimise.ColumnRecord` lineage reads."""

    @property
    def source_table(self) -> str: ...
    @property
    def column(self) -> str: ...
    @property
    def output_column(self) -> str | None: ...


def _deps(pairs: Sequence[tuple[str, str]] | set[tuple[str, str]]) -> ColumnDeps:
    return tuple(sorted(set(pairs)))


def minimised_columns(records: Sequence[Minimised]) -> ColumnMap:
    """Each kept column of a minimised table -> the ledger column it is the (pseudonymised,
    generalised or tokenised) form of; dropped columns are absent."""
    return {r.output_column: ((r.source_table, r.column),) for r in records if r.output_column}


def feature_columns(
    tables: Mapping[str, Sequence[str]], events: str, applications: str, subjects: str
) -> ColumnMap:
    """The credit features from the feature SQL over the marts (``tables``: relation ->
    columns). Raises sqlglot's ``SqlglotError`` if the SQL cannot be analysed."""
    names = (events, applications, subjects)
    sql = feature_sql(events, applications, subjects)
    return sql_column_lineage(sql, {n: list(tables.get(n, ())) for n in names})


def score_columns(features: str, available: Sequence[str]) -> ColumnMap:
    """``credit.scores`` from ``features`` (the relation; ``available``: its columns)."""
    have = set(available)
    scored = [(features, c) for c in FEATURE_COLUMNS if c in have]
    out: ColumnMap = {}
    for column in SCORES_COLUMNS:
        if column in KEY_COLUMNS:
            out[column] = _deps([(features, column)] if column in have else [])
        elif column == "model_version":
            out[column] = ()
        elif column == "thin_file" and "short_history" in have:
            out[column] = _deps([*scored, (features, "short_history")])
        else:
            out[column] = _deps(scored)
    return out


def pricing_columns(scores: str, features: str, available: Sequence[str]) -> ColumnMap:
    """``credit.pricing`` from ``scores`` and ``features`` (``available``: the feature columns)."""
    have = set(available)
    inputs = [(scores, "pd"), (scores, "grade")]
    inputs += [(features, c) for c in ("term_days", *(c for c, _ in INCOME_SOURCES)) if c in have]
    out: ColumnMap = {}
    for column in PRICING_COLUMNS:
        if column in SCORES_COLUMNS:
            out[column] = ((scores, column),)
        elif column in have and column == "term_days":
            out[column] = ((features, column),)
        else:
            out[column] = _deps(inputs)
    return out


def merchant_pricing_columns(select_sql: str, tables: Mapping[str, Sequence[str]]) -> ColumnMap:
    """``credit.merchant_pricing`` from the SELECT that reads its inputs (``tables``: relation
    -> columns of what it reads)."""
    read = sql_column_lineage(select_sql, tables)
    every = _deps([d for deps in read.values() for d in deps])
    return {c: read.get(c, every) for c in MERCHANT_PRICING_COLUMNS}


def _base_sources(column: str | None) -> ColumnDeps:
    base = BASE_COLUMNS.get(column or "")
    if base is None:
        return ()
    return _deps([(f"{SCHEMA}.{table}", col) for table, col in base.sources])


def release_columns(report: Report, cell_columns: Sequence[str]) -> ColumnMap:
    """The cells of a release of ``report``: a dimension column from the base column it is, a
    measure from the base column it measures (a count of holders has no value source); other
    cell columns (suppression flags, noise statistics) from none."""
    dims = {d.column for d in report.dimensions}
    measures = {m.name: m.column for m in report.measures}
    out: ColumnMap = {}
    for column in cell_columns:
        if column in dims:
            out[column] = _base_sources(column)
        else:
            prefix = next((m for m in measures if column == m or column.startswith(f"{m}_")), None)
            out[column] = _base_sources(measures[prefix]) if prefix is not None else ()
    return out
