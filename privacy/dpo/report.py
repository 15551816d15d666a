"""The self-contained DPO report ``dpo/report.html``: one file, inline CSS and SVG, no scripts and
no network references, so it opens offline and makes no request.

Sections (:data:`SECTIONS`, each an ``<h2>`` with that title and id): the controller and DPO
(a field that is not configured is marked so, never filled in), the personal-data inventory by
GB/T 43697 grade (most protected grade first), the lineage of personal data (the dataset graph
drawn as SVG, then every personal column down to the model columns computed from it, and the
models whose column lineage is unknown), the purpose x recipient matrix, the privacy loss per
dataset period for each buyer and for all buyers together (the period's population) over the
release dates, as rho and as (epsilon, delta), with remaining budgets (an SVG step chart and
tables), erasure requests (counts), attestations issued and revoked (counts), tamper evidence of
the audit log (chain and signed checkpoints) and the privacy ledger, every kind of audited event
with its count and latest entry, and the publish gate's last manifest. Every value is escaped; the report holds names,
categories and counts only. An empty table says what has not happened yet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape
from pathlib import PurePath
from typing import Any

from privacy.dpo.status import ALL_BUYERS, DpoStatus, LossPoint

__all__ = ["SECTIONS", "render_report"]

SECTIONS: dict[str, str] = {
    "controller": "Controller and DPO (Art. 30(1)(a))",
    "inventory": "Personal-data inventory by grade",
    "lineage": "Lineage of personal data",
    "matrix": "Purpose x recipient matrix",
    "privacy-loss": "Privacy loss per population and buyer over time, remaining budgets",
    "erasure": "Erasure requests",
    "attestations": "Attestations issued and revoked",
    "tamper": "Tamper evidence",
    "audit": "Audit log: events by kind",
    "publish": "Publish gate: last manifest",
}

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#1d2330}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccd;padding:.25em .6em;
text-align:left;vertical-align:top}th{background:#eef1f7}.ok{color:#176b2c;font-weight:600}
.bad{color:#a4161a;font-weight:600}.warn{color:#8a5a00;font-weight:600}.muted{color:#667}ul.tree{list-style:none;padding-left:1em}
ul.tree li{margin:.15em 0}code{background:#f3f4f8;padding:0 .2em}
.graph{margin:.5em 0 1em}.graph svg{display:block;max-width:100%;height:auto}
"""


_GRADES = ("core", "important", "general")  # GB/T 43697, most protected first


class _Markup(str):
    """A cell already rendered as HTML (everything else is escaped)."""


def _cell(value: object) -> str:
    return value if isinstance(value, _Markup) else escape(str(value))


def _table(head: Sequence[str], rows: Sequence[Sequence[object]], empty: str = "none") -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
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


def _status(ok: object, absent: str = "absent") -> _Markup:
    if ok is None:
        return _Markup(f'<span class="muted">{escape(absent)}</span>')
    return _Markup('<span class="ok">intact</span>' if ok else '<span class="bad">BROKEN</span>')


_KINDS = {  # how a dataset came to be -> (fill, legend)
    "source": ("#f4d6d6", "source table"),
    "minimise": ("#fbe8c8", "minimised per purpose"),
    "dbt": ("#dbe6f5", "dbt model"),
    "asset": ("#d8efdc", "product"),
    "publish": ("#e6e0f3", "published file (out/)"),
}


def _split(name: str) -> tuple[str, str]:
    """``schema.table`` -> (``schema``, ``table``); a file ``out/a/b.parquet`` -> (``out/a/``,
    ``b.parquet``): drawn on two lines so the graph stays narrow."""
    cut = max(name.rfind("/", 0, len(name) - 1), -1) if "/" in name else name.find(".")
    return (name[: cut + 1], name[cut + 1 :]) if cut >= 0 else ("", name)


