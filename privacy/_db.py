"""Small DuckDB helpers shared by the privacy modules."""

from __future__ import annotations

from typing import Any

import duckdb


def fetch_one(
    con: duckdb.DuckDBPyConnection, sql: str, params: Any = None
) -> tuple[Any, ...] | None:
    """First row of a query, fully consuming the result (DuckDB 2 refuses some calls, e.g.
    ``register``, while a result is still pending)."""
    rows = (
        con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    )
    return rows[0] if rows else None
