"""The scorer's query budget: charged before scoring, never overspent, tamper-evident."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from privacy.he.budget import (
    BudgetExceededError,
    QueryBudget,
    charge,
    period_label,
    read_ledger,
    spent,
)
from privacy.he.errors import HEError
from privacy.he.keys import keygen
from privacy.he.params import BFV
from privacy.he.rounds import encrypt_applicants, score_round
from privacy.he.synthetic import synthetic_applicants, synthetic_points_table

BINDING = {"round_id": "r", "key_id": "k", "model_hash": "m"}
JAN = datetime(2026, 1, 31, 23, 59, tzinfo=UTC)
FEB = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two encrypted rounds of 100 applicants each (one batch: 5 applicants per slot)."""
    root = tmp_path_factory.mktemp("he-budget")
    points = synthetic_points_table(12, seed=1)
    model = root / "model"
    points.save(model)
    applicants = root / "applicants.parquet"
    synthetic_applicants(points, 100, seed=3).to_parquet(applicants)
    holder = root / "holder"
    keygen(holder, "bfv")
    out = {"root": root, "model": model / "points_table.json"}
    for name in ("first", "second"):
        encrypt_applicants(applicants, model, root / name, holder)
        out[name] = root / name
    return out


CAPACITY = BFV.slots * 5  # one batch of 4,096 slots x 5 applicants (8-bit raw span, 40 bits)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_an_exhausted_budget_refuses_the_round_naming_the_holder_and_scores_nothing(
    rounds: dict[str, Path], tmp_path: Path
) -> None:
    budget = QueryBudget(tmp_path / "budget.jsonl", "wallet-a", limit=CAPACITY + 100)
    manifest = json.loads(
        score_round(rounds["model"], rounds["first"], tmp_path / "ok", budget=budget).read_text()
    )
    # charged the ciphertexts' capacity, not the 100 applicants the holder declared
    assert manifest["budget"]["charged"] == CAPACITY
    assert manifest["budget"]["spent_after"] == CAPACITY
    before = budget.ledger.read_bytes()
    with pytest.raises(BudgetExceededError) as refused:
        score_round(rounds["model"], rounds["second"], tmp_path / "refused", budget=budget)
    message = str(refused.value)
    assert message.startswith(f"holder 'wallet-a': this round needs {CAPACITY:,} applicants")
    assert f"{CAPACITY:,} of {CAPACITY + 100:,} per month are already spent" in message
    assert "nothing was scored" in message and "--budget" in message
    assert refused.value.exit_code == 3
    assert not (tmp_path / "refused").exists()
    assert budget.ledger.read_bytes() == before  # a refusal writes nothing


def test_the_same_ciphertexts_scored_again_are_charged_once(
    rounds: dict[str, Path], tmp_path: Path
) -> None:
    budget = QueryBudget(tmp_path / "budget.jsonl", "wallet-a", limit=CAPACITY)
    first = json.loads(
        score_round(rounds["model"], rounds["first"], tmp_path / "a", budget=budget).read_text()
    )
    again = json.loads(
        score_round(rounds["model"], rounds["first"], tmp_path / "b", budget=budget).read_text()
    )
    assert first["budget"]["repeat"] is False and again["budget"]["repeat"] is True
    assert again["budget"]["hash"] == first["budget"]["hash"]
    assert len(_lines(budget.ledger)) == 1
    assert [r["sha256"] for r in first["results"]] == [r["sha256"] for r in again["results"]]
    # another holder sending the same files is charged on its own budget
    other = QueryBudget(budget.ledger, "wallet-b", limit=CAPACITY)
    score_round(rounds["model"], rounds["first"], tmp_path / "c", budget=other)
    assert spent(other) == CAPACITY and spent(budget) == CAPACITY


