"""The CLI's own paths: exit codes and messages an operator acts on."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.runner import RunOutcome, _outcome
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


def _failing_run(settings: object, instance: dg.DagsterInstance) -> RunOutcome:
    """A real in-process Dagster run on the CLI's instance: one asset logs, one fails with a
    wrapped error whose root cause names a column and a row (as the ingest's errors do)."""

    @dg.asset
    def logs_something(context) -> int:  # type: ignore[no-untyped-def]  # (Dagster reads the hint)
        context.log.info("first asset ran: 3 rows staged")
        return 3

    @dg.asset
    def fails(logs_something: int) -> None:
        try:
            raise ValueError("column mobile, row 7: rule bad_phone failed")
        except ValueError as exc:
            raise RuntimeError("the ingest step could not finish") from exc

    job = dg.define_asset_job("cli_log_probe").resolve(
        asset_graph=dg.Definitions(assets=[logs_something, fails]).resolve_asset_graph()
    )
    return _outcome(job.execute_in_process(instance=instance, raise_on_error=False))


def test_a_failed_run_logs_its_events_and_root_cause_and_prints_one_line(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "landing" / "users").mkdir(parents=True)
    (home / "landing" / "users" / "2026-01-01.parquet").write_bytes(b"not read by this run")
    monkeypatch.setattr("pipelines.runner.run_pipeline", _failing_run)
    first = runner.invoke(app, ["run"])
    second = runner.invoke(app, ["run"])  # same process, same second: its own log
    logs = sorted((home / "logs").glob("run-*.log"))
    assert len(logs) == 2 and logs[0].name != logs[1].name
    for result in (first, second):
        assert result.exit_code == 1
        out = result.output
        assert "Traceback" not in out
        failed = [line for line in out.splitlines() if line.startswith("failed:")]
        assert failed == ["failed: fails: ValueError: column mobile, row 7: rule bad_phone failed"]
        assert "full log: " in out and any(str(p) in " ".join(out.split()) for p in logs)
    for log in logs:
        text = log.read_text()
        assert "first asset ran: 3 rows staged" in text  # a Dagster event of the run
        assert "STEP_FAILURE" in text and "RUN_FAILURE" in text
        assert "column mobile, row 7: rule bad_phone failed" in text  # the root cause
        assert "FAILED fails: ValueError: column mobile, row 7" in text
