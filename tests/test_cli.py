"""The CLI's own paths: exit codes and messages an operator acts on."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from privacy.audit import append_event

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEDGERLENS_HOME", str(tmp_path))
    return tmp_path


def _audit(home: Path, n: int) -> None:
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        for i in range(n):
            append_event(con, "test", "event", f"S{i}", {"i": i})


def test_audit_verify_passes_on_an_intact_log_and_names_the_first_edited_event(
    home: Path,
) -> None:
    _audit(home, 5)
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "5 events" in ok.output
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("UPDATE audit.events SET details = '{\"i\": 99}' WHERE seq = 3")
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1 and "seq 3" in broken.output


def test_audit_verify_detects_a_deleted_event(home: Path) -> None:
    _audit(home, 4)
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("DELETE FROM audit.events WHERE seq = 2")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1 and "seq 3" in result.output


def test_verify_of_a_missing_file_is_a_usage_error(home: Path) -> None:
    result = runner.invoke(app, ["verify", str(home / "nothing.json")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_forget_without_a_warehouse_says_so(home: Path) -> None:
    result = runner.invoke(app, ["forget", "U0000042"])
    assert result.exit_code == 1 and "no warehouse" in result.output
