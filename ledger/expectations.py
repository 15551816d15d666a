"""The Great Expectations suite of each ledger entity, built from the same rule declarations.

Ingest routes rows with the SQL predicates of :mod:`ledger.rules`; this suite is the
independent second opinion on what was *loaded*: an ephemeral GX context (no project folder)
validates the rows of a snapshot, and any failing expectation means the routing let a bad row in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from ledger.rules import rules_for
from ledger.contract import ENTITIES


@dataclass(frozen=True)
class SuiteOutcome:
    entity: str
    success: bool
    rows: int
    evaluated: int
    failed: list[str]

    def as_metadata(self) -> dict[str, Any]:
        return {
            "rows validated": self.rows,
            "expectations evaluated": self.evaluated,
            "expectations failed": ", ".join(self.failed) or "none",
        }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def expectation_specs(entity: str) -> list[tuple[str, dict[str, object]]]:
    """Expectation (type, kwargs) pairs for an entity: the columns, then every expressible rule."""
    specs: list[tuple[str, dict[str, object]]] = [
        (
            "expect_table_columns_to_match_ordered_list",
            {"column_list": list(ENTITIES[entity].column_names)},
        )
    ]
    specs += [r.expectation for r in rules_for(entity) if r.expectation is not None]
    return specs


def validate_frame(entity: str, frame: pd.DataFrame) -> SuiteOutcome:
    """Validate loaded rows of ``entity`` with its GX suite in an ephemeral context."""
    import great_expectations as gx  # imported here: it takes seconds to import
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas(f"ledger_{entity}")
    asset = source.add_dataframe_asset(entity)
    batch_definition = asset.add_batch_definition_whole_dataframe("snapshot")
    suite = gx.ExpectationSuite(name=f"ledger_{entity}")
    for kind, kwargs in expectation_specs(entity):
        expectation_class = getattr(gx.expectations, _camel(kind))
        suite.add_expectation(expectation_class(**kwargs))
    suite = context.suites.add(suite)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite)
    failed = [
        f"{r.expectation_config.type}({r.expectation_config.kwargs.get('column', 'table')})"
        for r in result.results
        if not r.success
    ]
    return SuiteOutcome(
        entity=entity,
        success=bool(result.success),
        rows=len(frame),
        evaluated=len(result.results),
        failed=failed,
    )


def validate_snapshot(
    con: Any, entity: str, snapshot_id: str | None, chunk_rows: int = 1_000_000
) -> SuiteOutcome:
    """Validate the rows of ``entity`` loaded in ``snapshot_id``, ``chunk_rows`` at a time.

    Chunks bound the memory of a large load (pandas holds one chunk at a time). Uniqueness is
    checked within each chunk here; across the whole table it is enforced by ingest's duplicate
    rule and by dbt's unique tests downstream.
    """
    cols = ", ".join(f'"{c}"' for c in ENTITIES[entity].column_names)
    # A cursor of its own, so a pending result on the caller's connection cannot interfere.
    cursor = con.cursor()
    try:
        reader = cursor.sql(
            f"SELECT {cols} FROM ledger.{entity} WHERE _snapshot_id = $snapshot",
            params={"snapshot": snapshot_id},
        ).to_arrow_reader(chunk_rows)
        outcomes = [validate_frame(entity, batch.to_pandas()) for batch in reader]
    finally:
        cursor.close()
    if not outcomes:
        return validate_frame(entity, pd.DataFrame(columns=list(ENTITIES[entity].column_names)))
    failed = sorted({f for o in outcomes for f in o.failed})
    return SuiteOutcome(
        entity=entity,
        success=all(o.success for o in outcomes),
        rows=sum(o.rows for o in outcomes),
        evaluated=outcomes[0].evaluated,
        failed=failed,
    )
