"""Releases end to end on a tiny insights warehouse: cells over the public keys, outputs,
idempotent re-requests, budgets and refusals, bad requests charge nothing, contribution bounds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from privacy.dp.attestation import ReleaseAttestationError, code_version, release_attester
from privacy.dp.base import MissingSourceError, insight_base
from privacy.dp.bounding import bounded_rows_sql, selection_params
from privacy.dp.catalogue import Catalogue, parse_catalogue
from privacy.dp.ledger import LEDGER_TABLE, BudgetExceededError, verify_ledger
from privacy.dp.outputs import write_release
from privacy.dp.periods import parse_period
from privacy.dp.release import ReleaseRequestError, release_report
from zk.envelope import read_document
from zk.merkle import merkle_root
from zk.signatures import IssuerKey
from zk.verify import verify_file

KEY = b"test-selection-key-0123456789abcdef"
CATALOGUE = """\
version: 1
privacy_unit: wallet_holder
delta: 1.0e-7
budgets: {per_buyer_rho: 1.0, global_rho: 1.5}
buyers:
  alpha: {description: first}
  beta: {description: second}
domains:
  mcc: {source: taxonomy, values: [grocery, fuel, hotels, restaurants, unused_category]}
  tier: {source: contract, values: [1, 2, 3]}
  week: {calendar: iso_weeks}
reports:
  spend:
    title: Spend
    description: Spend by category, tier and week
    filter: {tx_type: [merchant_payment]}
    dimensions:
      - {column: merchant_category, domain: mcc}
      - {column: user_city_tier, domain: tier}
      - {column: iso_week, domain: week}
    measures:
      - {name: payers, kind: distinct_users}
      - {name: payments, kind: count}
      - {name: spend_usd, kind: sum, column: amount_base, bounds: [0, 50]}
      - {name: ticket_usd, kind: mean, column: amount_base, bounds: [0, 50]}
    bounds: {max_transactions_per_cell: 3, max_cells_per_user: 4}
    rho: 0.4
    min_noisy_users: 5
  tickets:
    title: Tickets
    description: Ticket quantiles
    filter: {tx_type: [merchant_payment]}
    measures:
      - {name: payers, kind: distinct_users}
      - {name: t, kind: quantile, column: amount_base, bounds: [0, 200], step: 1, alphas: [0.5]}
    bounds: {max_transactions_per_cell: 5}
    rho: 0.4
    min_noisy_users: 5
