"""The Great Expectations suite: an independent second opinion on a staged ingest batch.

The routing SQL (:mod:`ledger.rules`) enforces per-row properties by construction, so checking
them again would be a check that cannot fail. This suite is declared separately and checks what
routing does not decide row by row:

- **referential integrity** of what was written, recomputed over every row of the batch against
  the reference tables as they stand (blocking). The references are declared here
  (:data:`REFERENCES`), not read from the contract that routing derives its rules from, and are
  evaluated by an anti-join rather than routing's left join, so neither a reference dropped from
  the contract nor a routing bug goes unseen;
- **per-day volume** within configurable bounds (blocking: a day far outside them is a broken or
  repeated export);
- **freshness**: the newest transaction is not older than a configurable age (warning);
- **distribution**: the mix of transaction types does not diverge from the ledger's history by
  more than a KL-divergence threshold (warning);
- an empty batch (files landed, no row loaded) is a warning, never a silent pass.

Cost: DuckDB computes exact aggregates over every staged row (one row per day, the count of each
transaction type, orphans per day per reference) and GX validates a small frame built from them,
so the suite costs about the same at 5M rows as at 5k, with no pandas copy of the batch and no
sampling. The type mix reaches GX as a column of :attr:`SuiteConfig.mix_resolution` values
apportioned to the exact counts (largest remainder, every type present at least once): GX's KL
divergence reads the column's value frequencies, which then differ from the exact ones by less
than one part in ``mix_resolution``. It runs on the ingest connection, inside the ingest
transaction, so it sees the staged rows and a blocking failure rolls them back.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

Reference = tuple[str, str, str]
"""(column, referenced table in ``ledger``, its key)."""

REFERENCES: dict[str, tuple[Reference, ...]] = {
    "wallets": (("user_id", "users", "user_id"),),
    "loans": (("user_id", "users", "user_id"),),
    "transactions": (
        ("user_id", "users", "user_id"),
        ("wallet_id", "wallets", "wallet_id"),
        ("merchant_id", "merchants", "merchant_id"),
        ("loan_id", "loans", "loan_id"),
    ),
}
"""Every foreign key the second opinion checks, per entity (declared apart from the contract)."""

DATED: dict[str, str] = {"transactions": "occurred_at"}
"""Entities whose rows fall on a day, and the column that places them."""


@dataclass(frozen=True)
class SuiteConfig:
    """Thresholds of the second opinion (all configurable per deployment)."""

    daily_rows: tuple[int, int] = (1, 2_000_000)
    freshness_days: int | None = 400
    max_type_divergence: float = 0.5
    min_history_rows: int = 1_000
    mix_resolution: int = 10_000


DEFAULT_SUITE = SuiteConfig()


@dataclass(frozen=True)
class Expect:
    """One declared expectation: GX expectation class, kwargs, whether failing it blocks the
    commit, and the label that reports it."""

    kind: str
    kwargs: dict[str, Any]
    blocking: bool
    label: str


@dataclass
class SuiteOutcome:
    entity: str
    rows: int
    evaluated: int
    blocking_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.blocking_failures and not self.warnings

    def as_metadata(self) -> dict[str, Any]:
        return {
            "rows in batch": self.rows,
            "expectations evaluated": self.evaluated,
            "blocking failures": "; ".join(self.blocking_failures) or "none",
            "warnings": "; ".join(self.warnings) or "none",
        }


def checkable_references(con: duckdb.DuckDBPyConnection, entity: str) -> list[Reference]:
    """References whose target table has rows: a ledger that sends no wallets (or loans) has
    nothing to violate (routing lists those references as unchecked)."""
    out = []
    for ref in REFERENCES.get(entity, ()):
        found = con.execute(f'SELECT EXISTS (SELECT 1 FROM ledger."{ref[1]}")').fetchall()[0]
        if found[0]:
            out.append(ref)
    return out


@dataclass(frozen=True)
class BatchProfile:
    """Exact aggregates of one entity's staged rows: per day (``None`` for an undated entity)
    the row count and the orphans of each reference; the count of each transaction type."""

    days: list[date | None]
    rows: list[int]
    orphans: dict[str, list[int]]
    types: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows)


def profile_batch(
    con: duckdb.DuckDBPyConnection, entity: str, snapshot: str, refs: list[Reference]
) -> BatchProfile:
    """One grouped scan of the batch, plus one anti-join per reference (empty when clean)."""
    dated = DATED.get(entity)
    day = f'CAST(t."{dated}" AS DATE)' if dated else "NULL::DATE"
    kind = "t.tx_type" if entity == "transactions" else "NULL::VARCHAR"
    counts = con.execute(
        f"SELECT {day} AS day, {kind} AS kind, count(*) FROM ledger.{entity} t "
        "WHERE t._snapshot_id = ? GROUP BY ALL",
        [snapshot],
    ).fetchall()
    per_day: dict[date | None, int] = {}
    types: dict[str, int] = {}
    for d, k, n in counts:
        per_day[d] = per_day.get(d, 0) + n
        if k is not None:
            types[k] = types.get(k, 0) + n
    days = sorted(per_day, key=lambda d: (d is None, d or date.min))
    orphans = {}
    for col, target, key in refs:
        found = dict(
            con.execute(
                f'SELECT {day} AS day, count(*) FROM ledger.{entity} t ANTI JOIN ledger."{target}" r '
                f'ON r."{key}" = t."{col}" WHERE t._snapshot_id = ? AND t."{col}" IS NOT NULL '
                "GROUP BY ALL",
                [snapshot],
            ).fetchall()
        )
        orphans[col] = [found.get(d, 0) for d in days]
    return BatchProfile(days, [per_day[d] for d in days], orphans, types)


def apportion(counts: dict[str, int], size: int) -> list[str]:
    """``size`` labels in the proportions of ``counts`` (largest remainder), every label with a
    nonzero count at least once; the counts themselves when they add up to no more than ``size``.
    """
    present = {k: n for k, n in sorted(counts.items()) if n > 0}
    total = sum(present.values())
    if total <= size:
        return [k for k, n in present.items() for _ in range(n)]
    spare = max(size - len(present), 0)
    quotas = {k: spare * n / total for k, n in present.items()}
    shares = {k: 1 + math.floor(q) for k, q in quotas.items()}
    left = max(size - sum(shares.values()), 0)
    for k in sorted(quotas, key=lambda k: (math.floor(quotas[k]) - quotas[k], k))[:left]:
        shares[k] += 1
    return [k for k, n in shares.items() for _ in range(n)]


def _history_mix(con: duckdb.DuckDBPyConnection, snapshot: str) -> dict[str, float]:
    counts = con.execute(
        "SELECT tx_type, count(*) FROM ledger.transactions WHERE _snapshot_id <> ? GROUP BY 1",
        [snapshot],
    ).fetchall()
    return {str(t): float(n) for t, n in counts}


def batch_frame(profile: BatchProfile, config: SuiteConfig) -> pd.DataFrame:
    """The frame GX validates: one row per day (``day``, ``rows``, ``orphan_<col>``) and,
    below them, the batch's type mix as a ``tx_type`` column (other columns empty there)."""
    daily = pd.DataFrame(
        {
            "day": pd.to_datetime(pd.Series(profile.days, dtype="object")),
            "rows": pd.Series(profile.rows, dtype="int64"),
            **{f"orphan_{c}": pd.Series(v, dtype="int64") for c, v in profile.orphans.items()},
        }
    )
    if not profile.types:
        return daily
    mix = pd.DataFrame({"tx_type": apportion(profile.types, config.mix_resolution)})
    return pd.concat([daily, mix], ignore_index=True)


