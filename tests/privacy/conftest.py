"""One small generated + ingested ledger for the privacy tests (tests copy it before writing)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from privacy_testdata import build_ledger

from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault


@pytest.fixture(scope="session")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ledger(tmp_path_factory.mktemp("ledger"))


@pytest.fixture
def working_copy(
    source_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault]]:
    """A private copy of the ledger and a fresh key vault (master key generated, not from env)."""
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    db = tmp_path / "w.duckdb"
    shutil.copy(source_db, db)
    con = duckdb.connect(str(db))
    yield con, LocalFileKeyVault(tmp_path / "keys")
    con.close()