def test_a_damaged_batch_is_refused_before_anything_is_charged(
    rounds: dict[str, Path], tmp_path: Path
) -> None:
    sent = shutil.copytree(rounds["first"], tmp_path / "sent")
    batch = sent / "batch_00000.llhe"
    data = bytearray(batch.read_bytes())
    data[len(data) // 2] ^= 0x40
    batch.write_bytes(bytes(data))
    budget = QueryBudget(tmp_path / "budget.jsonl", "wallet-a", limit=10**6)
    with pytest.raises(HEError, match=r"batch_00000\.llhe: does not match the SHA-256"):
        score_round(rounds["model"], sent, tmp_path / "never", budget=budget)
    assert _lines(budget.ledger) == []


def test_an_under_declared_batch_count_is_refused(rounds: dict[str, Path], tmp_path: Path) -> None:
    sent = shutil.copytree(rounds["first"], tmp_path / "sent")
    m = json.loads((sent / "manifest.json").read_text())
    m["batches"][0]["applicants"] = CAPACITY + 1  # more than a batch can carry
    m["applicants"] = CAPACITY + 1
    (sent / "manifest.json").write_text(json.dumps(m))
    budget = QueryBudget(tmp_path / "budget.jsonl", "wallet-a", limit=10**6)
    with pytest.raises(HEError, match="batch applicant counts do not add up"):
        score_round(rounds["model"], sent, tmp_path / "never", budget=budget)


def test_budgets_are_kept_per_holder_and_per_calendar_period(tmp_path: Path) -> None:
    a = QueryBudget(tmp_path / "l.jsonl", "wallet-a", limit=100)
    b = QueryBudget(tmp_path / "l.jsonl", "wallet-b", limit=100)
    charge(a, 100, BINDING, "in-1", now=JAN)
    with pytest.raises(BudgetExceededError, match="100 of 100 per month are already spent in 2026"):
        charge(a, 1, BINDING, "in-2", now=JAN)
    charge(b, 100, BINDING, "in-3", now=JAN)  # another holder's budget is its own
    charge(a, 100, BINDING, "in-4", now=FEB)  # a new month starts afresh
    assert spent(a, now=FEB) == 100 and spent(a, now=JAN) == 100
    daily = QueryBudget(tmp_path / "d.jsonl", "wallet-a", limit=5, period="day")
    charge(daily, 5, BINDING, "x", now=JAN)
    charge(daily, 5, BINDING, "y", now=FEB)
    assert [e["period"] for e in read_ledger(daily.ledger)] == ["day:2026-01-31", "day:2026-02-01"]
    assert period_label(JAN, "week") == "2026-W05" and period_label(FEB, "quarter") == "2026-Q1"
    with pytest.raises(HEError, match="unknown budget period .fortnight."):
        QueryBudget(tmp_path / "x.jsonl", "wallet-a", limit=5, period="fortnight")


def _three_charges(path: Path) -> QueryBudget:
    budget = QueryBudget(path, "wallet-a", limit=1000)
    for i in range(3):
        charge(budget, 10, BINDING, f"in-{i}", now=JAN)
    return budget


@pytest.mark.parametrize(
    ("tamper", "line", "problem"),
    [
        ("lower a charge", 2, "does not match its own hash"),
        ("delete an entry", 2, "does not chain to the entry before it"),
        ("swap two entries", 1, "does not chain to the entry before it"),
        ("truncate the last line", 3, "is not a budget ledger entry"),
    ],
)
def test_an_altered_ledger_refuses_every_later_charge_naming_the_line(
    tmp_path: Path, tamper: str, line: int, problem: str
) -> None:
    budget = _three_charges(tmp_path / "l.jsonl")
    lines = _lines(budget.ledger)
    if tamper == "lower a charge":
        entry = json.loads(lines[1])
        entry["charged"] = 0
        lines[1] = json.dumps(entry)
    elif tamper == "delete an entry":
        del lines[1]
    elif tamper == "swap two entries":
        lines[0], lines[1] = lines[1], lines[0]
    else:
        lines[2] = lines[2][:40]
    budget.ledger.write_text("\n".join(lines) + "\n")
    with pytest.raises(HEError, match=rf"l\.jsonl, line {line}: {problem}") as refused:
        charge(budget, 1, BINDING, "in-new", now=JAN)
    assert "restore it from backup" in str(refused.value)


_RACER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from privacy.he.budget import BudgetExceededError, QueryBudget, charge
    ledger, go, name = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    budget = QueryBudget(ledger, "wallet-a", limit=600)
    (ledger.parent / f"ready-{name}").touch()
    while not go.exists():
        time.sleep(0.001)
    won = 0
    for i in range(45):
        try:
            charge(budget, 10, {"round_id": name, "key_id": "k", "model_hash": "m"},
                   f"{name}-{i}", now=datetime(2026, 1, 5, tzinfo=UTC))
            won += 1
        except BudgetExceededError:
            pass
    print(won)
    """
)


def test_two_processes_charging_at_once_never_overspend(tmp_path: Path) -> None:
    """Without the lock the two interleave reads and appends: the chain breaks within ~50 charges."""
    ledger, go = tmp_path / "l.jsonl", tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(ledger), str(go), name],
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in ("p1", "p2")):
        assert time.monotonic() < deadline, "the racing processes did not start"
        time.sleep(0.01)
    go.touch()
    wins = [int(p.communicate(timeout=60)[0]) for p in racers]
    assert all(p.returncode == 0 for p in racers)
    entries = read_ledger(ledger)  # the chain is intact
    assert sum(wins) == len(entries) == 60  # 600 / 10: not one charge more
    assert sum(e["charged"] for e in entries) == 600
    assert [e["seq"] for e in entries] == list(range(1, 61))
    assert wins == [sum(e["round_id"] == n for e in entries) for n in ("p1", "p2")]
