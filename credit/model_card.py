"""A self-contained HTML model card (inline SVG plots drawn here; no network, no CDN)."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from credit.training import CreditModel

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _fmt(v: Any) -> str:
    if isinstance(v, float | np.floating):
        return f"{float(v):.4f}"
    return html.escape(str(v))


def _table(df: pd.DataFrame, max_rows: int = 400) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.head(max_rows).itertuples(index=False):
        body.append("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    more = f"<p>… {len(df) - max_rows} more rows</p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def svg_plot(
    series: list[dict[str, Any]],
    title: str,
    xlabel: str,
    ylabel: str,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    width: int = 380,
    height: int = 280,
) -> str:
    """Line/point/bar series as inline SVG. Each series: x, y, label, kind ('line'|'points'|'bars'),
    optional color and dash."""
    m = {"l": 50, "r": 12, "t": 26, "b": 40}
    xs = np.concatenate([np.asarray(s["x"], float) for s in series]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(s["y"], float) for s in series]) if series else np.zeros(1)
    x0, x1 = xlim or (float(np.nanmin(xs)), float(np.nanmax(xs)))
    y0, y1 = ylim or (min(0.0, float(np.nanmin(ys))), float(np.nanmax(ys)) or 1.0)
    x1 = x1 if x1 > x0 else x0 + 1
    y1 = y1 if y1 > y0 else y0 + 1
    pw, ph = width - m["l"] - m["r"], height - m["t"] - m["b"]

    def px(x: Any) -> np.ndarray:
        return m["l"] + (np.asarray(x, float) - x0) / (x1 - x0) * pw

    def py(y: Any) -> np.ndarray:
        return m["t"] + ph - (np.asarray(y, float) - y0) / (y1 - y0) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
        f'<text x="{width / 2}" y="14" text-anchor="middle" font-size="12">'
        f"{html.escape(title)}</text>",
        f'<rect x="{m["l"]}" y="{m["t"]}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for i in range(5):
        fx = x0 + (x1 - x0) * i / 4
        fy = y0 + (y1 - y0) * i / 4
        parts.append(
            f'<text x="{px(fx):.1f}" y="{m["t"] + ph + 13}" text-anchor="middle">{fx:.3g}</text>'
        )
        parts.append(
            f'<text x="{m["l"] - 4}" y="{py(fy):.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{fy:.3g}</text>'
        )
    parts.append(
        f'<text x="{m["l"] + pw / 2}" y="{height - 6}" text-anchor="middle">'
        f"{html.escape(xlabel)}</text>"
    )
    parts.append(
        f'<text x="12" y="{m["t"] + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {m["t"] + ph / 2})">{html.escape(ylabel)}</text>'
    )
    for k, s in enumerate(series):
        color = s.get("color", _COLORS[k % len(_COLORS)])
        x, y = px(s["x"]), py(s["y"])
        kind = s.get("kind", "line")
        if kind == "line":
            pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
            dash = ' stroke-dasharray="4 3"' if s.get("dash") else ""
            parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.6"{dash}/>'
            )
        elif kind == "points":
            parts.extend(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{color}"/>'
                for a, b in zip(x, y, strict=True)
            )
        else:
            bw = pw / max(len(x), 1) * float(s.get("width", 0.9))
            off = float(s.get("offset", 0.0)) * bw
            base = py(np.array([max(y0, 0.0)]))[0]
            parts.extend(
                f'<rect x="{a - bw / 2 + off:.1f}" y="{min(b, base):.1f}" width="{bw:.1f}" '
                f'height="{abs(base - b):.1f}" fill="{color}" fill-opacity="0.6"/>'
                for a, b in zip(x, y, strict=True)
            )
        if s.get("label"):
            ly = m["t"] + 12 + 12 * k
            parts.append(
                f'<rect x="{m["l"] + 8}" y="{ly - 7}" width="10" height="3" '
                f'fill="{color}"/><text x="{m["l"] + 22}" y="{ly}">'
                f"{html.escape(str(s['label']))}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def roc_svg(holdout: pd.DataFrame, columns: dict[str, str]) -> str:
    series = [{"x": [0, 1], "y": [0, 1], "kind": "line", "color": "#bbb", "dash": True}]
    for label, col in columns.items():
        if col in holdout:
            fpr, tpr, _ = roc_curve(holdout["y"], holdout[col])
            series.append({"x": fpr, "y": tpr, "label": label})
    return svg_plot(
        series, "ROC (holdout)", "false positive rate", "true positive rate", (0, 1), (0, 1)
    )


def calibration_svg(reliability: pd.DataFrame) -> str:
    hi = float(max(reliability["mean_pd"].max(), reliability["observed"].max(), 1e-3)) * 1.05
    return svg_plot(
        [
            {"x": [0, hi], "y": [0, hi], "kind": "line", "color": "#bbb", "dash": True},
            {
                "x": reliability["mean_pd"],
                "y": reliability["observed"],
                "kind": "points",
                "label": "observed bad rate",
            },
            {"x": reliability["mean_pd"], "y": reliability["observed"], "kind": "line"},
        ],
        "Calibration (holdout)",
        "mean predicted PD",
        "observed bad rate",
        (0, hi),
        (0, hi),
    )


def score_hist_svg(holdout: pd.DataFrame, bins: int = 25) -> str:
    s = holdout["score"].to_numpy(float)
    edges = np.linspace(s.min(), s.max() + 1e-9, bins + 1)
    mid = (edges[:-1] + edges[1:]) / 2
    good = np.histogram(s[holdout["y"] == 0], edges)[0]
    bad = np.histogram(s[holdout["y"] == 1], edges)[0]
    g = good / max(good.sum(), 1)
    b = bad / max(bad.sum(), 1)
    return svg_plot(
        [
            {"x": mid, "y": g, "kind": "bars", "label": "good", "width": 0.45, "offset": -0.5},
            {
                "x": mid,
                "y": b,
                "kind": "bars",
                "label": "bad",
                "width": 0.45,
                "offset": 0.5,
                "color": _COLORS[1],
            },
        ],
        "Score distribution (holdout)",
        "score",
        "share",
    )


def render_model_card(
    model: CreditModel,
    metrics: dict[str, Any],
    holdout: pd.DataFrame,
    reliability: pd.DataFrame,
    stability: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    snapshot_id: str | None = None,
    title: str = "Credit scoring model card",
    extra: dict[str, Any] | None = None,
) -> str:
    """Self-contained HTML: purpose, data, performance, plots, points table, PSI, fairness,
    versions and hashes."""
    pts = model.points
    points_json = json.dumps(pts.to_dict(), sort_keys=True).encode()
    rows = []
    for name in ("additive", "challenger", "logistic"):
        m = metrics.get(name)
        if m:
            rows.append(
                {
                    "model": name,
                    "auc": m["auc"],
                    "auc 95% CI": f"{m['auc_ci'][0]:.3f}–{m['auc_ci'][1]:.3f}",
                    "gini": m["gini"],
                    "ks": m["ks"],
                    "ks 95% CI": f"{m['ks_ci'][0]:.3f}–{m['ks_ci'][1]:.3f}",
                    "brier": m.get("brier", float("nan")),
                    "n": m["n"],
                }
            )
    perf = pd.DataFrame(rows)
    meta = model.metadata
    s = pts.scaling
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}.</p>",
        "<h2>Model</h2><ul>",
        "<li>Production: additive LightGBM (one feature per tree, monotone where the direction is "
        "known) converted exactly into integer points per feature bin; "
        f"score = {pts.base_points} (base) + Σ points, clipped to {s.min_score}–{s.max_score}.</li>",
        f"<li>Scaling: {s.base_score:g} points at {s.base_odds:g}:1 good:bad odds, PDO {s.pdo:g} "
        f"(factor {s.factor:.4f}, offset {s.offset:.4f}).</li>",
        f"<li>PD: {html.escape(model.calibrator.method)} calibration on the score "
        "(fitted on out-of-fold scores).</li>",
        f"<li>Scored features: {len(pts.features)}; bins: {len(pts.table)}.</li>",
        "<li>Challenger: unconstrained LightGBM. Baseline: WoE binning + logistic regression.</li>",
        "</ul>",
        "<h2>Data</h2><ul>",
        f"<li>Data snapshot id: <code>{html.escape(str(snapshot_id or meta.get('data_hash')))}"
        "</code></li>",
        f"<li>Training rows: {meta.get('n_train')}, holdout rows: {meta.get('n_holdout')}, "
        f"training bad rate: {_fmt(meta.get('bad_rate_train'))}</li>",
        "</ul>",
        "<h2>Performance on the holdout</h2>",
        _table(perf) if len(perf) else "<p>n/a</p>",
        '<div class="plots">',
        roc_svg(
            holdout, {"additive (points)": "pd", "challenger": "challenger", "logistic": "logistic"}
        ),
        calibration_svg(reliability),
        score_hist_svg(holdout),
        "</div>",
        "<h3>Reliability table</h3>",
        _table(reliability),
    ]
    if stability is not None:
        sections += [
            "<h2>Stability</h2>",
            f"<p>Score PSI {stability['score_psi']:.4f} — status "
            f"<b>{html.escape(stability['score_status'])}</b> (warn ≥ "
            f"{stability['thresholds']['warn']}, fail ≥ {stability['thresholds']['fail']}); "
            f"overall <b>{html.escape(stability['status'])}</b>.</p>",
            _table(stability["features"]),
        ]
    if fairness is not None:
        sections.append(
            "<h2>Fairness (evaluation only; protected attributes are not features)</h2>"
        )
        for attr, entry in fairness["attributes"].items():
            verdict = "passes" if entry["passes"] else "FAILS"
            sections.append(
                f"<h3>{html.escape(attr)}: four-fifths rule {verdict} "
                f"(min ratio {entry['min_ratio']:.3f})</h3>"
            )
            sections.append(_table(entry["approval"]))
            if "calibration" in entry:
                sections.append(_table(entry["calibration"]))
    sections += [
        "<h2>Points table</h2>",
        f"<p>Base points: {pts.base_points}</p>",
        _table(pts.to_frame().drop(columns=["contribution"])),
        "<h2>Versions and hashes</h2><ul>",
        f"<li>Model version: <code>{model.version}</code></li>",
        f"<li>Points table SHA-256: <code>{hashlib.sha256(points_json).hexdigest()}</code></li>",
    ]
    for k, v in (meta.get("versions") or {}).items():
        sections.append(f"<li>{html.escape(k)} {html.escape(str(v))}</li>")
    for k, v in (extra or {}).items():
        sections.append(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>")
    sections.append("</ul>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:12px;margin:.5em 0}"
        "td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}"
        ".plots{display:flex;flex-wrap:wrap;gap:12px}code{font-size:12px}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title><style>{style}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )
