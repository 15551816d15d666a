"""The ledger/transactions asset: a partition whose landing file vanished materialises with the
file reported missing and its rows kept, run after run, instead of raising FileNotFoundError;
under the default retention a loaded file moves into the archive and is never reported missing."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from assets.ingest import FILES_PRESENT_CHECK, ledger_transactions
from assets.partitions import landing_files
from assets.resources import ledger_home_resource
from ledger.contract import TRANSACTIONS
from ledger.home import Home
from privacy.policy import DEFAULT_POLICY_PATH


def _keep_landing(root: Path) -> Path:
    """The default policy with ``landing.retention: keep`` (files stay where they landed)."""
    text = DEFAULT_POLICY_PATH.read_text().replace("retention: archive", "retention: keep")
    assert "retention: keep" in text
    path = root / "keep.yaml"
    path.write_text(text)
    return path


def _day(folder: Path, name: str, n: int) -> None:
    rows = [
        dict.fromkeys(TRANSACTIONS.column_names)
        | {
            "txn_id": f"{name}-{i}",
            "occurred_at": "2026-11-20T10:00:00Z",
            "user_id": "U1",
            "tx_type": "top_up",
            "direction": "in",
            "asset": "USDT",
            "amount": 1.0,
            "fee": 0.0,
        }
        for i in range(n)
    ]
    pq.write_table(pa.Table.from_pylist(rows), folder / name)


def test_a_vanished_partition_file_is_reported_not_raised(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    folder = home.landing / "transactions"
    folder.mkdir(parents=True)
    names = ["2026-11-20.parquet", "2026-11-2?.parquet"]
    for name in names:
        _day(folder, name, 3)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(landing_files.name, names)
    resources = {"ledger_home": ledger_home_resource(home, _keep_landing(tmp_path))}

    def run(key: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [ledger_transactions], partition_key=key, resources=resources, instance=instance
        )

    assert run(names[0]).success and run(names[1]).success
    (folder / names[0]).unlink()
    for _ in range(2):
        result = run(names[0])
        assert result.success
        [materialization] = result.asset_materializations_for_node("ledger__transactions")
        assert materialization.metadata["files missing"].value == 1
        [present] = [
            e for e in result.get_asset_check_evaluations() if e.check_name == FILES_PRESENT_CHECK
        ]
        assert not present.passed
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        per_file = con.execute(
            "SELECT _source_file, count(*) FROM ledger.transactions GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert per_file == [(f"transactions/{names[0]}", 3), (f"transactions/{names[1]}", 3)]


def test_an_archived_partition_file_is_neither_missing_nor_loaded_again(tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    folder = home.landing / "transactions"
    folder.mkdir(parents=True)
    _day(folder, "2026-11-20.parquet", 4)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(landing_files.name, ["2026-11-20.parquet"])
    resources = {"ledger_home": ledger_home_resource(home)}
    for attempt in range(2):
        result = dg.materialize(
            [ledger_transactions],
            partition_key="2026-11-20.parquet",
            resources=resources,
            instance=instance,
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node("ledger__transactions")
        assert materialization.metadata["files missing"].value == 0
        assert materialization.metadata["rows loaded"].value == (4 if attempt == 0 else 0)
    assert not (folder / "2026-11-20.parquet").exists()
    assert len(list(home.archive.rglob("*.enc"))) == 1
