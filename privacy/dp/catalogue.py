"""The report catalogue: what may be sold, to whom, at which privacy loss.

YAML shape (see ``privacy/dp/catalogue.yaml``)::

    version: 1
    privacy_unit: wallet_holder          # all bounds are per pseudonymised user_id
    delta: 1.0e-7                        # delta of the (epsilon, delta) statement
    budgets: {per_buyer_rho: 4.0, global_rho: 8.0}   # zCDP, per dataset period
    buyers:
      <buyer id>: {description: ..., rho: 2.0}       # rho: optional per-buyer budget
    domains:
      <name>: {source: <reference>, values: [...]}   # public key set from reference data
      <name>: {calendar: iso_weeks}                  # ISO weeks of the dataset period
      <name>: {calendar: signup_cohorts, months: 6}  # 6 months ending with the period + earlier
    reports:
      <report id>:
        title / description              # buyer-facing
        filter: {<base column>: [values]}
        dimensions: [{column: <base column>, domain: <domain>}]
        measures: [{name, kind: distinct_users|count|sum|mean|quantile, column, bounds,
                    max_sum_per_cell, alphas, step}]
          # bounds clip each transaction; max_sum_per_cell (sum/mean) caps a holder's clipped
          # subtotal in one cell (default: max_transactions_per_cell * upper bound)
        bounds: {max_transactions_per_cell: k, max_cells_per_user: m}
        rho: 0.5
        min_noisy_users: 50

Invariants enforced at load (errors name file and line, nothing is charged): every dimension
takes its keys from a declared public domain, never from data; every measured column exists in
the insight base (:data:`privacy.dp.base.BASE_COLUMNS`); bounds are present, integral and
ordered; rho > 0; grouped reports carry a ``distinct_users`` measure (suppression reads it);
quantiles only in reports without dimensions.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

from privacy.dp.base import BASE_COLUMNS
from privacy.dp.periods import Period
from privacy.dp.yamlnodes import LineDict, LineList, YamlLocError, load_with_lines

__all__ = [
    "DEFAULT_CATALOGUE_PATH",
    "Buyer",
    "Catalogue",
    "CatalogueError",
    "ContributionBounds",
    "Dimension",
    "Domain",
    "Measure",
    "Report",
    "load_catalogue",
    "parse_catalogue",
]

DEFAULT_CATALOGUE_PATH = Path(__file__).with_name("catalogue.yaml")
MEASURE_KINDS = ("distinct_users", "count", "sum", "mean", "quantile")
CALENDARS = {"iso_weeks": "iso_week", "signup_cohorts": "signup_cohort"}
_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_CANDIDATES = 20_000


class CatalogueError(ValueError):
    """The catalogue is invalid; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class Domain:
    name: str
    source: str
    values: tuple[str | int, ...] = ()
    calendar: str | None = None
    months: int = 0

    def keys(self, period: Period) -> tuple[str | int, ...]:
        """The public keys of this domain for ``period``."""
        if self.calendar == "iso_weeks":
            return tuple(period.iso_weeks())
        if self.calendar == "signup_cohorts":
            return ("earlier", *period.months_back(self.months))
        return self.values


@dataclass(frozen=True)
class Dimension:
    column: str
    domain: str


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str
    column: str | None = None
    bounds: tuple[float, float] | None = None
    alphas: tuple[float, ...] = ()
    step: float | None = None
    max_sum_per_cell: float | None = None  # cap of a holder's clipped subtotal in one cell


@dataclass(frozen=True)
class ContributionBounds:
    """Per wallet holder: at most ``max_transactions_per_cell`` transactions in any one cell and
    at most ``max_cells_per_user`` cells."""

    max_transactions_per_cell: int
    max_cells_per_user: int