def declared(
    entity: str,
    config: SuiteConfig,
    refs: list[Reference],
    history: dict[str, float] | None = None,
    as_of: datetime | None = None,
) -> list[Expect]:
    """The expectations of an entity's batch frame (independent of the routing rules)."""
    out = [
        Expect(
            "ExpectColumnSumToBeBetween",
            {"column": "rows", "min_value": 1},
            False,
            "batch loaded no rows",
        )
    ]
    out += [
        Expect(
            "ExpectColumnValuesToBeBetween",
            {"column": f"orphan_{col}", "min_value": 0, "max_value": 0},
            True,
            f"{col} references no row of {ref}",
        )
        for col, ref, _ in refs
    ]
    if entity not in DATED:
        return out
    low, high = config.daily_rows
    out.append(
        Expect(
            "ExpectColumnValuesToBeBetween",
            {"column": "rows", "min_value": low, "max_value": high},
            True,
            f"rows per day outside [{low}, {high}]",
        )
    )
    if config.freshness_days is not None:
        now = as_of or datetime.now(UTC).replace(tzinfo=None)
        floor = (now - timedelta(days=config.freshness_days)).date()
        out.append(
            Expect(
                "ExpectColumnMaxToBeBetween",
                {"column": "day", "min_value": pd.Timestamp(floor)},
                False,
                f"newest transaction older than {config.freshness_days} days",
            )
        )
    total = sum((history or {}).values())
    if history and total >= config.min_history_rows:
        values = sorted(history)
        out.append(
            Expect(
                "ExpectColumnKLDivergenceToBeLessThan",
                {
                    "column": "tx_type",
                    "partition_object": {
                        "values": values,
                        "weights": [history[v] / total for v in values],
                    },
                    "threshold": config.max_type_divergence,
                },
                False,
                f"transaction-type mix diverges from history (KL > {config.max_type_divergence})",
            )
        )
    return out


