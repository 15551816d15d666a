"""``ledgerlens insights …`` on a tiny warehouse (typer's CliRunner): list, a release published
through the gate, budgets, bad input (exit 2, nothing charged), a blocked release (exit 1, out/
unchanged) and ``ledger verify`` on a tampered ledger; and the Dagster release job's asset."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from test_dp_release import CATALOGUE, make_warehouse
from typer.testing import CliRunner

from pipelines.cli_insights import insights_app
from privacy.dp.ledger import LEDGER_TABLE
from zk.verify import verify_file

RUNNER = CliRunner()
# A valid CN mobile number in a buyer-facing description: the leak guard must stop it.
LEAKY = CATALOGUE.replace(
    "description: Spend by category, tier and week", "description: ring 13812345678"
)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("home")
    make_warehouse(root / "warehouse.duckdb", n_tx=1500, n_users=150)
    (root / "catalogue.yaml").write_text(CATALOGUE)
    (root / "leaky.yaml").write_text(LEAKY)
    return root


def _run(home: Path, *args: str, catalogue: str | None = "catalogue.yaml"):  # type: ignore[no-untyped-def]
    argv = list(args)
    if catalogue is not None:
        argv += ["--catalogue", str(home / catalogue)]
    return RUNNER.invoke(insights_app, argv, env={"LEDGERLENS_HOME": str(home)})


def _ledger(home: Path) -> list[tuple[int, str, float]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        return [
            (int(r[0]), str(r[1]), float(r[2]))
            for r in con.execute(
                f"SELECT seq, report_id, rho FROM {LEDGER_TABLE} ORDER BY seq"
            ).fetchall()
        ]
    except duckdb.CatalogException:
        return []
    finally:
        con.close()


def _audit(home: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        rows = con.execute("SELECT action, subject FROM audit.events ORDER BY seq").fetchall()
        return [(str(a), str(s)) for a, s in rows]
    finally:
        con.close()


def test_list_prints_one_report_id_per_line_first(home: Path) -> None:
    result = _run(home, "list")
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["spend", "tickets"]
    assert "rho=0.4" in result.stdout


def test_release_is_published_through_the_gate_and_charged_once(home: Path) -> None:
    result = _run(home, "release", "spend", "--buyer", "alpha", "--period", "2026-01")
    assert result.exit_code == 0, result.output
    assert "charged: rho=0.4" in result.stdout
    (folder,) = (home / "out" / "buyers" / "alpha" / "spend").iterdir()
    assert {p.name for p in folder.iterdir()} == {
        "data.parquet",
        "data.csv",
        "manifest.json",
        "report.html",
        "attestation.json",
    }
    report = verify_file(folder / "attestation.json", home=home)  # the key published in out/
    assert report.valid, report.summary()
    assert "files (data.csv, data.parquet, report.html) match" in report.summary()
    assert "attested over ledger snapshot snap-test" in result.stdout
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["release_id"] == folder.name and manifest["privacy"]["rho"] == 0.4
    listed = json.loads((home / "out" / "MANIFEST.json").read_text())["files"]
    assert f"buyers/alpha/spend/{folder.name}/data.csv" in {f["path"] for f in listed}
    assert not any((home / "staging").iterdir())  # the gate moved everything
    again = _run(home, "release", "spend", "--buyer", "alpha", "--period", "2026-01")
    assert again.exit_code == 0 and "not charged" in again.stdout
    assert [r[1:] for r in _ledger(home)] == [("spend", 0.4)]
    actions = [a for a, _ in _audit(home)]
    assert actions.count("insights.release") == 1 and "insights.release_reused" in actions
    budget = _run(home, "budget", "--buyer", "alpha")
    assert budget.exit_code == 0
    assert "2026-01\talpha\tbudget=1\tspent=0.4\tremaining=0.6" in budget.stdout
    assert "2026-01\tglobal\tbudget=1.5\tspent=0.4\tremaining=1.1" in budget.stdout


@pytest.mark.parametrize(
    ("args", "catalogue", "message"),
    [
        (["release", "nope", "--buyer", "alpha"], "catalogue.yaml", "unknown report 'nope'"),
        (["release", "spend", "--buyer", "mallory"], "catalogue.yaml", "unknown buyer 'mallory'"),
        (["release", "spend", "--buyer", "alpha", "--period", "Jan"], "catalogue.yaml", "YYYY-MM"),
        (["release", "spend", "--buyer", "alpha"], "inverted.yaml", "inverted"),
        (["release", "spend", "--buyer", "alpha"], "rho0.yaml", "'rho' must be > 0"),
        (["budget", "--buyer", "mallory"], "catalogue.yaml", "unknown buyer 'mallory'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_charges_nothing(
    home: Path, args: list[str], catalogue: str, message: str
) -> None:
    (home / "inverted.yaml").write_text(CATALOGUE.replace("bounds: [0, 50]}", "bounds: [50, 0]}"))
    (home / "rho0.yaml").write_text(CATALOGUE.replace("rho: 0.4\n", "rho: 0\n", 1))
    before = _ledger(home)
    result = _run(home, *args, catalogue=catalogue)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert _ledger(home) == before


def test_over_budget_is_refused_with_what_remains_and_audited(home: Path) -> None:
    before = _ledger(home)
    (home / "budget.yaml").write_text(CATALOGUE.replace("per_buyer_rho: 1.0", "per_buyer_rho: 0.5"))
    over = _run(
        home,
        "release",
        "tickets",
        "--buyer",
        "alpha",
        "--period",
        "2026-01",
        catalogue="budget.yaml",
    )
    assert over.exit_code == 2, over.output
    assert "has rho=0.1 left of 0.5" in over.stderr and "nothing was charged" in over.stderr
    assert _ledger(home) == before
    assert ("insights.release_refused", "alpha/tickets/2026-01") in _audit(home)


def test_a_leaking_release_is_blocked_and_out_is_unchanged(home: Path) -> None:
    manifest = (home / "out" / "MANIFEST.json").read_text()
    result = _run(
        home, "release", "spend", "--buyer", "beta", "--period", "2026-01", catalogue="leaky.yaml"
    )
    assert result.exit_code == 1
    assert "blocked" in result.stderr and "mobile_number" in result.stderr
    assert "manifest.json" in result.stderr and "13812345678" not in result.stderr
    assert (home / "out" / "MANIFEST.json").read_text() == manifest
    assert not (home / "out" / "buyers" / "beta").exists()
    assert not any((home / "staging").iterdir())
    assert "insights.release_blocked" in [a for a, _ in _audit(home)]


def test_ledger_verify_names_the_first_edited_entry(home: Path) -> None:
    ok = _run(home, "ledger", "verify", catalogue=None)
    assert ok.exit_code == 0 and "chain intact" in ok.stdout
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    con.execute(f"UPDATE {LEDGER_TABLE} SET rho = rho / 10 WHERE seq = 2")
    con.close()
    bad = _run(home, "ledger", "verify", catalogue=None)
    assert bad.exit_code == 1
    assert "seq 2" in bad.stderr and "edited" in bad.stderr


def test_a_release_without_a_committed_snapshot_root_is_refused_before_the_charge(
    tmp_path: Path,
) -> None:
    root = tmp_path / "home"
    root.mkdir()
    make_warehouse(root / "warehouse.duckdb", n_tx=300, n_users=60, committed=False)
    (root / "catalogue.yaml").write_text(CATALOGUE)
    result = _run(root, "release", "spend", "--buyer", "alpha", "--period", "2026-01")
    assert result.exit_code == 1, result.output
    assert "no committed Merkle root" in result.output and "Nothing was charged" in result.output
    assert _ledger(root) == []
    assert _audit(root) == [("insights.release_refused", "alpha/spend/2026-01")]
    assert not (root / "out" / "buyers").exists() or not any((root / "out" / "buyers").iterdir())
