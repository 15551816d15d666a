"""What to generate (:class:`GeneratorConfig`), what was written (:class:`GenerationSummary`) and
which file format each transaction day gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class GeneratorConfig:
    users: int = 5000
    days: int = 180
    seed: int = 7
    dirty_rate: float = 0.005
    start: date = date(2026, 1, 1)
    merchants: int | None = None  # default: users // 20, at least 20

    @property
    def n_merchants(self) -> int:
        return self.merchants if self.merchants is not None else max(20, self.users // 20)

    def check(self) -> None:
        """Raise ``ValueError`` naming the setting that is out of range."""
        if self.users < 2 or self.days < 1:
            raise ValueError("need at least 2 users and 1 day")
        if not 0.0 <= self.dirty_rate < 0.5:
            raise ValueError("dirty_rate must be in [0, 0.5)")

    def day(self, index: int) -> date:
        """Calendar date of 0-based day ``index``."""
        return self.start + timedelta(days=index)

    def day_start_seconds(self, index: int = 0) -> int:
        """Unix seconds at 00:00 UTC of 0-based day ``index``."""
        d = self.day(index)
        return int((datetime(d.year, d.month, d.day) - _EPOCH).total_seconds())


@dataclass
class GenerationSummary:
    files: list[Path]  # landing files written
    rows: dict[str, int]  # rows per entity
    dirty_rows: int
    seconds: float
    truth_files: list[Path] = field(default_factory=list)


def transactions_file_format(day_index: int) -> str:
    """Format of the transactions file for 0-based day ``day_index``: every 7th day CSV, every 11th
    day JSON Lines (CSV wins when both apply), otherwise Parquet."""
    n = day_index + 1
    if n % 7 == 0:
        return "csv"
    if n % 11 == 0:
        return "jsonl"
    return "parquet"
