"""Column-level lineage of the dbt models, from their compiled SQL (sqlglot's lineage module).

For every model of a dbt manifest: each output column -> the ``(relation, column)`` pairs of its
direct parents whose values it is computed from. Relations are ``schema.name`` (the catalog is
the warehouse file, not a namespace), e.g. ``minimised.credit_users``.

How: models are analysed in dependency order; a model's parents' columns come from the analysis
of the parent itself (its compiled SQL) or, for sources, seeds and models without compiled SQL,
from ``relation_columns`` (read from the warehouse). sqlglot qualifies the compiled SQL against
those schemas and walks each output column back to the leaves; a leaf in a table that is not one
of the model's dbt parents (none should exist) is ignored, as dagster-dbt does.

Invariants: every model of the manifest is in the result, either with one entry per output
column or with ``problem`` saying why its column lineage is unknown (no compiled SQL, SQL sqlglot
cannot analyse): never silently absent. The lineage is value lineage: a column used only in a
filter, join or ``GROUP BY`` (or a ``count(*)``) is not a source of the columns it influences;
dataset-level lineage (:mod:`privacy.dpo.lineage`) is the over-approximation that covers those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlglot import MappingSchema, exp, parse_one, to_table
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify

__all__ = [
    "ColumnDeps",
    "DbtColumnLineage",
    "ModelColumns",
    "compiled_sql_in",
    "dbt_relation",
    "relation_columns",
    "sql_column_lineage",
]

ColumnDeps = tuple[tuple[str, str], ...]
"""``((relation, column), ...)`` sorted: the upstream columns one column is computed from."""

_MODEL_TYPES = ("model", "snapshot")
# The type given to columns whose type is not needed: lineage only resolves names.
_ANY_TYPE = "VARCHAR"


def dbt_relation(node: Mapping[str, Any]) -> str:
    """``schema.name`` of a dbt node or source."""
    relation = node.get("relation_name")
    if isinstance(relation, str) and relation:
        parts = [p.strip().strip('"').strip("`") for p in relation.split(".")]
        return ".".join(parts[-2:])
    name = node.get("alias") or node.get("identifier") or node.get("name")
    return f"{node['schema']}.{name}"


@dataclass(frozen=True)
class ModelColumns:
    """The column lineage of one model; ``problem`` is set (and ``columns`` empty) when unknown."""

    unique_id: str
    relation: str
    columns: Mapping[str, ColumnDeps]
    problem: str | None = None


def compiled_sql_in(target_path: Path) -> Callable[[Mapping[str, Any]], str | None]:
    """Reads a node's compiled SQL: ``compiled_code`` in the manifest when present (``dbt
    compile`` / ``build``), else ``<target>/compiled/<package>/<original_file_path>`` (written
    as each node compiles during a run)."""

    def read(node: Mapping[str, Any]) -> str | None:
        code = node.get("compiled_code")
        if isinstance(code, str) and code.strip():
            return code
        rel = str(node.get("original_file_path", "")).replace("\\", "/")
        path = target_path / "compiled" / str(node.get("package_name", "")) / rel
        return path.read_text(encoding="utf-8") if rel and path.is_file() else None

    return read


class DbtColumnLineage:
    """Column lineage of the models of one dbt ``manifest`` (see the module docstring).

    ``relation_columns``: ``schema.name`` -> column names of relations the SQL reads that are not
    analysed here (sources, seeds) or serve when a model has no compiled SQL. ``compiled_sql``:
    the compiled SQL of a node, or ``None`` (e.g. :func:`compiled_sql_in`). Results are cached:
    ask for models as they are built, in any order."""

    def __init__(
        self,
        manifest: Mapping[str, Any],
        relation_columns: Mapping[str, Sequence[str]],
        compiled_sql: Callable[[Mapping[str, Any]], str | None],
    ) -> None:
        self._nodes: dict[str, Mapping[str, Any]] = {
            **manifest.get("sources", {}),
            **manifest.get("nodes", {}),
        }
        self._dialect = str(manifest.get("metadata", {}).get("adapter_type") or "duckdb")
        self._relation_columns = {k: list(v) for k, v in relation_columns.items()}
        self._compiled_sql = compiled_sql
        self._done: dict[str, ModelColumns] = {}
        self.model_ids: frozenset[str] = frozenset(
            k for k, n in self._nodes.items() if n.get("resource_type") in _MODEL_TYPES
        )

    def models(self) -> list[ModelColumns]:
        return [self.model(uid) for uid in sorted(self.model_ids)]

    def model(self, unique_id: str) -> ModelColumns:
        """The column lineage of one model (``KeyError`` for an id that is not a model or
        snapshot of the manifest)."""
        if unique_id not in self.model_ids:
            raise KeyError(f"{unique_id!r} is not a model or snapshot of the dbt manifest")
        if unique_id not in self._done:
            node = self._nodes[unique_id]
            # Parents first: their output columns are this model's input schema.
            for parent in self._parents(node):
                if self._nodes[parent].get("resource_type") in _MODEL_TYPES:
                    self.model(parent)
            self._done[unique_id] = self._analyse(unique_id, node)
        return self._done[unique_id]

    def _parents(self, node: Mapping[str, Any]) -> list[str]:
        return [p for p in node.get("depends_on", {}).get("nodes", []) if p in self._nodes]

    def _columns_of(self, unique_id: str) -> list[str]:
        node = self._nodes[unique_id]
        done = self._done.get(unique_id)
        if done is not None and done.problem is None:
            return list(done.columns)
        return self._relation_columns.get(dbt_relation(node), [])

    def _analyse(self, unique_id: str, node: Mapping[str, Any]) -> ModelColumns:
        relation = dbt_relation(node)
        sql = self._compiled_sql(node)
        if sql is None:
            return ModelColumns(
                unique_id, relation, {}, "no compiled SQL (the model has not been compiled)"
            )
        tables: dict[str, list[str]] = {}
        for parent in self._parents(node):
            pnode = self._nodes[parent]
            if isinstance(pnode.get("relation_name"), str):
                tables[str(pnode["relation_name"])] = self._columns_of(parent)
        try:
            columns = sql_column_lineage(sql, tables, self._dialect)
        except SqlglotError as exc:
            first = str(exc).splitlines()[0][:200] if str(exc) else ""
            return ModelColumns(
                unique_id,
                relation,
                {},
                f"sqlglot cannot analyse the compiled SQL ({type(exc).__name__}: {first})",
            )
        return ModelColumns(unique_id, relation, columns)


def sql_column_lineage(
    sql: str, tables: Mapping[str, Sequence[str]], dialect: str = "duckdb"
) -> dict[str, ColumnDeps]:
    """Each output column of the SELECT ``sql`` -> the ``(schema.name, column)`` pairs of
    ``tables`` (relation as the SQL names it, 2 or 3 parts -> its columns, possibly unknown:
    empty) it is computed from. Leaves outside ``tables`` (a ``range()``, an unnest) are not
    sources. Raises sqlglot's
    ``SqlglotError`` for SQL it cannot analyse."""
    schema = MappingSchema(dialect=dialect)
    known: set[str] = set()
    for name, cols in tables.items():
        table = to_table(name, dialect=dialect)
        known.add(f"{table.db}.{table.name}")
        if cols:
            schema.add_table(table, {c: _ANY_TYPE for c in cols}, dialect=dialect)
    tree = qualify(
        parse_one(sql, dialect=dialect),
        schema=schema,
        dialect=dialect,
        validate_qualify_columns=False,
        identify=False,
    )
    roots = lineage(None, tree.sql(dialect=dialect), schema, dialect=dialect)
    columns: dict[str, ColumnDeps] = {}
    for name, root in roots.items():
        deps: set[tuple[str, str]] = set()
        for leaf in root.walk():
            if leaf.downstream:
                continue
            found = leaf.expression.find(exp.Table)
            if found is None:
                continue
            source = f"{found.db}.{found.name}"
            column = leaf.name.rsplit(".", 1)[-1]
            if source in known and column != "*":
                deps.add((source, column))
        columns[name] = tuple(sorted(deps))
    return columns


def relation_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """``schema.name`` -> column names, in table order, of every table and view of the
    warehouse (names only: no value is read)."""
    out: dict[str, list[str]] = {}
    for schema, table, column in con.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall():
        out.setdefault(f"{schema}.{table}", []).append(str(column))
    return out
