"""One small generated + ingested ledger for the privacy tests (tests copy it before writing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from privacy_testdata import build_ledger


@pytest.fixture(scope="session")
def source_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_ledger(tmp_path_factory.mktemp("ledger"))
