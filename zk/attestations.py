"""Signed statements about the pipeline's outputs: snapshot commitments, inclusion proofs, releases.

- **Snapshot commitment**: the issuer signs the RFC 9162 root and size of the tree over one
  snapshot's encoded rows (:mod:`zk.merkle`).
- **Snapshot inclusion**: for one subject, their rows and leaf indices with one Merkle multiproof
  (:meth:`zk.merkle.MerkleTree.multiproof`: the nodes their audit paths share are given once, all
  of them in one base64url string), together with the signed snapshot commitment; anyone holding
  the issuer key checks the rows were in it. It holds the subject's own rows, so it goes only to
  ``out/subjects/<pseudonym>/``. Version 1 documents (one audit path per row) are still verified.
- **Release attestation**: for one DP release, the issuer signs the SHA-256 of the release
  manifest file (named relative to the attestation, so a verifier re-hashes it), the snapshot
  root, the rho charged, the hash of the privacy-loss ledger entry and the code version.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from zk.backends import Backend, BackendName, resolve_backend
from zk.envelope import CONTEXT, format_time, mb_encode, sign_document
from zk.merkle import MerkleTree, leaf_hash
from zk.signatures import IssuerKey

__all__ = [
    "INCLUSION_TYPE",
    "LEAF_ENCODING",
    "RELEASE_TYPE",
    "SNAPSHOT_TYPE",
    "attest_release",
    "file_digest",
    "snapshot_commitment",
    "snapshot_inclusion",
]

SNAPSHOT_TYPE = "LedgerlensSnapshotCommitment"
INCLUSION_TYPE = "LedgerlensSnapshotInclusion"
RELEASE_TYPE = "LedgerlensReleaseAttestation"
LEAF_ENCODING = "rfc8785-array-v1"
TREE_ALGORITHM = "rfc9162-sha256"
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, read in 1 MB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(f"{what} must be 1-128 characters of [A-Za-z0-9_.:-]")
    return value


def snapshot_commitment(
    *,
    issuer: IssuerKey,
    snapshot_id: str,
    root: bytes,
    size: int,
    issued: datetime,
    backend: Backend[Any] | BackendName | None = None,
) -> dict[str, Any]:
    """The signed commitment to a snapshot tree (``root`` from :func:`zk.merkle.merkle_root`)."""
    if len(root) != 32 or size < 0:
        raise ValueError("root must be a 32-byte SHA-256 digest and size >= 0")
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"urn:ledgerlens:snapshot:{_check_id(snapshot_id, 'snapshot_id')}",
        "type": ["VerifiableCredential", SNAPSHOT_TYPE],
        "issuer": issuer.issuer,
        "validFrom": format_time(issued),
        "credentialSubject": {
            "id": f"urn:ledgerlens:snapshot:{snapshot_id}",
            "snapshotId": snapshot_id,
            "merkleRoot": root.hex(),
            "treeSize": size,
            "treeAlgorithm": TREE_ALGORITHM,
            "leafEncoding": LEAF_ENCODING,
        },
    }
    return sign_document(doc, issuer, created=issued, backend=resolve_backend(backend))


def snapshot_inclusion(
    commitment: dict[str, Any], tree: MerkleTree, leaves: Sequence[tuple[int, bytes]]
) -> dict[str, Any]:
    """A version 2 inclusion document for ``(index, encoded row)`` pairs in the committed ``tree``:
    ``indices`` ascending, ``leaves`` (each row, base64url) in the same order, ``multiproof``
    (the multiproof's 32-byte nodes concatenated, base64url).

    Raises ``ValueError`` when ``tree`` is not the committed one, an index repeats or a row is not
    at its index."""
    subject = commitment["credentialSubject"]
    if subject["merkleRoot"] != tree.root.hex() or subject["treeSize"] != tree.size:
        raise ValueError("the tree does not match the signed snapshot commitment")
    rows = sorted(leaves)
    indices = [index for index, _ in rows]
    if len(set(indices)) != len(indices):
        raise ValueError("a leaf index is given twice")
    for index, leaf in rows:
        if not 0 <= index < tree.size or tree.node(0, index) != leaf_hash(leaf):
            raise ValueError(f"leaf {index}: the row given is not the row at that index")
    return {
        "type": INCLUSION_TYPE,
        "version": 2,
        "snapshot": commitment,
        "indices": indices,
        "leaves": [mb_encode(leaf) for _, leaf in rows],
        "multiproof": mb_encode(b"".join(tree.multiproof(indices))),
    }


def attest_release(
    *,
    issuer: IssuerKey,
    release_id: str,
    manifest_path: Path,
    snapshot_root: bytes,
    snapshot_id: str,
    rho: float,
    ledger_entry_hash: str,
    code_version: str,
    issued: datetime,
    audience: str | None = None,
    backend: Backend[Any] | BackendName | None = None,
) -> dict[str, Any]:
    """Sign what a DP release was computed from and what it cost.

    ``manifest_path`` is hashed now and named by file name: write the attestation into the same
    folder as the manifest. ``ledger_entry_hash`` is ``sha256:<hex>`` of the privacy-loss ledger
    entry that charged ``rho``; ``audience`` names the buyer when the release is buyer-specific.
    """
    if not _HASH_RE.match(ledger_entry_hash):
        raise ValueError("ledger_entry_hash must be 'sha256:' followed by 64 lowercase hex digits")
    if not rho >= 0 or rho != rho or rho == float("inf"):
        raise ValueError("rho must be a finite number >= 0")
    if len(snapshot_root) != 32:
        raise ValueError("snapshot_root must be a 32-byte SHA-256 digest")
    subject: dict[str, Any] = {
        "id": f"urn:ledgerlens:release:{_check_id(release_id, 'release_id')}",
        "releaseId": release_id,
        "manifest": {"path": manifest_path.name, "digest": file_digest(manifest_path)},
        "snapshot": {
            "id": _check_id(snapshot_id, "snapshot_id"),
            "merkleRoot": snapshot_root.hex(),
        },
        "privacy": {
            "rhoCharged": float(rho),
            "accounting": "zCDP",
            "ledgerEntryHash": ledger_entry_hash,
        },
        "codeVersion": code_version,
    }
    if audience is not None:
        subject["audience"] = audience
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", RELEASE_TYPE],
        "issuer": issuer.issuer,
        "validFrom": format_time(issued),
        "credentialSubject": subject,
    }
    return sign_document(doc, issuer, created=issued, backend=resolve_backend(backend))
