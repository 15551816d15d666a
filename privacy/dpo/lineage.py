"""Column-level lineage of personal data: ledger column -> minimised column per purpose -> model
columns -> assets -> published files.

Four layers, each from the pipeline's own metadata:

1. **Columns** (:func:`column_flows`): every inventory column under every purpose of the policy,
   with the action the policy decides and the minimised column it becomes (or ``None`` when it is
   dropped, explicitly or by default deny). Output names follow :mod:`privacy.minimise` exactly
   (generalisers rename, a clash gets ``_g``, a table whose every column is dropped is not built).
2. **Datasets** (:func:`dbt_edges`, ``asset_deps``): model-level dependencies from dbt's
   ``manifest.json`` (``depends_on.nodes``; sources resolved to the relation they read, e.g.
   ``minimised.credit_users``) and the Python assets' dependencies (from the asset graph).
3. **Model columns** (``model_columns``, from :mod:`privacy.dpo.column_lineage`): each dbt
   model column -> the parent columns its values are computed from (value lineage from the
   compiled SQL), and the models whose column lineage is unknown, with why (``column_gaps``);
   the same for the Python assets (``asset_columns``, from :mod:`privacy.dpo.asset_lineage`).
4. **Files**: the ``out/`` files each dataset is published as (``products``), optionally
   narrowed to the files the publish gate's manifest lists; a file's column (``file_columns``,
   read from its header) is its dataset's column of the same name.

Invariants: every inventory column appears in :attr:`Lineage.flows` once per purpose (a personal
column is never silently absent). Two readings of the same graph: :func:`downstream_of` /
:func:`upstream_personal_columns` are dataset-level and over-approximate (everything a table
with a derived column feeds: also filters, joins and counts), so they never miss a personal
column that reached an output; :func:`column_downstream_of` / :func:`column_sources` follow
values column by column through minimisation and the models, and say nothing about a model in
``column_gaps``. No values are read: only names, types and decisions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from privacy.generalisers import GENERALISERS
from privacy.policy import Policy

__all__ = [
    "ColumnEdge",
    "ColumnFlow",
    "DatasetEdge",
    "Lineage",
    "build_lineage",
    "column_downstream_of",
    "column_flows",
    "column_sources",
    "dbt_edges",
    "downstream_of",
    "lineage_json",
    "upstream_personal_columns",
]

OUT_PREFIX = "out/"


class InventoryRow(Protocol):
    """The fields of :class:`privacy.classifier.ColumnClassification` lineage reads."""

    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def entity_type(self) -> str: ...
    @property
    def personal(self) -> bool: ...
    @property
    def pipl_sensitive(self) -> bool: ...
    @property
    def gbt_grade(self) -> str: ...


@dataclass(frozen=True)
class ColumnFlow:
    """One source column under one purpose: where it goes, and how."""

    source_dataset: str
    source_column: str
    entity_type: str
    personal: bool
    sensitive: bool
    gbt_grade: str
    purpose: str
    action: str
    generaliser: str | None
    default_deny: bool
    target_dataset: str | None
    target_column: str | None


@dataclass(frozen=True)
class DatasetEdge:
    source: str
    target: str
    via: str  # minimise | dbt | asset | publish


@dataclass(frozen=True)
class ColumnEdge:
    """``target_dataset.target_column`` is computed from ``source_dataset.source_column``."""

    source_dataset: str
    source_column: str
    target_dataset: str
    target_column: str
    via: str  # dbt | asset | publish


@dataclass
class Lineage:
    flows: list[ColumnFlow]
    edges: list[DatasetEdge]
    files: dict[str, list[str]] = field(default_factory=dict)  # dataset -> out/ paths
    column_edges: list[ColumnEdge] = field(default_factory=list)
    column_gaps: dict[str, str] = field(default_factory=dict)  # model -> why lineage is unknown

    def datasets(self) -> list[str]:
        names = {e.source for e in self.edges} | {e.target for e in self.edges}
        names |= {f.source_dataset for f in self.flows}
        return sorted(n for n in names if not n.startswith(OUT_PREFIX))


def _output_name(column: str, generaliser: str | None) -> str:
    return GENERALISERS[generaliser].output_name(column) if generaliser else column


def column_flows(
    inventory: Sequence[InventoryRow], policy: Policy, *, source_schema: str = "ledger"
) -> list[ColumnFlow]:
    """Every inventory column under every purpose, in inventory order."""
    flows: list[ColumnFlow] = []
    for purpose in policy.purposes:
        short = policy.short(purpose)
        by_table: dict[str, list[ColumnFlow]] = {}
        used: dict[str, set[str]] = {}
        for row in inventory:
            d = policy.decide(row.entity_type, purpose)
            target = f"minimised.{short}_{row.table}"
            out: str | None = None
            if d.action != "drop":
                out = _output_name(row.column, d.generaliser)
                taken = used.setdefault(row.table, set())
                while out in taken:
                    out = f"{out}_g"
                taken.add(out)
            by_table.setdefault(row.table, []).append(
                ColumnFlow(
                    source_dataset=f"{source_schema}.{row.table}",
                    source_column=row.column,
                    entity_type=row.entity_type,
                    personal=bool(row.personal),
                    sensitive=bool(row.pipl_sensitive),
                    gbt_grade=row.gbt_grade,
                    purpose=purpose,
                    action=d.action,
                    generaliser=d.generaliser,
                    default_deny=d.default_deny,
                    target_dataset=target if out is not None else None,
                    target_column=out,
                )
            )
        for rows in by_table.values():
            flows.extend(rows)
    return flows


def _relation(node: Mapping[str, Any]) -> str:
    """``schema.name`` of a dbt node or source (the database part is the file, not a namespace)."""
    relation = node.get("relation_name")
    if isinstance(relation, str) and relation:
        parts = [p.strip().strip('"').strip("`") for p in relation.split(".")]
        return ".".join(parts[-2:])
    name = node.get("alias") or node.get("identifier") or node.get("name")
    return f"{node['schema']}.{name}"


def dbt_edges(manifest_path: Path) -> list[DatasetEdge]:
    """Model-level edges ``upstream -> model`` from a dbt ``manifest.json``.

    Raises ``ValueError`` naming the file when it is not a dbt manifest (run ``dbt parse``)."""
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        nodes: dict[str, Any] = {**manifest["sources"], **manifest["nodes"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{manifest_path}: not a readable dbt manifest ({type(exc).__name__}); run `dbt parse`"
        ) from None
    edges: set[DatasetEdge] = set()
    for node in manifest["nodes"].values():
        if node.get("resource_type") not in ("model", "snapshot", "seed"):
            continue
        target = _relation(node)
        for upstream in node.get("depends_on", {}).get("nodes", []):
            if upstream in nodes:
                edges.add(DatasetEdge(_relation(nodes[upstream]), target, "dbt"))
    return sorted(edges, key=lambda e: (e.target, e.source))


def build_lineage(
    inventory: Sequence[InventoryRow],
    policy: Policy,
    *,
    dbt_manifest: Path | None = None,
    asset_deps: Mapping[str, Iterable[str]] | None = None,
    products: Mapping[str, Iterable[str]] | None = None,
    published_files: Iterable[str] | None = None,
    model_columns: Mapping[str, Mapping[str, Iterable[tuple[str, str]]]] | None = None,
    column_gaps: Mapping[str, str] | None = None,
    asset_columns: Mapping[str, Mapping[str, Iterable[tuple[str, str]]]] | None = None,
    file_columns: Mapping[str, Sequence[str]] | None = None,
) -> Lineage:
    """The whole lineage. ``asset_deps``: dataset -> its upstream datasets (Python assets).
    ``model_columns``: model -> column -> the ``(dataset, column)`` it is computed from;
    ``column_gaps``: model -> why its column lineage is unknown.
    ``products``: dataset -> the ``out/`` paths (a path ending in ``/`` is a folder) it is
    published as; with ``published_files`` (paths relative to ``out/``) folders expand to the
    files actually published and declared files that were not published are left out.
    ``asset_columns``: the same as ``model_columns`` for the Python assets; ``file_columns``:
    ``out/``-relative file -> its column names (a file's column is its dataset's column of the
    same name)."""
    flows = column_flows(inventory, policy)
    edges: set[DatasetEdge] = {
        DatasetEdge(f.source_dataset, f.target_dataset, "minimise")
        for f in flows
        if f.target_dataset is not None
    }
    if dbt_manifest is not None:
        edges.update(dbt_edges(dbt_manifest))
    for target, sources in (asset_deps or {}).items():
        edges.update(DatasetEdge(s, target, "asset") for s in sources if s != target)
    published = sorted(set(published_files)) if published_files is not None else None
    files: dict[str, list[str]] = {}
    for dataset, paths in (products or {}).items():
        found: list[str] = []
        for p in paths:
            if published is None:
                found.append(p)
            elif p.endswith("/"):
                found.extend(f for f in published if f.startswith(p))
            elif p in published:
                found.append(p)
        if found:
            files[dataset] = sorted(set(found))
            edges.update(DatasetEdge(dataset, OUT_PREFIX + f, "publish") for f in found)
    ordered = sorted(edges, key=lambda e: (e.via, e.source, e.target))
    found_columns = {
        ColumnEdge(src, src_col, model, col, via)
        for via, by_model in (("dbt", model_columns), ("asset", asset_columns))
        for model, by_column in (by_model or {}).items()
        for col, deps in by_column.items()
        for src, src_col in deps
    }
    known: dict[str, set[str]] = {}
    for by_model in (model_columns, asset_columns):
        for model, by_column in (by_model or {}).items():
            known.setdefault(model, set()).update(by_column)
    for f in flows:
        if f.target_dataset is not None and f.target_column is not None:
            known.setdefault(f.target_dataset, set()).add(f.target_column)
    for dataset, found in files.items():
        for path in found:
            found_columns.update(
                ColumnEdge(dataset, col, OUT_PREFIX + path, col, "publish")
                for col in (file_columns or {}).get(path, ())
                if col in known.get(dataset, ())
            )
    columns = sorted(
        found_columns,
        key=lambda e: (e.target_dataset, e.target_column, e.source_dataset, e.source_column),
    )
    return Lineage(flows, ordered, files, columns, dict(sorted((column_gaps or {}).items())))


def _children(lineage: Lineage) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in lineage.edges:
        out.setdefault(e.source, set()).add(e.target)
    return out


def _reach(start: Iterable[str], graph: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        node = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def downstream_of(lineage: Lineage, dataset: str, column: str) -> set[str]:
    """Every dataset and ``out/`` file that may hold something derived from ``dataset.column``:
    the minimised tables it is kept in (under any action), then everything they feed."""
    first = {
        f.target_dataset
        for f in lineage.flows
        if f.source_dataset == dataset and f.source_column == column and f.target_dataset
    }
    return first | _reach(first, _children(lineage))


def upstream_personal_columns(lineage: Lineage, node: str) -> list[ColumnFlow]:
    """The personal-column flows that may have reached ``node`` (a dataset or ``out/`` path)."""
    parents: dict[str, set[str]] = {}
    for e in lineage.edges:
        parents.setdefault(e.target, set()).add(e.source)
    ancestors = _reach([node], parents) | {node}
    return [
        f
        for f in lineage.flows
        if f.personal and f.target_dataset is not None and f.target_dataset in ancestors
    ]


def _column_children(lineage: Lineage) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in lineage.column_edges:
        out.setdefault(f"{e.source_dataset}.{e.source_column}", set()).add(
            f"{e.target_dataset}.{e.target_column}"
        )
    return out


def column_downstream_of(lineage: Lineage, dataset: str, column: str) -> set[str]:
    """Every ``dataset.column`` whose values are computed from ``dataset.column``: the minimised
    columns it becomes (any purpose), then the model columns computed from those."""
    first = {
        f"{f.target_dataset}.{f.target_column}"
        for f in lineage.flows
        if f.source_dataset == dataset and f.source_column == column and f.target_dataset
    }
    start = first or {f"{dataset}.{column}"}
    return first | _reach(start, _column_children(lineage))


def column_sources(lineage: Lineage, dataset: str, column: str) -> list[ColumnFlow]:
    """The inventory columns (with the purpose and action that carried them) whose values
    ``dataset.column`` is computed from, through the models and minimisation."""
    parents: dict[str, set[str]] = {}
    for e in lineage.column_edges:
        parents.setdefault(f"{e.target_dataset}.{e.target_column}", set()).add(
            f"{e.source_dataset}.{e.source_column}"
        )
    name = f"{dataset}.{column}"
    ancestors = _reach([name], parents) | {name}
    return [
        f
        for f in lineage.flows
        if f.target_dataset is not None and f"{f.target_dataset}.{f.target_column}" in ancestors
    ]


def lineage_json(lineage: Lineage) -> dict[str, Any]:
    """The JSON document ``dpo/lineage.json``: each source column with, per purpose, its action,
    its minimised column, the model columns computed from it (``columns``) and every dataset or
    file it may reach (``reaches``); the dataset and column edges; the files; the models whose
    column lineage is unknown."""
    children = _children(lineage)
    column_children = _column_children(lineage)
    columns: dict[str, dict[str, Any]] = {}
    for f in lineage.flows:
        entry = columns.setdefault(
            f"{f.source_dataset}.{f.source_column}",
            {
                "dataset": f.source_dataset,
                "column": f.source_column,
                "entity_type": f.entity_type,
                "personal": f.personal,
                "sensitive": f.sensitive,
                "gbt_grade": f.gbt_grade,
                "purposes": {},
            },
        )
        target = f.target_dataset
        entry["purposes"][f.purpose] = {
            "action": f.action,
            "generaliser": f.generaliser,
            "default_deny": f.default_deny,
            "target": f"{target}.{f.target_column}" if target is not None else None,
            "columns": sorted(_reach([f"{target}.{f.target_column}"], column_children))
            if target
            else [],
            "reaches": sorted({target} | _reach([target], children)) if target else [],
        }
    return {
        "format": "ledgerlens.dpo.lineage/2",
        "columns": list(columns.values()),
        "edges": [asdict(e) for e in lineage.edges],
        "column_edges": [asdict(e) for e in lineage.column_edges],
        "column_lineage_unknown": lineage.column_gaps,
        "files": lineage.files,
        "datasets": lineage.datasets(),
    }
