"""Key-check values: every key is recorded in the warehouse; a missing or changed key on an
existing warehouse is refused with the key's file and how to restore it, and nothing is written
(warehouse bytes and the keys directory are unchanged)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from privacy.keyvault import (
    KEY_CHECKS_TABLE,
    MASTER_KEY_ENV,
    KeyChangedError,
    KeyCheckError,
    KeyMissingError,
    LocalFileKeyVault,
    MasterKeyChangedError,
    MasterKeyMissingError,
    check_keys,
    key_check_value,
    open_keyvault,
    parse_master_key,
    record_key,
    recorded_key_checks,
)
from privacy.register import ERASURE_PURPOSE, ensure_register, erased_values_sql, subject_hash
from privacy.vault import PiiVault, rotate_master_key

KEY_FILES = (
    "master.key",
    "master.kcv",
    "purposes/credit_scoring.hmac.key",
    "purposes/insights_sale.token.key",
    f"purposes/{ERASURE_PURPOSE}.hmac.key",
    "archive.key",
)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)


def _state(home: Path) -> dict[str, str]:
    """Every file under ``home`` (warehouse and keys) with the SHA-256 of its bytes."""
    return {
        p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(home.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A warehouse with vault data, an erasure request, and every kind of key, all recorded."""
    db, keys = tmp_path / "warehouse.duckdb", tmp_path / "keys"
    con = duckdb.connect(str(db))
    kv = open_keyvault(con, keys)
    kv.purpose_key("credit_scoring")
    kv.purpose_key("insights_sale", "token")
    kv.key("archive")
    PiiVault(con, kv).put_many(["U0000001"], [{"mobile": "+86 138 1234 5678"}])
    ensure_register(con)
    con.execute(
        "INSERT INTO vault.erasure_requests VALUES (?, now()::TIMESTAMP, 'test', true, 0)",
        [subject_hash(kv, "U0000009")],
    )
    con.close()
    yield tmp_path


def _open(home: Path) -> LocalFileKeyVault:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    try:
        return open_keyvault(con, home / "keys")
    finally:
        con.close()


def test_every_key_is_recorded_by_its_check_value_never_the_key(home: Path) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    recorded = recorded_key_checks(con)
    con.close()
    assert sorted(recorded) == [
        "archive",
        "master",
        "purposes/credit_scoring.hmac",
        f"purposes/{ERASURE_PURPOSE}.hmac",
        "purposes/insights_sale.token",
    ]
    kv = _open(home)
    keys = {
        "master": parse_master_key((home / "keys" / "master.key").read_text()),
        "archive": kv.key("archive"),
        "purposes/credit_scoring.hmac": kv.purpose_key("credit_scoring"),
        "purposes/insights_sale.token": kv.purpose_key("insights_sale", "token"),
        f"purposes/{ERASURE_PURPOSE}.hmac": kv.purpose_key(ERASURE_PURPOSE),
    }
    for name, key in keys.items():
        assert recorded[name] == key_check_value(key)
        assert key.hex() not in json.dumps(recorded)
    assert kv.key_checks() == recorded


@pytest.mark.parametrize("victim", KEY_FILES)
def test_a_deleted_key_file_is_refused_and_nothing_is_written(home: Path, victim: str) -> None:
    path = home / "keys" / victim
    backup = path.read_bytes()
    path.unlink()
    before = _state(home)
    with pytest.raises(KeyMissingError) as err:
        _open(home)
    assert err.value.path == path
    assert str(path) in str(err.value) and "restore" in str(err.value).lower()
    if victim == "master.key":
        assert isinstance(err.value, MasterKeyMissingError) and MASTER_KEY_ENV in str(err.value)
    assert _state(home) == before  # no key regenerated, no warehouse row written
    path.write_bytes(backup)
    os.chmod(path, 0o600)
    _open(home)  # restoring the file from the backup is enough


@pytest.mark.parametrize("victim", [f for f in KEY_FILES if f != "master.kcv"])
@pytest.mark.parametrize("how", ["corrupted", "another key"])
def test_an_altered_key_file_is_refused_and_nothing_is_written(
    home: Path, victim: str, how: str
) -> None:
    path = home / "keys" / victim
    if how == "corrupted":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        path.write_bytes(bytes(raw))
    elif victim == "master.key":
        path.write_text(os.urandom(32).hex() + "\n")
    else:
        # A validly wrapped key under the same master key, for the same name: only the key-check
        # value can tell it apart.
        master = (home / "keys" / "master.key").read_text()
        other = LocalFileKeyVault(home / "other-keys", master_key=master.strip())
        name = victim[: -len(".key")]
        if name.startswith("purposes/"):
            purpose, kind = name[len("purposes/") :].rsplit(".", 1)
            other.purpose_key(purpose, kind)  # type: ignore[arg-type]
        else:
            other.key(name)
        shutil.copy(home / "other-keys" / victim, path)
        shutil.rmtree(home / "other-keys")
    before = _state(home)
    with pytest.raises((KeyChangedError, MasterKeyChangedError)) as err:
        _open(home)
    assert isinstance(err.value, KeyCheckError)
    assert str(home / "keys") in str(err.value)
    assert _state(home) == before


