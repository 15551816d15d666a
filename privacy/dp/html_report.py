"""A self-contained HTML page for a release: inline SVG bar charts with 95% error bars, the
privacy statement in plain words, and what was suppressed and why. No scripts, fonts, images
or links that would fetch anything; every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

from privacy.dp.release import Release

__all__ = ["render_html"]

_MAX_BARS = 40
_CSS = (
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em;max-width:60em;color:#222}"
    "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}"
    "th{background:#f3f3f3}.sup{color:#999}.note{background:#f8f8e8;padding:.6em 1em}"
)


def _cell_label(row: dict[str, Any], dims: list[str]) -> str:
    return " · ".join(str(row[d]) for d in dims) or "all"


def _chart(rows: list[dict[str, Any]], dims: list[str], measure: str) -> str:
    shown = [r for r in rows if not r["suppressed"] and r.get(measure) is not None][:_MAX_BARS]
    if not shown:
        return "<p>No cell of this measure survived suppression.</p>"
    top = max(float(r.get(f"{measure}_hi") or r[measure]) for r in shown) or 1.0
    bar_h, label_w, width = 16, 230, 420
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 80}" '
        f'height="{bar_h * len(shown) + 10}" role="img" aria-label="{escape(measure)}">'
    ]
    for i, r in enumerate(shown):
        y = 5 + i * bar_h
        v = float(r[measure])
        w = width * v / top
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" font-size="11" text-anchor="end">'
            f"{escape(_cell_label(r, dims))}</text>"
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 4}" fill="#5b8bd0"/>'
        )
        lo, hi = r.get(f"{measure}_lo"), r.get(f"{measure}_hi")
        if lo is not None and hi is not None:
            x1, x2 = label_w + width * float(lo) / top, label_w + width * float(hi) / top
            ym = y + bar_h / 2
            parts.append(
                f'<line x1="{x1:.1f}" y1="{ym}" x2="{x2:.1f}" y2="{ym}" stroke="#222"/>'
                f'<line x1="{x1:.1f}" y1="{ym - 4}" x2="{x1:.1f}" y2="{ym + 4}" stroke="#222"/>'
                f'<line x1="{x2:.1f}" y1="{ym - 4}" x2="{x2:.1f}" y2="{ym + 4}" stroke="#222"/>'
            )
        parts.append(
            f'<text x="{label_w + width + 6}" y="{y + 12}" font-size="11">{escape(f"{v:,.2f}")}'
            "</text>"
        )
    parts.append("</svg>")
    more = len([r for r in rows if not r["suppressed"]]) - len(shown)
    tail = f"<p>{more} more cells in the table below.</p>" if more > 0 else ""
    return "".join(parts) + tail


def render_html(release: Release) -> str:
    m = release.manifest
    p = m["privacy"]
    dims = [d["column"] for d in m["spec"]["dimensions"]]
    measures = [x["name"] for x in m["spec"]["measures"]]
    rows = release.cells.to_pylist()
    value_cols = [c for c in release.cells.column_names if c not in dims]
    b = p["contribution_bounds"]
    clipped = p["clipped_share"]
    statement = (
        f"This report protects every wallet holder individually. Whatever one person did — all "
        f"of their transactions together — changes the chance of seeing any of these numbers "
        f"by at most a factor of e<sup>{p['epsilon']:.2f}</sup>, except with probability "
        f"{p['delta']:.0e} (zero-concentrated DP with &rho; = {p['rho']:g}). To make that "
        f"possible each person counts with at most {b['max_transactions_per_cell']} "
        f"transaction(s) in a cell and in at most {b['max_cells_per_user']} cell(s), amounts "
        "are capped at the bounds listed in the specification, and random noise from OpenDP "
        "was added to every number. The bars show 95% intervals for that noise; they do not "
        "include the (downward) bias from the caps"
        + (
            f": about {clipped:.1%} of counted transactions had their amount capped."
            if clipped is not None
            else "."
        )
    )
    sup = m["suppression"]
    sup_html = (
        f"<p>{len(sup['suppressed_cells'])} of {len(rows)} cells are suppressed because their "
        f"noisy number of holders is below {sup['min_noisy_users']}; their values are left "
        "empty. The list of cells is fixed in advance, so a suppressed cell says only that it "
        "is small.</p>"
    )
    charts = "".join(
        f"<h3>{escape(name)}</h3>{_chart(rows, dims, name)}"
        for name in measures
        if name in release.cells.column_names
    )
    head = "".join(f"<th>{escape(c)}</th>" for c in dims + value_cols)
    body = "".join(
        f'<tr class="{"sup" if r["suppressed"] else ""}">'
        + "".join(
            f"<td>{escape('' if r[c] is None else str(r[c]))}</td>" for c in dims + value_cols
        )
        + "</tr>"
        for r in rows
    )
    scales = "".join(
        f"<li>{escape(k)}: standard deviation {v:,.3g}</li>" for k, v in p["noise_scales"].items()
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(m['title'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(m['title'])}</h1><p>{escape(m['description'])}</p>"
        f"<p>Buyer <b>{escape(m['buyer'])}</b> · period <b>{escape(m['period'])}</b> · "
        f"release {escape(m['release_id'])} · snapshot {escape(m['snapshot_id'])}</p>"
        f"<h2>Privacy</h2><p class='note'>{statement}</p><ul>{scales}</ul>"
        f"<p>{escape(p['interval_method'])}</p>"
        f"<h2>Suppression</h2>{sup_html}<h2>Charts</h2>{charts}"
        f"<h2>All cells</h2><table><tr>{head}</tr>{body}</table>"
        f"<p>Ledger entry {m['ledger']['seq']}: {escape(m['ledger']['entry_hash'])}</p>"
        "</body></html>"
    )