"""
CATEGORIES = ("grocery", "fuel", "hotels", "restaurants")
JANUARY = parse_period("2026-01")


SNAPSHOT_ROOT = merkle_root([b"snap-test"])
ISSUER = IssuerKey.from_secret(hashlib.sha256(b"dp test issuer").digest())


def make_warehouse(
    path: Path, n_tx: int = 4000, n_users: int = 400, heavy: int = 0, committed: bool = True
) -> Path:
    """Tiny ``minimised.insights_*`` tables for January 2026 (column names as minimise.py
    writes them). ``heavy`` adds one holder with that many grocery payments on 2026-01-05. Their
    ledger snapshot ``snap-test`` has the Merkle root :data:`SNAPSHOT_ROOT` committed (as the
    attestation assets record it) unless not ``committed``."""
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA ledger")
    con.execute("CREATE TABLE ledger.snapshots (snapshot_id VARCHAR, created_at TIMESTAMP)")
    con.execute(
        "INSERT INTO ledger.snapshots VALUES ('snap-old', '2026-01-30'), "
        "('snap-test', '2026-02-01')"
    )
    con.execute("CREATE SCHEMA attest")
    con.execute(
        "CREATE TABLE attest.snapshot_roots (snapshot_id VARCHAR PRIMARY KEY, root VARCHAR, "
        "rows BIGINT, created_at TIMESTAMP)"
    )
    con.execute(
        "INSERT INTO attest.snapshot_roots VALUES ('snap-old', ?, 1, '2026-01-30')", ["00" * 32]
    )
    if committed:
        con.execute(
            "INSERT INTO attest.snapshot_roots VALUES ('snap-test', ?, 1, '2026-02-01')",
            [SNAPSHOT_ROOT.hex()],
        )
    con.execute("CREATE SCHEMA minimised")
    lin = "'f' AS _source_file, i AS _source_row, 'snap-test' AS _snapshot_id"
    con.execute(
        f"""CREATE TABLE minimised.insights_users AS SELECT md5('u' || i) AS user_id,
        '25-34' AS age_band, 'F' AS gender, 'East' AS home_city_region,
        CAST(1 + i % 3 AS INTEGER) AS city_tier, 1 AS kyc_level,
        DATE '2025-10-01' AS signup_month, {lin} FROM range({n_users + 1}) t(i)"""
    )
    cats = "['" + "','".join(CATEGORIES) + "']"
    con.execute(
        f"""CREATE TABLE minimised.insights_merchants AS SELECT 'M' || i AS merchant_id,
        'm' AS merchant_name, '0000' AS mcc, {cats}[1 + i % 4] AS category,
        'East' AS city_region, 'small' AS size_tier, 0.0 AS chargeback_rate,
        0.0 AS refund_rate, DATE '2024-01-01' AS onboarded_month, {lin} FROM range(20) t(i)"""
    )
    con.execute(
        f"""CREATE TABLE minimised.insights_prices AS SELECT
        'USDT|' || strftime(DATE '2026-01-01' + CAST(i AS INTEGER), '%Y-%m-%d') AS price_id,
        DATE '2026-01-01' AS price_month, 'USDT' AS asset, 1.0 AS price_base, {lin}
        FROM range(31) t(i)"""
    )
    con.execute(
        f"""CREATE TABLE minimised.insights_transactions AS SELECT
        DATE '2026-01-01' + CAST(i % 31 AS INTEGER) AS occurred_date,
        md5('u' || (i % {n_users})) AS user_id, NULL::VARCHAR AS wallet_id,
        CASE WHEN i % 10 = 0 THEN 'top_up' ELSE 'merchant_payment' END AS tx_type,
        'out' AS direction, 'USDT' AS asset, CAST(1 + (i * 37) % 80 AS DOUBLE) AS amount,
        0.0 AS fee, NULL::VARCHAR AS counterparty, 'M' || (i % 20) AS merchant_id,
        NULL::VARCHAR AS to_asset, NULL::VARCHAR AS country, {lin} FROM range({n_tx}) t(i)"""
    )
    if heavy:
        con.execute(
            f"""INSERT INTO minimised.insights_transactions SELECT DATE '2026-01-05',
            md5('u' || {n_users}), NULL, 'merchant_payment', 'out', 'USDT', 1000.0 + i, 0.0, NULL,
            'M0', NULL, NULL, 'heavy', i, 'snap-test' FROM range({heavy}) t(i)"""
        )
    con.close()
    return path


@pytest.fixture
def cat() -> Catalogue:
    return parse_catalogue(CATALOGUE, "test-catalogue.yaml")


@pytest.fixture
def con(tmp_path: Path):  # type: ignore[no-untyped-def]
    c = duckdb.connect(str(make_warehouse(tmp_path / "warehouse.duckdb")))
    yield c
    c.close()


def _entries(con: duckdb.DuckDBPyConnection) -> int:
    try:
        return int(con.execute(f"SELECT count(*) FROM {LEDGER_TABLE}").fetchall()[0][0])
    except duckdb.CatalogException:
        return 0


def test_release_covers_every_public_key_and_writes_gate_files(con, cat, tmp_path) -> None:
    rel = release_report(con, cat, "spend", "alpha", "2026-01", KEY)
    rows = rel.cells.to_pylist()
    assert len(rows) == 5 * 3 * 5  # categories x tiers x ISO weeks of January 2026
    unused = [r for r in rows if r["merchant_category"] == "unused_category"]
    # Empty cells are released too (public keys). Suppression is the rule "noisy holders below
    # min_noisy_users", cell by cell, whatever the noise drew (a count of suppressed empty cells
    # would depend on the draw).
    threshold = cat.report("spend").min_noisy_users
    assert len(unused) == 15 and threshold > 0
    # payers is the rounded noisy count (withheld when suppressed); the rule uses the unrounded one.
    for r in rows:
        if r["suppressed"]:
            assert r["payers"] is None or r["payers"] <= threshold
        else:
            assert r["payers"] >= threshold - 1
    live = [r for r in rows if not r["suppressed"]]
    assert live and all(r["payments"] >= 0 and r["spend_usd"] >= 0 for r in live)
    assert all(r["payers_lo"] <= r["payers"] <= r["payers_hi"] for r in live)
    means = [r for r in live if r["ticket_usd"] is not None]  # None where the noisy count < 1
    assert means and all(
        0 <= r["ticket_usd_lo"] <= r["ticket_usd"] <= r["ticket_usd_hi"] <= 50 for r in means
    )
    p = rel.manifest["privacy"]
    assert p["rho"] == 0.4 and p["rho_opendp_map"] <= 0.4 and 0 < p["epsilon"] < 10
    assert set(p["noise_scales"]) >= {"payers", "payments", "spend_usd", "ticket_usd_sum"}
    assert rel.manifest["ledger"]["entry_hash"] == rel.entry.entry_hash
    attester = release_attester(con, ISSUER)
    out = write_release(rel, tmp_path / "staging" / "run-1" / "buyers", attester)
    assert out == tmp_path / "staging" / "run-1" / "buyers" / "alpha" / "spend" / rel.release_id
    assert {f.name for f in out.iterdir()} == {
        "data.parquet",
        "data.csv",
        "manifest.json",
        "report.html",
        "attestation.json",
    }
    html = (out / "report.html").read_text()
    assert "<svg" in html and "e<sup>" in html and "suppressed" in html
    for needle in ("http://", "https://", "<script", "src=", "@import"):
        assert needle not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["suppression"]["suppressed_cells"]) == sum(r["suppressed"] for r in rows)
    assert verify_ledger(con).ok
    assert manifest["files"] == {
        name: "sha256:" + hashlib.sha256((out / name).read_bytes()).hexdigest()
        for name in ("data.parquet", "data.csv", "report.html")
    }
    report = verify_file(out / "attestation.json", issuer_key=ISSUER.public_key)
    assert report.valid, report.summary()
    claims = read_document(out / "attestation.json")["credentialSubject"]
    assert claims["snapshot"] == {"id": "snap-test", "merkleRoot": SNAPSHOT_ROOT.hex()}
    assert claims["privacy"]["rhoCharged"] == 0.4 == rel.entry.rho
    assert claims["privacy"]["ledgerEntryHash"] == "sha256:" + rel.entry.entry_hash
    assert claims["codeVersion"] == code_version() and "+dp." in code_version()
    assert (claims["audience"], claims["releaseId"]) == ("alpha", rel.release_id)
    (out / "data.csv").write_text((out / "data.csv").read_text().replace(",", ";", 1))
    failed = verify_file(out / "attestation.json", issuer_key=ISSUER.public_key)
    assert failed.failed == "binding_hashes" and "data.csv" in failed.summary()


def test_without_a_committed_snapshot_root_no_release_can_be_attested(tmp_path: Path) -> None:
    con = duckdb.connect(str(make_warehouse(tmp_path / "w.duckdb", n_tx=50, committed=False)))
    try:
        with pytest.raises(ReleaseAttestationError, match="snap-test .* no committed Merkle root"):
            release_attester(con, ISSUER)  # another snapshot's root does not stand in
        con.execute("DROP TABLE ledger.snapshots")
        with pytest.raises(ReleaseAttestationError, match="ledger.snapshots does not exist"):
            release_attester(con, ISSUER)
    finally:
        con.close()


def test_identical_request_returns_the_stored_release_uncharged(con, cat) -> None:
    first = release_report(con, cat, "spend", "alpha", "2026-01", KEY)
    again = release_report(con, cat, "spend", "alpha", "2026-01", KEY)
    assert not again.charged and again.release_id == first.release_id
    assert again.cells.equals(first.cells)  # the same noise, not a fresh draw
    assert _entries(con) == 1
    other = release_report(con, cat, "spend", "beta", "2026-01", KEY)
    assert other.charged and other.release_id != first.release_id and _entries(con) == 2


def test_budgets_refuse_before_noise_and_say_what_remains(con, cat) -> None:
    for snap in ("s1", "s2"):
        release_report(con, cat, "spend", "alpha", "2026-01", KEY, snapshot_id=snap)
    with pytest.raises(BudgetExceededError, match="has rho=0.2 left of 1") as err:
        release_report(con, cat, "spend", "alpha", "2026-01", KEY, snapshot_id="s3")
    assert err.value.remaining["buyer"] == pytest.approx(0.2)
    assert _entries(con) == 2
    # the global budget (1.5) binds across buyers: after 0.8 + 0.4, 0.3 is left
    release_report(con, cat, "spend", "beta", "2026-01", KEY, snapshot_id="s1")
    with pytest.raises(BudgetExceededError, match="all buyers together rho=0.3 left of 1.5"):
        release_report(con, cat, "spend", "beta", "2026-01", KEY, snapshot_id="s2")
    # another period has its own budget
    assert release_report(con, cat, "spend", "alpha", "2026-02", KEY).charged
    assert _entries(con) == 4 and verify_ledger(con).ok


def test_bad_requests_charge_nothing(con, cat) -> None:
    with pytest.raises(ReleaseRequestError, match="unknown report 'nope'"):
        release_report(con, cat, "nope", "alpha", "2026-01", KEY)
    with pytest.raises(ReleaseRequestError, match="unknown buyer 'mallory'"):
        release_report(con, cat, "spend", "mallory", "2026-01", KEY)
    with pytest.raises(ReleaseRequestError, match="YYYY-MM"):
        release_report(con, cat, "spend", "alpha", "January", KEY)
    con.execute("DROP TABLE minimised.insights_prices")
    with pytest.raises(MissingSourceError, match="insights_prices.price_base"):
        release_report(con, cat, "spend", "alpha", "2026-01", KEY)
    assert _entries(con) == 0


def test_quantile_report_is_near_the_true_median(con, cat) -> None:
    rel = release_report(con, cat, "tickets", "alpha", "2026-01", KEY)
    (row,) = rel.cells.to_pylist()
    true = con.execute(
        "SELECT median(amount) FROM minimised.insights_transactions WHERE tx_type = "
        "'merchant_payment'"
    ).fetchall()[0][0]
    assert abs(row["t_p50"] - true) <= 10 and row["payers"] > 300


def _cells(con: duckdb.DuckDBPyConnection, cat: Catalogue, key: bytes) -> dict[tuple, tuple]:
    report = cat.reports["spend"]
    with insight_base(con, report.columns, JANUARY) as base:
        q = bounded_rows_sql(report, cat, JANUARY, base)
        rows = con.execute(
            f"SELECT merchant_category, user_city_tier, iso_week, count(*), sum(n_tx), sum(s0) "
            f"FROM ({q.sql}) GROUP BY ALL",
            selection_params(key),
        ).fetchall()
    return {r[:3]: r[3:] for r in rows}


def test_a_holder_with_10000_transactions_moves_a_cell_by_at_most_the_bound(tmp_path, cat) -> None:
    base = duckdb.connect(str(make_warehouse(tmp_path / "a.duckdb")))
    heavy = duckdb.connect(str(make_warehouse(tmp_path / "b.duckdb", heavy=10_000)))
    without, with_heavy = _cells(base, cat, KEY), _cells(heavy, cat, KEY)
    changed = {c for c in set(without) | set(with_heavy) if without.get(c) != with_heavy.get(c)}
    assert changed  # the heavy holder is counted ...
    assert len(changed) <= 4  # ... in at most max_cells_per_user cells
    for c in changed:
        u0, n0, s0 = without.get(c, (0, 0, 0))
        u1, n1, s1 = with_heavy.get(c, (0, 0, 0))
        assert 0 <= u1 - u0 <= 1 and 0 <= n1 - n0 <= 3 and 0 <= s1 - s0 <= 3 * 50 * 100
    # deterministic under the key, different under another key (for the heavy holder's rows)
    assert _cells(heavy, cat, KEY) == with_heavy
    tickets = cat.reports["tickets"]
    with insight_base(heavy, tickets.columns, JANUARY) as base:
        q = bounded_rows_sql(tickets, cat, JANUARY, base)
        assert q.values_sql is not None
        picks = {
            k: heavy.execute(
                f"SELECT list(v ORDER BY v) FROM ({q.values_sql})", selection_params(k)
            ).fetchall()[0][0]
            for k in (KEY, b"another-key-0123456789abcdef")
        }
    heavy_picks = {k: [v for v in vs if v >= 1000] for k, vs in picks.items()}
    assert [len(v) for v in heavy_picks.values()] == [5, 5]  # the no-dimension report's k
    assert heavy_picks[KEY] != heavy_picks[b"another-key-0123456789abcdef"]


def test_a_holder_cell_subtotal_never_exceeds_the_declared_cap(tmp_path, cat) -> None:
    capped = parse_catalogue(
        CATALOGUE.replace(
            "{name: spend_usd, kind: sum, column: amount_base, bounds: [0, 50]}",
            "{name: spend_usd, kind: sum, column: amount_base, bounds: [0, 50], "
            "max_sum_per_cell: 60}",
        ),
        "capped.yaml",
    )
    heavy = duckdb.connect(str(make_warehouse(tmp_path / "h.duckdb", heavy=10_000)))
    report = capped.reports["spend"]
    with insight_base(heavy, report.columns, JANUARY) as base:
        q = bounded_rows_sql(report, capped, JANUARY, base)
        rows = heavy.execute(
            f"SELECT max(s0), max(n_tx), count(*) FILTER (WHERE s0 = 6000) FROM ({q.sql})",
            selection_params(KEY),
        ).fetchall()[0]
    # the mean keeps its own sum, capped at the default k * upper bound (3 * 50 USD)
    assert [s.cap_int for s in q.sums] == [6000, 15000]
    assert rows[0] == 6000 and rows[1] <= 3 and rows[2] >= 1