def _lineage_svg(edges: Sequence[Mapping[str, str]]) -> str:
    """The dataset lineage as a layered graph: each dataset in the column of its longest path
    from a source, ordered within the column by where its inputs sit, edges left to right. The
    drawing shrinks to the page width (it is a viewBox), never past it."""
    preds: dict[str, list[str]] = {}
    kind: dict[str, str] = {}
    for e in edges:
        preds.setdefault(e["source"], [])
        preds.setdefault(e["target"], []).append(e["source"])
        kind[e["target"]] = e["via"]
    if not preds:
        return '<p class="muted">no lineage edges recorded</p>'
    depth: dict[str, int] = {}

    def level(node: str, path: frozenset[str]) -> int:
        if node not in depth:
            inputs = [p for p in preds[node] if p not in path]  # a cycle is cut, not followed
            depth[node] = 1 + max((level(p, path | {node}) for p in inputs), default=-1)
        return depth[node]

    for node in preds:
        level(node, frozenset())
    columns: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    row: dict[str, float] = {}
    for node in sorted(preds):
        columns[depth[node]].append(node)
    for col in columns:
        col.sort(key=lambda n: (sum(row.get(p, 0) for p in preds[n]) / max(1, len(preds[n])), n))
        row.update({n: float(i) for i, n in enumerate(col)})
    node_h, gap_y, gap_x, top, legend_h = 34, 8, 40, 4, 26
    widths = [
        max(max(len(part) for part in _split(n)) for n in col) * 15 // 2 + 14 for col in columns
    ]
    xs = [sum(widths[:i]) + gap_x * i for i in range(len(columns))]
    legend_w = sum(30 + len(label) * 7 for _, label in _KINDS.values())
    width = max(xs[-1] + widths[-1] + 2, legend_w)
    height = top + max(len(c) for c in columns) * (node_h + gap_y) + legend_h
    y = {n: top + int(row[n]) * (node_h + gap_y) for n in preds}
    parts = [
        f'<svg class="lineage" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="dataset lineage graph">'
        '<defs><marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#8890a0"/></marker>'
        "</defs>"
    ]
    for e in edges:
        a, b = e["source"], e["target"]
        x1, y1 = xs[depth[a]] + widths[depth[a]], y[a] + node_h / 2
        x2, y2 = xs[depth[b]], y[b] + node_h / 2
        bend = gap_x / 2
        parts.append(
            f'<path d="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" fill="none" '
            'stroke="#8890a0" stroke-width="1.2" marker-end="url(#arrow)"/>'
        )
    for n in preds:
        fill = _KINDS[kind.get(n, "source")][0]
        x, w = xs[depth[n]], widths[depth[n]]
        prefix, name = _split(n)
        parts.append(
            f'<g><title>{escape(n)}</title><rect x="{x}" y="{y[n]}" width="{w}" '
            f'height="{node_h}" rx="4" fill="{fill}" stroke="#7a8194"/>'
            f'<text x="{x + 7}" y="{y[n] + 13}" font-size="10" fill="#555b6b">'
            f"{escape(prefix)}</text>"
            f'<text x="{x + 7}" y="{y[n] + 27}" font-size="12" '
            f'font-family="ui-monospace,monospace">{escape(name)}</text></g>'
        )
    legend_y = height - 8
    x = 0
    for fill, label in _KINDS.values():
        parts.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{fill}" '
            f'stroke="#7a8194"/><text x="{x + 16}" y="{legend_y}" font-size="12">'
            f"{escape(label)}</text>"
        )
        x += 30 + len(label) * 7
    parts.append("</svg>")
    return '<div class="graph">' + "".join(parts) + "</div>"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _brief(details: Mapping[str, Any], limit: int = 240) -> str:
    """The details of an event in one line: scalars as ``key=value``, lists and objects by size
    (an ingest lists every file); the common fields (purpose, asset, snapshot) have columns."""
    parts = []
    for key, value in sorted(details.items()):
        if key in ("purpose", "asset", "snapshot_id"):
            continue
        if isinstance(value, list):
            parts.append(f"{key}: {_count(len(value), 'item')}")
        elif isinstance(value, dict):
            inner = ", ".join(
                f"{k}={v}" for k, v in value.items() if not isinstance(v, list | dict)
            )
            parts.append(f"{key}: {inner or _count(len(value), 'field')}")
        else:
            parts.append(f"{key}={value}")
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


_LINE_COLOURS = ("#1f5fa8", "#b5541b", "#2a8a4a", "#7b3fa0", "#8a6d00", "#a4161a")


