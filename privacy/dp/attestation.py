"""The signed attestation of a DP release, staged beside the release's ``manifest.json``.

Each attestation (:func:`zk.attestations.attest_release`) binds: the SHA-256 of the release's
``manifest.json`` (which lists the SHA-256 of every other file of the release), the Merkle root of
the ledger snapshot the insights data was built from, the rho charged, the hash of the
privacy-loss ledger entry that charged it, and the code version of this release engine.

Invariants:

- the snapshot is the latest ledger snapshot (``ledger.snapshots`` order) among those the
  insights-purpose transactions carry, and its root is the one committed by the attestation assets
  (``attest.snapshot_roots``); :func:`release_attester` raises :class:`ReleaseAttestationError`
  when there is none, and callers resolve the attester *before* charging, so a release that cannot
  be attested costs no budget;
- the issuer key is the vault's (:data:`zk.signatures.ISSUER_KEY_NAME`), the same key as every other document's;
- ``codeVersion`` is ``ledgerlens-<version>+dp.<12 hex>``: the hex is SHA-256 over the sources of
  ``privacy/dp`` (relative path and bytes of every ``.py`` and ``.yaml`` file, in path order), so
  it names exactly the code that drew the noise and post-processed it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import duckdb

from privacy.dp.base import SCHEMA, T
from privacy.dp.release import Release
from privacy.keyvault import KeyVault
from zk.attestations import attest_release
from zk.envelope import write_document
from zk.signatures import ISSUER_KEY_NAME, IssuerKey

__all__ = [
    "ATTESTATION_FILE",
    "ReleaseAttestationError",
    "ReleaseAttester",
    "code_version",
    "issuer_from_vault",
    "release_attester",
]

ATTESTATION_FILE = "attestation.json"
SNAPSHOT_ROOTS_TABLE = "attest.snapshot_roots"


class ReleaseAttestationError(LookupError):
    """No committed snapshot root to bind a release to; nothing was charged."""


def issuer_from_vault(keyvault: KeyVault) -> IssuerKey:
    """The issuer key from ``keyvault`` (opened with its key checks verified)."""
    return IssuerKey.from_secret(keyvault.key(ISSUER_KEY_NAME))


@cache
def code_version() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".yaml")):
        rel = path.relative_to(root).as_posix().encode()
        data = path.read_bytes()
        h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    try:
        package = version("ledgerlens")
    except PackageNotFoundError:
        package = "unknown"
    return f"ledgerlens-{package}+dp.{h.hexdigest()[:12]}"


@dataclass(frozen=True)
class ReleaseAttester:
    """Signs the attestations of releases computed from one committed ledger snapshot."""

    issuer: IssuerKey
    snapshot_id: str
    snapshot_root: bytes

    def attest(self, release: Release, folder: Path, now: datetime | None = None) -> Path:
        """Sign and write ``folder/attestation.json`` for ``release``, whose ``manifest.json``
        must already be in ``folder`` (it is hashed now)."""
        doc = attest_release(
            issuer=self.issuer,
            release_id=release.release_id,
            manifest_path=folder / "manifest.json",
            snapshot_root=self.snapshot_root,
            snapshot_id=self.snapshot_id,
            rho=release.entry.rho,
            ledger_entry_hash="sha256:" + release.entry.entry_hash,
            code_version=code_version(),
            issued=(now or datetime.now(UTC)).replace(microsecond=0),
            audience=release.buyer,
        )
        return write_document(folder / ATTESTATION_FILE, doc)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        f"{s}.{t}"
        for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()
    }


def release_attester(con: duckdb.DuckDBPyConnection, issuer: IssuerKey) -> ReleaseAttester:
    """The attester for releases of the insights data on ``con`` now. Raises
    :class:`ReleaseAttestationError` (call it before charging) when the data's latest ledger
    snapshot has no committed Merkle root."""
    have = _tables(con)
    for table in (f"{SCHEMA}.{T}", "ledger.snapshots"):
        if table not in have:
            raise ReleaseAttestationError(
                f"{table} does not exist: no ledger snapshot to bind the release to; run "
                "`ledgerlens run` first. Nothing was charged"
            )
    latest = con.execute(
        f"""SELECT s.snapshot_id FROM ledger.snapshots s
        WHERE s.snapshot_id IN (SELECT DISTINCT _snapshot_id FROM {SCHEMA}.{T})
        GROUP BY s.snapshot_id ORDER BY min(s.created_at) DESC, s.snapshot_id DESC LIMIT 1"""
    ).fetchone()
    if latest is None:
        raise ReleaseAttestationError(
            f"{SCHEMA}.{T} names no snapshot of ledger.snapshots: rebuild the insights data "
            "(`ledgerlens run`). Nothing was charged"
        )
    snapshot_id = str(latest[0])
    root = (
        con.execute(
            f"SELECT root FROM {SNAPSHOT_ROOTS_TABLE} WHERE snapshot_id = ?", [snapshot_id]
        ).fetchone()
        if SNAPSHOT_ROOTS_TABLE in have
        else None
    )
    if root is None:
        raise ReleaseAttestationError(
            f"ledger snapshot {snapshot_id} (the latest in the insights data) has no committed "
            "Merkle root: materialise attest/snapshot_commitment (`ledgerlens run`) first. "
            "Nothing was charged"
        )
    return ReleaseAttester(issuer, snapshot_id, bytes.fromhex(str(root[0])))
