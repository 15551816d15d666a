"""A self-contained HTML model card a model validator can sign off (inline SVG, no network, no CDN).

Sections follow a bank model-validation report and Google's Model Cards: summary and approval,
intended and out-of-scope use, owner, data and label definition with date ranges, performance (CV
first, then the holdout) with intervals, Gini and KS, the characteristic budget, calibration,
stability, fairness, drivers, reason codes, missing values and thin files, champion / candidate
comparison, limitations, failed checks with what to do, and the points table as an appendix
(rounded bounds; no ``nan`` or ``None`` anywhere in it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from credit.budget import bins_per_feature
from credit.missing_policy import KEPT_EVIDENCE
from credit.pricing import grade, load_config
from credit.reasons import reason_codes
from credit.scorecard import PointsTable, Scaling, ScoreCalibrator
from credit.training import CreditModel

DEFAULT_GOVERNANCE: dict[str, str] = {
    "owner": "risk team (model owner not named: set governance['owner'])",
    "intended_use": (
        "Rank-ordering and pricing of applications for short-term unsecured wallet credit, with "
        "principal reasons for adverse action; scores feed grade, APR and credit limit."
    ),
    "out_of_scope": (
        "Any population or product other than the one it was trained on; employment, insurance "
        "or housing decisions; decisions without human review of declines; use of the PD as an "
        "accounting provision without recalibration."
    ),
    "label_definition": "label = 1 (bad) as given in the training data",
}
AUC_COST_TARGET = 0.005
CALIBRATION_TOLERANCE = 0.05

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)):
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating):
        return f"{float(v):.4f}"
    return html.escape(str(v))


def num(x: float) -> str:
    """A bound as a person reads it: thousands separated, at most 3 significant decimals."""
    x = float(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:,.1f}".rstrip("0").rstrip(".")
    return f"{x:.3g}"


_RELIABILITY_HEADERS = {
    "bin": "PD decile",
    "n": "applications",
    "mean_pd": "mean predicted PD",
    "observed": "observed bad rate",
    "pd_min": "lowest PD",
    "pd_max": "highest PD",
    "abs_error": "|observed - predicted|",
}


def _readable_reliability(reliability: pd.DataFrame) -> pd.DataFrame:
    """The reliability table as a reader names it: deciles 1-10, words for the columns."""
    t = reliability.copy()
    if "bin" in t.columns:
        t["bin"] = t["bin"].astype(int) + 1
    return t.rename(columns=_RELIABILITY_HEADERS)


def _table(df: pd.DataFrame, max_rows: int = 400) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.head(max_rows).itertuples(index=False):
        body.append("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    more = f"<p>… {len(df) - max_rows} more rows</p>" if len(df) > max_rows else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round ticks (1, 2, 2.5 or 5 times a power of ten) from the last multiple of the step at or
    below ``lo`` to the first at or above ``hi``: an axis between the end ticks holds the data."""
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(target - 1, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(k * mag for k in (1.0, 2.0, 2.5, 5.0, 10.0) if k * mag >= raw * (1 - 1e-9))
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    return [start + i * step for i in range(int(round((stop - start) / step)) + 1)]


def tick_label(value: float, ticks: list[float]) -> str:
    """A tick as printed: the decimals its step needs, never exponent notation."""
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9 * max(step, 1.0):
        decimals += 1
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def _axis(values: np.ndarray, lim: tuple[float, float] | None) -> tuple[float, float, list[float]]:
    """Axis range and ticks: the round range around the data, or ``lim`` with the round ticks in
    it."""
    if lim is None:
        ticks = nice_ticks(float(np.nanmin(values)), float(np.nanmax(values)))
        return ticks[0], ticks[-1], ticks
    lo, hi = float(lim[0]), float(lim[1])
    hi = hi if hi > lo else lo + 1.0
    eps = 1e-9 * (hi - lo)
    return lo, hi, [t for t in nice_ticks(lo, hi) if lo - eps <= t <= hi + eps]


def svg_plot(
    series: list[dict[str, Any]],
    title: str,
    xlabel: str,
    ylabel: str,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    width: int = 380,
    height: int = 280,
    bands: list[tuple[float, float, str]] | None = None,
    xticks: list[float] | None = None,
) -> str:
    """Line/point/bar series as inline SVG on round ticks. Each series: x, y, label, kind
    ('line'|'points'|'bars'), optional color and dash; bars: ``bar_width`` in x units (default:
    the smallest x spacing), ``width`` (share of it) and ``offset`` (in bar widths). Without a
    limit an axis spans the round ticks around the data (the y axis from 0 when the data are
    positive); ``xticks`` fixes the x ticks and the axis to their ends. ``bands``: (from, to,
    label) intervals of x, drawn as dashed boundaries with the
    label above the plot (clipped to the axis)."""
    m = {"l": 50, "r": 12, "t": 40 if bands else 26, "b": 40}
    xs = np.concatenate([np.asarray(s["x"], float) for s in series]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(s["y"], float) for s in series]) if series else np.zeros(1)
    x0, x1, xticks = (xticks[0], xticks[-1], xticks) if xticks else _axis(xs, xlim)
    y_data = np.append(ys, 0.0) if float(np.nanmin(ys)) >= 0 else ys
    y0, y1, yticks = _axis(y_data, ylim)
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
    for fx in xticks:
        parts.append(
            f'<text x="{px(fx):.1f}" y="{m["t"] + ph + 13}" text-anchor="middle">'
            f"{tick_label(fx, xticks)}</text>"
        )
    for fy in yticks:
        parts.append(
            f'<text x="{m["l"] - 4}" y="{py(fy):.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{tick_label(fy, yticks)}</text>'
        )
    for lo, hi, label in bands or []:
        a, b = max(lo, x0), min(hi, x1)
        if b <= a:
            continue
        if x0 < lo < x1:
            xl = float(px(lo))
            parts.append(
                f'<line x1="{xl:.1f}" y1="{m["t"]}" x2="{xl:.1f}" y2="{m["t"] + ph}" '
                'stroke="#555" stroke-dasharray="3 3"/>'
            )
        parts.append(
            f'<text x="{float(px((a + b) / 2)):.1f}" y="{m["t"] - 4}" text-anchor="middle" '
            f'fill="#555">{html.escape(label)}</text>'
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
            xv = np.sort(np.asarray(s["x"], float))
            spacing = float(np.min(np.diff(xv))) if len(xv) > 1 else x1 - x0
            unit = float(s.get("bar_width", spacing)) / (x1 - x0) * pw
            bw = unit * float(s.get("width", 0.9))
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


def grade_cutoffs(
    calibrator: ScoreCalibrator, scaling: Scaling, config: dict[str, Any] | None = None
) -> list[tuple[int, str]]:
    """(lowest score, grade) of each master-scale grade the score range reaches, lowest scores
    first: the score's calibrated PD read through ``credit.pricing.grade``."""
    scores = np.arange(scaling.min_score, scaling.max_score + 1)
    grades = grade(calibrator.predict(scores), config)
    starts = np.flatnonzero(np.r_[True, grades[1:] != grades[:-1]])
    return [(int(scores[i]), str(grades[i])) for i in starts]


def grade_bands(
    cutoffs: list[tuple[int, str]], max_score: int, declined: tuple[str, ...] = ()
) -> list[tuple[float, float, str]]:
    """Score intervals [from, to) of each grade, labelled (declined grades said so)."""
    out = []
    for k, (lo, g) in enumerate(cutoffs):
        hi = cutoffs[k + 1][0] if k + 1 < len(cutoffs) else max_score + 1
        out.append((float(lo), float(hi), f"{g} (declined)" if g in declined else g))
    return out


def _band_text(lo: float, hi: float, scaling: Scaling) -> str:
    if lo <= scaling.min_score and hi > scaling.max_score:
        return "every score"
    if lo <= scaling.min_score:
        return f"below {hi:.0f}"
    if hi > scaling.max_score:
        return f"{lo:.0f} and above"
    return f"{lo:.0f}–{hi - 1:.0f}"


def score_hist_svg(
    holdout: pd.DataFrame, bands: list[tuple[float, float, str]] | None = None, bins: int = 25
) -> str:
    """Good and bad score histograms (each summing to 1) on an axis fitted to the scores, in bins
    of a round width aligned to its multiples, with the grade bands drawn over them."""
    s = holdout["score"].to_numpy(float)
    lo, hi = float(s.min()), float(s.max())
    step = max(1.0, nice_ticks(0.0, max(hi - lo, 1.0), bins + 1)[1])
    edges = np.arange(math.floor(lo / step) * step, hi + step, step)
    edges = edges[: int(np.searchsorted(edges, hi, side="right")) + 1]
    mid = (edges[:-1] + edges[1:]) / 2
    good = np.histogram(s[holdout["y"] == 0], edges)[0]
    bad = np.histogram(s[holdout["y"] == 1], edges)[0]
    g = good / max(good.sum(), 1)
    b = bad / max(bad.sum(), 1)
    ticks = nice_ticks(float(edges[0]), float(edges[-1]))
    bar = {"kind": "bars", "bar_width": step, "width": 0.45}
    return svg_plot(
        [
            {"x": mid, "y": g, "label": "good", "offset": -0.5, **bar},
            {"x": mid, "y": b, "label": "bad", "offset": 0.5, "color": _COLORS[1], **bar},
        ],
        "Score distribution (holdout)",
        "score",
        "share",
        bands=bands,
        xticks=ticks,
    )


def _li(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _cost_ci(pair: Any) -> str:
    """An AUC-cost interval: costs are small and may be negative, so 4 signed decimals."""
    if not pair:
        return "–"
    return f"[{float(pair[0]):+.4f}, {float(pair[1]):+.4f}]"


def _ci(pair: Any) -> str:
    if not pair:
        return "–"
    return f"{float(pair[0]):.3f}–{float(pair[1]):.3f}"


def readable_points(points: PointsTable) -> pd.DataFrame:
    """The points table as a validator reads it: one row per bin (categories with equal points
    on one row), rounded bounds, 'missing' spelled out."""
    rows = []
    for name, g in points.table.groupby("feature", sort=False):
        g = g.sort_values("bin_index")
        real = g[~g["is_missing"]]
        miss = g[g["is_missing"]].iloc[0]
        if g["category"].notna().any():
            for pts, cg in real.groupby("points", sort=False):
                cats = ", ".join(str(c) for c in cg["category"])
                rows.append({"feature": name, "bin": cats, "points": int(pts)})
            rows.append(
                {"feature": name, "bin": "missing or unseen", "points": int(miss["points"])}
            )
            continue
        n = len(real)
        for k, r in enumerate(real.itertuples(index=False)):
            if n == 1:
                label = "any value"
            elif k == 0:
                label = f"≤ {num(r.upper)}"
            elif k == n - 1:
                label = f"> {num(r.lower)}"
            else:
                label = f"{num(r.lower)} – {num(r.upper)}"
            rows.append({"feature": name, "bin": label, "points": int(r.points)})
        rows.append({"feature": name, "bin": "missing", "points": int(miss["points"])})
    return pd.DataFrame(rows, columns=["feature", "bin", "points"])


def drivers(points: PointsTable) -> pd.DataFrame:
    """Features by the points range they span (most influential first), with the best bin."""
    t = readable_points(points)
    out = []
    for name, g in t.groupby("feature", sort=False):
        present = g[~g["bin"].isin(["missing", "missing or unseen"])]
        best = present.loc[present["points"].idxmax(), "bin"]
        out.append(
            {
                "feature": name,
                "points_range": int(g["points"].max() - g["points"].min()),
                "bins": int(len(present)),
                "best_bin": best,
            }
        )
    return pd.DataFrame(out).sort_values("points_range", ascending=False).reset_index(drop=True)


def _perf_rows(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name in ("additive", "challenger", "logistic"):
        m = metrics.get(name)
        if m:
            rows.append(
                {
                    "model": "scorecard (production)" if name == "additive" else name,
                    "auc": m["auc"],
                    "auc 95% CI": _ci(m["auc_ci"]),
                    "gini": m["gini"],
                    "gini 95% CI": _ci(m.get("gini_ci")),
                    "ks": m["ks"],
                    "ks 95% CI": _ci(m["ks_ci"]),
                    "brier": m.get("brier"),
                    "n": m["n"],
                }
            )
    return pd.DataFrame(rows)


def _cv_rows(cv: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name in ("additive", "additive_unconstrained", "challenger", "logistic"):
        m = cv.get(name)
        if isinstance(m, dict):
            rows.append(
                {
                    "model": {
                        "additive": "scorecard (production, budgeted)",
                        "additive_unconstrained": "additive, no budget",
                    }.get(name, name),
                    "auc mean": m["auc_mean"],
                    "auc sd over folds": m["auc_std"],
                    "gini mean": m["gini_mean"],
                    "ks mean": m.get("ks_mean"),
                }
            )
    return pd.DataFrame(rows)


def _summary_auc(metrics: dict[str, Any], cv: dict[str, Any] | None, budget: dict[str, Any]) -> str:
    """The summary's AUC line: cross-validation first (when run), then the holdout."""
    parts = []
    if cv and "additive" in cv:
        parts.append(f"{cv['n_folds']}-fold CV AUC {cv['additive']['auc_mean']:.3f}")
    elif isinstance(budget.get("cv"), dict):
        rep = budget["cv"]
        parts.append(f"{rep['n_folds']}-fold CV AUC {rep['auc_budgeted']:.3f} (development rows)")
    if "additive" in metrics:
        parts.append(f"holdout AUC {metrics['additive']['auc']:.3f}")
    text = "; ".join(parts) or "AUC not measured"
    return text[0].upper() + text[1:]


def _repeated_cv_rows(rep: dict[str, Any]) -> pd.DataFrame:
    """The ledger model's repeated CV (``credit.budget_cost.cv_budget_cost``) as performance rows."""
    return pd.DataFrame(
        [
            {
                "model": "scorecard (production, budgeted)",
                "auc mean": rep["auc_budgeted"],
                "auc 95% CI": _ci(rep.get("auc_budgeted_ci")),
                "gini mean": 2 * rep["auc_budgeted"] - 1,
                "ks mean": rep.get("ks_budgeted"),
                "n": rep["n"],
            },
            {
                "model": "additive, no budget",
                "auc mean": rep["auc_unconstrained"],
                "auc 95% CI": _ci(rep.get("auc_unconstrained_ci")),
                "gini mean": 2 * rep["auc_unconstrained"] - 1,
                "ks mean": None,
                "n": rep["n"],
            },
        ]
    )


def _fairness_html(fairness: dict[str, Any]) -> list[str]:
    out = []
    rule = fairness.get("rule")
    if rule:
        out.append(
            f"<p>Decision rule judged: {html.escape(str(rule))}. Rows: "
            f"{html.escape(str(fairness.get('rows', 'all')))} ({fairness.get('n', '–')}). Groups "
            f"under {fairness.get('min_group', '–')} rows are suppressed. Intervals: percentile "
            f"bootstrap, {fairness.get('n_boot', '–')} resamples.</p>"
        )
    for attr, entry in fairness["attributes"].items():
        verdict = "passes" if entry["passes"] else "FAILS"
        ratio = entry.get("min_ratio")
        ratio_txt = f"{ratio:.3f}" if isinstance(ratio, float) and np.isfinite(ratio) else "–"
        out.append(
            f"<h3>{html.escape(attr)}: four-fifths rule {verdict} (min ratio {ratio_txt})</h3>"
        )
        if "groups" in entry:
            rows = []
            for g in entry["groups"]:
                if g["suppressed"]:
                    rows.append({"group": g["group"], "n": g["n"], "approval rate": "suppressed"})
                    continue
                rows.append(
                    {
                        "group": g["group"] + (" (reference)" if g["reference"] else ""),
                        "n": g["n"],
                        "approval rate": f"{g['approval_rate']:.3f}",
                        "95% CI": _ci(g["approval_rate_ci"]),
                        "adverse-impact ratio": _fmt(g["adverse_impact_ratio"]),
                        "AIR 95% CI": _ci(g["adverse_impact_ratio_ci"]),
                        "mean PD": f"{g['mean_pd']:.3f}",
                        "observed bad rate": f"{g['observed_bad_rate']:.3f}",
                        "AUC": _fmt(g["auc"]),
                        "AUC 95% CI": _ci(g["auc_ci"]),
                    }
                )
            out.append(_table(pd.DataFrame(rows).fillna("–")))
            if entry.get("inconclusive"):
                out.append(
                    "<p>Ratio passes but its interval reaches below the threshold for: "
                    + html.escape(", ".join(entry["inconclusive"]))
                    + ".</p>"
                )
        else:
            out.append(_table(entry["approval"]))
            if "calibration" in entry:
                out.append(_table(entry["calibration"]))
    return out


def budget_costs(
    budget: dict[str, Any], cv: dict[str, Any] | None = None, holdout: str = "holdout"
) -> list[dict[str, Any]]:
    """The budget's AUC cost as the card tabulates it: cross-validation first (the ledger model's
    repeated CV in ``budget['cv']``, else a ``credit fit --cv`` run), then the holdout; the first
    row is the primary figure."""
    rows: list[dict[str, Any]] = []
    rep = budget.get("cv")
    if isinstance(rep, dict):
        rows.append(
            {
                "evaluation": f"{rep['n_folds']}-fold CV on the development rows, mean of seeds "
                + ", ".join(str(x) for x in rep["seeds"]),
                "rows": rep["n"],
                "AUC unconstrained": rep["auc_unconstrained"],
                "AUC budgeted": rep["auc_budgeted"],
                "AUC cost": rep["auc_cost"],
                "cost 95% CI": _cost_ci(rep.get("auc_cost_ci")),
                "fold sd": rep.get("fold_cost_sd"),
            }
        )
    elif cv and "budget_auc_cost" in cv and "additive_unconstrained" in cv:
        diffs = np.subtract(cv["additive_unconstrained"]["folds"], cv["additive"]["folds"])
        rows.append(
            {
                "evaluation": f"{cv['n_folds']}-fold CV, seed {cv.get('seed')}",
                "rows": "all",
                "AUC unconstrained": cv["additive_unconstrained"]["auc_mean"],
                "AUC budgeted": cv["additive"]["auc_mean"],
                "AUC cost": cv["budget_auc_cost"],
                "cost 95% CI": _cost_ci(cv.get("budget_auc_cost_ci")),
                "fold sd": float(np.std(diffs)),
            }
        )
    if isinstance(budget.get("auc_cost"), float):
        rows.append(
            {
                "evaluation": holdout,
                "rows": budget.get("n_holdout", "–"),
                "AUC unconstrained": budget.get("auc_unconstrained"),
                "AUC budgeted": budget.get("auc_budgeted"),
                "AUC cost": budget["auc_cost"],
                "cost 95% CI": _cost_ci(budget.get("auc_cost_ci")),
                "fold sd": None,
            }
        )
    for k, r in enumerate(rows):
        r["primary"] = k == 0
    return rows


def failed_checks(
    model: CreditModel,
    metrics: dict[str, Any],
    reliability: pd.DataFrame,
    stability: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    proxies: pd.DataFrame | None = None,
    cv: dict[str, Any] | None = None,
) -> list[dict[str, str]]:
    """Each check the card found failing, with the evidence and what to do about it. The budget's
    cost is judged on its primary figure (CV when measured); a holdout above the target is a
    check of its own."""
    out: list[dict[str, str]] = []
    budget = metrics.get("budget") or {}
    split = "out-of-time holdout" if model.metadata.get("split") == "out_of_time" else "holdout"
    costs = budget_costs(budget, cv or metrics.get("cv"), split)
    if costs and float(costs[0]["AUC cost"]) > AUC_COST_TARGET:
        out.append(
            {
                "check": f"budget AUC cost <= {AUC_COST_TARGET}",
                "evidence": f"{costs[0]['evaluation']}: AUC cost {costs[0]['AUC cost']:.4f} "
                f"(95% CI {costs[0]['cost 95% CI']})",
                "action": "raise max_bins or max_features for this population, or accept and "
                "record the cost",
            }
        )
    for r in costs[1:]:
        if float(r["AUC cost"]) > AUC_COST_TARGET:
            out.append(
                {
                    "check": f"{r['evaluation']} budget AUC cost <= {AUC_COST_TARGET}",
                    "evidence": f"AUC cost {r['AUC cost']:.4f} (95% CI {r['cost 95% CI']}) on "
                    f"{r['rows']} rows; the primary ({costs[0]['evaluation']}) is "
                    f"{costs[0]['AUC cost']:.4f}",
                    "action": "the latest period loses more than cross-validation shows: "
                    "measure the cost again on the next period's outcomes; if it stays above "
                    "the target, refit with more features (max_features) and revalidate",
                }
            )
    if budget.get("within_budget") is False:
        out.append(
            {
                "check": "characteristic budget met",
                "evidence": f"{budget.get('features')} features, max "
                f"{budget.get('max_bins_per_feature')} bins",
                "action": "retrain with the default Budget()",
            }
        )
    err = float(reliability["abs_error"].max()) if len(reliability) else 0.0
    if err > CALIBRATION_TOLERANCE:
        worst = reliability.loc[reliability["abs_error"].idxmax()]
        out.append(
            {
                "check": f"calibration: every PD decile within {CALIBRATION_TOLERANCE} of observed",
                "evidence": f"decile mean PD {worst['mean_pd']:.3f} vs observed "
                f"{worst['observed']:.3f} (n {int(worst['n'])})",
                "action": "recalibrate on recent outcomes (isotonic if the error is local); if "
                "the holdout is small, read the decile error against its sampling noise",
            }
        )
    add = metrics.get("additive") or {}
    if add.get("auc_ci") and add["auc_ci"][0] < 0.6:
        out.append(
            {
                "check": "discrimination: AUC 95% interval above 0.6",
                "evidence": f"holdout AUC {add['auc']:.3f} [{_ci(add['auc_ci'])}]",
                "action": "collect more labelled outcomes before use",
            }
        )
    if stability is not None and stability.get("status") != "ok":
        feats = stability["features"]
        bad = feats[feats["status"] != "ok"]["feature"].tolist() if len(feats) else []
        out.append(
            {
                "check": "stability: score PSI and feature CSI below 0.1",
                "evidence": f"score PSI {stability['score_psi']:.3f}; shifted features: "
                + (", ".join(bad[:8]) or "none"),
                "action": "check whether the shift is real (new segment, product change) or a data "
                "defect; a real shift above 0.25 calls for revalidation",
            }
        )
    if fairness is not None:
        for attr, e in fairness["attributes"].items():
            if not e["passes"]:
                out.append(
                    {
                        "check": f"four-fifths rule on {attr}",
                        "evidence": f"lowest adverse-impact ratio {e['min_ratio']:.3f}",
                        "action": "review the features with the largest gaps between groups and "
                        "the proxies; document the business justification or change the rule",
                    }
                )
    if proxies is not None and len(proxies) and proxies["is_proxy"].any():
        used = set(model.features)
        px = proxies[proxies["is_proxy"] & proxies["feature"].isin(used)]
        if len(px):
            out.append(
                {
                    "check": "no scored feature is a proxy of a protected attribute",
                    "evidence": ", ".join(
                        f"{r.feature}~{r.protected} {r.value:.2f}" for r in px.itertuples()
                    ),
                    "action": "justify each proxy's business necessity or retrain without it",
                }
            )
    return out


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
    *,
    cv: dict[str, Any] | None = None,
    proxies: pd.DataFrame | None = None,
    governance: dict[str, Any] | None = None,
    notices: list[str] | None = None,
    approval: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
) -> str:
    """Self-contained HTML model card (see the module docstring for the sections).

    ``governance``: owner, intended_use, out_of_scope, label_definition, data, limitations (list);
    ``approval``: from ``credit.registry.ModelRegistry.approval(version)``; ``comparison``: from
    ``ModelRegistry.compare``; ``fairness``: ``credit.fairness.fairness_assessment`` (or the older
    ``fairness_report``); ``stability``: ``credit.monitoring.stability_report``."""
    pts = model.points
    points_json = json.dumps(pts.to_dict(), sort_keys=True).encode()
    gov = dict(DEFAULT_GOVERNANCE, **(governance or {}))
    meta = model.metadata
    s = pts.scaling
    appr = approval or {"status": "candidate: not approved (no registry record given)"}
    checks = failed_checks(model, metrics, reliability, stability, fairness, proxies, cv)
    budget = metrics.get("budget") or {}
    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Generated {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}.</p>",
        '<div class="box"><b>Summary.</b> '
        + _li(
            [
                f"Model version <code>{model.version}</code>; approval: "
                f"<b>{html.escape(str(appr.get('status')))}</b>",
                f"Scorecard: {len(pts.features)} features, "
                f"{int(sum(bins_per_feature(pts).values()))} bins, score {s.min_score}–"
                f"{s.max_score}",
                _summary_auc(metrics, cv, budget),
                f"Failed checks: {len(checks)}"
                + (
                    " (" + "; ".join(str(c["check"]) for c in checks) + ": see below)"
                    if checks
                    else ""
                ),
            ]
        )
        + "</div>",
        "<h2>Intended use</h2>",
        f"<p>{html.escape(str(gov['intended_use']))}</p>",
        "<h2>Out-of-scope use</h2>",
        f"<p>{html.escape(str(gov['out_of_scope']))}</p>",
        "<h2>Owner, version and approval</h2>",
        _li(
            [f"Owner: {html.escape(str(gov['owner']))}", f"Version: <code>{model.version}</code>"]
            + [f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in appr.items()]
        ),
        "<h2>Data and label definition</h2>",
        _li(
            [
                f"Label: {html.escape(str(gov['label_definition']))}",
                f"Data snapshot id: <code>{html.escape(str(snapshot_id or meta.get('data_hash')))}"
                "</code>",
                f"Training rows: {meta.get('n_train')}, holdout rows: {meta.get('n_holdout')}, "
                f"training bad rate: {_fmt(meta.get('bad_rate_train'))}",
            ]
            + (
                [
                    f"Split: {html.escape(str(meta['split']))}; training applications up to "
                    f"{html.escape(str(meta.get('train_from', '')))} … "
                    f"{html.escape(str(meta.get('train_until')))}; holdout "
                    f"{html.escape(str(meta.get('holdout_from')))} … "
                    f"{html.escape(str(meta.get('holdout_until', '')))}"
                ]
                if meta.get("split")
                else []
            )
            + ([html.escape(str(gov["data"]))] if gov.get("data") else [])
            + [
                "Protected attributes declared (never features): "
                + (html.escape(", ".join(meta.get("protected") or [])) or "none declared")
            ]
        ),
        "<h2>Performance</h2>",
    ]
    repeated = budget.get("cv") if isinstance(budget.get("cv"), dict) else None
    if cv:
        sections += [
            f"<h3>{cv['n_folds']}-fold cross-validation (seed {cv.get('seed')})</h3>",
            _table(_cv_rows(cv)),
        ]
    elif repeated:
        sections += [
            f"<h3>{repeated['n_folds']}-fold cross-validation on the development rows, mean of "
            f"seeds {', '.join(str(x) for x in repeated['seeds'])} (95% bootstrap intervals)</h3>",
            _table(_repeated_cv_rows(repeated)),
        ]
    split_name = "out-of-time holdout" if meta.get("split") == "out_of_time" else "holdout"
    perf = _perf_rows(metrics)
    pricing = load_config()
    declined = tuple(pricing["apr"].get("decline_grades", []))
    bands = grade_bands(grade_cutoffs(model.calibrator, s, pricing), s.max_score, declined)
    sections += [
        f"<h3>{split_name} (95% bootstrap intervals)</h3>",
        _table(perf) if len(perf) else "<p>n/a</p>",
        '<div class="plots">',
        roc_svg(
            holdout, {"scorecard (PD)": "pd", "challenger": "challenger", "logistic": "logistic"}
        ),
        calibration_svg(reliability),
        score_hist_svg(holdout, bands),
        "</div>",
        "<p>Grade cut-offs (the calibrated PD of each score on the master scale of "
        "credit/pricing.yaml): "
        + "; ".join(f"{html.escape(label)} {_band_text(lo, hi, s)}" for lo, hi, label in bands)
        + ".</p>",
    ]
    if budget:
        lim = budget.get("limits") or {}
        sections += [
            "<h3>Characteristic budget</h3>",
            _li(
                [
                    f"Limits: at most {lim.get('max_features', '–')} features and "
                    f"{lim.get('max_bins', '–')} bins per feature (missing bin not counted); "
                    "adjacent bins with equal points merged",
                    f"Features {budget.get('features_unconstrained')} → {budget.get('features')}; "
                    f"bins {budget.get('bins_unconstrained')} → {budget.get('bins')}; distinct "
                    f"point values {budget.get('distinct_point_values')}",
                    "Dropped by the budget: "
                    + (html.escape(", ".join(budget.get("dropped_by_budget") or [])) or "none"),
                ]
            ),
        ]
        costs = budget_costs(budget, cv, split_name)
        if costs:
            sections += [
                f"<p>AUC cost of the budget against the unconstrained additive model (target ≤ "
                f"{AUC_COST_TARGET}), a paired difference on the same rows; the primary figure "
                "is the cross-validated one, when measured (one holdout is one sample):</p>",
                _table(pd.DataFrame(costs)),
            ]
    sections += [
        "<h2>Calibration</h2>",
        f"<p>PD: {html.escape(model.calibrator.method)} calibration of the integer score, fitted "
        "on out-of-fold training scores. Reliability on the holdout by PD decile:</p>",
        _table(_readable_reliability(reliability)),
    ]
    if stability is not None:
        base = stability.get("baseline", "training population")
        latest = stability.get("latest", "latest population")
        sections += [
            "<h2>Stability</h2>",
            f"<p>Baseline: {html.escape(str(base))} ({stability.get('n_train')} rows); compared: "
            f"{html.escape(str(latest))} ({stability.get('n_latest')} rows). Score PSI "
            f"{stability['score_psi']:.4f}: <b>{html.escape(stability['score_status'])}</b> (warn "
            f"≥ {stability['thresholds']['warn']}, fail ≥ {stability['thresholds']['fail']}); "
            f"overall <b>{html.escape(stability['status'])}</b>.</p>",
            _table(stability["features"]),
        ]
    sections.append("<h2>Fairness (evaluation only; protected attributes are not features)</h2>")
    if fairness is not None:
        sections += _fairness_html(fairness)
    else:
        sections.append("<p>No protected attribute declared: fairness not assessed.</p>")
    if proxies is not None and len(proxies):
        sections += [
            "<h3>Proxies (association with a protected attribute, |value| ≥ 0.5 flagged)</h3>",
            _table(proxies.head(20)),
        ]
    sections += [
        "<h2>Drivers</h2>",
        "<p>Features by the range of points they can move (the score is the sum of points):</p>",
        _table(drivers(pts)),
        "<h2>Reason codes</h2>",
        "<p>Reasons are ranked by points lost against the feature's best bin; the direction is "
        "read from the points table (low: a higher value would score more; high: a lower "
        "value would).</p>",
        _table(reason_codes(pts, model.reason_texts)),
        "<h2>Missing values and thin files</h2>",
    ]
    policy = pd.DataFrame(meta.get("missing_policy") or [])
    if len(policy):
        kept = policy[policy["rule"] == KEPT_EVIDENCE]
        capped = policy[policy["model_points"] > policy["points"]]
        sections.append(
            _li(
                [
                    "Policy: a missing value never earns more than the feature's median bin, "
                    "unless training data show missing is better (Wilson 95% upper bound of the "
                    "missing rows' bad rate below the median bin's bad rate, ≥ 50 rows).",
                    f"Capped by the policy: {len(capped)} features"
                    + (": " + html.escape(", ".join(capped["feature"])) if len(capped) else ""),
                    "Exceptions (missing kept above the median bin on evidence): "
                    + (html.escape(", ".join(kept["feature"])) if len(kept) else "none"),
                    f"Thin file: at least {meta.get('thin_file_share', 0.3):.0%} of the scored "
                    "features missing (flag thin_file in the scores)",
                ]
            )
        )
        sections.append(_table(policy.fillna(0.0)))
    if comparison:
        sections += ["<h2>Champion and candidate</h2>", _comparison_html(comparison)]
    limits = list(gov.get("limitations") or []) + [
        "Reject inference is not performed: outcomes exist only for approved applications.",
        "Monotone directions are imposed only where credit practice knows them; other features "
        "follow the data and can be non-monotone.",
        "The PD is calibrated on the development period; it drifts with the portfolio and needs "
        "periodic recalibration.",
    ]
    sections += ["<h2>Limitations</h2>", _li([html.escape(x) for x in limits])]
    sections.append("<h2>Failed checks and what to do</h2>")
    if notices:
        sections.append("<p>Notices:</p>" + _li([html.escape(n) for n in notices]))
    sections.append(_table(pd.DataFrame(checks)) if checks else "<p>No check failed.</p>")
    sections += [
        "<h2>Appendix: points table</h2>",
        f"<p>score = {pts.base_points} (base) + Σ points, clipped to {s.min_score}–"
        f"{s.max_score}. Scaling: {s.base_score:g} points at {s.base_odds:g}:1 good:bad odds, "
        f"{s.pdo:g} points to double the odds. A bin 'a – b' holds a < value ≤ b.</p>",
        _table(readable_points(pts), max_rows=2000),
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
        ".box{border:1px solid #bbb;padding:.3em 1em;background:#f7f7f7}"
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
        f"{html.escape(title)}</title><style>{style}</style></head><body>"
        + "\n".join(sections)
        + "</body></html>"
    )


def _comparison_html(c: dict[str, Any]) -> str:
    parts = [
        f"<p>Champion <code>{html.escape(str(c.get('champion')))}</code>, candidate "
        f"<code>{html.escape(str(c.get('candidate')))}</code>.</p>"
    ]
    rows = c.get("metrics") or []
    if rows:
        parts.append(_table(pd.DataFrame(rows)))
    feats = c.get("features") or {}
    parts.append(
        _li(
            [
                "Features only in the candidate: "
                + (html.escape(", ".join(feats.get("added", []))) or "none"),
                "Features only in the champion: "
                + (html.escape(", ".join(feats.get("removed", []))) or "none"),
            ]
        )
    )
    shift = c.get("score_shift")
    if shift:
        parts.append(
            _li(
                [
                    f"On {shift['n']} applications: mean |score change| "
                    f"{shift['mean_abs_score_change']:.1f} points; grade changed for "
                    f"{shift['grade_changed_share']:.1%}; decision changed for "
                    f"{shift['decision_changed_share']:.1%}"
                ]
            )
        )
        if shift.get("grade_migration"):
            parts.append(_table(pd.DataFrame(shift["grade_migration"])))
    return "".join(parts)
