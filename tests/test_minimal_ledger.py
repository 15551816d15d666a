"""A real-looking ledger with only what the contract requires: no personal columns, no wallets,
merchants or loans. Every stage runs or says why it cannot; governance and DPO outputs still pass
the gate; the run succeeds."""

from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from ledger.home import Home
from ledger.synthetic import GeneratorConfig, generate
from pipelines.runner import RunOutcome, run_pipeline
from pipelines.settings import Settings

pytestmark = pytest.mark.integration

KEPT_TYPES = ["top_up", "withdrawal", "p2p_transfer", "swap", "reward_points"]


def _strip_to_the_contract(home: Home) -> None:
    for entity in ("wallets", "merchants", "loans"):
        shutil.rmtree(home.landing / entity)
    for path in (home.landing / "users").iterdir():
        users = pq.read_table(path)
        pq.write_table(users.select(["user_id", "signup_date"]), path)
    for path in sorted((home.landing / "transactions").iterdir()):
        if path.suffix != ".parquet":
            path.unlink()  # keep the test to one format; formats are the ingest tests' business
            continue
        table = pq.read_table(path)
        table = table.filter(pc.is_in(table["tx_type"], value_set=pc.cast(KEPT_TYPES, "string")))
        keep = ["txn_id", "occurred_at", "user_id", "tx_type", "direction", "asset", "amount"]
        pq.write_table(table.select([*keep, "fee", "counterparty"]), path)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, RunOutcome]:
    home = Home(tmp_path_factory.mktemp("minimal")).ensure()
    generate(home.landing, GeneratorConfig(users=150, days=20, seed=11, dirty_rate=0.0))
    _strip_to_the_contract(home)
    with dg.DagsterInstance.get() as instance:
        return home, run_pipeline(Settings.for_home(home.root), instance)


def test_a_ledger_without_optional_data_runs_and_says_what_it_skipped(
    minimal: tuple[Home, RunOutcome],
) -> None:
    home, outcome = minimal
    assert outcome.ok, "\n".join(outcome.failures)
    skipped = " ".join(outcome.skipped)
    assert "credit/model" in skipped and "observed outcome" in skipped
    assert "credit/scores" in skipped and "credit/model_card" in skipped


def test_governance_outputs_are_still_built_and_gated(minimal: tuple[Home, RunOutcome]) -> None:
    home, _ = minimal
    assert (home.out_for("dpo") / "column_inventory.csv").exists()
    manifest = (home.out / "MANIFEST.txt").read_text()
    assert "dpo/column_inventory.csv" in manifest
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        [(loaded,)] = con.execute("SELECT count(*) FROM ledger.transactions").fetchall()
        [(users,)] = con.execute("SELECT count(*) FROM marts.accounts").fetchall()
        [(names,)] = con.execute(
            "SELECT count(full_name) FROM ledger.users"
        ).fetchall()  # absent personal columns stay absent (NULL), never invented
        [(merchants,)] = con.execute("SELECT count(*) FROM credit.merchant_pricing").fetchall()
    assert loaded > 1000 and users == 150 and names == 0 and merchants == 0
