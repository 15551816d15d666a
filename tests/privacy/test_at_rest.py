"""Plaintext identifiers rest only in the vault: ingest with at-rest protection, attacked.

Every personal value of the generated landing files is looked for in every table outside the
vault; minimisation over the protected ledger must equal minimisation over a plain one; erased
subjects that are landed again must not come back; a failed batch must leave no vault write."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.ingest import ingest
from ledger.synthetic import GeneratorConfig, generate
from privacy.at_rest import (
    PROTECTED,
    TOKEN_PREFIX,
    LedgerProtector,
    Plaintext,
    QuarantineSealer,
    Tokens,
    plaintext_findings,
    protect_ledger,
    quarantine_values,
)
from privacy.classifier import classify_tables
from privacy.erasure import forget_completely
from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault, open_keyvault
from privacy.minimise import minimise
from privacy.policy import load_policy
from privacy.vault import PiiVault

MASTER = "11" * 32
TABLES = ("users", "wallets", "merchants", "prices", "loans", "transactions")


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("at_rest")
    generate(root / "landing", GeneratorConfig(users=150, days=6, seed=11))
    return root / "landing"


def _read(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pq.read_table(path)
    if suffix == ".csv":
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    return pa.Table.from_pylist(
        [__import__("json").loads(line) for line in path.read_text().splitlines() if line.strip()]
    )


def _personal_values(landing: Path) -> set[str]:
    """Every value of a protected or birth-date column in the landing files, as text."""
    wanted = {**PROTECTED, "users": (*PROTECTED["users"], "date_of_birth")}
    out: set[str] = set()
    for table, cols in wanted.items():
        for path in sorted((landing / table).glob("*")):
            if path.suffix.lower() not in (".parquet", ".csv", ".jsonl"):
                continue
            data = _read(path)
            for c in cols:
                if c in data.column_names:
                    out.update(
                        str(v).strip() for v in data.column(c).to_pylist() if v and str(v).strip()
                    )
    return {v for v in out if len(v) >= 6}


def _open(
    landing: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault]:
    """A copy of the landing folder under ``root`` and a new warehouse with its key vault."""
    shutil.copytree(landing, root / "landing")
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    return con, open_keyvault(con, root / "keys")


def _varchar_cells(con: duckdb.DuckDBPyConnection) -> set[str]:
    cells: set[str] = set()
    for schema, table, column in con.execute(
        """SELECT schema_name, table_name, column_name FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name NOT IN ('vault')
          AND data_type = 'VARCHAR' AND NOT internal"""
    ).fetchall():
        cells.update(
            str(v)
            for (v,) in con.execute(
                f'SELECT DISTINCT "{column}" FROM "{schema}"."{table}" WHERE "{column}" IS NOT NULL'
            ).fetchall()
        )
    return cells


@pytest.fixture
def protected(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path]:
    con, kv = _open(landing, tmp_path, monkeypatch)
    report = ingest(con, tmp_path / "landing", protect=LedgerProtector(kv))
    assert report.rows_quarantined > 0, "the generator plants dirty rows; the test needs some"
    return con, kv, tmp_path


def test_no_personal_value_of_the_landing_files_rests_outside_the_vault(
    protected: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path], landing: Path
) -> None:
    con, kv, _ = protected
    values = _personal_values(landing)
    assert len(values) > 500
    leaked = values & _varchar_cells(con)
    assert not leaked, f"{len(leaked)} personal values rest in plaintext outside the vault"
    assert all(n == 0 for n in plaintext_findings(con).values()), plaintext_findings(con)
    # ... and they are in the vault, recoverable in memory.
    vaulted: set[str] = set()
    for rec in PiiVault(con, kv).get_many().values():
        for v in rec.values():
            vaulted.update(map(str, v if isinstance(v, list) else [v]))
    assert values - vaulted == set() or len(values - vaulted) < 0.02 * len(values)
    # Quarantined records are sealed, and their personal values still reach the leak guard.
    row = con.execute(
        "SELECT count(*), count(raw_sealed), count(raw_record) FROM ledger.quarantine"
    ).fetchone()
    assert row is not None and row[0] == row[1] and row[2] == 0
    assert quarantine_values(con, kv)


def test_the_warehouse_file_holds_no_plaintext_email_after_a_checkpoint(
    protected: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path], landing: Path
) -> None:
    con, _, root = protected
    con.execute("CHECKPOINT")
    data = (root / "warehouse.duckdb").read_bytes()
    emails = [v for v in _personal_values(landing) if "@" in v and v.isascii()]
    assert emails
    assert not [e for e in emails if e.encode() in data]


def test_minimised_tables_equal_those_of_a_plain_ledger(
    protected: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path],
    tmp_path_factory: pytest.TempPathFactory,
    landing: Path,
) -> None:
    con, kv, root = protected
    plain_root = tmp_path_factory.mktemp("plain")
    shutil.copytree(landing, plain_root / "landing")
    plain = duckdb.connect(str(plain_root / "warehouse.duckdb"))
    ingest(plain, plain_root / "landing")
    policy = load_policy()
    with Plaintext(con, kv) as text:
        relations = {t: text.relation(t) for t in TABLES}
        inventory = classify_tables(con, TABLES, relations=relations)
        minimise(con, inventory, policy, kv, relations=relations, as_of="DATE '2026-06-01'")
    kinds = {(r.table, r.column): r.entity_type for r in inventory}
    assert kinds[("users", "mobile")] == "mobile_number"
    assert kinds[("users", "date_of_birth")] == "date_of_birth"
    assert kinds[("wallets", "address")] == "blockchain_address"
    minimise(plain, inventory, policy, kv, as_of="DATE '2026-06-01'")
    names = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'minimised' ORDER BY 1"
        ).fetchall()
    ]
    assert "credit_users" in names and "dpo_users" in names
    for name in names:
        mine = con.sql(f"SELECT * FROM minimised.{name} ORDER BY ALL").fetchall()
        theirs = plain.sql(f"SELECT * FROM minimised.{name} ORDER BY ALL").fetchall()
        assert mine == theirs, name
    plain.close()


def test_a_failed_batch_leaves_neither_ledger_nor_vault_written(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con, kv = _open(landing, tmp_path, monkeypatch)

    class Failing(LedgerProtector):
        def finish(self, con: duckdb.DuckDBPyConnection, snapshot: str) -> dict[str, int]:
            raise RuntimeError("planted failure after every entity was written")

    with pytest.raises(RuntimeError, match="planted failure"):
        ingest(con, tmp_path / "landing", protect=Failing(kv))
    assert con.execute("SELECT count(*) FROM ledger.users").fetchone() == (0,)
    # Even the vault's tables were created in the rolled-back transaction.
    assert con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'vault' AND table_name = 'subjects'"
    ).fetchone() == (0,)
    # The same connection ingests cleanly afterwards (no leftover UDF or temp table in the way).
    report = ingest(con, tmp_path / "landing", protect=LedgerProtector(kv))
    assert report.rows_loaded > 0
    assert con.execute("SELECT count(*) FROM vault.subjects").fetchone() == (150,)


def test_an_erased_subject_landed_again_is_refused_at_ingest(
    protected: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path],
) -> None:
    con, kv, root = protected
    row = con.execute(
        "SELECT subject_id FROM ledger.quarantine WHERE subject_id IS NOT NULL "
        "AND entity = 'transactions' LIMIT 1"
    ).fetchone()
    assert row is not None
    subject = str(row[0])
    receipt = forget_completely(con, kv, subject)
    assert receipt.counts.get("ledger.quarantine", 0) >= 1
    for _, _, raw in QuarantineSealer(kv).rows(con):
        assert subject not in raw
    # Land the subject's users row and one day of their transactions again, in new files.
    _reland(root / "landing" / "users", subject, "users-again.parquet")
    _reland(root / "landing" / "transactions", subject, "2031-01-01.parquet")
    report = ingest(con, root / "landing", protect=LedgerProtector(kv))
    assert report.protected.get("rows of erased subjects refused", 0) >= 1
    for table_name in ("users", "transactions", "wallets", "loans"):
        n = con.execute(
            f"SELECT count(*) FROM ledger.{table_name} WHERE user_id = ?", [subject]
        ).fetchone()
        assert n == (0,), table_name
    assert subject not in _varchar_cells(con)
    assert PiiVault(con, kv).get(subject) is None
    assert con.execute(
        "SELECT count(*) FROM ledger.quarantine WHERE list_contains(failed_rules, "
        "'erased_subject') AND (raw_record IS NOT NULL OR raw_sealed IS NOT NULL)"
    ).fetchone() == (0,)


def _reland(folder: Path, subject: str, name: str) -> None:
    rows = [
        t.filter(pa.compute.equal(t.column("user_id"), subject))
        for t in (_read(p) for p in sorted(folder.glob("*")))
    ]
    table = pa.concat_tables(
        [t.cast(pa.schema([(f.name, pa.string()) for f in t.schema])) for t in rows if t.num_rows]
    )
    assert table.num_rows
    pq.write_table(table, folder / name)


def test_a_sealed_record_moved_to_another_row_fails_to_open(
    protected: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path],
) -> None:
    con, kv, _ = protected
    rows = con.execute(
        "SELECT rowid FROM ledger.quarantine WHERE raw_sealed IS NOT NULL ORDER BY rowid LIMIT 2"
    ).fetchall()
    assert len(rows) == 2
    con.execute(
        "UPDATE ledger.quarantine SET raw_sealed = (SELECT raw_sealed FROM ledger.quarantine "
        "WHERE rowid = ?) WHERE rowid = ?",
        [rows[1][0], rows[0][0]],
    )
    with pytest.raises(ValueError, match="failed authentication"):
        QuarantineSealer(kv).rows(con)


def test_a_warehouse_from_before_protection_is_migrated_once(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con, kv = _open(landing, tmp_path, monkeypatch)
    ingest(con, tmp_path / "landing")  # no protection: the old behaviour
    assert sum(plaintext_findings(con).values()) > 0
    counts = protect_ledger(con, kv)
    assert counts.get("subjects vaulted") == 150
    assert sum(plaintext_findings(con).values()) == 0
    assert not (_personal_values(landing) & _varchar_cells(con))
    assert protect_ledger(con, kv) == {}  # nothing left to do; tokens are never re-tokenised


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.text(min_size=1, max_size=40),
        st.builds(
            lambda pre, body, post: pre + body + post,
            st.sampled_from(["", " ", "\t", "\r\n", "\u3000", "\xa0"]),
            st.sampled_from(["0x", "0X", "0xAbC", "0XİI"]).map(lambda h: h + "dEf"),
            st.sampled_from(["", " ", "\r", "\x0b", "\u2003"]),
        ),
    ).filter(lambda s: s.strip() != "")
)
@example("0\r")
@example(" 0XABcd\t")
def test_sql_and_python_tokens_agree(tmp_path_factory: pytest.TempPathFactory, value: str) -> None:
    kv = LocalFileKeyVault(tmp_path_factory.mktemp("tok") / "keys", b"\x07" * 32)
    tokens = Tokens(kv)
    con = duckdb.connect()
    got = con.execute(f"SELECT {tokens.sql('$v')}", {**tokens.params, "v": value}).fetchone()
    assert got is not None and got[0] == tokens.token(value)
    assert got[0].startswith(TOKEN_PREFIX) and len(got[0]) == len(TOKEN_PREFIX) + 32


@pytest.mark.parametrize("name", ["vault_tokens", "quarantine"])
def test_a_lost_at_rest_key_is_refused_not_regenerated(
    protected: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path], name: str
) -> None:
    from privacy.keyvault import KeyMissingError

    con, _, root = protected
    (root / "keys" / f"{name}.key").unlink()
    rows = con.execute("SELECT count(*) FROM ledger.transactions").fetchone()
    with pytest.raises(KeyMissingError, match=name):
        open_keyvault(con, root / "keys")
    assert not (root / "keys" / f"{name}.key").exists()
    assert con.execute("SELECT count(*) FROM ledger.transactions").fetchone() == rows


def _ledger_values(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, frozenset[str]]]:
    """Per subject, the distinct personal values a plain ledger holds, by vault field."""
    out: dict[str, dict[str, frozenset[str]]] = {}
    for table, cols in {**PROTECTED, "users": (*PROTECTED["users"], "date_of_birth")}.items():
        for c in cols:
            for sid, values in con.execute(
                f'SELECT CAST(user_id AS VARCHAR), list(DISTINCT CAST("{c}" AS VARCHAR)) '
                f'FROM ledger."{table}" WHERE user_id IS NOT NULL AND "{c}" IS NOT NULL GROUP BY 1'
            ).fetchall():
                field = c if table == "users" else f"{table}.{c}"
                out.setdefault(sid, {})[field] = frozenset(values)
    return out


def test_a_later_batch_merges_new_values_into_existing_vault_records(
    landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first batch creates every subject's record (encoded by DuckDB); the second lands three
    # more days whose devices and IPs are merged into those records (decrypted, unioned,
    # re-encrypted). The vault must then hold exactly what a plain ledger of both batches holds.
    con, kv = _open(landing, tmp_path, monkeypatch)
    later = sorted((tmp_path / "landing" / "transactions").glob("2026-01-0[456].*"))
    assert later
    held = tmp_path / "held"
    held.mkdir()
    for p in later:
        p.rename(held / p.name)
    ingest(con, tmp_path / "landing", protect=LedgerProtector(kv))
    first = {s: dict(r) for s, r in PiiVault(con, kv).get_many().items()}
    for p in later:
        (held / p.name).rename(tmp_path / "landing" / "transactions" / p.name)
    report = ingest(con, tmp_path / "landing", protect=LedgerProtector(kv))
    assert report.protected.get("subjects vaulted", 0) > 0
    after = PiiVault(con, kv).get_many()
    grew = [
        s
        for s, rec in after.items()
        if len(rec.get("transactions.ip_address", []))
        > len(first[s].get("transactions.ip_address", []))
    ]
    assert grew, "the later days should bring new IPs for some subjects"
    plain_root = tmp_path / "plain"
    shutil.copytree(landing, plain_root / "landing")
    plain = duckdb.connect(str(plain_root / "warehouse.duckdb"))
    ingest(plain, plain_root / "landing")
    expected = _ledger_values(plain)
    plain.close()
    got = {
        sid: {k: frozenset(map(str, v if isinstance(v, list) else [v])) for k, v in rec.items()}
        for sid, rec in after.items()
    }
    assert got == expected
    # Own fields with one value stay scalars; list fields stay lists, even of one value.
    for rec in after.values():
        assert all(isinstance(v, list) == ("." in k) for k, v in rec.items()), rec.keys()
