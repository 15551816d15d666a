"""The encrypted landing archive: files leave landing once loaded, erasure reaches the archived
copies, and restoring an archived file never brings an erased subject back."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from ledger.ingest import LandingFile, discover, ingest
from ledger.synthetic import GeneratorConfig, generate
from privacy.archive import ArchiveError, archive_landed, restore_archived
from privacy.at_rest import LedgerProtector
from privacy.erasure import forget_completely
from privacy.keyvault import MASTER_KEY_ENV, LocalFileKeyVault, open_keyvault
from privacy.policy import PolicyError, parse_policy

ENTITIES = ("users", "wallets", "merchants", "prices", "loans", "transactions")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("archive_src")
    generate(root / "landing", GeneratorConfig(users=60, days=3, seed=5))
    return root / "landing"


@pytest.fixture
def home(
    generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path]:
    monkeypatch.setenv(MASTER_KEY_ENV, "22" * 32)
    shutil.copytree(generated, tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    kv = open_keyvault(con, tmp_path / "keys")
    ingest(con, tmp_path / "landing", protect=LedgerProtector(kv))
    archive_landed(con, kv, tmp_path / "landing", tmp_path / "archive", ENTITIES)
    return con, kv, tmp_path


def _originals(generated: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(generated)): p.read_bytes()
        for p in sorted(generated.rglob("*"))
        if p.is_file()
    }


def test_loaded_files_leave_landing_encrypted_and_are_never_missing(
    home: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path], generated: Path
) -> None:
    con, kv, root = home
    loaded = {
        str(r[0])
        for r in con.execute(
            "SELECT file_path FROM ledger.files WHERE status = 'loaded'"
        ).fetchall()
    }
    assert loaded and not [p for p in loaded if (root / "landing" / p).exists()]
    blobs = sorted((root / "archive").rglob("*.enc"))
    assert len(blobs) == len(loaded)
    assert all(b.stat().st_mode & 0o077 == 0 for b in blobs)
    user_ids = [str(r[0]) for r in con.execute("SELECT user_id FROM ledger.users").fetchall()]
    assert not [b for b in blobs if any(u.encode() in b.read_bytes() for u in user_ids[:20])]
    # A later run: nothing missing, nothing loaded again, also when the day files are asked for.
    again = ingest(con, root / "landing", protect=LedgerProtector(kv))
    assert not again.by_status("missing") and again.rows_loaded == 0
    days = discover(generated, ["transactions"])
    listed = [LandingFile(root / "landing" / d.relpath, d.relpath, d.entity, d.fmt) for d in days]
    only = ingest(con, root / "landing", only=listed, protect=LedgerProtector(kv))
    assert {f.status for f in only.files} == {"unchanged"}
    # Every archived file restores to exactly what landed.
    originals = _originals(generated)
    for path in loaded:
        out = restore_archived(con, kv, root / "archive", path, root / "restored" / path)
        assert out.read_bytes() == originals[path]


def test_a_tampered_archive_blob_is_refused(
    home: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path],
) -> None:
    con, kv, root = home
    path, apath = con.execute(
        "SELECT file_path, archive_path FROM ledger.files WHERE archive_path IS NOT NULL LIMIT 1"
    ).fetchone()
    blob = root / "archive" / apath
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="failed authentication"):
        restore_archived(con, kv, root / "archive", path, root / "x")


def test_erasure_reaches_the_archive_and_a_restore_does_not_bring_the_subject_back(
    home: tuple[duckdb.DuckDBPyConnection, LocalFileKeyVault, Path], generated: Path
) -> None:
    con, kv, root = home
    subject = con.execute(
        "SELECT user_id FROM ledger.transactions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchone()[0]
    before = {p.name for p in (root / "archive").rglob("*.enc")}
    receipt = forget_completely(con, kv, subject, home=root)
    touched = {k for k in receipt.counts if k.startswith("archive:")}
    assert any("users" in k for k in touched) and any("transactions" in k for k in touched)
    after = {p.name for p in (root / "archive").rglob("*.enc")}
    assert len(after) == len(before) and after != before  # replaced, old blobs deleted
    files = [
        str(r[0])
        for r in con.execute(
            "SELECT file_path FROM ledger.files WHERE archive_path IS NOT NULL"
        ).fetchall()
    ]
    for path in files:
        data = restore_archived(con, kv, root / "archive", path, root / "r" / path).read_bytes()
        assert subject.encode() not in data, path
    # Land every restored file again under new names: the subject is refused, nothing returns.
    for path in files:
        src = root / "r" / path
        dest = root / "landing" / Path(path).parent / f"restored-{Path(path).name}"
        if Path(path).parent.name == "transactions":
            dest = root / "landing" / "transactions" / f"2032-01-0{files.index(path) % 9 + 1}"
            dest = dest.with_suffix(Path(path).suffix)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dest)
    # ... and the subject's own users row as it first landed, in a new file (a hostile re-landing).
    original = next(p for p in files if p.startswith("users/"))
    _subject_rows(generated / original, subject, root / "landing" / "users" / "again.parquet")
    report = ingest(con, root / "landing", protect=LedgerProtector(kv))
    assert report.rows_read > 0
    for table in ("users", "wallets", "loans", "transactions"):
        assert con.execute(
            f"SELECT count(*) FROM ledger.{table} WHERE user_id = ?", [subject]
        ).fetchone() == (0,)


def _subject_rows(source: Path, subject: str, dest: Path) -> None:
    suffix = source.suffix.lower()
    if suffix == ".parquet":
        table = pq.read_table(source)
    elif suffix == ".csv":
        table = pacsv.read_csv(source)
    else:
        table = pajson.read_json(source)
    table = table.cast(pa.schema([(f.name, pa.string()) for f in table.schema]))
    rows = table.filter(pc.equal(table.column("user_id"), subject))
    assert rows.num_rows == 1
    pq.write_table(rows, dest)


def test_landing_retention_is_validated() -> None:
    base = "purposes:\n  p:\n    short: p\n    description: x\nrules: {}\n"
    assert parse_policy(base).landing_retention == "archive"
    assert parse_policy(base + "landing:\n  retention: keep\n").landing_retention == "keep"
    with pytest.raises(PolicyError, match=r"<string>:7: landing.retention must be one of"):
        parse_policy(base + "landing:\n  retention: forever\n")
