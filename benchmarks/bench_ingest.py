"""Ingest with full validation vs a bare DuckDB CREATE TABLE AS over the same files, same run.

Cases per size: the whole ingest with every blocking check and the Great Expectations second
opinion, and the same ingest without GX; the anchor is a bare ``CREATE TABLE AS SELECT *`` of
the same files (transactions and reference tables). Each case runs in a fresh process, so its
peak RSS is its own, and the cases are interleaved over several rounds: the machine is shared,
so each figure is the fastest of its rounds and the ratio of every round is kept beside it.

GX is imported before the clock starts (a process pays that once; it is reported apart, with the
ratio it would give if it were counted). After the ingest the child reruns the suite alone on
the committed snapshot, so the second opinion's own cost is visible without subtracting two
noisy wall times.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from benchmarks.common import Row, run_child

INGEST = """
import sys, time, duckdb
from pathlib import Path
landing, db, with_gx = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
protect = None
if len(sys.argv) > 4 and sys.argv[4] == "1":
    from privacy.at_rest import LedgerProtector
    from privacy.keyvault import LocalFileKeyVault
    protect = LedgerProtector(LocalFileKeyVault(Path(db + ".keys"), b"\x05" * 32))
t = time.perf_counter()
if with_gx:
    import great_expectations  # noqa: F401
import_seconds = time.perf_counter() - t
from ledger.expectations import DEFAULT_SUITE, run_suite
from ledger.ingest import ingest
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
report = ingest(con, landing, suite=DEFAULT_SUITE if with_gx else None, protect=protect)
seconds = time.perf_counter() - t
suite_seconds = 0.0
if with_gx:
    t = time.perf_counter()
    run_suite(con, sorted({f.entity for f in report.files if f.status == "loaded"}),
              report.snapshot_id, DEFAULT_SUITE)
    suite_seconds = time.perf_counter() - t
tx = [f for f in report.files if f.entity == "transactions"]
RESULT = {"seconds": seconds, "rows": sum(f.rows_read for f in tx),
          "loaded": sum(f.rows_loaded for f in tx),
          "quarantined": sum(f.rows_quarantined for f in tx),
          "gx_import_seconds": import_seconds, "suite_seconds": suite_seconds,
          "rejected": len(report.by_status("rejected")),
          "gx_failures": [f for s in report.suite for f in s.blocking_failures + s.warnings]}
"""

BARE = """
import sys, time, duckdb
from pathlib import Path
landing, db = Path(sys.argv[1]), sys.argv[2]
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
def listed(pattern):
    return [str(p) for p in sorted(landing.glob(pattern))]
t = time.perf_counter()
con.execute(f"CREATE TABLE tx AS SELECT * FROM read_parquet({listed('transactions/*.parquet')!r})")
tables = ["tx"]
if listed("transactions/*.csv"):
    con.execute(f"CREATE TABLE tx_csv AS SELECT * FROM read_csv("
                f"{listed('transactions/*.csv')!r}, all_varchar = true)")
    tables.append("tx_csv")
if listed("transactions/*.jsonl"):
    con.execute(f"CREATE TABLE tx_jsonl AS SELECT * FROM read_json("
                f"{listed('transactions/*.jsonl')!r}, format = 'newline_delimited')")
    tables.append("tx_jsonl")
for ref in ("users", "wallets", "merchants", "prices", "loans"):
    if listed(ref + "/*.parquet"):
        con.execute(f"CREATE TABLE {ref} AS SELECT * FROM read_parquet({listed(ref + '/*.parquet')!r})")
RESULT = {"seconds": time.perf_counter() - t,
          "rows": sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)}
"""

# label: (generator users, days, rounds); 5000 users over 180 days land ~0.94M transactions.
SIZES = {"1M": (5000, 180, 3), "5M": (25000, 180, 2)}
QUICK = {"1M": (5000, 180, 2)}
ANCHOR = "bare DuckDB CREATE TABLE AS SELECT * over the same files"
TARGET = "<= 3x anchor; peak RSS < 2 GB at 5M"
CASES = {
    "full": "whole ingest, blocking checks + GX second opinion",
    "sql": "whole ingest, blocking SQL checks only (no GX)",
    "protected": "the pipeline's ingest: checks + GX + at-rest protection (vault, tokens, sealing)",
}


def _round(landing: Path, dbs: dict[str, Path]) -> dict[str, dict[str, Any]]:
    for db in dbs.values():
        db.unlink(missing_ok=True)
        shutil.rmtree(Path(f"{db}.keys"), ignore_errors=True)
    out = {
        "bare": run_child(BARE, str(landing), str(dbs["bare"])),
        "full": run_child(INGEST, str(landing), str(dbs["full"]), "1"),
        "sql": run_child(INGEST, str(landing), str(dbs["sql"]), "0"),
        "protected": run_child(INGEST, str(landing), str(dbs["protected"]), "1", "1"),
    }
    for db in dbs.values():
        db.unlink(missing_ok=True)
    return out


def bench_ingest(work: Path, quick: bool = False) -> list[Row]:
    """~1M transactions (and ~5M unless ``quick``): full ingest vs the bare copy, same run."""
    from ledger.synthetic import GeneratorConfig, generate

    rows: list[Row] = []
    for label, (users, days, rounds) in (QUICK if quick else SIZES).items():
        landing = work / label / "landing"
        if not (landing / "transactions").exists():
            generate(landing, GeneratorConfig(users=users, days=days, seed=11))
        dbs = {k: work / label / f"{k}.duckdb" for k in ("bare", *CASES)}
        runs = [_round(landing, dbs) for _ in range(rounds)]
        bare = min((r["bare"] for r in runs), key=lambda r: r["seconds"])
        for case, title in CASES.items():
            best = min((r[case] for r in runs), key=lambda r: r["seconds"])
            rows.append(
                Row(
                    benchmark="ingest",
                    case=f"{label} transactions: {title} (best of {rounds})",
                    seconds=best["seconds"],
                    rows=best["rows"],
                    anchor=ANCHOR,
                    anchor_seconds=bare["seconds"],
                    target=TARGET,
                    peak_rss_mb=max(r[case]["peak_rss_mb"] for r in runs),
                    extra=_extra(case, best, bare, runs),
                )
            )
    return rows


def _extra(
    case: str, best: dict[str, Any], bare: dict[str, Any], runs: list[dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "ratio per round": [round(r[case]["seconds"] / r["bare"]["seconds"], 2) for r in runs],
        "loaded": best["loaded"],
        "quarantined": best["quarantined"],
        "files rejected": best["rejected"],
        "anchor_rows": bare["rows"],
        "anchor_peak_rss_mb": max(r["bare"]["peak_rss_mb"] for r in runs),
    }
    if case in ("full", "protected"):
        extra |= {
            "gx suite alone, rerun on the committed snapshot (s)": round(best["suite_seconds"], 3),
            "gx import seconds (paid once per process, not in seconds)": round(
                best["gx_import_seconds"], 2
            ),
            "ratio if the gx import were counted": round(
                (best["seconds"] + best["gx_import_seconds"]) / bare["seconds"], 2
            ),
            "gx failures": best["gx_failures"],
        }
    return extra
