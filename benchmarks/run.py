"""`make bench`: every benchmark, results as JSON in benchmarks/results and a table in BENCHMARKS.md.

Each figure is measured beside the anchor the issue names, in the same run, and reported as a
ratio: the machine is shared and noisy, so absolute times drift between runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from benchmarks.common import Row, write_results

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("LEDGERLENS_BENCH_DIR", ROOT / "data" / "bench"))


def _table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | case | rows | seconds | rows/s | anchor | anchor s | ratio | target | peak RSS MB |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    for r in rows:
        d = r.as_dict()
        rss = f"{r.peak_rss_mb:,.0f}" if r.peak_rss_mb is not None else ""
        lines.append(
            f"| {r.benchmark} | {r.case} | {r.rows:,} | {r.seconds:.2f} | "
            f"{d['rows_per_second'] or 0:,} | {r.anchor} | {r.anchor_seconds:.2f} | "
            f"{r.ratio:.2f}x | {r.target} | {rss} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    from benchmarks.bench_ingest import bench_ingest

    WORK.mkdir(parents=True, exist_ok=True)
    quick = "--quick" in argv
    sizes = {"1M": (5000, 180)} if quick else {"1M": (5000, 180), "5M": (25000, 180)}
    sections: dict[str, list[Row]] = {"ingest": bench_ingest(WORK / "ingest", sizes)}
    parts = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (benchmarks/run.py); raw results in "
        "`benchmarks/results/*.json`. Ratios are to the anchor measured in the same run.",
        "",
    ]
    for name, rows in sections.items():
        write_results(name, rows)
        parts += [f"## {name}", "", _table(rows), ""]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main(sys.argv[1:])
