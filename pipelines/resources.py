"""Dagster resources: the data home and the DuckDB warehouse inside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines.settings import Home
from privacy.keyvault import LocalFileKeyVault

# DuckDB allows one writer at a time: every asset that writes the warehouse joins this pool, whose
# limit is 1 in the instance's dagster.yaml (`concurrency: pools: default_limit: 1`).
DUCKDB_POOL = "duckdb_writer"


class LedgerHome(dg.ConfigurableResource):
    """``$LEDGERLENS_HOME``: landing files, the warehouse, keys and the per-party out folders."""

    root: str

    @property
    def home(self) -> Home:
        return Home(Path(self.root)).ensure()

    def keyvault(self) -> LocalFileKeyVault:
        """The local key vault in ``keys/`` (master key from $LEDGERLENS_MASTER_KEY or keys/)."""
        return LocalFileKeyVault(self.home.keys)

    @contextmanager
    def warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection opened late and closed early (dbt needs the lock next)."""
        con = duckdb.connect(str(self.home.warehouse))
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()
