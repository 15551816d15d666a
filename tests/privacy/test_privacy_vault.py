"""Key vault and PII vault: refusal without the master key, integrity, rotation, speed."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault, MasterKeyError
from privacy.vault import PiiVault, VaultIntegrityError, _union, rotate_master_key


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)


def _records(n: int) -> tuple[list[str], list[dict[str, object]]]:
    ids = [f"U{i:07d}" for i in range(n)]
    recs: list[dict[str, object]] = [
        {
            "full_name": "王秀英" if i % 2 else "Cristina Rivers",
            "mobile": f"+86 138 {i % 10000:04d} {(i * 7) % 10000:04d}",
            "email": f"user{i}@example.com",
            "resident_id": "11010519491231002X",
            "wallets.address": ["0x40D34EF594e4E5faAe89492627073cA1bE3681b5"],
        }
        for i in range(n)
    ]
    return ids, recs


def test_keys_dir_permissions_and_generated_master(tmp_path: Path) -> None:
    kv = LocalFileKeyVault(tmp_path / "keys")
    kv.purpose_key("credit_scoring")
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    for f in (tmp_path / "keys").rglob("*"):
        mode = stat.S_IMODE(f.stat().st_mode)
        assert mode == (0o700 if f.is_dir() else 0o600), (f, oct(mode))
    again = LocalFileKeyVault(tmp_path / "keys")
    assert again.purpose_key("credit_scoring") == kv.purpose_key("credit_scoring")
    assert kv.purpose_key("credit_scoring") != kv.purpose_key("insights_sale")


def test_env_master_key_and_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = os.urandom(32)
    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(key).decode())
    kv = LocalFileKeyVault(tmp_path / "keys")
    assert not (tmp_path / "keys" / "master.key").exists()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ids, recs = _records(10)
    PiiVault(con, kv).put_many(ids, recs)
    # hex form of the same key works
    monkeypatch.setenv(MASTER_KEY_ENV, key.hex())
    assert PiiVault(con, LocalFileKeyVault(tmp_path / "keys")).get("U0000003") == recs[3]
    # missing -> refused, never regenerated
    monkeypatch.delenv(MASTER_KEY_ENV)
    with pytest.raises(MasterKeyError, match="already exists.*Refusing to generate"):
        LocalFileKeyVault(tmp_path / "keys")
    assert not (tmp_path / "keys" / "master.key").exists()
    # wrong -> refused
    monkeypatch.setenv(MASTER_KEY_ENV, os.urandom(32).hex())
    with pytest.raises(MasterKeyError, match="wrong master key"):
        LocalFileKeyVault(tmp_path / "keys")
    # keys dir lost but the DuckDB vault remains: a fresh key vault is refused by the PII vault
    monkeypatch.delenv(MASTER_KEY_ENV)
    with pytest.raises(MasterKeyError, match="refusing"):
        PiiVault(con, LocalFileKeyVault(tmp_path / "other-keys"))


def test_corrupted_ciphertext_is_an_authenticated_failure(tmp_path: Path) -> None:
    kv = LocalFileKeyVault(tmp_path / "keys")
    con = duckdb.connect()
    vault = PiiVault(con, kv)
    ids, recs = _records(5)
    vault.put_many(ids, recs)
    con.execute(
        "UPDATE vault.subjects SET ciphertext = "
        "CAST(concat(CAST(ciphertext AS VARCHAR), 'x') AS BLOB) WHERE subject_id = 'U0000002'"
    )
    with pytest.raises(VaultIntegrityError, match="U0000002.*failed authentication"):
        vault.get_many()
    assert vault.get("U0000001") == recs[1]
    # a ciphertext moved to another subject fails too (AAD binds the subject id)
    con.execute(
        "UPDATE vault.subjects SET ciphertext = (SELECT ciphertext FROM vault.subjects "
        "WHERE subject_id = 'U0000004'), nonce = (SELECT nonce FROM vault.subjects "
        "WHERE subject_id = 'U0000004') WHERE subject_id = 'U0000003'"
    )
    with pytest.raises(VaultIntegrityError, match="U0000003"):
        vault.get("U0000003")


def test_rotation_keeps_data_and_pseudonym_keys(tmp_path: Path) -> None:
    kv = LocalFileKeyVault(tmp_path / "keys")
    hkey = kv.purpose_key("credit_scoring")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ids, recs = _records(50)
    PiiVault(con, kv).put_many(ids, recs)
    before = con.execute("SELECT ciphertext FROM vault.subjects ORDER BY subject_id").fetchall()
    old_fp = kv.fingerprint
    new_key = rotate_master_key(con, kv)
    assert kv.fingerprint != old_fp
    after = con.execute("SELECT ciphertext FROM vault.subjects ORDER BY subject_id").fetchall()
    assert before == after  # data not re-encrypted, only keys re-wrapped
    reopened = LocalFileKeyVault(tmp_path / "keys")
    assert reopened.fingerprint == kv.fingerprint
    assert reopened.purpose_key("credit_scoring") == hkey
    assert PiiVault(con, reopened).get_many() == dict(zip(ids, recs, strict=True))
    with pytest.raises(MasterKeyError):
        LocalFileKeyVault(tmp_path / "keys", master_key=os.urandom(32))
    assert LocalFileKeyVault(tmp_path / "keys", master_key=new_key).fingerprint == kv.fingerprint


def test_vault_round_trips_a_large_batch(tmp_path: Path) -> None:
    # Throughput (>= 20,000 subjects/s each way) is measured in `make bench`, not here.
    kv = LocalFileKeyVault(tmp_path / "keys")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    vault = PiiVault(con, kv)
    ids, recs = _records(20_000)
    vault.put_many(ids, recs)
    out = vault.get_many()
    assert len(out) == 20_000 and out[ids[-1]] == recs[-1] and out[ids[0]] == recs[0]
    keys = con.execute("SELECT count(DISTINCT wrapped_key) FROM vault.data_keys").fetchone()
    assert keys == (20_000,)  # one data key per subject


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["a", "b", "0x1", "1"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from("xy"), inner),
    max_leaves=4,
)


@settings(max_examples=300, deadline=None)
@given(old=st.lists(_JSON, max_size=6), new=st.lists(_JSON, max_size=8))
def test_merge_union_is_the_one_by_one_union(old: list[object], new: list[object]) -> None:
    # merge_many's union hashes what a field holds; with JSON values that cannot be hashed
    # (lists, objects) it must still give the value-by-value union: each value once, in order.
    expected: list[object] = []
    for v in [*old, *new]:
        if v is not None and v not in expected:
            expected.append(v)
    assert _union(old, new) == expected


def test_merge_many_unions_values_into_existing_records(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "v.duckdb"))
    vault = PiiVault(con, LocalFileKeyVault(tmp_path / "keys", b"\x07" * 32))
    vault.merge_many({"U1": {"mobile": ["+1 555 0100"], "transactions.ip": ["10.0.0.1"]}})
    vault.merge_many(
        {
            "U1": {"mobile": ["+1 555 0100"], "transactions.ip": ["10.0.0.2", "10.0.0.1", None]},
            "U2": {"transactions.ip": ["10.0.0.3", "10.0.0.3"]},
        }
    )
    assert vault.get_many(["U1", "U2"]) == {
        "U1": {"mobile": "+1 555 0100", "transactions.ip": ["10.0.0.1", "10.0.0.2"]},
        "U2": {"transactions.ip": ["10.0.0.3"]},
    }


_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=6
)  # quotes, backslashes, control and zero-width characters, non-ASCII: all valid UTF-8
_FIELDS = st.sampled_from(["mobile", "full_name", "transactions.ip_address", "wallets.address"])
_ROWS = st.lists(
    st.tuples(
        st.sampled_from(["U1", "U2", "U3", "ü'4"]),
        _FIELDS,
        st.lists(_TEXT, min_size=0, max_size=3, unique=True),
    ),
    max_size=12,
)


def _as_sets(records: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {
        sid: {k: frozenset(v) if isinstance(v, list) else v for k, v in rec.items()}
        for sid, rec in records.items()
    }


@settings(max_examples=60, deadline=None)
@given(before=_ROWS, rows=_ROWS)
def test_merge_table_is_merge_many(tmp_path_factory: pytest.TempPathFactory, before, rows) -> None:
    # merge_table encodes new subjects' records in DuckDB (json_group_object) and merges existing
    # ones in Python: both must give what merge_many gives for the same values, whatever the
    # strings hold and however the (subject, field) rows repeat.
    home = tmp_path_factory.mktemp("mt")
    kv = LocalFileKeyVault(home / "keys", b"\x09" * 32)
    results = []
    for how in ("many", "table"):
        con = duckdb.connect(str(home / f"{how}.duckdb"))
        vault = PiiVault(con, kv)
        for batch in (before, rows):
            if how == "many":
                adds: dict[str, dict[str, list[object]]] = {}
                for sid, field, vals in batch:
                    if vals:  # (merge_many writes a record even of no values; merge_table not)
                        adds.setdefault(sid, {}).setdefault(field, []).extend(vals)
                vault.merge_many(adds)
            else:
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE vals "
                    "(subject_id VARCHAR, field VARCHAR, vals VARCHAR[])"
                )
                if batch:
                    con.executemany("INSERT INTO vals VALUES (?, ?, ?)", [list(r) for r in batch])
                vault.merge_table("vals")
        results.append(
            (
                _as_sets(vault.get_many()),
                sorted(con.execute("SELECT subject_id, fields FROM vault.subjects").fetchall()),
            )
        )
        con.close()
    assert results[0] == results[1]


def test_merge_table_skips_empty_and_null_rows(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "v.duckdb"))
    vault = PiiVault(con, LocalFileKeyVault(tmp_path / "keys", b"\x07" * 32))
    con.execute("CREATE TEMP TABLE vals (subject_id VARCHAR, field VARCHAR, vals VARCHAR[])")
    con.execute(
        "INSERT INTO vals VALUES ('U1', 'mobile', []), (NULL, 'mobile', ['+1 555 0100']), "
        "('U2', NULL, ['x']), ('U3', 'email', ['a@b.c']), ('U3', 'email', ['a@b.c', 'd@e.f'])"
    )
    assert vault.merge_table("vals") == 1
    assert _as_sets(vault.get_many()) == {"U3": {"email": frozenset({"a@b.c", "d@e.f"})}}
    assert con.execute("SELECT fields FROM vault.subjects").fetchall() == [("email",)]
