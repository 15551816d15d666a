"""The self-contained DPO report ``dpo/report.html``: one file, inline CSS and SVG, no scripts and
no network references, so it opens offline and makes no request.

Sections (:data:`SECTIONS`, each an ``<h2>`` with that title and id): the controller and DPO
(a field that is not configured is marked so, never filled in), the personal-data inventory by
GB/T 43697 grade, the lineage of every personal column (down to the model columns computed from
it, and the models whose column lineage is unknown), the purpose x recipient matrix, the
privacy loss per buyer with remaining budgets, erasure requests (counts), attestations issued and
revoked (counts), tamper evidence of the audit log (chain and signed checkpoints) and the privacy
ledger, and the publish gate's
last manifest. Every value is escaped; the report holds names, categories and counts only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from privacy.dpo.status import DpoStatus

__all__ = ["SECTIONS", "render_report"]

SECTIONS: dict[str, str] = {
    "controller": "Controller and DPO (Art. 30(1)(a))",
    "inventory": "Personal-data inventory by grade",
    "lineage": "Lineage of personal data",
    "matrix": "Purpose x recipient matrix",
    "privacy-loss": "Privacy loss per buyer and remaining budgets",
    "erasure": "Erasure requests",
    "attestations": "Attestations issued and revoked",
    "tamper": "Tamper evidence",
    "publish": "Publish gate: last manifest",
}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#1d2330}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#eef1f7}.ok{color:#176b2c;font-weight:600}
.bad{color:#a4161a;font-weight:600}.warn{color:#8a5a00;font-weight:600}.muted{color:#667}ul.tree{list-style:none;padding-left:1em}
ul.tree li{margin:.15em 0}code{background:#f3f4f8;padding:0 .2em}
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _bars(counts: Mapping[str, int]) -> str:
    """A horizontal bar chart as inline SVG."""
    top = max(counts.values(), default=0) or 1
    h = 24 * len(counts) + 8
    parts = [f'<svg width="520" height="{h}" role="img">']
    for i, (label, n) in enumerate(counts.items()):
        w = int(360 * n / top)
        y = 4 + 24 * i
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="13">{escape(label)}</text>'
            f'<rect x="120" y="{y}" width="{w}" height="18" fill="#4a6fa5"/>'
            f'<text x="{126 + w}" y="{y + 15}" font-size="13">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _status(ok: object) -> str:
    if ok is None:
        return '<span class="muted">absent</span>'
    return '<span class="ok">intact</span>' if ok else '<span class="bad">BROKEN</span>'


def _section(key: str, body: str) -> str:
    return f'<section><h2 id="{key}">{escape(SECTIONS[key])}</h2>{body}</section>'


def render_report(
    lineage: Mapping[str, Any],
    ropa: Mapping[str, Any],
    status: DpoStatus,
    *,
    title: str = "ledgerlens: DPO report",
    generated_at: str = "",
) -> str:
    """The report as one HTML document, from ``lineage.json``, ``ropa.json`` and the status."""
    personal = [c for c in lineage["columns"] if c["personal"]]
    categories = ropa["c_categories"]["personal_data"]
    category_of = {col: cat["pipl_category"] for cat in categories for col in cat["columns"]}
    grades: dict[str, int] = {}
    rows = []
    for c in sorted(personal, key=lambda c: (c["gbt_grade"], c["dataset"], c["column"])):
        grades[c["gbt_grade"]] = grades.get(c["gbt_grade"], 0) + 1
        rows.append(
            [
                f"{c['dataset']}.{c['column']}",
                c["entity_type"],
                category_of.get(f"{c['dataset'].split('.', 1)[-1]}.{c['column']}", ""),
                "yes" if c["sensitive"] else "no",
                c["gbt_grade"],
            ]
        )
    inventory = _bars(dict(sorted(grades.items()))) + _table(
        ["column", "entity type", "PIPL category", "sensitive (PIPL Art. 28)", "GB/T 43697 grade"],
        rows,
    )

    a = ropa["a_controller"]
    missing = set(a.get("missing", []))
    labels = {"name": "controller", "contact": "controller contact", "dpo_contact": "DPO contact"}
    controller = "".join(
        [
            "<table><tbody>",
            *(
                f"<tr><th>{escape(label)}</th><td>"
                + (
                    '<span class="warn">not configured</span>'
                    if field in missing
                    else escape(str(a.get(field, "")))
                )
                + "</td></tr>"
                for field, label in labels.items()
            ),
            f"<tr><th>jurisdiction</th><td>{escape(str(a.get('jurisdiction', '')))}</td></tr>",
            "</tbody></table>",
            '<p class="warn">Art. 30(1)(a) is incomplete: set the missing deployment settings.</p>'
            if missing
            else "",
        ]
    )

    tree = ['<ul class="tree">']
    for c in personal:
        tree.append(f"<li><code>{escape(c['dataset'])}.{escape(c['column'])}</code><ul>")
        for purpose, p in c["purposes"].items():
            how = p["action"] + (f" ({p['generaliser']})" if p["generaliser"] else "")
            if p["target"] is None:
                tree.append(f"<li>{escape(purpose)}: {escape(how)}</li>")
                continue
            reach = ", ".join(escape(r) for r in p["reaches"])
            cols = "".join(f"<li><code>{escape(c)}</code></li>" for c in p.get("columns", []))
            tree.append(
                f"<li>{escape(purpose)}: {escape(how)} &rarr; <code>{escape(p['target'])}</code>"
                + (f"<ul>{cols}</ul>" if cols else "")
                + f' <span class="muted">reaches {reach}</span></li>'
            )
        tree.append("</ul></li>")
    tree.append("</ul>")
    gaps = lineage.get("column_lineage_unknown", {})
    tree.append(
        "<p>Column lineage of the dbt models: "
        f"{len(lineage.get('column_edges', []))} column edges (values only: a column used in a "
        "filter, join or count is followed by the dataset-level <em>reaches</em> above).</p>"
    )
    if gaps:
        tree.append(
            '<p class="warn">Column lineage unknown (dataset level only) for:</p>'
            + _table(["model", "why"], sorted(gaps.items()))
        )

    purposes = [p["purpose"] for p in ropa["b_purposes"]]
    recipients = ropa["d_recipients"]
    matrix = _table(
        ["purpose", *(r["name"] for r in recipients)],
        [[p, *("x" if p in r["purposes"] else "" for r in recipients)] for p in purposes],
    )

    loss = _table(
        ["period", "buyer", "releases", "rho spent", "epsilon (sum)", "rho budget", "rho left"],
        [
            [
                b.period,
                b.buyer,
                b.releases,
                f"{b.rho:.4g}",
                f"{b.epsilon:.4g}",
                "" if b.budget_rho is None else f"{b.budget_rho:.4g}",
                "" if b.remaining_rho is None else f"{b.remaining_rho:.4g}",
            ]
            for b in status.privacy_loss
        ],
    )
    au = status.audit
    last = au.get("last_checkpoint")
    signed = (
        f"{au.get('checkpoints', 0)} signed checkpoints; last: events up to seq "
        f"{last['event_seq']} at {last['created_at']}, key {last['key_id']}; "
        f"{au.get('unsigned_events', 0)} events since"
        if last
        else "no signed checkpoint yet"
    )
    tamper = _table(
        ["log", "status", "entries", "first bad entry", "detail"],
        [
            [
                "audit.events",
                "",
                au.get("events", 0),
                au.get("first_bad_seq") or "",
                au.get("message", ""),
            ],
            [
                "audit.checkpoints",
                "",
                au.get("checkpoints", 0),
                au.get("first_bad_checkpoint") or "",
                signed if au.get("present") else "no audit log yet",
            ],
            [
                "insights.privacy_ledger",
                "",
                status.privacy_ledger.get("entries", 0),
                status.privacy_ledger.get("first_bad_seq") or "",
                status.privacy_ledger.get("message", ""),
            ],
        ],
    )
    # The status cell holds markup: put it in after escaping the rest.
    # The checkpoints fail on their own (a bad checkpoint, a cut tail, a missing key) or not at
    # all: a chain broken before any checkpoint is the events row's failure.
    checkpoint_state: object = None
    if au.get("present"):
        if au.get("first_bad_checkpoint") is not None or (au["chain_ok"] and not au["ok"]):
            checkpoint_state = False
        elif au.get("checkpoints"):
            checkpoint_state = True
    for state in (au.get("chain_ok"), checkpoint_state, status.privacy_ledger.get("ok")):
        tamper = tamper.replace("<td></td>", f"<td>{_status(state)}</td>", 1)
    m = status.manifest
    publish = (
        _table(
            ["files", "last published", "runs", "snapshots"],
            [
                [
                    m["files"],
                    m["last_published_at"],
                    ", ".join(m["runs"]),
                    ", ".join(m["snapshots"]),
                ]
            ],
        )
        + _table(["party", "files"], sorted(m["by_party"].items()))
        if m
        else '<p class="muted">nothing published yet (no out/MANIFEST.json)</p>'
    )
    body = "".join(
        [
            _section("controller", controller),
            _section("inventory", inventory),
            _section("lineage", "".join(tree)),
            _section("matrix", matrix),
            _section("privacy-loss", loss),
            _section("erasure", _table(["state", "count"], sorted(status.erasure.items()))),
            _section(
                "attestations",
                _table(["credentials", "count"], sorted(status.attestations.items())),
            ),
            _section("tamper", tamper),
            _section("publish", publish),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="muted">generated {escape(generated_at)}; '
        f"policy {escape(str(ropa.get('policy', '')))}</p>{body}</body></html>\n"
    )