@dataclass(frozen=True)
class Report:
    id: str
    title: str
    description: str
    filters: tuple[tuple[str, tuple[str | int, ...]], ...]
    dimensions: tuple[Dimension, ...]
    measures: tuple[Measure, ...]
    bounds: ContributionBounds
    rho: float
    min_noisy_users: int
    line: int = 0

    @property
    def columns(self) -> list[str]:
        """Base columns the report reads."""
        cols = [f for f, _ in self.filters] + [d.column for d in self.dimensions]
        cols += [m.column for m in self.measures if m.column]
        return list(dict.fromkeys(cols))

    def resolved(self, catalogue: Catalogue, period: Period) -> dict[str, Any]:
        """The full specification of a release of this report for ``period``: everything that
        determines its distribution, with the domains' keys spelled out."""
        return {
            "catalogue_version": catalogue.version,
            "privacy_unit": catalogue.privacy_unit,
            "report": self.id,
            "period": period.label,
            "filters": {f: list(v) for f, v in self.filters},
            "dimensions": [
                {
                    "column": d.column,
                    "domain": d.domain,
                    "keys": list(catalogue.domains[d.domain].keys(period)),
                }
                for d in self.dimensions
            ],
            "measures": [
                {
                    "name": m.name,
                    "kind": m.kind,
                    "column": m.column,
                    "bounds": list(m.bounds) if m.bounds else None,
                    "alphas": list(m.alphas),
                    "step": m.step,
                    "max_sum_per_cell": m.max_sum_per_cell,
                }
                for m in self.measures
            ],
            "bounds": {
                "max_transactions_per_cell": self.bounds.max_transactions_per_cell,
                "max_cells_per_user": self.bounds.max_cells_per_user,
            },
            "rho": self.rho,
            "delta": catalogue.delta,
            "min_noisy_users": self.min_noisy_users,
        }

    def spec_hash(self, catalogue: Catalogue, period: Period) -> str:
        """SHA-256 of the RFC 8785 canonical JSON of :meth:`resolved`."""
        return hashlib.sha256(rfc8785.dumps(self.resolved(catalogue, period))).hexdigest()


@dataclass(frozen=True)
class Buyer:
    id: str
    description: str
    rho: float  # budget per dataset period


@dataclass(frozen=True)
class Catalogue:
    source: str
    version: int
    privacy_unit: str
    delta: float
    global_rho: float
    buyers: dict[str, Buyer]
    domains: dict[str, Domain]
    reports: dict[str, Report]

    def report(self, report_id: str) -> Report:
        try:
            return self.reports[report_id]
        except KeyError:
            raise KeyError(
                f"unknown report {report_id!r}; the catalogue {self.source} has: "
                + ", ".join(sorted(self.reports))
            ) from None

    def buyer(self, buyer_id: str) -> Buyer:
        try:
            return self.buyers[buyer_id]
        except KeyError:
            raise KeyError(
                f"unknown buyer {buyer_id!r}; register the buyer under 'buyers:' in "
                f"{self.source} (known: {', '.join(sorted(self.buyers))})"
            ) from None


class _Ctx:
    def __init__(self, source: str) -> None:
        self.source = source

    def err(self, line: int, msg: str) -> CatalogueError:
        return CatalogueError(f"{self.source}:{line}: {msg}")

    def map(self, parent: LineDict, key: str, *, required: bool = True) -> LineDict | None:
        v = parent.get(key)
        if v is None:
            if required:
                raise self.err(parent.line, f"missing '{key}' (a mapping)")
            return None
        if not isinstance(v, LineDict):
            raise self.err(parent.lines[key], f"'{key}' must be a mapping")
        return v

    def text(self, parent: LineDict, key: str, *, required: bool = True) -> str:
        v = parent.get(key)
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                raise self.err(parent.line, f"missing '{key}' (non-empty text)")
            return ""
        if not isinstance(v, str):
            raise self.err(parent.lines[key], f"'{key}' must be text")
        return " ".join(v.split())

    def number(self, parent: LineDict, key: str, *, positive: bool = True) -> float:
        v = parent.get(key)
        line = parent.lines.get(key, parent.line)
        if v is None:
            raise self.err(line, f"missing '{key}' (a number)")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.err(line, f"'{key}' must be a finite number, not {v!r}")
        if positive and v <= 0:
            raise self.err(line, f"'{key}' must be > 0, got {v}")
        return float(v)

    def integer(self, parent: LineDict, key: str, *, minimum: int = 1) -> int:
        v = parent.get(key)
        line = parent.lines.get(key, parent.line)
        if v is None:
            raise self.err(line, f"missing '{key}' (an integer >= {minimum})")
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.err(line, f"'{key}' must be an integer >= {minimum}, got {v!r}")
        return int(v)

    def ident(self, value: str, line: int, what: str) -> str:
        if not _ID.match(value):
            raise self.err(line, f"{what} {value!r} must match [a-z][a-z0-9_]*")
        return value

    def unknown(self, node: LineDict, allowed: set[str], what: str) -> None:
        for k in node:
            if k not in allowed:
                raise self.err(
                    node.lines[k], f"unknown key '{k}' in {what}; allowed: {sorted(allowed)}"
                )


