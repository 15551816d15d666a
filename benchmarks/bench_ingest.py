"""Ingest with full validation vs a bare DuckDB CREATE TABLE AS over the same files, same run.

Cases per size: the whole ingest with every blocking check and the Great Expectations second
opinion (GX imported before the clock starts: a process pays that once, it is reported apart),
and the same ingest without GX. Each runs in a fresh process so its peak RSS is its own.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Row, run_child

INGEST = """
import sys, time, duckdb
from pathlib import Path
landing, db, with_gx = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
t = time.perf_counter()
if with_gx:
    import great_expectations  # noqa: F401
import_seconds = time.perf_counter() - t
from ledger.expectations import DEFAULT_SUITE
from ledger.ingest import ingest
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
report = ingest(con, landing, suite=DEFAULT_SUITE if with_gx else None)
RESULT = {"seconds": time.perf_counter() - t, "rows": report.rows_read,
          "loaded": report.rows_loaded, "quarantined": report.rows_quarantined,
          "gx_import_seconds": import_seconds,
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
if listed("transactions/*.csv"):
    con.execute(f"CREATE TABLE tx_csv AS SELECT * FROM read_csv("
                f"{listed('transactions/*.csv')!r}, all_varchar = true)")
if listed("transactions/*.jsonl"):
    con.execute(f"CREATE TABLE tx_jsonl AS SELECT * FROM read_json("
                f"{listed('transactions/*.jsonl')!r}, format = 'newline_delimited')")
for ref in ("users", "wallets", "merchants", "prices", "loans"):
    if listed(ref + "/*.parquet"):
        con.execute(f"CREATE TABLE {ref} AS SELECT * FROM read_parquet({listed(ref + '/*.parquet')!r})")
RESULT = {"seconds": time.perf_counter() - t,
          "rows": sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("tx", "tx_csv", "tx_jsonl")
                      if con.execute(f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{t}'").fetchone()[0])}
"""

SIZES = {"1M": (5000, 180), "5M": (25000, 180)}
ANCHOR = "bare DuckDB CREATE TABLE AS SELECT * over the same files"


def bench_ingest(work: Path, quick: bool = False) -> list[Row]:
    """1M transactions (and 5M unless ``quick``): full ingest vs the bare copy, same run."""
    from ledger.synthetic import GeneratorConfig, generate

    rows: list[Row] = []
    sizes = {"1M": SIZES["1M"]} if quick else SIZES
    for label, (users, days) in sizes.items():
        landing = work / label / "landing"
        if not (landing / "transactions").exists():
            generate(landing, GeneratorConfig(users=users, days=days, seed=11))
        dbs = {k: work / label / f"{k}.duckdb" for k in ("bare", "full", "sql")}
        for db in dbs.values():
            db.unlink(missing_ok=True)
        bare = run_child(BARE, str(landing), str(dbs["bare"]))
        full = run_child(INGEST, str(landing), str(dbs["full"]), "1")
        sql = run_child(INGEST, str(landing), str(dbs["sql"]), "0")
        for case, result in (
            ("whole ingest, blocking checks + GX second opinion", full),
            ("whole ingest, blocking SQL checks only (no GX)", sql),
        ):
            rows.append(
                Row(
                    benchmark="ingest",
                    case=f"{label} transactions: {case}",
                    seconds=result["seconds"],
                    rows=result["rows"],
                    anchor=ANCHOR,
                    anchor_seconds=bare["seconds"],
                    target="<= 3x anchor; peak RSS < 2 GB at 5M",
                    peak_rss_mb=result["peak_rss_mb"],
                    extra={
                        "loaded": result["loaded"],
                        "quarantined": result["quarantined"],
                        "files rejected": result["rejected"],
                        "gx import seconds (paid once per process, not in seconds)": round(
                            result["gx_import_seconds"], 2
                        ),
                        "gx failures": result["gx_failures"],
                        "anchor_rows": bare["rows"],
                        "anchor_peak_rss_mb": bare["peak_rss_mb"],
                    },
                )
            )
        for db in dbs.values():
            db.unlink(missing_ok=True)
    return rows
