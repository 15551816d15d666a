"""The insights Dagster assets on a tiny warehouse: the configured release job stages one release
for the gate and audits it, a refusal fails the run and is audited, and the budget asset shows
what remains."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
from test_dp_release import make_warehouse

from assets.insights import (
    BUDGET_KEY,
    RELEASES_KEY,
    insight_release,
    insights_release_job,
    privacy_budget,
)
from assets.resources import ledger_home_resource
from ledger.home import Home
from zk.verify import verify_file


def _config(report: str, buyer: str) -> dict[str, object]:
    op = "__".join(RELEASES_KEY.path)
    return {"ops": {op: {"config": {"report": report, "buyer": buyer, "period": "2026-01"}}}}


def test_release_job_stages_an_audited_release_and_the_budget_shows_what_remains(
    tmp_path: Path,
) -> None:
    home = Home(tmp_path / "home").ensure()
    make_warehouse(home.warehouse, n_tx=1500, n_users=150)
    defs = dg.Definitions(
        assets=[insight_release, privacy_budget],
        jobs=[insights_release_job],
        resources={"ledger_home": ledger_home_resource(home)},
    )
    job = defs.resolve_job_def("insights_release")
    instance = dg.DagsterInstance.ephemeral()
    ok = job.execute_in_process(
        run_config=_config("average_ticket_by_category", "lakeside_capital"), instance=instance
    )
    assert ok.success
    meta = ok.asset_materializations_for_node("__".join(RELEASES_KEY.path))[0].metadata
    assert meta["charged"].value is True and meta["rho"].value == 0.25
    assert meta["remaining rho"].value == {"lakeside_capital": 1.75, "global": 7.75}
    staged = home.staging / ok.run_id / "buyers" / "lakeside_capital" / "average_ticket_by_category"
    (folder,) = staged.iterdir()
    assert folder.name == meta["release id"].value
    assert (folder / "data.parquet").exists() and (folder / "report.html").exists()
    key = home.staging / ok.run_id / "issuer" / "issuer_key.json"
    report = verify_file(folder / "attestation.json", issuer_key=key)
    assert report.valid, report.summary()
    assert meta["attestation"].value.startswith("attestation.json: snapshot snap-test, root ")

    refused = job.execute_in_process(
        run_config=_config("average_ticket_by_category", "mallory"),
        instance=instance,
        raise_on_error=False,
    )
    assert not refused.success

    budget = dg.materialize(
        [privacy_budget], resources={"ledger_home": ledger_home_resource(home)}, instance=instance
    )
    bmeta = budget.asset_materializations_for_node("__".join(BUDGET_KEY.path))[0].metadata
    assert bmeta["latest period"].value == "2026-01"
    remaining = bmeta["remaining rho (latest period)"].value
    assert remaining["lakeside_capital"] == 1.75 and remaining["northwind_research"] == 4.0
    assert bmeta["global remaining rho (latest period)"].value == 7.75

    con = duckdb.connect(str(home.warehouse))
    events = con.execute("SELECT action, subject FROM audit.events ORDER BY seq").fetchall()
    con.close()
    assert events == [
        ("insights.release", "lakeside_capital/average_ticket_by_category/2026-01"),
        ("insights.release_refused", "mallory/average_ticket_by_category/2026-01"),
    ]
