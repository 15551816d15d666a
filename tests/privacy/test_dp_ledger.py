"""The privacy-loss ledger: tampering is detected and named; 8 processes racing for the last
budget: exactly the allowed number succeed and the chain still verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from test_dp_release import CATALOGUE, make_warehouse

from privacy.dp.commands import budget, verify
from privacy.dp.ledger import LEDGER_TABLE, Charge, charge, verify_ledger


def _charge(con: duckdb.DuckDBPyConnection, i: int, rho: float = 0.1) -> None:
    c = Charge(
        f"rel-{i}",
        "alpha",
        "spend",
        "spec",
        f"snap-{i}",
        "2026-01",
        rho,
        1.0,
        1e-7,
        "m",
        {"payers": 1.5},
    )
    charge(con, c, 10.0, 10.0, f"2026-02-01T00:00:0{i}+00:00")


@pytest.fixture
def ledger_con(tmp_path: Path):  # type: ignore[no-untyped-def]
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    for i in range(1, 5):
        _charge(con, i)
    assert verify_ledger(con).ok and verify_ledger(con).entries == 4
    yield con
    con.close()


def test_editing_a_charged_rho_is_detected(ledger_con) -> None:
    ledger_con.execute(f"UPDATE {LEDGER_TABLE} SET rho = 0.01 WHERE seq = 2")
    status = verify_ledger(ledger_con)
    assert not status.ok and status.first_bad_seq == 2 and status.first_bad_release == "rel-2"
    assert "edited" in status.reason


def test_deleting_an_entry_is_detected(ledger_con) -> None:
    ledger_con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE seq = 3")
    status = verify_ledger(ledger_con)
    assert not status.ok and status.first_bad_seq == 4


def test_deleting_the_last_entry_is_detected(ledger_con) -> None:
    ledger_con.execute(f"DELETE FROM {LEDGER_TABLE} WHERE seq = 4")
    status = verify_ledger(ledger_con)
    assert not status.ok and status.first_bad_seq == 4 and "end" in status.reason


def test_swapping_entries_is_detected(ledger_con) -> None:
    ledger_con.execute(
        f"UPDATE {LEDGER_TABLE} SET seq = CASE seq WHEN 2 THEN 3 WHEN 3 THEN 2 END "
        "WHERE seq IN (2, 3)"
    )
    status = verify_ledger(ledger_con)
    assert not status.ok and status.first_bad_seq == 2 and status.first_bad_release == "rel-3"


def test_an_external_anchor_pins_the_chain(ledger_con) -> None:
    seq, h = ledger_con.execute(
        f"SELECT seq, entry_hash FROM {LEDGER_TABLE} WHERE seq = 3"
    ).fetchall()[0]
    assert verify_ledger(ledger_con, (seq, h)).ok
    assert not verify_ledger(ledger_con, (3, "0" * 64)).ok


RACER = """
import sys
from pathlib import Path
from privacy.dp.catalogue import load_catalogue
from privacy.dp.commands import release
from privacy.dp.ledger import BudgetExceededError
from zk.signatures import IssuerKey
issuer = IssuerKey.from_secret(bytes(32))
try:
    out = release(Path(sys.argv[1]), "spend", "alpha", "2026-01", b"race-key-0123456789abcdef",
                  Path(sys.argv[3]), issuer=issuer, catalogue=load_catalogue(sys.argv[2]),
                  snapshot_id=sys.argv[4])
    print("OK", out.release.release_id)
except BudgetExceededError:
    print("REFUSED")
"""


def test_eight_processes_race_for_the_last_budget(tmp_path: Path) -> None:
    db = make_warehouse(tmp_path / "warehouse.duckdb", n_tx=800, n_users=100)
    cat = tmp_path / "catalogue.yaml"
    cat.write_text(CATALOGUE.replace("rho: 0.4", "rho: 0.25"))
    con = duckdb.connect(str(db))
    for i in range(2):  # 0.5 of the buyer's 1.0 spent: room for exactly 2 more
        _charge(con, i, rho=0.25)
    con.close()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(db), str(cat), str(tmp_path / "staging"), f"s{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    outcomes = [out.strip().split()[0] if out.strip() else err[-500:] for out, err in results]
    assert sorted(outcomes) == ["OK"] * 2 + ["REFUSED"] * 6, outcomes
    status = verify(db)
    assert status.ok and status.entries == 4
    lines = {(b.scope, b.period): b for b in budget(db, catalogue=_load(cat))}
    assert lines[("alpha", "2026-01")].remaining_rho == pytest.approx(0.0)
    assert lines[("global", "2026-01")].spent_rho == pytest.approx(1.0)
    released = list((tmp_path / "staging" / "alpha" / "spend").iterdir())
    assert len(released) == 2


def _load(path: Path):  # type: ignore[no-untyped-def]
    from privacy.dp.catalogue import load_catalogue

    return load_catalogue(path)
