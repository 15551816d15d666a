"""Shared benchmark plumbing: timing, peak RSS of a child process, results as JSON + a table."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Row:
    benchmark: str
    case: str
    seconds: float
    rows: int
    anchor: str
    anchor_seconds: float
    target: str
    peak_rss_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.seconds / self.anchor_seconds if self.anchor_seconds else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "ratio_to_anchor": round(self.ratio, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
        }


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run python code in a fresh process (so its peak RSS is its own); return its JSON stdout.

    The child prints one JSON object as its last line; ``peak_rss_mb`` is added from its own
    ``getrusage`` so earlier children don't count.
    """
    wrapped = (
        code
        + "\nimport resource as _r, json as _j\n"
        + "print(_j.dumps({**RESULT, 'peak_rss_mb': _r.getrusage(_r.RUSAGE_SELF).ru_maxrss / 1024}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapped, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-4000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - started


def write_results(name: str, rows: list[Row]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {
        "benchmark": name,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            "node": platform.machine(),
        },
        "rows": [r.as_dict() for r in rows],
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
