"""Write the DPO's products into a staging folder: ``ropa.json``, ``lineage.json``,
``openlineage/*.json`` and ``report.html``.

Reads the warehouse (inventory, counts, chain checks) and never writes it. The files name
columns, categories and counts only, so they pass the publish gate's leak guard.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from privacy.audit import AuditKey, Checkpoint
from privacy.classifier import read_inventory
from privacy.dpo.column_lineage import ModelColumns
from privacy.dpo.lineage import build_lineage, lineage_json
from privacy.dpo.openlineage_export import openlineage_events, write_events
from privacy.dpo.report import render_report
from privacy.dpo.ropa import (
    DEFAULT_SECURITY_MEASURES,
    Controller,
    Recipient,
    records_of_processing,
)
from privacy.dpo.status import read_status
from privacy.policy import Policy
from privacy.publish import MANIFEST_JSON

__all__ = [
    "DEFAULT_RETENTION",
    "DpoSummary",
    "default_recipients",
    "file_columns",
    "write_dpo_products",
]

DEFAULT_RETENTION: dict[str, str] = {
    "audit.events": "P5Y after the last event of the subject (AML record keeping), append-only",
    "insights.privacy_ledger": "life of the dataset period plus P5Y; never edited",
    "out/": "replaced by each run's publication; erasure removes a subject's files and rows",
    "landing/": "transient: processed files move to the encrypted archive",
}


@dataclass(frozen=True)
class DpoSummary:
    personal_columns: int
    sensitive_columns: int
    lineage_edges: int
    column_edges: int
    models_without_column_lineage: int
    audit_ok: bool | None
    audit_message: str
    openlineage_events: int
    recipients: int
    files: tuple[str, ...]


def default_recipients(
    policy: Policy, buyers: Mapping[str, str], jurisdiction: str
) -> list[Recipient]:
    """The risk team, each DP buyer (``buyers``: id -> description), the data subjects and the
    DPO, with the ``out/`` folder each receives. Purposes not in ``policy`` are left out."""

    def having(*names: str) -> tuple[str, ...]:
        return tuple(n for n in names if n in policy.purposes)

    out = [
        Recipient("risk team", "internal", having("credit_scoring"), ("out/risk/",), jurisdiction),
        Recipient(
            "data subjects",
            "data_subject",
            having("credit_scoring"),
            ("out/subjects/",),
            jurisdiction,
        ),
        Recipient("DPO", "internal", having("dpo_audit"), ("out/dpo/",), jurisdiction),
    ]
    out.extend(
        Recipient(
            f"buyer {b}",
            "outside",
            having("insights_sale"),
            (f"out/buyers/{b}/",),
            jurisdiction,
            f"{desc}; contract limits use to the DP release, zCDP budget per period",
        )
        for b, desc in sorted(buyers.items())
    )
    return out


def file_columns(out: Path, files: Iterable[str]) -> dict[str, list[str]]:
    """Column names of the Parquet and CSV files among ``files`` (relative to ``out``), read from
    the Parquet schema or the CSV header line: no value is read. Unreadable files are skipped."""
    found: dict[str, list[str]] = {}
    for rel in files:
        path = out / rel
        try:
            if rel.endswith(".parquet"):
                found[rel] = list(pq.read_schema(path).names)
            elif rel.endswith(".csv"):
                with path.open(encoding="utf-8", newline="") as fh:
                    found[rel] = next(csv.reader(fh), [])
        except (OSError, ValueError, pa.ArrowException):
            continue
    return found


def write_dpo_products(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    policy: Policy,
    *,
    controller: Controller,
    recipients: list[Recipient],
    run_id: str,
    now: str,
    namespace: str,
    out: Path | None = None,
    dbt_manifest: Path | None = None,
    asset_deps: Mapping[str, Iterable[str]] | None = None,
    products: Mapping[str, Iterable[str]] | None = None,
    budgets: dict[str, float] | None = None,
    dbt_columns: Sequence[ModelColumns] | None = None,
    audit_key: AuditKey | None = None,
    witnesses: Sequence[Checkpoint] = (),
    asset_columns: Sequence[ModelColumns] | None = None,
    global_budget: float | None = None,
    delta: float | None = None,
) -> DpoSummary:
    """Write every DPO product into ``folder``; returns what was written, with counts.

    ``dbt_columns``: the column lineage of the dbt models (models with a ``problem`` are listed
    as unknown); ``asset_columns``: the same for the Python assets (features, scores, pricing,
    releases); ``audit_key`` / ``witnesses``: what the audit log's checkpoints are verified
    against (see :func:`privacy.audit.verify_audit`); ``budgets`` / ``global_budget`` / ``delta``:
    each buyer's and all buyers' rho per period and the delta the loss is stated at. The columns of published Parquet and CSV
    files are read from their headers (names only) to trace each file column to its dataset."""
    inventory = read_inventory(con)
    published = None
    if out is not None and (out / MANIFEST_JSON).is_file():
        doc = json.loads((out / MANIFEST_JSON).read_text(encoding="utf-8"))
        published = [str(f["path"]) for f in doc["files"]]
    lineage = build_lineage(
        inventory,
        policy,
        dbt_manifest=dbt_manifest,
        asset_deps=asset_deps,
        products=products,
        published_files=published,
        model_columns={m.relation: m.columns for m in dbt_columns or () if m.problem is None},
        column_gaps={
            m.relation: m.problem
            for m in (*(dbt_columns or ()), *(asset_columns or ()))
            if m.problem is not None
        },
        asset_columns={m.relation: m.columns for m in asset_columns or () if m.problem is None},
        file_columns=file_columns(out, published) if out is not None and published else None,
    )
    lin = lineage_json(lineage)
    flows = {
        f"{c['dataset'].split('.', 1)[-1]}.{c['column']}": c["purposes"] for c in lin["columns"]
    }
    ropa = records_of_processing(
        inventory,
        policy,
        recipients,
        DEFAULT_RETENTION,
        DEFAULT_SECURITY_MEASURES,
        controller=controller,
        generated_at=now,
        flows=flows,
    )
    status = read_status(con, out, budgets, audit_key, witnesses, global_budget, delta)
    columns: dict[str, list[tuple[str, str]]] = {}
    for r in inventory:
        columns.setdefault(f"ledger.{r.table}", []).append((r.column, r.dtype))
    events = openlineage_events(
        lineage, run_id=run_id, event_time=now, namespace=namespace, columns=columns
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ropa.json").write_text(json.dumps(ropa, indent=1) + "\n", encoding="utf-8")
    (folder / "lineage.json").write_text(json.dumps(lin, indent=1) + "\n", encoding="utf-8")
    written = write_events(events, folder / "openlineage")
    (folder / "report.html").write_text(
        render_report(lin, ropa, status, generated_at=now), encoding="utf-8"
    )
    names = ["ropa.json", "lineage.json", "report.html"]
    names += [f"openlineage/{p.name}" for p in written]
    return DpoSummary(
        personal_columns=sum(1 for r in inventory if r.personal),
        sensitive_columns=sum(1 for r in inventory if r.pipl_sensitive),
        lineage_edges=len(lineage.edges),
        column_edges=len(lineage.column_edges),
        models_without_column_lineage=len(lineage.column_gaps),
        audit_ok=status.audit.get("ok"),
        audit_message=str(status.audit.get("message", "")),
        openlineage_events=len(events),
        recipients=len(recipients),
        files=tuple(names),
    )
