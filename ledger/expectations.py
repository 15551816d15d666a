"""The Great Expectations suite: an independent second opinion on a staged ingest batch.

The routing SQL (:mod:`ledger.rules`) enforces per-row properties by construction, so checking
them again would be a check that cannot fail. This suite is declared separately and checks what
routing does not decide row by row:

- **referential integrity** of what was written, recomputed over every row of the batch against
  the reference tables as they stand (blocking);
- **per-day volume** within configurable bounds (blocking: a day far outside them is a broken or
  repeated export);
- **freshness**: the newest transaction is not older than a configurable age (warning);
- **distribution**: the mix of transaction types does not diverge from the ledger's history by
  more than a KL-divergence threshold (warning);
- an empty batch (files landed, no row loaded) is a warning, never a silent pass.

Cost: the exact aggregates are computed in DuckDB (one row per day) and GX validates them together
with a fixed-size uniform sample of rows (for the distribution), in one batch; the suite costs
the same at 5M rows as at 5k. It runs on the ingest connection, inside the ingest transaction, so
it sees the staged rows and a blocking failure rolls them back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pandas as pd

from ledger.contract import ENTITIES


@dataclass(frozen=True)
class SuiteConfig:
    """Thresholds of the second opinion (all configurable per deployment)."""

    daily_rows: tuple[int, int] = (1, 2_000_000)
    freshness_days: int | None = 400
    max_type_divergence: float = 0.5
    min_history_rows: int = 1_000
    sample_rows: int = 20_000
    seed: int = 7


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


Reference = tuple[str, str, str]
"""(column, referenced entity, its key)."""


def _references(entity: str) -> list[Reference]:
    return [
        (c.name, c.references, ENTITIES[c.references].key)
        for c in ENTITIES[entity].columns
        if c.references
    ]


def checkable_references(con: duckdb.DuckDBPyConnection, entity: str) -> list[Reference]:
    """References whose target table has rows: a ledger that sends no wallets (or loans) has
    nothing to violate, as in the routing rules."""
    out = []
    for ref in _references(entity):
        found = con.execute(f"SELECT count(*) > 0 FROM ledger.{ref[1]}").fetchall()[0]
        if found and found[0]:
            out.append(ref)
    return out


def _daily_frame(
    con: duckdb.DuckDBPyConnection, entity: str, snapshot: str, refs: list[Reference]
) -> pd.DataFrame:
    """One row per day (per batch for undated entities): rows, orphan counts per reference."""
    day = "CAST(t.occurred_at AS DATE)" if entity == "transactions" else "NULL::DATE"
    orphans = ", ".join(
        f'count(*) FILTER (WHERE t."{col}" IS NOT NULL AND NOT EXISTS '
        f'(SELECT 1 FROM ledger.{ref} r WHERE r."{key}" = t."{col}")) AS orphan_{col}'
        for col, ref, key in refs
    )
    return con.execute(
        f"SELECT {day} AS day, count(*) AS rows{', ' + orphans if orphans else ''} "
        f"FROM ledger.{entity} t WHERE t._snapshot_id = ? GROUP BY 1 ORDER BY 1",
        [snapshot],
    ).df()


def _sample_frame(
    con: duckdb.DuckDBPyConnection, snapshot: str, config: SuiteConfig
) -> pd.DataFrame:
    return con.execute(
        f"SELECT tx_type FROM (SELECT tx_type FROM ledger.transactions WHERE _snapshot_id = ?) "
        f"USING SAMPLE reservoir({int(config.sample_rows)} ROWS) REPEATABLE ({int(config.seed)})",
        [snapshot],
    ).df()


def _history_mix(con: duckdb.DuckDBPyConnection, snapshot: str) -> dict[str, float]:
    counts = con.execute(
        "SELECT tx_type, count(*) FROM ledger.transactions WHERE _snapshot_id <> ? GROUP BY 1",
        [snapshot],
    ).fetchall()
    return {str(t): float(n) for t, n in counts}


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
    if entity != "transactions":
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


def validate(
    entity: str, frame: pd.DataFrame, expectations: list[Expect], rows: int
) -> SuiteOutcome:
    """Validate one batch frame with GX in an ephemeral context; failures by label."""
    import great_expectations as gx  # imported here: it takes seconds to import
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas(f"ledger_{entity}")
        .add_dataframe_asset(entity)
        .add_batch_definition_whole_dataframe("batch")
    )
    suite = gx.ExpectationSuite(name=f"ledger_{entity}")
    for e in expectations:
        cls = getattr(gx.expectations, e.kind)
        suite.add_expectation(cls(**e.kwargs, meta={"label": e.label}))
    suite = context.suites.add(suite)
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
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
            shown = f"{label} (on {unexpected} day(s))" if entity == "transactions" else label
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
        if entity != "transactions" and not _references(entity):
            continue
        refs = checkable_references(con, entity)
        frame = _daily_frame(con, entity, snapshot, refs)
        rows = int(frame["rows"].sum()) if len(frame) else 0
        history: dict[str, float] | None = None
        if entity == "transactions":
            history = _history_mix(con, snapshot)
            frame = pd.concat([frame, _sample_frame(con, snapshot, config)], ignore_index=True)
        expectations = declared(entity, config, refs, history, as_of)
        outcomes.append(validate(entity, frame, expectations, rows))
    return outcomes
