"""OpenLineage run events for the pipeline's dataset graph, written as JSON files.

One ``COMPLETE`` run event per job of the lineage graph: each dataset built from others
(minimisation, a dbt model, a Python asset) is a job named for it, whose inputs are its upstream
datasets and whose output carries a ``schema`` facet and, where the columns are known (the
minimised tables), a ``columnLineage`` facet: ``keep`` is DIRECT/IDENTITY, ``pseudonymise`` and
``tokenise`` are DIRECT/TRANSFORMATION with ``masking: true``, ``generalise`` is
DIRECT/TRANSFORMATION. The publish gate is one more job whose outputs are the ``out/`` files.

Events are built with ``openlineage-python``'s own classes and validated offline by
:func:`validate_event` against the OpenLineage JSON schemas vendored in ``openlineage_spec/``
(the spec versions this client emits): the event against ``RunEvent`` and every facet against
the schema its ``_schemaURL`` names. Run ids are UUID5 of (pipeline run id, job) so a re-export
of the same run gives the same files.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    job_type_job,
    schema_dataset,
)
from openlineage.client.serde import Serde
from referencing import Registry, Resource

from privacy.dpo.lineage import OUT_PREFIX, ColumnFlow, Lineage

__all__ = [
    "FILES_NAMESPACE",
    "PRODUCER",
    "openlineage_events",
    "validate_event",
    "write_events",
]

PRODUCER = "urn:ledgerlens:privacy.dpo"
FILES_NAMESPACE = "file"
PUBLISH_JOB = "governance.release_manifest"
_SPEC = Path(__file__).with_name("openlineage_spec")
_RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_RUN_NS = uuid.UUID("6f1d3a52-5c1e-4b8e-9d61-2f4d1c0a9b7e")


def _transformation(flow: ColumnFlow) -> column_lineage_dataset.Transformation:
    if flow.action == "keep":
        return column_lineage_dataset.Transformation(type="DIRECT", subtype="IDENTITY")
    masking = flow.action in ("pseudonymise", "tokenise")
    how = f"{flow.action} ({flow.generaliser})" if flow.generaliser else flow.action
    return column_lineage_dataset.Transformation(
        type="DIRECT", subtype="TRANSFORMATION", description=how, masking=masking
    )


def _dataset_ref(name: str, namespace: str) -> tuple[str, str]:
    if name.startswith(OUT_PREFIX):
        return FILES_NAMESPACE, name
    return namespace, name


def openlineage_events(
    lineage: Lineage,
    *,
    run_id: str,
    event_time: str,
    namespace: str,
    job_namespace: str = "ledgerlens",
    columns: Mapping[str, Sequence[tuple[str, str]]] | None = None,
) -> list[RunEvent]:
    """One run event per job of ``lineage``. ``namespace`` names the warehouse (e.g.
    ``duckdb://<home>/warehouse.duckdb``); ``columns``: dataset -> (column, type) for the schema
    facet of datasets whose columns lineage does not know (e.g. the ledger tables)."""
    known: dict[str, list[tuple[str, str]]] = {k: list(v) for k, v in (columns or {}).items()}
    by_target: dict[str, list[ColumnFlow]] = {}
    for f in lineage.flows:
        if f.target_dataset is not None and f.target_column is not None:
            by_target.setdefault(f.target_dataset, []).append(f)
            known.setdefault(f.target_dataset, [])
    inputs: dict[str, set[str]] = {}
    for e in lineage.edges:
        job = PUBLISH_JOB if e.via == "publish" else e.target
        inputs.setdefault(job, set()).add(e.source)
    outputs: dict[str, list[str]] = {job: ([job] if job != PUBLISH_JOB else []) for job in inputs}
    for e in lineage.edges:
        if e.via == "publish":
            outputs[PUBLISH_JOB].append(e.target)

    events: list[RunEvent] = []
    for job in sorted(inputs):
        facets: dict[str, Any] = {}
        flows = by_target.get(job, [])
        if flows:
            facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
                fields={
                    str(f.target_column): column_lineage_dataset.Fields(
                        inputFields=[
                            column_lineage_dataset.InputField(
                                namespace=namespace,
                                name=f.source_dataset,
                                field=f.source_column,
                                transformations=[_transformation(f)],
                            )
                        ]
                    )
                    for f in flows
                }
            )
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=str(f.target_column),
                        description=f"{f.entity_type}: {f.action} of "
                        f"{f.source_dataset}.{f.source_column}",
                    )
                    for f in flows
                ]
            )
        events.append(
            RunEvent(
                eventType=RunState.COMPLETE,
                eventTime=event_time,
                producer=PRODUCER,
                run=Run(runId=str(uuid.uuid5(_RUN_NS, f"{run_id}\x1f{job}"))),
                job=Job(
                    namespace=job_namespace,
                    name=job,
                    facets={
                        "jobType": job_type_job.JobTypeJobFacet(
                            processingType="BATCH", integration="DAGSTER", jobType="ASSET"
                        )
                    },
                ),
                inputs=[
                    InputDataset(
                        *_dataset_ref(s, namespace),
                        facets=_schema_facet(known.get(s)),
                    )
                    for s in sorted(inputs[job])
                ],
                outputs=[
                    OutputDataset(*_dataset_ref(o, namespace), facets=facets if o == job else {})
                    for o in sorted(outputs[job])
                ],
            )
        )
    return events


def _schema_facet(cols: Sequence[tuple[str, str]] | None) -> dict[str, Any]:
    if not cols:
        return {}
    return {
        "schema": schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in cols]
        )
    }


def event_json(event: RunEvent) -> dict[str, Any]:
    """The event as the JSON object a lineage backend ingests (nulls removed, enums as values)."""
    return Serde.to_dict(event)


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(_SPEC.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry: Registry = Registry().with_resources(resources)
    return registry


def _validate(instance: Any, ref: str, where: str) -> list[str]:
    validator = Draft202012Validator({"$ref": ref}, registry=_registry())
    return [
        f"{where}/{'/'.join(str(p) for p in err.absolute_path)}: {err.message}"
        for err in validator.iter_errors(instance)
    ]


def _facets(obj: Any, path: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(obj, dict):
        if "_schemaURL" in obj and "_producer" in obj:
            found.append((path, obj))
        for k, v in obj.items():
            found.extend(_facets(v, f"{path}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            found.extend(_facets(v, f"{path}/{i}"))
    return found


def validate_event(doc: Mapping[str, Any]) -> list[str]:
    """Schema errors of one event (empty when valid): the event against the OpenLineage
    ``RunEvent`` schema, then each facet against its own ``_schemaURL``. A facet whose schema is
    not vendored is an error too, never silently skipped."""
    errors = _validate(doc, _RUN_EVENT, "")
    ids = {str(json.loads(p.read_text())["$id"]) for p in _SPEC.glob("*.json")}
    for path, facet in _facets(dict(doc), ""):
        url = str(facet["_schemaURL"])
        if url.split("#", 1)[0] not in ids:
            errors.append(f"{path}: facet schema {url} is not vendored; cannot validate")
            continue
        errors.extend(_validate(facet, url, path))
    return errors


def write_events(events: Sequence[RunEvent], folder: Path) -> list[Path]:
    """Write each event to ``folder/<nnn>-<job>.json``; raise ``ValueError`` naming the job and
    the schema errors if any event does not validate (nothing invalid is written)."""
    docs = [event_json(e) for e in events]
    for doc in docs:
        errors = validate_event(doc)
        if errors:
            raise ValueError(
                f"OpenLineage event of job {doc['job']['name']!r} is invalid: " + "; ".join(errors)
            )
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, doc in enumerate(docs, start=1):
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in doc["job"]["name"])
        path = folder / f"{i:03d}-{safe}.json"
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
