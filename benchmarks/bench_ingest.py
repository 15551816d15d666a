"""Ingest throughput with full validation + quarantine vs a bare DuckDB copy of the same files."""

from __future__ import annotations

from pathlib import Path

from benchmarks.common import Row, run_child

INGEST = """
import sys, time, duckdb
from pathlib import Path
from ledger.ingest import ingest
landing, db = Path(sys.argv[1]), sys.argv[2]
con = duckdb.connect(db)
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
report = ingest(con, landing)
RESULT = {"seconds": time.perf_counter() - t, "rows": report.rows_read,
          "loaded": report.rows_loaded, "quarantined": report.rows_quarantined}
"""

GX = """
import sys, time, duckdb
from ledger.expectations import validate_snapshot
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute("SET enable_progress_bar = false")
snapshot = con.execute("SELECT max(_snapshot_id) FROM ledger.transactions").fetchone()[0]
t = time.perf_counter()
outcome = validate_snapshot(con, "transactions", snapshot)
RESULT = {"seconds": time.perf_counter() - t, "rows": outcome.rows, "success": outcome.success}
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


def bench_ingest(work: Path, sizes: dict[str, tuple[int, int]]) -> list[Row]:
    from ledger.synthetic import GeneratorConfig, generate

    rows: list[Row] = []
    for label, (users, days) in sizes.items():
        landing = work / label / "landing"
        if not (landing / "transactions").exists():
            generate(landing, GeneratorConfig(users=users, days=days, seed=11))
        bare_db, ingest_db = work / label / "bare.duckdb", work / label / "ingest.duckdb"
        for db in (bare_db, ingest_db):
            db.unlink(missing_ok=True)
        bare = run_child(BARE, str(landing), str(bare_db))
        full = run_child(INGEST, str(landing), str(ingest_db))
        gx = run_child(GX, str(ingest_db))
        rows.append(
            Row(
                benchmark="ingest",
                case=f"{label} transactions: routing + quarantine + load",
                seconds=full["seconds"],
                rows=full["rows"],
                anchor="bare DuckDB CREATE TABLE AS SELECT * over the same files",
                anchor_seconds=bare["seconds"],
                target="<= 3x anchor; peak RSS < 2 GB at 5M",
                peak_rss_mb=full["peak_rss_mb"],
                extra={
                    "loaded": full["loaded"],
                    "quarantined": full["quarantined"],
                    "anchor_rows": bare["rows"],
                    "anchor_peak_rss_mb": bare["peak_rss_mb"],
                },
            )
        )
        rows.append(
            Row(
                benchmark="ingest",
                case=f"{label} transactions: + GX suite over every loaded row",
                seconds=full["seconds"] + gx["seconds"],
                rows=full["rows"],
                anchor="bare DuckDB CREATE TABLE AS SELECT * over the same files",
                anchor_seconds=bare["seconds"],
                target="<= 3x anchor",
                peak_rss_mb=max(full["peak_rss_mb"], gx["peak_rss_mb"]),
                extra={"gx_seconds": gx["seconds"], "gx_success": gx["success"]},
            )
        )
        bare_db.unlink(missing_ok=True)
    return rows