_GX_LOCK = threading.Lock()


@functools.cache
def _batch_definition() -> Any:
    """One ephemeral GX context per process with one whole-dataframe batch definition.

    Safe to share between runs: it holds no data (each validation passes its own frame as a
    batch parameter) and no suite (suites are validated without being added to it); the lock
    in :func:`validate` keeps two threads from validating through it at once.
    """
    import great_expectations as gx  # imported here: it takes seconds to import
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return (
        context.data_sources.add_pandas("ledger_batches")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("batch")
    )


def validate(
    entity: str, frame: pd.DataFrame, expectations: list[Expect], rows: int
) -> SuiteOutcome:
    """Validate one batch frame with GX; failures by label."""
    import great_expectations as gx

    with _GX_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        suite = gx.ExpectationSuite(
            name=f"ledger_{entity}",
            expectations=[
                getattr(gx.expectations, e.kind)(**e.kwargs, meta={"label": e.label})
                for e in expectations
            ],
        )
        result = batch.validate(suite)
    if len(result.results) != len(expectations):
        # GX drops an expectation it cannot configure with only a log line: never a silent pass.
        raise RuntimeError(
            f"GX evaluated {len(result.results)} of the {len(expectations)} expectations "
            f"declared for {entity}; see the log for the one it could not configure"
        )
    outcome = SuiteOutcome(entity=entity, rows=rows, evaluated=len(result.results))
    by_label = {e.label: e for e in expectations}
    for r in result.results:
        if r.success:
            continue
        config = r.expectation_config
        label = str(((config.meta if config else None) or {}).get("label"))
        observed = (r.result or {}).get("observed_value")
        shown = f"{label} (observed {_number(observed)})" if observed is not None else label
        unexpected = (r.result or {}).get("unexpected_count")
        if unexpected:
            shown = f"{label} (on {unexpected} day(s))" if entity in DATED else label
        target = outcome.blocking_failures if by_label[label].blocking else outcome.warnings
        target.append(shown)
    return outcome


def _number(value: object) -> str:
    # Observed values are aggregates (sums, divergences, dates), never a row's value.
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.4g}"
    return str(value)


def run_suite(
    con: duckdb.DuckDBPyConnection,
    entities: list[str],
    snapshot: str,
    config: SuiteConfig = DEFAULT_SUITE,
    as_of: datetime | None = None,
) -> list[SuiteOutcome]:
    """The second opinion on every entity of a batch that has something to check."""
    outcomes = []
    for entity in entities:
        if entity not in DATED and entity not in REFERENCES:
            continue
        refs = checkable_references(con, entity)
        profile = profile_batch(con, entity, snapshot, refs)
        history = _history_mix(con, snapshot) if entity == "transactions" else None
        expectations = declared(entity, config, refs, history, as_of)
        frame = batch_frame(profile, config)
        outcomes.append(validate(entity, frame, expectations, profile.total))
    return outcomes