def parse_catalogue(text: str, source: str = "<catalogue>") -> Catalogue:
    """Parse and validate a catalogue document; errors name ``source`` and the line."""
    try:
        root = load_with_lines(text, source)
    except YamlLocError as exc:
        raise CatalogueError(str(exc)) from None
    cx = _Ctx(source)
    if not isinstance(root, LineDict):
        raise cx.err(1, "the catalogue must be a mapping")
    cx.unknown(
        root,
        {"version", "privacy_unit", "delta", "budgets", "buyers", "domains", "reports"},
        "the catalogue",
    )
    version = cx.integer(root, "version")
    if version != 1:
        raise cx.err(root.lines["version"], f"unsupported version {version}; expected 1")
    unit = cx.text(root, "privacy_unit")
    if unit != "wallet_holder":
        raise cx.err(
            root.lines["privacy_unit"],
            f"privacy_unit must be 'wallet_holder' (the pseudonymised user_id), got {unit!r}",
        )
    delta = cx.number(root, "delta")
    if delta >= 1e-3:
        raise cx.err(root.lines["delta"], f"delta must be < 1e-3, got {delta}")
    budgets = cx.map(root, "budgets")
    assert budgets is not None
    cx.unknown(budgets, {"per_buyer_rho", "global_rho"}, "budgets")
    per_buyer = cx.number(budgets, "per_buyer_rho")
    global_rho = cx.number(budgets, "global_rho")
    buyers = _buyers(cx, root, per_buyer, global_rho)
    domains = _domains(cx, root)
    reports_node = cx.map(root, "reports")
    assert reports_node is not None
    reports: dict[str, Report] = {}
    for rid, node in reports_node.items():
        line = reports_node.lines[rid]
        cx.ident(rid, line, "report id")
        if not isinstance(node, LineDict):
            raise cx.err(line, f"report {rid!r} must be a mapping")
        reports[rid] = _report(cx, rid, node, domains, min(per_buyer, global_rho))
    if not reports:
        raise cx.err(reports_node.line, "the catalogue declares no reports")
    return Catalogue(source, version, unit, delta, global_rho, buyers, domains, reports)


def _buyers(cx: _Ctx, root: LineDict, per_buyer: float, global_rho: float) -> dict[str, Buyer]:
    node = cx.map(root, "buyers")
    assert node is not None
    out: dict[str, Buyer] = {}
    for bid, b in node.items():
        line = node.lines[bid]
        cx.ident(bid, line, "buyer id")
        if not isinstance(b, LineDict):
            raise cx.err(line, f"buyer {bid!r} must be a mapping")
        cx.unknown(b, {"description", "rho"}, f"buyer {bid!r}")
        rho = cx.number(b, "rho") if "rho" in b else per_buyer
        if rho > global_rho:
            raise cx.err(
                b.lines.get("rho", line),
                f"buyer {bid!r} budget rho={rho} exceeds the global budget {global_rho}",
            )
        out[bid] = Buyer(bid, cx.text(b, "description", required=False), rho)
    return out


def _domains(cx: _Ctx, root: LineDict) -> dict[str, Domain]:
    node = cx.map(root, "domains")
    assert node is not None
    out: dict[str, Domain] = {}
    for name, d in node.items():
        line = node.lines[name]
        cx.ident(name, line, "domain name")
        if not isinstance(d, LineDict):
            raise cx.err(line, f"domain {name!r} must be a mapping")
        cx.unknown(d, {"source", "values", "calendar", "months"}, f"domain {name!r}")
        if "calendar" in d:
            cal = d["calendar"]
            if cal not in CALENDARS:
                raise cx.err(
                    d.lines["calendar"],
                    f"domain {name!r}: calendar must be one of {sorted(CALENDARS)}, got {cal!r}",
                )
            months = cx.integer(d, "months") if cal == "signup_cohorts" else 0
            source = cx.text(d, "source", required=False) or f"calendar of the period ({cal})"
            out[name] = Domain(name, source, (), str(cal), months)
            continue
        source = cx.text(d, "source")
        values = d.get("values")
        if not isinstance(values, LineList) or not values:
            raise cx.err(
                d.lines.get("values", line),
                f"domain {name!r} needs a non-empty 'values' list (the public key set) "
                "or a 'calendar'",
            )
        seen: set[str | int] = set()
        for v, vl in zip(values, values.lines, strict=True):
            if isinstance(v, bool) or not isinstance(v, str | int):
                raise cx.err(vl, f"domain {name!r}: key {v!r} must be text or an integer")
            if v in seen:
                raise cx.err(vl, f"domain {name!r}: duplicate key {v!r}")
            seen.add(v)
        out[name] = Domain(name, source, tuple(values))
    return out


_REPORT_KEYS = {
    "title",
    "description",
    "filter",
    "dimensions",
    "measures",
    "bounds",
    "rho",
    "min_noisy_users",
}