def test_a_wrong_master_key_in_the_environment_is_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, os.urandom(32).hex())
    before = _state(home)
    with pytest.raises(MasterKeyChangedError, match=MASTER_KEY_ENV):
        _open(home)
    assert _state(home) == before


def test_a_lost_keys_directory_writes_no_new_master_key(home: Path) -> None:
    shutil.rmtree(home / "keys")
    before = _state(home)
    with pytest.raises(MasterKeyMissingError, match="Refusing to generate"):
        _open(home)
    assert not (home / "keys").exists()
    assert _state(home) == before


def test_with_the_master_key_from_the_environment_a_lost_purpose_key_is_still_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, (home / "keys" / "master.key").read_text().strip())
    (home / "keys" / f"purposes/{ERASURE_PURPOSE}.hmac.key").unlink()
    before = _state(home)
    with pytest.raises(KeyMissingError, match=ERASURE_PURPOSE):
        _open(home)
    assert _state(home) == before


def test_a_legacy_warehouse_without_key_checks_still_refuses_a_new_master(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    kv = LocalFileKeyVault(tmp_path / "keys")  # not bound to the warehouse: nothing recorded
    PiiVault(con, kv).put_many(["U0000001"], [{"email": "a@example.org"}])
    assert recorded_key_checks(con) == {}
    shutil.rmtree(tmp_path / "keys")
    with pytest.raises(MasterKeyMissingError):
        open_keyvault(con, tmp_path / "keys")
    assert not (tmp_path / "keys").exists()
    con.close()


def test_keys_created_after_opening_are_recorded_as_they_are_created(home: Path) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    kv = open_keyvault(con, home / "keys")
    key = kv.purpose_key("dpo_audit")
    assert recorded_key_checks(con)["purposes/dpo_audit.hmac"] == key_check_value(key)
    con.close()
    (home / "keys" / "purposes" / "dpo_audit.hmac.key").unlink()
    with pytest.raises(KeyMissingError, match="dpo_audit"):
        _open(home)


def test_a_key_that_cannot_be_recorded_is_not_left_behind(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    kv = open_keyvault(con, tmp_path / "keys")
    con.close()  # the recorder now fails: the key file must not survive unrecorded
    with pytest.raises(duckdb.Error):
        kv.purpose_key("credit_scoring")
    assert not (tmp_path / "keys" / "purposes" / "credit_scoring.hmac.key").exists()


def test_a_recorded_check_value_is_never_replaced_silently(tmp_path: Path) -> None:
    con = duckdb.connect()
    record_key(con, "archive", "00" * 8)
    record_key(con, "archive", "00" * 8)  # idempotent
    with pytest.raises(KeyChangedError, match="refusing to replace"):
        record_key(con, "archive", "11" * 8)
    assert con.execute(f"SELECT kcv FROM {KEY_CHECKS_TABLE}").fetchall() == [("00" * 8,)]


def test_rotation_updates_the_master_check_value_and_keeps_the_others(home: Path) -> None:
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    kv = open_keyvault(con, home / "keys")
    before = recorded_key_checks(con)
    new_key = rotate_master_key(con, kv)
    after = recorded_key_checks(con)
    assert after["master"] == key_check_value(new_key) != before["master"]
    assert {k: v for k, v in after.items() if k != "master"} == {
        k: v for k, v in before.items() if k != "master"
    }
    con.close()
    reopened = _open(home)
    assert reopened.key("archive") == kv.key("archive")
    assert check_keys(duckdb.connect(str(home / "warehouse.duckdb")), reopened).recorded == ()


def test_the_register_refuses_to_recreate_its_key_when_it_holds_requests(home: Path) -> None:
    (home / "keys" / f"purposes/{ERASURE_PURPOSE}.hmac.key").unlink()
    con = duckdb.connect(str(home / "warehouse.duckdb"))
    # Even a key vault that was not opened for this warehouse must not mint a new register key.
    kv = LocalFileKeyVault(home / "keys")
    with pytest.raises(KeyMissingError, match=ERASURE_PURPOSE):
        erased_values_sql(con, kv, "SELECT 'U0000009'")
    assert not (home / "keys" / f"purposes/{ERASURE_PURPOSE}.hmac.key").exists()
    con.close()


def test_a_master_key_file_that_is_no_longer_a_key_is_refused_as_changed(home: Path) -> None:
    """A flipped bit can turn a hex digit into a non-hex character: still a changed key, named by
    its file, never a hint to fix an environment variable the key did not come from."""
    path = home / "keys" / "master.key"
    path.write_text("z" * 64 + "\n")
    before = _state(home)
    with pytest.raises(MasterKeyChangedError) as err:
        _open(home)
    assert str(path) in str(err.value) and "LEDGERLENS_MASTER_KEY is neither" not in str(err.value)
    assert _state(home) == before
