"""Records of processing (GDPR Art. 30(1)) generated from the pipeline's own metadata, with the
inputs of a PIPL personal-information impact assessment (PIPL Arts. 55-56).

Sources: the column inventory (categories of personal data, sensitivity, retention), the policy
(purposes and what each does to each entity type), the recipients (risk team, DP buyers from the
catalogue, data subjects, the DPO) and the security measures in force. The record never holds a
personal value: only column names, entity types, categories and counts.

Invariants: the record has every item of Art. 30(1)(a)-(g) (:data:`ART30_ITEMS`); every personal
entity type in the inventory is in (c) and (f); every sensitive column (PIPL Art. 28) has an
impact-assessment entry, and so has every recipient outside the controller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from privacy.policy import Policy

__all__ = [
    "ART30_ITEMS",
    "DEFAULT_LEGAL_BASES",
    "DEFAULT_SECURITY_MEASURES",
    "NOT_CONFIGURED",
    "Controller",
    "Recipient",
    "SecurityMeasure",
    "records_of_processing",
]

ART30_ITEMS: dict[str, str] = {
    "a_controller": "Art. 30(1)(a) name and contact details of the controller and the DPO",
    "b_purposes": "Art. 30(1)(b) the purposes of the processing",
    "c_categories": "Art. 30(1)(c) categories of data subjects and of personal data",
    "d_recipients": "Art. 30(1)(d) categories of recipients",
    "e_transfers": "Art. 30(1)(e) transfers to a third country or an international organisation",
    "f_retention": "Art. 30(1)(f) time limits for erasure",
    "g_security": "Art. 30(1)(g) technical and organisational security measures (Art. 32(1))",
}

DEFAULT_LEGAL_BASES: dict[str, str] = {
    "credit_scoring": "GDPR Art. 6(1)(b) contract; PIPL Art. 13(1)2 necessary for a contract",
    "insights_sale": "GDPR Art. 6(1)(a) consent; PIPL Art. 13(1)1 consent (only DP aggregates leave)",
    "dpo_audit": "GDPR Art. 6(1)(c) legal obligation; PIPL Art. 13(1)3 statutory duty",
}

# Entity types that identify a category of data subject other than the wallet holder.
_SUBJECT_OF_ENTITY: dict[str, str] = {
    "counterparty": "counterparties of transfers (may not be customers)",
    "merchant_name": "merchants (sole traders are natural persons)",
    "merchant_id": "merchants (sole traders are natural persons)",
}
_HOLDERS = "wallet holders (customers and loan applicants)"


class InventoryRow(Protocol):
    """The fields of :class:`privacy.classifier.ColumnClassification` the record reads."""

    @property
    def table(self) -> str: ...
    @property
    def column(self) -> str: ...
    @property
    def entity_type(self) -> str: ...
    @property
    def personal(self) -> bool: ...
    @property
    def pipl_category(self) -> str: ...
    @property
    def pipl_sensitive(self) -> bool: ...
    @property
    def gbt_grade(self) -> str: ...
    @property
    def sensitivity_level(self) -> str: ...
    @property
    def gdpr_art9(self) -> bool: ...
    @property
    def retention(self) -> str: ...
    @property
    def retention_basis(self) -> str: ...
    @property
    def direct_identifier(self) -> bool: ...


NOT_CONFIGURED = "not configured"


@dataclass(frozen=True)
class Controller:
    """Who is responsible (Art. 30(1)(a)): deployment settings, never invented. A field left
    ``None`` is recorded as :data:`NOT_CONFIGURED` and listed in ``missing``."""

    name: str | None = None
    contact: str | None = None
    dpo_contact: str | None = None
    jurisdiction: str = "CN"

    def missing(self) -> list[str]:
        return [
            f for f in ("name", "contact", "dpo_contact") if not (getattr(self, f) or "").strip()
        ]

    def record(self) -> dict[str, Any]:
        """Art. 30(1)(a) as recorded: each field or :data:`NOT_CONFIGURED`, and what is missing."""
        missing = self.missing()
        out: dict[str, Any] = {
            f: NOT_CONFIGURED if f in missing else getattr(self, f)
            for f in ("name", "contact", "dpo_contact")
        }
        return out | {
            "jurisdiction": self.jurisdiction,
            "configured": not missing,
            "missing": missing,
        }


@dataclass(frozen=True)
class Recipient:
    """A party that receives data derived from personal data."""

    name: str
    kind: str  # internal | outside | data_subject
    purposes: tuple[str, ...]
    receives: tuple[str, ...]  # out/ folders or files
    location: str
    safeguards: str = ""


@dataclass(frozen=True)
class SecurityMeasure:
    name: str
    description: str
    protects: tuple[str, ...] = ()


DEFAULT_SECURITY_MEASURES: tuple[SecurityMeasure, ...] = (
    SecurityMeasure(
        "PII vault",
        "direct identifiers rest only in vault.subjects, AES-GCM envelope encryption with one data "
        "key per subject under the master key; erasure shreds the subject's data key",
        ("direct identifiers",),
    ),
    SecurityMeasure(
        "key-check values",
        "every key has a recorded check value; a missing or changed key on an existing warehouse "
        "is refused, never regenerated",
        ("keys",),
    ),
    SecurityMeasure(
        "pseudonyms per purpose",
        "HMAC-SHA256 under a key per purpose: identifiers join within a purpose, never across",
        ("account keys", "device and chain identifiers"),
    ),
    SecurityMeasure(
        "authenticated tokens",
        "reversible tokens (AES-SIV) for DPO audit only; every detokenisation is audited",
        ("dpo_audit purpose",),
    ),
    SecurityMeasure(
        "minimisation, default deny",
        "per purpose the policy drops, keeps, generalises, pseudonymises or tokenises each entity "
        "type; an entity type without a rule is dropped",
        ("every column",),
    ),
    SecurityMeasure(
        "publish gate",
        "every product is staged; the leak guard scans staged files and published tables for "
        "identifiers; only then are files moved into out/ atomically and listed with SHA-256",
        ("every output",),
    ),
    SecurityMeasure(
        "differential privacy",
        "buyers receive user-level zCDP releases only, with contribution bounds and per-buyer and "
        "global budgets charged to a hash-chained privacy-loss ledger",
        ("buyer outputs",),
    ),
    SecurityMeasure(
        "tamper-evident logs",
        "audit.events and insights.privacy_ledger are append-only and hash-chained; verification "
        "names the first edited, deleted or reordered entry",
        ("audit trail", "privacy-loss ledger"),
    ),
)


def _subject_category(row: InventoryRow) -> str:
    return _SUBJECT_OF_ENTITY.get(row.entity_type, _HOLDERS)


def _columns(rows: Sequence[InventoryRow]) -> list[str]:
    return sorted(f"{r.table}.{r.column}" for r in rows)


def records_of_processing(
    inventory: Sequence[InventoryRow],
    policy: Policy,
    recipients: Sequence[Recipient],
    retention: Mapping[str, str],
    security_measures: Sequence[SecurityMeasure],
    *,
    controller: Controller,
    legal_bases: Mapping[str, str] | None = None,
    generated_at: str = "",
    flows: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """The record of processing as a JSON-ready dict.

    ``flows``: ``table.column`` -> purpose -> ``{action, target, columns}`` (the minimised
    column and the model columns computed from it, from ``lineage.json``); recorded for every
    personal column under ``c_categories.personal_data_flows``.

    ``retention``: retention of stores beyond the inventory's per-entity periods (e.g. the audit
    log, published files), store -> statement. A purpose without a legal basis in ``legal_bases``
    is recorded as such (``"not recorded"``) so the DPO sees the gap."""
    bases = DEFAULT_LEGAL_BASES if legal_bases is None else legal_bases
    personal = [r for r in inventory if r.personal]

    purposes = []
    for name, p in policy.purposes.items():
        actions: dict[str, list[str]] = {}
        for r in personal:
            d = policy.decide(r.entity_type, name)
            actions.setdefault(d.action, []).append(f"{r.table}.{r.column}")
        purposes.append(
            {
                "purpose": name,
                "description": p.description,
                "legal_basis": bases.get(name, "not recorded"),
                "recipients": sorted(x.name for x in recipients if name in x.purposes),
                "personal_columns_by_action": {a: sorted(c) for a, c in sorted(actions.items())},
            }
        )

    subjects: dict[str, list[InventoryRow]] = {}
    for r in personal:
        subjects.setdefault(_subject_category(r), []).append(r)
    categories: dict[str, dict[str, Any]] = {}
    for r in personal:
        c = categories.setdefault(
            r.pipl_category,
            {
                "pipl_category": r.pipl_category,
                "sensitive_pipl_art28": False,
                "special_category_gdpr_art9": False,
                "entity_types": set(),
                "columns": [],
                "gbt_grades": set(),
            },
        )
        c["sensitive_pipl_art28"] |= bool(r.pipl_sensitive)
        c["special_category_gdpr_art9"] |= bool(r.gdpr_art9)
        c["entity_types"].add(r.entity_type)
        c["columns"].append(f"{r.table}.{r.column}")
        c["gbt_grades"].add(r.gbt_grade)
    data_categories = [
        {
            **c,
            "entity_types": sorted(c["entity_types"]),
            "columns": sorted(c["columns"]),
            "gbt_grades": sorted(c["gbt_grades"]),
        }
        for _, c in sorted(categories.items())
    ]

    outside = [x for x in recipients if x.kind == "outside"]
    abroad = [x for x in recipients if x.location != controller.jurisdiction]
    retention_rows: dict[tuple[str, str], list[InventoryRow]] = {}
    for r in personal:
        retention_rows.setdefault((r.entity_type, r.retention), []).append(r)

    sensitive = [r for r in personal if r.pipl_sensitive]
    pia_sensitive = [
        {
            "column": f"{r.table}.{r.column}",
            "entity_type": r.entity_type,
            "pipl_category": r.pipl_category,
            "gbt_grade": r.gbt_grade,
            "level": r.sensitivity_level,
            "processing_per_purpose": {
                name: policy.decide(r.entity_type, name).action for name in policy.purposes
            },
            "necessity": "kept only where the policy does not drop it (see processing_per_purpose)",
            "separate_consent_needed": "PIPL Art. 29: yes for any purpose that keeps the value",
            "measures": [m.name for m in security_measures],
            "assessment": None,
        }
        for r in sorted(sensitive, key=lambda r: (r.table, r.column))
    ]
    pia_recipients = [
        {
            "recipient": x.name,
            "purposes": list(x.purposes),
            "receives": list(x.receives),
            "location": x.location,
            "personal_information_provided": "none identifying: differentially private "
            "aggregates only"
            if "insights_sale" in x.purposes and len(x.purposes) == 1
            else "derived data of the purposes listed",
            "pipl_art23_consent_needed": "insights_sale" not in x.purposes or len(x.purposes) > 1,
            "safeguards": x.safeguards,
            "assessment": None,
        }
        for x in outside
    ]

    record: dict[str, Any] = {
        "format": "ledgerlens.dpo.ropa/1",
        "generated_at": generated_at,
        "policy": policy.source,
        "a_controller": controller.record(),
        "b_purposes": purposes,
        "c_categories": {
            "data_subjects": [
                {"category": k, "columns": _columns(v)} for k, v in sorted(subjects.items())
            ],
            "personal_data": data_categories,
            "personal_data_flows": [
                {
                    "column": f"{r.table}.{r.column}",
                    "entity_type": r.entity_type,
                    "per_purpose": {
                        purpose: {
                            "action": f.get("action"),
                            "minimised_column": f.get("target"),
                            "model_columns": list(f.get("columns", [])),
                        }
                        for purpose, f in sorted(
                            (flows or {}).get(f"{r.table}.{r.column}", {}).items()
                        )
                    },
                }
                for r in sorted(personal, key=lambda r: (r.table, r.column))
            ],
        },
        "d_recipients": [asdict(x) | {"purposes": list(x.purposes)} for x in recipients],
        "e_transfers": {
            "third_country_transfers": [x.name for x in abroad],
            "statement": (
                "none: every recipient is in " + controller.jurisdiction + "; no personal data "
                "is transferred to a third country or an international organisation"
            )
            if not abroad
            else "transfers listed; each needs PIPL Art. 38 / GDPR Chapter V safeguards",
        },
        "f_retention": {
            "by_entity_type": [
                {
                    "entity_type": et,
                    "retention": ret,
                    "basis": rows[0].retention_basis,
                    "columns": _columns(rows),
                }
                for (et, ret), rows in sorted(retention_rows.items())
            ],
            "stores": dict(sorted(retention.items())),
            "erasure": "on request: crypto-shredding of the subject's data key and removal of the "
            "subject's rows from every minimised and derived table (privacy/ERASURE.md)",
        },
        "g_security": [asdict(m) | {"protects": list(m.protects)} for m in security_measures],
        "pipl_impact_assessment": {
            "basis": "PIPL Art. 55(1) sensitive personal information, Art. 55(3) provision to "
            "another handler; contents per Art. 56; keep the report and records >= 3 years",
            "sensitive_processing": pia_sensitive,
            "outside_recipients": pia_recipients,
        },
    }
    return record