def _column(cx: _Ctx, name: object, line: int, what: str) -> str:
    if not isinstance(name, str) or name not in BASE_COLUMNS:
        raise cx.err(
            line,
            f"{what}: column {name!r} is not in the insights-purpose data; available: "
            + ", ".join(sorted(BASE_COLUMNS)),
        )
    return name


def _report(
    cx: _Ctx, rid: str, node: LineDict, domains: dict[str, Domain], max_rho: float
) -> Report:
    cx.unknown(node, _REPORT_KEYS, f"report {rid!r}")
    title = cx.text(node, "title")
    description = cx.text(node, "description")
    filters: list[tuple[str, tuple[str | int, ...]]] = []
    fnode = cx.map(node, "filter", required=False)
    if fnode is not None:
        for col, vals in fnode.items():
            fl = fnode.lines[col]
            _column(cx, col, fl, f"report {rid!r} filter")
            if not isinstance(vals, LineList) or not vals:
                raise cx.err(fl, f"report {rid!r} filter on {col!r} needs a non-empty list")
            filters.append((col, tuple(vals)))
    dims: list[Dimension] = []
    dnode = node.get("dimensions", LineList())
    if not isinstance(dnode, LineList):
        raise cx.err(node.lines["dimensions"], f"report {rid!r}: 'dimensions' must be a list")
    for d, dl in zip(dnode, dnode.lines, strict=True):
        if not isinstance(d, LineDict):
            raise cx.err(dl, f"report {rid!r}: a dimension must be a mapping {{column, domain}}")
        cx.unknown(d, {"column", "domain"}, f"report {rid!r} dimension")
        col = _column(cx, d.get("column"), dl, f"report {rid!r} dimension")
        dom = d.get("domain")
        if dom is None:
            raise cx.err(
                dl,
                f"report {rid!r}: dimension {col!r} has no public domain; name one of the "
                f"catalogue's domains ({', '.join(sorted(domains))}) so no key is learned "
                "from the data",
            )
        if dom not in domains:
            raise cx.err(
                d.lines["domain"],
                f"report {rid!r}: dimension {col!r} names unknown domain {dom!r}; declared: "
                + ", ".join(sorted(domains)),
            )
        _check_domain_fits(cx, rid, col, domains[str(dom)], d.lines["domain"])
        if col in [x.column for x in dims]:
            raise cx.err(dl, f"report {rid!r}: dimension {col!r} appears twice")
        dims.append(Dimension(col, str(dom)))
    measures = _measures(cx, rid, node, bool(dims))
    bnode = cx.map(node, "bounds", required=False)
    if bnode is None:
        raise cx.err(
            node.line,
            f"report {rid!r}: missing 'bounds' {{max_transactions_per_cell, max_cells_per_user}}"
            " (contribution bounds per wallet holder)",
        )
    cx.unknown(bnode, {"max_transactions_per_cell", "max_cells_per_user"}, f"report {rid!r} bounds")
    k = cx.integer(bnode, "max_transactions_per_cell")
    m = cx.integer(bnode, "max_cells_per_user") if dims or "max_cells_per_user" in bnode else 1
    if not dims and m != 1:
        raise cx.err(
            bnode.lines["max_cells_per_user"],
            f"report {rid!r} has no dimensions: max_cells_per_user must be 1",
        )
    rho = cx.number(node, "rho")
    if rho > max_rho:
        raise cx.err(
            node.lines["rho"], f"report {rid!r}: rho={rho} exceeds every budget ({max_rho})"
        )
    min_users = cx.integer(node, "min_noisy_users", minimum=0)
    return Report(
        rid,
        title,
        description,
        tuple(filters),
        tuple(dims),
        measures,
        ContributionBounds(k, m),
        rho,
        min_users,
        node.line,
    )


def _check_domain_fits(cx: _Ctx, rid: str, col: str, dom: Domain, line: int) -> None:
    if dom.calendar is not None:
        if CALENDARS[dom.calendar] != col:
            raise cx.err(
                line,
                f"report {rid!r}: calendar domain {dom.name!r} ({dom.calendar}) only fits "
                f"column {CALENDARS[dom.calendar]!r}, not {col!r}",
            )
        return
    dtype = BASE_COLUMNS[col].dtype
    if dtype not in ("text", "int"):
        raise cx.err(line, f"report {rid!r}: column {col!r} ({dtype}) cannot be a dimension")
    want = int if dtype == "int" else str
    bad = [v for v in dom.values if not isinstance(v, want)]
    if bad:
        raise cx.err(
            line,
            f"report {rid!r}: domain {dom.name!r} has keys of the wrong type for {col!r} "
            f"({dtype}): {bad[:3]!r}",
        )


