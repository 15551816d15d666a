"""`make bench`: every benchmark, results as JSON in benchmarks/results and a table in BENCHMARKS.md.

``--quick`` runs each section at its small sizes (no 5M ingest, no 262k HE batch, …); ``--only=privacy,credit`` runs only those sections and
reuses the others' last results JSON for BENCHMARKS.md.

Each figure is measured beside the anchor the issue names, in the same run, and reported as a
ratio: the machine is shared and noisy, so absolute times drift between runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from benchmarks.common import RESULTS, Row, write_results

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


def _previous(name: str) -> list[Row]:
    """Rows of a section from its last results JSON (for sections skipped with --only)."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return []
    keep = {f.name for f in fields(Row)}
    return [
        Row(**{k: v for k, v in d.items() if k in keep})
        for d in json.loads(path.read_text())["rows"]
    ]


def main(argv: list[str]) -> None:
    from benchmarks.bench_audit import bench_audit
    from benchmarks.bench_credit import AUC_BENCHMARK, auc_table, bench_credit
    from benchmarks.bench_dp import bench_dp
    from benchmarks.bench_he import bench_he
    from benchmarks.bench_ingest import bench_ingest
    from benchmarks.bench_leakguard import bench_leakguard
    from benchmarks.bench_privacy import bench_privacy
    from benchmarks.bench_zk import bench_zk

    WORK.mkdir(parents=True, exist_ok=True)
    quick = "--quick" in argv
    only = next((a.split("=", 1)[1].split(",") for a in argv if a.startswith("--only=")), None)
    runners: dict[str, Callable[[], list[Row]]] = {
        "ingest": lambda: bench_ingest(WORK / "ingest", quick),
        "privacy": lambda: bench_privacy(WORK / "privacy"),
        "leakguard": lambda: bench_leakguard(WORK / "leakguard", quick),
        "credit": lambda: bench_credit(WORK / "credit", quick),
        "he": lambda: bench_he(WORK / "he", quick),
        "dp": lambda: bench_dp(WORK / "dp", quick),
        "zk": lambda: bench_zk(WORK / "zk", quick),
        "audit": lambda: bench_audit(WORK / "audit", quick),
    }
    sections: dict[str, list[Row]] = {}
    for name, run in runners.items():
        if only is None or name in only:
            sections[name] = run()
            write_results(name, sections[name])
        else:
            sections[name] = _previous(name)
    parts = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (benchmarks/run.py); raw results in "
        "`benchmarks/results/*.json`. Ratios are to the anchor measured in the same run.",
        "",
        "Last run: "
        + (
            "`--quick` (small sizes of every section; no 5M ingest, no 262k HE batch)"
            if quick
            else "full sizes"
        )
        + ", on a shared 2-core machine while other work ran: absolute times are noisy.",
        "",
    ]
    for name, rows in sections.items():
        timed = [r for r in rows if r.benchmark != AUC_BENCHMARK]
        if timed:
            parts += [f"## {name}", "", _table(timed), ""]
        if any(r.benchmark == AUC_BENCHMARK for r in rows):
            parts += [
                "## credit AUC",
                "",
                "Additive (production), challenger (unconstrained LightGBM) and WoE logistic. "
                "German credit and Lending Club: mean AUC over 5 stratified folds. Synthetic "
                "ledger: the pipeline's out-of-time holdout (latest 20% of labelled applications), "
                "beside the oracle AUC of the generator's true PD on the same loans.",
                "",
                auc_table(rows),
                "",
            ]
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main(sys.argv[1:])