def _loss_svg(period: str, points: Sequence[LossPoint]) -> str:
    """Cumulative rho per scope over the release dates of one period (a step at each release
    date, dates to scale), with each budget dashed."""
    ordinal = {p.day: date.fromisoformat(p.day).toordinal() for p in points}
    first, last = min(ordinal.values()), max(ordinal.values())
    # All buyers first: a buyer's line drawn over it stays visible where the two coincide.
    scopes = sorted(dict.fromkeys(p.scope for p in points), key=lambda s: s != ALL_BUYERS)
    top = max([p.rho_total for p in points] + [p.budget_rho or 0.0 for p in points]) or 1.0
    w, h, left, right, bottom = 520, 180, 46, 400, 24
    span = max(last - first, 1)

    def x(day: str) -> float:
        return left + (right - left) * (ordinal[day] - first) / span

    def y(rho: float) -> float:
        return 8 + (h - bottom - 8) * (1 - rho / top)

    days = sorted(ordinal, key=ordinal.__getitem__)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
        f'style="max-width:40em" aria-label="cumulative rho per scope, {escape(period)}">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{right}" y2="{y(0):.1f}" stroke="#889"/>',
        f'<text x="{left - 4}" y="{y(top) + 4:.1f}" font-size="10" text-anchor="end">'
        f"{top:.3g}</text>",
        f'<text x="{left - 4}" y="{y(0) + 4:.1f}" font-size="10" text-anchor="end">0</text>',
        f'<text x="{left}" y="{h - 6}" font-size="10">{escape(days[0])}</text>',
    ]
    if len(days) > 1:
        parts.append(
            f'<text x="{right}" y="{h - 6}" font-size="10" text-anchor="end">'
            f"{escape(days[-1])}</text>"
        )
    for i, scope in enumerate(scopes):
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        mine = [p for p in points if p.scope == scope]
        steps = [f"{x(mine[0].day):.1f},{y(0):.1f}"]
        for prev, p in zip([None, *mine], mine, strict=False):
            if prev is not None:
                steps.append(f"{x(p.day):.1f},{y(prev.rho_total):.1f}")
            steps.append(f"{x(p.day):.1f},{y(p.rho_total):.1f}")
        steps.append(f"{right:.1f},{y(mine[-1].rho_total):.1f}")
        parts.append(
            f'<polyline points="{" ".join(steps)}" fill="none" stroke="{colour}" '
            'stroke-width="2"/>'
            + "".join(
                f'<circle cx="{x(p.day):.1f}" cy="{y(p.rho_total):.1f}" r="3" fill="{colour}"/>'
                for p in mine
            )
        )
        budget = mine[-1].budget_rho
        if budget is not None:
            parts.append(
                f'<line x1="{left}" y1="{y(budget):.1f}" x2="{right}" y2="{y(budget):.1f}" '
                f'stroke="{colour}" stroke-dasharray="{4 + 2 * i} 3"/>'
            )
        parts.append(
            f'<text x="{right + 8}" y="{16 + 14 * i}" font-size="11" fill="{colour}">'
            f"{escape(scope)}</text>"
        )
    parts.append("</svg>")
    return '<div class="graph">' + "".join(parts) + "</div>"


def _privacy_loss(points: Sequence[LossPoint]) -> str:
    """Per dataset period: the chart, the totals per scope and the timeline per release date."""
    if not points:
        return '<p class="muted">no DP release has been charged yet</p>'
    html = [
        "<p>Privacy loss is composed in zCDP (rho adds up over releases) and stated as "
        "(epsilon, delta) by converting the total once. The population of a period is every "
        f"holder in its data: <em>{escape(ALL_BUYERS)}</em> is the loss it suffered through "
        "all buyers together (buyers can pool their results). Dashed lines: budgets.</p>"
    ]
    for period in sorted({p.period for p in points}):
        mine = [p for p in points if p.period == period]
        latest = {p.scope: p for p in mine}
        html.append(f"<h3>Dataset period {escape(period)}</h3>")
        html.append(_loss_svg(period, mine))
        html.append(
            _table(
                [
                    "scope",
                    "releases",
                    "rho spent (zCDP)",
                    "epsilon",
                    "delta",
                    "rho budget",
                    "rho left",
                ],
                [
                    [
                        scope,
                        sum(p.releases for p in mine if p.scope == scope),
                        f"{p.rho_total:.4g}",
                        f"{p.epsilon_total:.4g}",
                        f"{p.delta:g}",
                        "" if p.budget_rho is None else f"{p.budget_rho:.4g}",
                        "" if p.remaining_rho is None else f"{p.remaining_rho:.4g}",
                    ]
                    for scope, p in latest.items()
                ],
            )
        )
        html.append(
            "<details><summary>per release date</summary>"
            + _table(
                [
                    "release date",
                    "scope",
                    "releases",
                    "rho that day",
                    "rho to date",
                    "epsilon to date",
                    "rho left",
                ],
                [
                    [
                        p.day,
                        p.scope,
                        p.releases,
                        f"{p.rho:.4g}",
                        f"{p.rho_total:.4g}",
                        f"{p.epsilon_total:.4g}",
                        "" if p.remaining_rho is None else f"{p.remaining_rho:.4g}",
                    ]
                    for p in sorted(mine, key=lambda p: (p.day, p.scope == ALL_BUYERS, p.scope))
                ],
            )
            + "</details>"
        )
    return "".join(html)


