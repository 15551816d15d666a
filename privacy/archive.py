"""The encrypted landing archive: landing is a transient zone (``landing.retention: archive``).

Once a landed file's rows are committed to the ledger (its identifiers vaulted, see
:mod:`privacy.at_rest`), :func:`archive_landed` encrypts it into
``archive/<entity>/<sha256>.<format>.enc`` (AES-256-GCM under the key vault's ``archive`` key,
associated data binding entity and content hash; the file is ``nonce || ciphertext``), records
``archived_at`` / ``archive_path`` in ``ledger.files`` and only then removes the plaintext copy
from landing (and any other landed copy of the same content). Crash-safe in that order: a blob
written but not recorded is rewritten, a recorded file still in landing is removed next time.

Erasure reaches every copy: :func:`erase_from_archive` opens each archived file, drops the rows of
the subject (``user_id``) and nulls a ``counterparty`` naming them, and re-encrypts what remains
under a new name. :func:`restore_archived` writes an archived file back in plaintext (e.g. to land
it again); ingest then refuses the rows of erased subjects, so a restore never brings one back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.keyvault import KeyVault

__all__ = [
    "ARCHIVE_KEY",
    "ArchiveError",
    "ArchiveErasure",
    "ArchiveResult",
    "archive_landed",
    "erase_from_archive",
    "restore_archived",
    "whole_token",
]

ARCHIVE_KEY = "archive"
_NONCE = 12
_SUBJECT = "user_id"
_COUNTERPARTY = "counterparty"


class ArchiveError(RuntimeError):
    """An archived file is missing, corrupted or encrypted under another key."""


@dataclass
class ArchiveResult:
    archived: list[str] = field(default_factory=list)
    """Landing paths moved into the archive by this call."""
    removed_copies: list[str] = field(default_factory=list)
    """Other landed copies of archived content, removed."""
    bytes: int = 0


def whole_token(subject: str) -> re.Pattern[str]:
    """The subject id as a whole token (not part of a longer id): how a record that cannot be
    parsed is recognised as the subject's."""
    return re.compile(r"(^|[^A-Za-z0-9_])" + re.escape(subject) + r"($|[^A-Za-z0-9_])")


def _aad(entity: str, sha: str) -> bytes:
    return f"ledgerlens/archive/v1|{entity}|{sha}".encode()


