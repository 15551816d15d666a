"""Policy as code: loading, validation errors with file + line, default deny."""

from __future__ import annotations

from pathlib import Path

import pytest

from privacy.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy, parse_policy

GOOD = """\
version: 1
purposes:
  credit_scoring: {short: credit}
  marketing: {short: mkt}
rules:
  account_id:
    credit_scoring: pseudonymise
    marketing: pseudonymise
  date_of_birth:
    credit_scoring: {action: generalise, generaliser: age_band}
"""


def _error(tmp_path: Path, text: str) -> str:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(PolicyError) as exc:
        load_policy(f)
    return str(exc.value)


def test_default_policy_loads_and_covers_purposes() -> None:
    p = load_policy()
    assert set(p.purposes) == {"credit_scoring", "insights_sale", "dpo_audit"}
    assert p.short("credit_scoring") == "credit"
    d = p.decide("date_of_birth", "credit_scoring")
    assert (d.action, d.generaliser, d.default_deny) == ("generalise", "age_band", False)
    assert str(DEFAULT_POLICY_PATH) in d.reason


def test_user_added_purpose_and_default_deny() -> None:
    p = parse_policy(GOOD, "good.yaml")
    assert p.decide("account_id", "marketing").action == "pseudonymise"
    d = p.decide("email", "marketing")
    assert d.action == "drop" and d.default_deny and "default deny" in d.reason
    assert p.decide("unknown", "credit_scoring").default_deny


@pytest.mark.parametrize(
    ("bad", "good", "line", "needle"),
    [
        ("  account_id:\n", "  acount_idd:\n", 6, "unknown entity type 'acount_idd'"),
        ("    marketing: pseudonymise\n", "    marketing: obliterate\n", 8, "unknown action"),
        ("generaliser: age_band}", "generaliser: age_bucket}", 10, "unknown generaliser"),
        (
            "    marketing: pseudonymise\n",
            "    sales: pseudonymise\n",
            8,
            "unknown purpose 'sales'",
        ),
        ("generaliser: age_band}", "generaliser: ip_prefix}", 10, "does not apply"),
        ("{action: generalise, generaliser: age_band}", "generalise", 10, "needs a generaliser"),
    ],
)
def test_errors_name_file_and_line(
    tmp_path: Path, bad: str, good: str, line: int, needle: str
) -> None:
    text = GOOD.replace(bad, good)
    assert text != GOOD
    msg = _error(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'bad.yaml'}:{line}:"), msg
    assert needle in msg


def test_duplicate_short_and_yaml_syntax(tmp_path: Path) -> None:
    msg = _error(tmp_path, GOOD.replace("{short: mkt}", "{short: credit}"))
    assert ":4:" in msg and "already used" in msg
    msg = _error(tmp_path, "purposes: [\n")
    assert "invalid YAML" in msg and "bad.yaml:" in msg


def test_credit_protected_attributes_are_declared_in_the_policy() -> None:
    assert load_policy().credit_protected == ("gender", "age_band")
    assert parse_policy(GOOD).credit_protected == ("gender", "age_band")  # the default
    declared = parse_policy(GOOD + "credit:\n  protected: [gender, nationality]\n")
    assert declared.credit_protected == ("gender", "nationality")
    assert parse_policy(GOOD + "credit:\n  protected: []\n").credit_protected == ()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("credit:\n  protected: gender\n", "must be a list of columns"),
        ("credit:\n  protected: [Gender]\n", "not a column name"),
        ("credit:\n  protected: [gender, gender]\n", "names a column twice"),
        ("credit:\n  excluded: [gender]\n", "unknown credit key 'excluded'"),
    ],
)
def test_bad_credit_protected_is_refused_with_file_and_line(block: str, message: str) -> None:
    lines = GOOD.count("\n")
    with pytest.raises(PolicyError, match=message) as err:
        parse_policy(GOOD + block, "mine.yaml")
    assert str(err.value).startswith(f"mine.yaml:{lines + 1}") or str(err.value).startswith(
        f"mine.yaml:{lines + 2}"
    )
