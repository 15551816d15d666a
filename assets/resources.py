"""Dagster resources: the data home (with its policy and key vault) and the DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from ledger.home import Home
from privacy.keyvault import LocalFileKeyVault, open_keyvault
from privacy.policy import Policy, load_policy

# DuckDB allows one writer at a time: every asset that writes the warehouse joins this pool, whose
# limit is 1 in the instance's dagster.yaml (`concurrency: pools: default_limit: 1`).
DUCKDB_POOL = "duckdb_writer"


def warehouse_resource(home: Home) -> DuckDBResource:
    """The warehouse of a home (connections are put in UTC by ``LedgerHome.connect``)."""
    return DuckDBResource(database=str(home.warehouse))


class LedgerHome(dg.ConfigurableResource):
    """``$LEDGERLENS_HOME``: landing files, the warehouse, keys and the per-party out folders.

    Carries the minimisation policy and the key vault of the home, and opens the warehouse
    through dagster-duckdb (late, closed early, retried while another writer holds the lock).
    """

    root: str
    policy_path: str | None = None
    warehouse: DuckDBResource

    @property
    def home(self) -> Home:
        return Home(Path(self.root)).ensure()

    @property
    def policy(self) -> Policy:
        return load_policy(self.policy_path)

    def keyvault(self, con: duckdb.DuckDBPyConnection) -> LocalFileKeyVault:
        """The key vault in ``keys/`` for the warehouse behind ``con``: every key's check value is
        verified before anything is written (a missing or changed key is refused, never
        regenerated) and new keys are recorded on ``con``; keep ``con`` open while it is used."""
        return open_keyvault(con, self.home.keys)

    def stage(self, run_id: str, party: str) -> Path:
        """The run-scoped staging folder of a party: products wait here for the publish gate."""
        folder = self.home.staging / run_id / party
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed even when the work inside fails (dbt needs the lock)."""
        with self.warehouse.get_connection() as con:
            try:
                # Timestamps are stored as naive UTC; the time zone needs ICU, loaded on first SET.
                con.execute("SET TimeZone = 'UTC'")
                yield con
            finally:
                con.close()
                _owner_only(self.home.warehouse)


def _owner_only(path: Path) -> None:
    # The warehouse holds tokens, pseudonyms and the vault's ciphertexts: owner-only, like keys/.
    for p in (path, path.with_name(path.name + ".wal")):
        if p.exists():
            p.chmod(0o600)


def ledger_home_resource(home: Home, policy: Path | None = None) -> LedgerHome:
    return LedgerHome(
        root=str(home.root),
        policy_path=str(policy) if policy else None,
        warehouse=warehouse_resource(home),
    )
