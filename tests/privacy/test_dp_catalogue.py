"""The report catalogue: the default ships >= 6 valid reports; bad specs fail with file:line."""

from __future__ import annotations

import pytest

from privacy.dp.catalogue import CatalogueError, load_catalogue, parse_catalogue
from privacy.dp.periods import parse_period

GOOD = """\
version: 1
privacy_unit: wallet_holder
delta: 1.0e-7
budgets: {per_buyer_rho: 1.0, global_rho: 2.0}
buyers:
  b1: {description: test}
domains:
  tier: {source: contract, values: [1, 2]}
  week: {calendar: iso_weeks}
reports:
  r1:
    title: T
    description: D
    dimensions:
      - {column: user_city_tier, domain: tier}
      - {column: iso_week, domain: week}
    measures:
      - {name: users, kind: distinct_users}
      - {name: spend, kind: sum, column: amount_base, bounds: [0, 100]}
    bounds: {max_transactions_per_cell: 2, max_cells_per_user: 3}
    rho: 0.5
    min_noisy_users: 10
"""


def test_default_catalogue_has_six_reports_with_public_domains() -> None:
    cat = load_catalogue()
    assert len(cat.reports) >= 6
    for r in cat.reports.values():
        assert r.rho > 0 and r.description and r.bounds.max_transactions_per_cell >= 1
        for d in r.dimensions:
            assert d.domain in cat.domains
    weeks = cat.domains["iso_week"].keys(parse_period("2026-01"))
    assert weeks == ("2026-W01", "2026-W02", "2026-W03", "2026-W04", "2026-W05")
    assert cat.domains["signup_cohort"].keys(parse_period("2026-Q1"))[:2] == ("earlier", "2025-10")


def test_spec_hash_changes_with_period_and_rho() -> None:
    cat = parse_catalogue(GOOD, "good.yaml")
    r = cat.reports["r1"]
    h1 = r.spec_hash(cat, parse_period("2026-01"))
    assert h1 == r.spec_hash(cat, parse_period("2026-01"))
    assert h1 != r.spec_hash(cat, parse_period("2026-02"))
    cat2 = parse_catalogue(GOOD.replace("rho: 0.5", "rho: 0.25"), "good.yaml")
    assert h1 != cat2.reports["r1"].spec_hash(cat2, parse_period("2026-01"))


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("bounds: [0, 100]", "bounds: [100, 0]", 19, "inverted"),
        (", bounds: [0, 100]", "", 19, "missing 'bounds'"),
        ("    bounds: {max_transactions_per_cell: 2, max_cells_per_user: 3}\n", "", 12, "bounds"),
        ("max_cells_per_user: 3", "max_cells_per_user: 0", 20, "max_cells_per_user"),
        ("rho: 0.5", "rho: 0", 21, "rho"),
        ("rho: 0.5", "rho: -1", 21, "rho"),
        ("{column: user_city_tier, domain: tier}", "{column: user_city_tier}", 15, "public domain"),
        ("domain: week}", "domain: nope}", 16, "unknown domain"),
        ("column: amount_base", "column: salary", 19, "not in the insights-purpose data"),
        ("values: [1, 2]", "values: [a, b]", 15, "wrong type"),
        ("kind: distinct_users", "kind: count", 18, "distinct_users"),
        ("version: 1", "version: 2", 1, "unsupported version"),
        ("bounds: [0, 100]}", "bounds: [10, 100], max_sum_per_cell: 5}", 19, "must exceed"),
        ("bounds: [0, 100]}", "bounds: [0, 100], max_sum_per_cell: -1}", 19, "must be > 0"),
    ],
)
def test_bad_specs_name_file_and_line(old: str, new: str, line: int, message: str) -> None:
    text = GOOD.replace(old, new)
    assert text != GOOD
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(text, "cat.yaml")
    assert str(err.value).startswith(f"cat.yaml:{line}:"), str(err.value)
    assert message in str(err.value)


def test_quantiles_only_without_dimensions_and_unknown_keys_refused() -> None:
    q = GOOD.replace(
        "{name: spend, kind: sum, column: amount_base, bounds: [0, 100]}",
        "{name: q, kind: quantile, column: amount_base, bounds: [0, 100], step: 1, alphas: [0.5]}",
    )
    with pytest.raises(CatalogueError, match="without dimensions"):
        parse_catalogue(q, "q.yaml")
    with pytest.raises(CatalogueError, match=r"q.yaml:12: unknown key 'colour'"):
        parse_catalogue(GOOD.replace("    title: T", "    colour: red\n    title: T"), "q.yaml")