def _audit_kinds(status: DpoStatus) -> str:
    kinds = status.audit_kinds
    return (
        "<p>Each kind of security-relevant event, how often it was logged and its latest "
        "entry (who, why, on what, against which ledger snapshot).</p>"
        + _table(
            [
                "event",
                "what it records",
                "count",
                "latest",
                "actor",
                "purpose",
                "asset",
                "snapshot",
                "subject",
                "details",
            ],
            [
                [
                    k.action,
                    k.description,
                    k.count,
                    f"seq {k.latest_seq}, {k.latest_time}",
                    k.latest_actor,
                    k.latest_details.get("purpose", ""),
                    k.latest_details.get("asset", ""),
                    k.latest_details.get("snapshot_id") or "",
                    k.latest_subject or "",
                    _brief(k.latest_details),
                ]
                for k in kinds
            ],
            empty="no event has been audited yet",
        )
    )


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
    rank = {g: i for i, g in enumerate(_GRADES)}

    def grade_rank(grade: str) -> tuple[int, str]:
        return (rank.get(grade, len(rank)), grade)

    for c in sorted(
        personal, key=lambda c: (grade_rank(c["gbt_grade"]), c["dataset"], c["column"])
    ):
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
    inventory = _bars(dict(sorted(grades.items(), key=lambda kv: grade_rank(kv[0])))) + _table(
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

    tree = [
        "<p>Datasets and published files, from the source tables (left) to what leaves "
        "(right):</p>",
        _lineage_svg(lineage.get("edges", [])),
        "<p>Each personal column, per purpose: what minimisation does with it, the column it "
        "becomes, the columns its values flow into, and every dataset or file it <em>may</em> "
        "reach (dataset level, an over-approximation: everything its table feeds, also where "
        "the column only filters, joins or is counted; a protected attribute listed there is not "
        "a model feature).</p>",
        '<ul class="tree">',
    ]
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
                + f' <span class="muted">may reach {reach}</span></li>'
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

    loss = _privacy_loss(status.loss_timeline)
    au = status.audit
    last = au.get("last_checkpoint")
    signed = (
        f"{_count(au.get('checkpoints', 0), 'signed checkpoint')}; last: events up to seq "
        f"{last['event_seq']} at {last['created_at']}, key {last['key_id']}; "
        f"{_count(au.get('unsigned_events', 0), 'event')} since"
        if last
        else "no signed checkpoint yet"
    )
    # The checkpoints fail on their own (a bad checkpoint, a cut tail, a missing key) or not at
    # all: a chain broken before any checkpoint is the events row's failure.
    checkpoint_state: object = None
    if au.get("present"):
        if au.get("first_bad_checkpoint") is not None or (au["chain_ok"] and not au["ok"]):
            checkpoint_state = False
        elif au.get("checkpoints"):
            checkpoint_state = True
    ledger = status.privacy_ledger
    tamper = _table(
        ["log", "status", "entries", "first bad entry", "detail"],
        [
            [
                "audit.events",
                _status(au.get("chain_ok")),
                au.get("events", 0),
                au.get("first_bad_seq") or "",
                au.get("message", ""),
            ],
            [
                "audit.checkpoints",
                _status(checkpoint_state, "none yet" if au.get("present") else "absent"),
                au.get("checkpoints", 0),
                au.get("first_bad_checkpoint") or "",
                signed if au.get("present") else "no audit log yet",
            ],
            [
                "insights.privacy_ledger",
                _status(ledger.get("ok")),
                ledger.get("entries", 0),
                ledger.get("first_bad_seq") or "",
                ledger.get("message", ""),
            ],
        ],
    )
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
    erasure_order = ("requests", "data key shredded", "pending")
    erasure = _table(
        ["state", "count"],
        sorted(
            status.erasure.items(),
            key=lambda kv: (erasure_order.index(kv[0]) if kv[0] in erasure_order else 9, kv[0]),
        ),
        empty="no erasure request yet",
    )
    body = "".join(
        [
            _section("controller", controller),
            _section("inventory", inventory),
            _section("lineage", "".join(tree)),
            _section("matrix", matrix),
            _section("privacy-loss", loss),
            _section("erasure", erasure),
            _section(
                "attestations",
                _table(
                    ["credentials", "count"],
                    list(status.attestations.items()),
                    empty="no credential has been issued yet",
                ),
            ),
            _section("tamper", tamper),
            _section("audit", _audit_kinds(status)),
            _section("publish", publish),
        ]
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{escape(title)}</h1><p class="muted">generated {escape(generated_at)}; '
        f"policy {escape(PurePath(str(ropa.get('policy', ''))).name)}</p>{body}</body></html>\n"
    )
