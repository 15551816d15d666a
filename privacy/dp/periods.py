"""Dataset periods and the calendar domains derived from them.

A dataset period is a calendar month (``2026-01``) or quarter (``2026-Q1``). Budgets are charged
per period, and calendar dimensions (ISO weeks, sign-up cohorts) take their keys from the period's
calendar alone, never from the data, so the set of published keys reveals nothing about anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["Period", "PeriodError", "parse_period"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


class PeriodError(ValueError):
    """A dataset period is not of the form ``YYYY-MM`` or ``YYYY-Qn``."""


@dataclass(frozen=True)
class Period:
    """An inclusive range of days ``[start, end]`` named ``label``."""

    label: str
    start: date
    end: date

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]

    def iso_weeks(self) -> list[str]:
        """The ISO weeks (``2026-W01``) that contain at least one day of the period, in order."""
        seen: list[str] = []
        for d in self.days():
            y, w, _ = d.isocalendar()
            key = f"{y:04d}-W{w:02d}"
            if not seen or seen[-1] != key:
                seen.append(key)
        return seen

    def months_back(self, n: int) -> list[str]:
        """The ``n`` calendar months ending with the period's last month (``YYYY-MM``), oldest
        first."""
        y, m = self.end.year, self.end.month
        out: list[str] = []
        for _ in range(n):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        return out[::-1]


def _month_end(y: int, m: int) -> date:
    nxt = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return nxt - timedelta(days=1)


def parse_period(label: str) -> Period:
    """Parse ``YYYY-MM`` or ``YYYY-Qn``."""
    if (mm := _MONTH.match(label)) is not None:
        y, m = int(mm.group(1)), int(mm.group(2))
        return Period(label, date(y, m, 1), _month_end(y, m))
    if (mq := _QUARTER.match(label)) is not None:
        y, q = int(mq.group(1)), int(mq.group(2))
        return Period(label, date(y, 3 * q - 2, 1), _month_end(y, 3 * q))
    raise PeriodError(
        f"dataset period {label!r} is not a calendar month 'YYYY-MM' or quarter 'YYYY-Qn'"
    )