def _seal(key: bytes, data: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def _open(key: bytes, blob: bytes, aad: bytes, where: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except InvalidTag:
        raise ArchiveError(
            f"archived file {where} failed authentication: corrupted, renamed, or encrypted "
            "under another archive key (restore keys/ from its backup)"
        ) from None


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def archive_landed(
    con: duckdb.DuckDBPyConnection,
    keyvault: KeyVault,
    landing: Path,
    archive: Path,
    entities: tuple[str, ...] | list[str],
) -> ArchiveResult:
    """Move every loaded, not yet archived landing file of ``entities`` into the archive (see
    the module docstring). A file whose content no longer matches its recorded hash is left in
    place (it is new content, for the next ingest)."""
    key = keyvault.key(ARCHIVE_KEY)
    result = ArchiveResult()
    rows = con.execute(
        """SELECT file_path, entity, sha256, format, archived_at FROM ledger.files
        WHERE status = 'loaded' AND list_contains(?, entity) ORDER BY ingested_at""",
        [list(entities)],
    ).fetchall()
    latest: dict[str, tuple[str, str, str, object]] = {}
    for path, entity, sha, fmt, archived in rows:
        latest[str(path)] = (str(entity), str(sha), str(fmt), archived)
    archived_shas = {sha for _, sha, _, archived in latest.values() if archived is not None}
    for relpath, (entity, sha, fmt, archived) in latest.items():
        source = landing / relpath
        if not source.is_file():
            continue
        data = source.read_bytes()
        if _sha256(data) != sha:
            continue
        if archived is None:
            target = archive / entity / f"{sha}.{fmt}.enc"
            _write_private(target, _seal(key, data, _aad(entity, sha)))
            con.execute(
                "UPDATE ledger.files SET archived_at = timezone('UTC', now()), archive_path = ? "
                "WHERE file_path = ? AND sha256 = ? AND status = 'loaded'",
                [str(target.relative_to(archive)), relpath, sha],
            )
            result.archived.append(relpath)
            result.bytes += len(data)
            archived_shas.add(sha)
        source.unlink()
    # Other landed copies of archived content (loaded once, under another name): plaintext gone.
    for entity in entities:
        folder = landing / entity
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            rel = str(path.relative_to(landing))
            if path.is_file() and rel not in latest and _sha256(path.read_bytes()) in archived_shas:
                path.unlink()
                result.removed_copies.append(rel)
    return result


def _archived(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str, str]]:
    """(file_path, entity, sha256, format, archive_path) of every archived file."""
    return [
        (str(a), str(b), str(c), str(d), str(e))
        for a, b, c, d, e in con.execute(
            "SELECT file_path, entity, sha256, format, archive_path FROM ledger.files "
            "WHERE status = 'loaded' AND archive_path IS NOT NULL ORDER BY file_path"
        ).fetchall()
    ]


def _blob_sha(archive_path: str) -> str:
    return Path(archive_path).name.split(".", 1)[0]


def restore_archived(
    con: duckdb.DuckDBPyConnection, keyvault: KeyVault, archive: Path, file_path: str, dest: Path
) -> Path:
    """Write the archived content of landing path ``file_path`` to ``dest`` (0600)."""
    key = keyvault.key(ARCHIVE_KEY, create=False)
    for path, entity, _, _, apath in _archived(con):
        if path == file_path:
            blob_path = archive / apath
            if not blob_path.is_file():
                raise ArchiveError(f"archived file {apath} of {file_path} is missing")
            data = _open(key, blob_path.read_bytes(), _aad(entity, _blob_sha(apath)), apath)
            _write_private(dest, data)
            return dest
    raise ArchiveError(f"{file_path} is not in the archive")


def _erase_parquet(data: bytes, subject: str) -> tuple[bytes, int]:
    table = pq.read_table(io.BytesIO(data))
    names = table.column_names
    removed = 0
    if _SUBJECT in names:
        keep = pc.fill_null(pc.not_equal(table.column(_SUBJECT).cast(pa.string()), subject), True)
        removed = table.num_rows - (pc.sum(keep.cast(pa.int64())).as_py() or 0)
        table = table.filter(keep)
    if _COUNTERPARTY in names:
        col = table.column(_COUNTERPARTY)
        hit = pc.fill_null(pc.equal(col.cast(pa.string()), subject), False)
        nulled = pc.sum(hit.cast(pa.int64())).as_py() or 0
        if nulled:
            fixed = pc.if_else(hit, pa.scalar(None, col.type), col)
            table = table.set_column(names.index(_COUNTERPARTY), _COUNTERPARTY, fixed)
            removed += nulled
    if not removed:
        return data, 0
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue(), removed


def _erase_csv(data: bytes, subject: str) -> tuple[bytes, int]:
    text = data.decode("utf-8-sig", errors="surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return data, 0
    header = [h.strip().lower() for h in rows[0]]
    s_idx = header.index(_SUBJECT) if _SUBJECT in header else None
    c_idx = header.index(_COUNTERPARTY) if _COUNTERPARTY in header else None
    token = whole_token(subject)
    kept, changed = [rows[0]], 0
    for row in rows[1:]:
        if s_idx is not None and s_idx < len(row) and row[s_idx].strip() == subject:
            changed += 1
            continue
        if s_idx is not None and s_idx >= len(row) and token.search(",".join(row)):
            changed += 1  # a short row whose columns cannot be trusted, naming the subject
            continue
        if c_idx is not None and c_idx < len(row) and row[c_idx].strip() == subject:
            row = [*row[:c_idx], "", *row[c_idx + 1 :]]
            changed += 1
        kept.append(row)
    if not changed:
        return data, 0
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(kept)
    return out.getvalue().encode("utf-8", errors="surrogateescape"), changed


def _erase_jsonl(data: bytes, subject: str) -> tuple[bytes, int]:
    token = whole_token(subject)
    kept, changed = [], 0
    for line in data.decode("utf-8", errors="surrogateescape").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get(_SUBJECT, "")).strip() == subject:
                changed += 1
                continue
            if str(record.get(_COUNTERPARTY, "")).strip() == subject:
                record[_COUNTERPARTY] = None
                line = json.dumps(record, ensure_ascii=False)
                changed += 1
        elif token.search(line):
            changed += 1
            continue
        kept.append(line)
    if not changed:
        return data, 0
    return ("\n".join(kept) + "\n").encode("utf-8", errors="surrogateescape"), changed


_ERASERS = {"parquet": _erase_parquet, "csv": _erase_csv, "jsonl": _erase_jsonl}


@dataclass
class ArchiveErasure:
    counts: dict[str, int] = field(default_factory=dict)
    """Per landing path, how many rows were dropped or had their counterparty nulled."""
    stale: list[Path] = field(default_factory=list)
    """Blobs replaced by an erased copy: delete them once the transaction has committed."""

    def delete_stale(self) -> None:
        for blob in self.stale:
            blob.unlink(missing_ok=True)


def erase_from_archive(
    con: duckdb.DuckDBPyConnection, keyvault: KeyVault, archive: Path, subject_id: str
) -> ArchiveErasure:
    """Remove the subject from every archived file (rows dropped, counterparty nulled). Runs in
    the caller's transaction, which records each new ``archive_path``; the replaced blobs are
    only listed (:attr:`ArchiveErasure.stale`), so a rollback leaves a readable archive."""
    result = ArchiveErasure()
    files = _archived(con)
    if not files:
        return result
    key = keyvault.key(ARCHIVE_KEY, create=False)
    counts = result.counts
    for path, entity, _, fmt, apath in files:
        blob_path = archive / apath
        if not blob_path.is_file():
            raise ArchiveError(f"archived file {apath} of {path} is missing; nothing was erased")
        data = _open(key, blob_path.read_bytes(), _aad(entity, _blob_sha(apath)), apath)
        erased, changed = _ERASERS.get(fmt, _erase_jsonl)(data, subject_id)
        if not changed:
            continue
        sha = _sha256(erased)
        target = archive / entity / f"{sha}.{fmt}.enc"
        _write_private(target, _seal(key, erased, _aad(entity, sha)))
        con.execute(
            "UPDATE ledger.files SET archive_path = ? WHERE file_path = ? AND archive_path = ?",
            [str(target.relative_to(archive)), path, apath],
        )
        if target != blob_path:
            result.stale.append(blob_path)
        counts[path] = changed
    return result
