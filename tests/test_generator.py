"""Synthetic ledger generator: determinism, valid identifiers, dirty-row truth, credit signal."""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from ledger import contract as schema
from ledger.identifiers import (
    eip55_checksum_status,
    is_valid_bech32_address,
    is_valid_resident_id,
    is_valid_tron_address,
)
from ledger.synthetic import (
    DIRTY_KINDS,
    MCC_RISK_LEVELS,
    GeneratorConfig,
    generate,
    transactions_file_format,
)

DIGESTS = Path(__file__).parent / "fixtures" / "generator_digests.json"
SYNTHETIC = Path(__file__).parents[1] / "ledger" / "synthetic"
SMALL = GeneratorConfig(users=300, days=30, seed=11, dirty_rate=0.05)
TX_COLS = schema.TRANSACTIONS.column_names


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small")
    generate(root / "landing", SMALL)
    return root


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough users and days for matured loans: used for the credit-signal tests."""
    root = tmp_path_factory.mktemp("big")
    generate(root / "landing", GeneratorConfig(users=4000, days=150, seed=3, dirty_rate=0.0))
    return root


def _read_tx(path: Path) -> list[dict]:
    """Rows of one transactions file as dicts of raw values (strings for CSV)."""
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        opts = pacsv.ConvertOptions(
            column_types={c: pa.string() for c in TX_COLS}, strings_can_be_null=True
        )
        return pacsv.read_csv(path, convert_options=opts).to_pylist()
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def _columns_of(path: Path) -> tuple[str, ...]:
    if path.suffix == ".parquet":
        return tuple(pq.read_schema(path).names)
    if path.suffix == ".csv":
        return tuple(path.open(encoding="utf-8").readline().strip().replace('"', "").split(","))
    return tuple(json.loads(path.open(encoding="utf-8").readline()).keys())


def _tx_files(root: Path) -> list[Path]:
    return sorted((root / "landing" / "transactions").iterdir())


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# --- determinism -------------------------------------------------------------------------------


def test_deterministic_per_seed_and_differs_across_seeds(small: Path, tmp_path: Path) -> None:
    summary = generate(tmp_path / "a" / "landing", SMALL)
    assert _digest(tmp_path / "a") == _digest(small)
    assert summary.rows["transactions"] > 5000
    assert summary.rows["users"] == 300
    assert summary.dirty_rows > 0
    assert len(summary.files) == 5 + SMALL.days

    other = GeneratorConfig(users=300, days=30, seed=12, dirty_rate=0.05)
    generate(tmp_path / "b" / "landing", other)
    da, db = _digest(tmp_path / "a"), _digest(tmp_path / "b")
    assert da.keys() == db.keys()
    differing = [k for k in da if da[k] != db[k]]
    assert "landing/users/users.parquet" in differing
    assert sum(k.startswith("landing/transactions/") for k in differing) == SMALL.days


def _recorded_cases() -> list[dict]:
    return json.loads(DIGESTS.read_text(encoding="utf-8"))["cases"]


def _config_of(case: dict) -> GeneratorConfig:
    kw = dict(case["config"])
    if "start" in kw:
        kw["start"] = date.fromisoformat(kw["start"])
    return GeneratorConfig(**kw)


@pytest.mark.parametrize("case", _recorded_cases(), ids=lambda c: json.dumps(c["config"]))
def test_same_config_writes_the_bytes_recorded_before_the_package_split(
    case: dict, tmp_path: Path
) -> None:
    generate(tmp_path / "landing", _config_of(case))
    actual = _digest(tmp_path)
    expected = case["files"]
    assert actual.keys() == expected.keys()
    changed = sorted(k for k in expected if actual[k] != expected[k])
    assert not changed, f"files whose bytes changed: {changed}"


def test_recorded_digests_cover_every_format_truth_file_and_a_month_end() -> None:
    cases = _recorded_cases()
    names = {k for c in cases for k in c["files"]}
    assert {n.rsplit(".", 1)[1] for n in names if n.startswith("landing/transactions/")} == {
        "parquet",
        "csv",
        "jsonl",
    }
    assert {f"truth/{t}" for t in ("users.parquet", "loans.parquet", "dirty_rows.parquet")} <= names
    assert {f"landing/{e}/{e}.parquet" for e in schema.REFERENCE_ENTITIES} <= names
    assert "landing/transactions/2026-03-01.parquet" in names  # a day after a month end
    assert {c["config"].get("dirty_rate", GeneratorConfig.dirty_rate) == 0.0 for c in cases} == {
        True,
        False,
    }


def test_no_generator_function_is_longer_than_80_lines() -> None:
    long = []
    for path in sorted(SYNTHETIC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > 80:
                    long.append(f"{path.relative_to(SYNTHETIC)}:{node.name} ({length} lines)")
    assert len(list(SYNTHETIC.rglob("*.py"))) > 10
    assert not long


def test_regenerating_replaces_previous_files(tmp_path: Path) -> None:
    land = tmp_path / "landing"
    generate(land, GeneratorConfig(users=50, days=12, seed=1, dirty_rate=0.0))
    generate(land, GeneratorConfig(users=50, days=5, seed=1, dirty_rate=0.0))
    assert len(list((land / "transactions").iterdir())) == 5


# --- layout, columns and formats ---------------------------------------------------------------


def test_layout_columns_and_formats(small: Path) -> None:
    land = small / "landing"
    for name in schema.REFERENCE_ENTITIES:
        path = land / name / f"{name}.parquet"
        assert _columns_of(path) == schema.ENTITIES[name].column_names
    files = _tx_files(small)
    assert [f.stem for f in files] == [
        (SMALL.start + timedelta(days=i)).isoformat() for i in range(SMALL.days)
    ]
    for i, f in enumerate(files):
        assert f.suffix == "." + transactions_file_format(i)
        assert _columns_of(f) == TX_COLS
    suffixes = {f.suffix for f in files}
    assert suffixes == {".parquet", ".csv", ".jsonl"}
    assert [i + 1 for i, f in enumerate(files) if f.suffix == ".csv"] == [7, 14, 21, 28]
    assert [i + 1 for i, f in enumerate(files) if f.suffix == ".jsonl"] == [11, 22]
    # occurred_at is a string and amount/fee doubles in Parquet; CSV amounts are text.
    sch = pq.read_schema(files[0])
    assert sch.field("occurred_at").type == pa.string()
    assert sch.field("amount").type == pa.float64()
    truth = small / "truth"
    assert pq.read_schema(truth / "loans.parquet").names[:5] == [
        "loan_id",
        "user_id",
        "true_pd",
        "outcome",
        "latent_z",
    ]
    assert pq.read_schema(truth / "users.parquet").names == ["user_id", "latent_z", "latent_band"]
    assert pq.read_schema(truth / "dirty_rows.parquet").names == ["file", "row", "txn_id", "kind"]


# --- users and identifiers ---------------------------------------------------------------------


def test_users_pii_is_valid_and_consistent(small: Path) -> None:
    users = pq.read_table(small / "landing/users/users.parquet").to_pylist()
    assert len(users) == 300
    assert len({u["user_id"] for u in users}) == 300
    with_id = [u for u in users if u["resident_id"] is not None]
    assert 0.55 < len(with_id) / len(users) < 0.85  # ~70% CN users
    for u in with_id:
        rid = u["resident_id"]
        assert is_valid_resident_id(rid), rid
        assert rid[6:14] == u["date_of_birth"].strftime("%Y%m%d")
        assert (int(rid[16]) % 2 == 1) == (u["gender"] == "M")
        assert re.fullmatch(
            r"(\+86 1\d\d \d{4} \d{4}|1\d{10}|\+861\d{10}|1\d\d-\d{4}-\d{4})", u["mobile"]
        )
    for u in users:
        age = (SMALL.start - u["date_of_birth"]).days / 365.25
        assert 18 <= age <= 75.1
        assert u["gender"] in ("F", "M")
        assert 1 <= u["city_tier"] <= 5
        assert u["kyc_level"] in schema.KYC_LEVELS
        assert SMALL.start - timedelta(days=3 * 365 + 1) <= u["signup_date"] < SMALL.start
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u["device_id"]
        )
        assert re.fullmatch(r"\+?[\d -]{10,17}", u["mobile"])
        if u["email"] is not None:
            assert re.fullmatch(r"[^@\s]+@[a-z0-9.-]+\.[a-z]+", u["email"])
    # Both scripts of names, and some IPv6.
    assert any(re.search(r"[\u4e00-\u9fff]", u["full_name"]) for u in users)
    assert any(re.fullmatch(r"[A-Za-z' .-]+", u["full_name"]) for u in users)
    v6 = sum(":" in u["ip_address"] for u in users) / len(users)
    assert 0.03 < v6 < 0.2


def test_wallet_addresses_are_valid_per_chain(small: Path) -> None:
    wallets = pq.read_table(small / "landing/wallets/wallets.parquet").to_pylist()
    per_user: dict[str, int] = {}
    chains = set()
    for w in wallets:
        chains.add(w["chain"])
        assert w["wallet_id"] == f"W{w['user_id'][1:]}-{w['chain']}"
        a = w["address"]
        if w["chain"] == "ETH":
            assert eip55_checksum_status(a) == "checksummed" and a != a.lower()
        elif w["chain"] == "TRON":
            assert is_valid_tron_address(a)
        else:
            assert a.startswith("bc1q") and is_valid_bech32_address(a)
        per_user[w["user_id"]] = per_user.get(w["user_id"], 0) + 1
    assert chains == set(schema.CHAINS)
    assert set(per_user.values()) <= {1, 2, 3}
    assert len(per_user) == 300


def test_reference_tables(small: Path) -> None:
    prices = pq.read_table(small / "landing/prices/prices.parquet").to_pylist()
    assert len(prices) == SMALL.days * len(schema.ASSETS)
    for p in prices:
        assert p["price_id"] == f"{p['asset']}|{p['price_date'].isoformat()}"
        assert p["price_base"] > 0
    by_asset = {a: [p["price_base"] for p in prices if p["asset"] == a] for a in schema.ASSETS}
    assert all(abs(v - 1) < 0.01 for v in by_asset["USDT"])
    assert all(v == 0.01 for v in by_asset["PTS"])
    assert 1000 < np.mean(by_asset["ETH"]) < 9000
    assert 30000 < np.mean(by_asset["BTC"]) < 250000
    merchants = pq.read_table(small / "landing/merchants/merchants.parquet").to_pylist()
    assert len(merchants) == 20
    assert all(m["size_tier"] in schema.MERCHANT_SIZE_TIERS for m in merchants)
    assert all(re.fullmatch(r"\d{4}", m["mcc"]) and m["mcc"] in MCC_RISK_LEVELS for m in merchants)
    risky = [m["chargeback_rate"] for m in merchants if MCC_RISK_LEVELS[m["mcc"]] == "high"]
    safe = [m["chargeback_rate"] for m in merchants if MCC_RISK_LEVELS[m["mcc"]] == "low"]
    assert risky and safe and np.mean(risky) > np.mean(safe)


# --- transactions --------------------------------------------------------------------------------


def _load_all(root: Path) -> tuple[list[tuple[str, int, dict]], dict[tuple[str, int], str]]:
    rows = []
    for f in _tx_files(root):
        rel = f"transactions/{f.name}"
        rows.extend((rel, i, r) for i, r in enumerate(_read_tx(f)))
    truth = pq.read_table(root / "truth/dirty_rows.parquet").to_pylist()
    dirty = {(t["file"], t["row"]): t["kind"] for t in truth}
    assert len(dirty) == len(truth)
    return rows, dirty


def _parse_ts(s: str | None) -> datetime | None:
    if s is None:
        return None
    try:
        return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def _amount(v: object) -> float | None:
    if isinstance(v, float):
        return v
    try:
        return float(str(v))
    except ValueError:
        return None


def test_dirty_rows_truth_matches_files(small: Path) -> None:
    rows, dirty = _load_all(small)
    truth = pq.read_table(small / "truth/dirty_rows.parquet").to_pylist()
    kinds = {t["kind"] for t in truth}
    assert kinds == set(DIRTY_KINDS)
    assert 0.03 < len(truth) / len(rows) < 0.07
    for t in truth:
        if t["kind"] == "unparseable_amount":
            assert t["file"].endswith(".csv")

    seen: set[str] = set()
    end = SMALL.start + timedelta(days=SMALL.days)
    for rel, i, r in rows:
        kind = dirty.get((rel, i))
        file_day = date.fromisoformat(rel.split("/")[1][:10])
        amt = _amount(r["amount"])
        ts = _parse_ts(r["occurred_at"])
        defects = {
            "duplicate_txn_id": r["txn_id"] in seen,
            "amount_not_positive": amt is not None and not math.isnan(amt) and amt <= 0,
            "unknown_asset": r["asset"] not in schema.ASSETS,
            "malformed_timestamp": ts is None,
            "future_timestamp": ts is not None and ts.date() >= end + timedelta(days=365),
            "missing_user_id": r["user_id"] is None,
            "unparseable_amount": amt is None,
        }
        found = {k for k, v in defects.items() if v}
        if kind is None:
            assert not found, (rel, i, r, found)
            assert ts is not None and ts.date() <= file_day  # never after the file's day
        else:
            assert found == {kind}, (rel, i, kind, found)
            tr = next(t for t in truth if t["file"] == rel and t["row"] == i)
            assert tr["txn_id"] == r["txn_id"]
        seen.add(r["txn_id"])
    # Duplicates come both from the same file and from an earlier file.
    dup_rows = [(rel, i) for rel, i, _ in rows if dirty.get((rel, i)) == "duplicate_txn_id"]
    first_file = {}
    for rel, _, r in rows:
        first_file.setdefault(r["txn_id"], rel)
    by_id = {(rel, i): r["txn_id"] for rel, i, r in rows}
    cross = sum(first_file[by_id[k]] != k[0] for k in dup_rows)
    assert 0 < cross < len(dup_rows)


def test_no_dirty_rows_when_rate_is_zero(tmp_path: Path) -> None:
    s = generate(tmp_path / "landing", GeneratorConfig(users=100, days=8, seed=5, dirty_rate=0.0))
    assert s.dirty_rows == 0
    assert pq.read_table(tmp_path / "truth/dirty_rows.parquet").num_rows == 0
    ids = [r["txn_id"] for f in _tx_files(tmp_path) for r in _read_tx(f)]
    assert len(ids) == len(set(ids)) == s.rows["transactions"]


def test_transaction_semantics(small: Path) -> None:
    rows, dirty = _load_all(small)
    users = {
        u
        for u in pq.read_table(small / "landing/users/users.parquet").column("user_id").to_pylist()
    }
    wallets = {
        w["wallet_id"]: w["user_id"]
        for w in pq.read_table(small / "landing/wallets/wallets.parquet").to_pylist()
    }
    merchants = set(
        pq.read_table(small / "landing/merchants/merchants.parquet").column(0).to_pylist()
    )
    loans = {
        r["loan_id"]: r for r in pq.read_table(small / "landing/loans/loans.parquet").to_pylist()
    }
    types: dict[str, int] = {}
    for rel, i, r in rows:
        if (rel, i) in dirty:
            continue
        t = r["tx_type"]
        types[t] = types.get(t, 0) + 1
        assert r["direction"] == schema.TX_DIRECTION[t]
        assert r["user_id"] in users
        assert _amount(r["fee"]) >= 0
        if t == "p2p_transfer":
            assert r["counterparty"] in users and r["counterparty"] != r["user_id"]
        elif t in ("top_up", "withdrawal"):
            assert wallets[r["wallet_id"]] == r["user_id"]
            chain = r["wallet_id"].split("-")[1]
            cp = r["counterparty"]
            ok = {
                "ETH": lambda a: eip55_checksum_status(a) == "checksummed",
                "TRON": is_valid_tron_address,
                "BTC": is_valid_bech32_address,
            }[chain](cp)
            assert ok, (chain, cp)
        else:
            assert r["wallet_id"] is None and r["counterparty"] is None
        assert (r["merchant_id"] is not None) == (t == "merchant_payment")
        if t == "merchant_payment":
            assert r["merchant_id"] in merchants
        assert (r["to_asset"] is not None) == (t == "swap")
        if t == "swap":
            assert r["to_asset"] in schema.ASSETS and r["to_asset"] != r["asset"]
        assert (r["country"] is not None) == (t == "cross_border_payment")
        assert (r["loan_id"] is not None) == t.startswith("loan_")
        if r["loan_id"] is not None:
            assert loans[r["loan_id"]]["user_id"] == r["user_id"]
            assert loans[r["loan_id"]]["asset"] == r["asset"]
        if t == "withdrawal":
            assert _amount(r["fee"]) > 0
    assert set(types) == set(schema.TX_TYPES)
    # Roughly one transaction per user-day.
    assert 0.6 < len(rows) / (SMALL.users * SMALL.days) < 1.6


# --- credit signal -----------------------------------------------------------------------------


def _auc(score: np.ndarray, label: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    # average ranks for ties
    s_sorted = score[order]
    i = 0
    while i < len(s_sorted):
        j = i
        while j + 1 < len(s_sorted) and s_sorted[j + 1] == s_sorted[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j + 2) / 2
        i = j + 1
    pos = label.sum()
    neg = len(label) - pos
    return float((ranks[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def test_loans_and_credit_signal(big: Path) -> None:
    truth = pq.read_table(big / "truth/loans.parquet").to_pylist()
    bands = {
        u["user_id"]: u["latent_band"]
        for u in pq.read_table(big / "truth/users.parquet").to_pylist()
    }
    assert set(bands.values()) == {1, 2, 3, 4, 5}
    loans = {
        r["loan_id"]: r for r in pq.read_table(big / "landing/loans/loans.parquet").to_pylist()
    }
    assert set(loans) == {t["loan_id"] for t in truth}
    assert {t["outcome"] for t in truth} == {"on_time", "late_30", "default", "open"}
    for lo in loans.values():
        assert lo["term_days"] in (30, 60, 90)
        assert lo["due_date"] == lo["applied_at"].date() + timedelta(days=lo["term_days"])
        assert lo["principal"] > 0
    resolved = [t for t in truth if t["outcome"] != "open"]
    assert len(resolved) > 500
    assert sum(t["outcome"] == "open" for t in truth) < len(resolved)
    bad = np.array([t["outcome"] in ("default", "late_30") for t in resolved])
    assert 0.08 < bad.mean() < 0.25
    pd_ = np.array([t["true_pd"] for t in resolved])
    assert _auc(pd_, bad) > 0.7
    band = np.array([bands[t["user_id"]] for t in resolved])
    rates = [bad[band == b].mean() for b in range(1, 6)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False)), rates

    # The ledger carries the loans: one disbursement each, repayments only for repaying loans.
    disb: dict[str, int] = {}
    repaid: dict[str, float] = {}
    for f in _tx_files(big):
        for r in _read_tx(f):
            if r["tx_type"] == "loan_disbursement":
                disb[r["loan_id"]] = disb.get(r["loan_id"], 0) + 1
                assert _amount(r["amount"]) == pytest.approx(loans[r["loan_id"]]["principal"])
            elif r["tx_type"] == "loan_repayment":
                repaid[r["loan_id"]] = repaid.get(r["loan_id"], 0.0) + _amount(r["amount"])
    assert set(disb) == set(loans) and set(disb.values()) == {1}
    for t in resolved:
        lo = loans[t["loan_id"]]
        owed = lo["principal"] * (1 + 0.02 * lo["term_days"] / 30)
        if t["outcome"] == "on_time":
            assert repaid[t["loan_id"]] == pytest.approx(owed, abs=0.05)
        elif t["outcome"] == "default":
            assert repaid.get(t["loan_id"], 0.0) < 0.7 * owed


def test_behaviour_tracks_latent_creditworthiness(big: Path) -> None:
    """Risky-MCC share and device churn fall as the latent band rises (learnable signal)."""
    bands = {
        u["user_id"]: u["latent_band"]
        for u in pq.read_table(big / "truth/users.parquet").to_pylist()
    }
    primary = dict(
        zip(
            *pq.read_table(big / "landing/users/users.parquet", columns=["user_id", "device_id"])
            .to_pydict()
            .values(),
            strict=True,
        )
    )
    mcc = {
        m["merchant_id"]: m["mcc"]
        for m in pq.read_table(big / "landing/merchants/merchants.parquet").to_pylist()
    }
    risky = np.zeros(6)
    pays = np.zeros(6)
    newdev = np.zeros(6)
    n = np.zeros(6)
    for f in _tx_files(big)[::5]:
        t = pq.read_table(f) if f.suffix == ".parquet" else None
        if t is None:
            continue
        for u, typ, m, dev in zip(
            *t.select(["user_id", "tx_type", "merchant_id", "device_id"]).to_pydict().values(),
            strict=True,
        ):
            b = bands[u]
            n[b] += 1
            newdev[b] += dev != primary[u]
            if typ == "merchant_payment":
                pays[b] += 1
                risky[b] += MCC_RISK_LEVELS[mcc[m]] == "high"
    risky_share = risky[1:] / pays[1:]
    dev_share = newdev[1:] / n[1:]
    assert risky_share[0] > 2 * risky_share[4]
    assert dev_share[0] > 2 * dev_share[4]