def _measures(cx: _Ctx, rid: str, node: LineDict, grouped: bool) -> tuple[Measure, ...]:
    mnode = node.get("measures")
    if not isinstance(mnode, LineList) or not mnode:
        raise cx.err(node.lines.get("measures", node.line), f"report {rid!r}: no 'measures' list")
    out: list[Measure] = []
    for m, ml in zip(mnode, mnode.lines, strict=True):
        if not isinstance(m, LineDict):
            raise cx.err(ml, f"report {rid!r}: a measure must be a mapping")
        cx.unknown(
            m,
            {"name", "kind", "column", "bounds", "alphas", "step", "max_sum_per_cell"},
            "a measure",
        )
        name = cx.ident(cx.text(m, "name"), ml, "measure name")
        if name in [x.name for x in out]:
            raise cx.err(ml, f"report {rid!r}: measure {name!r} appears twice")
        kind = m.get("kind")
        if kind not in MEASURE_KINDS:
            raise cx.err(ml, f"measure {name!r}: kind must be one of {MEASURE_KINDS}, got {kind!r}")
        if kind in ("distinct_users", "count"):
            cx.unknown(m, {"name", "kind"}, f"measure {name!r} ({kind})")
            out.append(Measure(name, str(kind)))
            continue
        col = _column(cx, m.get("column"), m.lines.get("column", ml), f"measure {name!r}")
        if BASE_COLUMNS[col].dtype not in ("real", "int"):
            raise cx.err(ml, f"measure {name!r}: column {col!r} is not numeric")
        bounds = _bounds(cx, name, m, ml)
        if kind == "quantile":
            if grouped:
                raise cx.err(
                    ml,
                    f"measure {name!r}: quantiles are released only by reports without dimensions",
                )
            alphas = m.get("alphas")
            if not isinstance(alphas, LineList) or not alphas:
                raise cx.err(ml, f"measure {name!r}: a quantile needs 'alphas' (e.g. [0.5])")
            for a in alphas:
                if isinstance(a, bool) or not isinstance(a, int | float) or not 0 < a < 1:
                    raise cx.err(ml, f"measure {name!r}: alpha {a!r} must be in (0, 1)")
            step = cx.number(m, "step")
            if (bounds[1] - bounds[0]) / step > _MAX_CANDIDATES:
                raise cx.err(
                    m.lines["step"],
                    f"measure {name!r}: step gives more than {_MAX_CANDIDATES} candidates",
                )
            out.append(
                Measure(name, "quantile", col, bounds, tuple(float(a) for a in alphas), step)
            )
        else:
            cx.unknown(
                m,
                {"name", "kind", "column", "bounds", "max_sum_per_cell"},
                f"measure {name!r} ({kind})",
            )
            cap: float | None = None
            if "max_sum_per_cell" in m:
                cap = cx.number(m, "max_sum_per_cell")
                if cap <= bounds[0]:
                    raise cx.err(
                        m.lines["max_sum_per_cell"],
                        f"measure {name!r}: max_sum_per_cell {cap} must exceed the lower bound "
                        f"{bounds[0]}",
                    )
            out.append(Measure(name, str(kind), col, bounds, max_sum_per_cell=cap))
    if "distinct_users" not in [x.kind for x in out]:
        raise cx.err(
            mnode.line,
            f"report {rid!r}: needs a distinct_users measure (cells are suppressed on it)",
        )
    return tuple(out)


def _bounds(cx: _Ctx, name: str, m: LineDict, ml: int) -> tuple[float, float]:
    b = m.get("bounds")
    line = m.lines.get("bounds", ml)
    if b is None:
        raise cx.err(line, f"measure {name!r}: missing 'bounds' [lower, upper] for clipping")
    if (
        not isinstance(b, LineList)
        or len(b) != 2
        or any(isinstance(x, bool) or not isinstance(x, int | float) for x in b)
        or not all(math.isfinite(x) for x in b)
    ):
        raise cx.err(line, f"measure {name!r}: 'bounds' must be two finite numbers [lower, upper]")
    lo, hi = float(b[0]), float(b[1])
    if lo < 0:
        raise cx.err(line, f"measure {name!r}: lower bound {lo} must be >= 0 (amounts are > 0)")
    if not lo < hi:
        raise cx.err(line, f"measure {name!r}: bounds [{lo}, {hi}] are inverted or empty")
    return lo, hi


def load_catalogue(path: Path | str | None = None) -> Catalogue:
    """Load and validate a catalogue file (default: ``privacy/dp/catalogue.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_CATALOGUE_PATH
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"{p}:0: cannot read the catalogue: {exc.strerror}") from None
    return parse_catalogue(text, str(p))
