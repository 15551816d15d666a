"""The controller's own published contacts pass the leak guard in the DPO's files, and only there;
a contact that is (or holds) a subject's value is refused like any leak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.settings import Settings
from privacy.leakguard import NeedleSet, contact_allowlist, scan_paths

SUBJECT_PHONE = "13812345678"
SUBJECT_EMAIL = "zhang.wei@example.com"
DPO_PHONE = "+86 139 0000 1111"  # validates as a mobile number: the detectors flag it
DPO_EMAIL = "dpo@wallet.example"


@pytest.fixture
def needles() -> NeedleSet:
    n = NeedleSet()
    n.add_many([("mobile_number", SUBJECT_PHONE), ("email", SUBJECT_EMAIL)])
    return n


def _write(root: Path, rel: str, *contacts: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"a_controller": {"contact": contacts[0], "dpo_contact": contacts[-1]}}
    path.write_text(json.dumps(doc))
    path.with_suffix(".html").write_text(
        "<html><body><table><tr><td>DPO: " + " / ".join(contacts) + "</td></tr></table></body>"
    )


def _locations(root: Path, needles: NeedleSet, contacts: tuple[str, ...]) -> set[str]:
    report = scan_paths(root, needles, contacts)
    assert not report.unreadable
    return {f.location for f in report.findings}


def test_published_contacts_pass_in_the_dpo_files_only(tmp_path: Path, needles: NeedleSet) -> None:
    for rel in ("run1/dpo/ropa.json", "run1/buyers/acme/x.json", "run1/buyers/dpo/x.json"):
        _write(tmp_path, rel, DPO_EMAIL, DPO_PHONE)
    flagged = {
        "run1/dpo/ropa.json",
        "run1/dpo/ropa.html",
        "run1/buyers/acme/x.json",
        "run1/buyers/acme/x.html",
        "run1/buyers/dpo/x.json",
        "run1/buyers/dpo/x.html",
    }
    assert _locations(tmp_path, needles, ()) == flagged  # without the allowlist: blocked
    # Allowed in the DPO's folder; a buyer's file (even a buyer called "dpo") is not the DPO's.
    assert _locations(tmp_path, needles, (DPO_EMAIL, DPO_PHONE)) == flagged - {
        "run1/dpo/ropa.json",
        "run1/dpo/ropa.html",
    }
    # The same under out/ (the party is the first folder there).
    out = tmp_path / "out"
    _write(out, "dpo/report.json", DPO_PHONE)
    assert _locations(out, needles, (DPO_PHONE,)) == set()


def test_a_contact_that_is_a_subjects_value_is_still_refused(
    tmp_path: Path, needles: NeedleSet
) -> None:
    holding = f"dpo+{SUBJECT_PHONE}@wallet.example"
    for contact in (SUBJECT_PHONE, SUBJECT_EMAIL, SUBJECT_EMAIL.upper(), holding):
        assert contact_allowlist(needles, [contact, DPO_PHONE]) == (DPO_PHONE,)
    _write(tmp_path, "run1/dpo/ropa.json", SUBJECT_EMAIL, DPO_PHONE)
    report = scan_paths(tmp_path, needles, (SUBJECT_EMAIL, DPO_PHONE))
    assert {(f.location, f.kind, f.form) for f in report.findings} == {
        ("run1/dpo/ropa.json", "email", "exact"),
        ("run1/dpo/ropa.html", "email", "normalised"),
    }
    assert SUBJECT_EMAIL not in report.summary()


def test_an_allowed_contact_does_not_hide_a_subjects_value_beside_it(
    tmp_path: Path, needles: NeedleSet
) -> None:
    _write(tmp_path, "run1/dpo/ropa.json", DPO_PHONE, f"{DPO_EMAIL}, {SUBJECT_PHONE}")
    report = scan_paths(tmp_path, needles, (DPO_EMAIL, DPO_PHONE))
    assert {(f.location, f.kind) for f in report.findings} == {
        ("run1/dpo/ropa.json", "mobile_number"),
        ("run1/dpo/ropa.html", "mobile_number"),
    }
    assert [f.count for f in report.findings] == [1, 1]


def test_the_settings_publish_only_configured_contacts(tmp_path: Path) -> None:
    bare = Settings.for_home(tmp_path)
    assert bare.published_contacts == ()
    configured = Settings(bare.home, controller_contact=DPO_PHONE, dpo_contact=DPO_EMAIL)
    assert configured.published_contacts == (DPO_PHONE, DPO_EMAIL)
