"""Score credentials: the issuer signs a Pedersen commitment to each applicant's integer score.

A credential is a W3C VC 2.0 shaped document (see ``docs/attestations.md``) whose
``credentialSubject`` holds the subject pseudonym, the commitment ``C = score*G + r*H``, the
number of bits the score fits in (``0 <= score < 2^bits``), the model version and hash and the
snapshot Merkle root; ``credentialStatus`` points at a bit of the issuer's status list.

The *opening* ``(score, r)`` is returned separately and must go only to the subject
(``out/subjects/<pseudonym>/``): with it the subject can prove ``score >= t`` to anyone; without
it the credential reveals nothing about the score (the commitment is perfectly hiding).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zk.backends import Backend, BackendName, resolve_backend
from zk.envelope import CONTEXT, format_time, sign_document
from zk.pedersen import H_DST, commit, random_scalar
from zk.rangeproof import MAX_BITS
from zk.signatures import IssuerKey
from zk.transcript import scalar_to_bytes

__all__ = [
    "COMMITMENT_SCHEME",
    "OPENING_TYPE",
    "SCORE_CREDENTIAL_TYPE",
    "IssuedCredentials",
    "issue_score_credentials",
    "subject_id",
]

SCORE_CREDENTIAL_TYPE = "LedgerlensScoreCredential"
OPENING_TYPE = "LedgerlensScoreOpening"
COMMITMENT_SCHEME = "pedersen-bls12381g1-v1"
_PSEUDONYM_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_ROOT_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class IssuedCredentials:
    """Signed credentials (shareable) and their openings (secret, subject only), same order."""

    credentials: list[dict[str, Any]]
    openings: list[dict[str, Any]]


def subject_id(pseudonym: str) -> str:
    return f"urn:ledgerlens:subject:{pseudonym}"


def issue_score_credentials(
    scores: Iterable[tuple[str, int]],
    *,
    issuer: IssuerKey,
    model_version: str,
    model_hash: str,
    snapshot_root: str,
    valid_from: datetime,
    valid_until: datetime,
    status_list_id: str,
    status_index_start: int,
    bits: int = 10,
    backend: Backend[Any] | BackendName | None = None,
) -> IssuedCredentials:
    """Commit to and sign every ``(pseudonym, score)``; status indices run from
    ``status_index_start`` in input order (the caller records them to revoke later).

    ``model_hash`` is ``sha256:<hex>``; ``snapshot_root`` is the 64-hex-digit Merkle root.
    Raises ``ValueError`` naming the row (never the value) when a row is unusable.
    """
    be = resolve_backend(backend)
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be in [1, {MAX_BITS}], got {bits}")
    if not _HASH_RE.match(model_hash):
        raise ValueError("model_hash must be 'sha256:' followed by 64 lowercase hex digits")
    if not _ROOT_RE.match(snapshot_root):
        raise ValueError("snapshot_root must be 64 lowercase hex digits (a SHA-256 Merkle root)")
    if valid_until <= valid_from:
        raise ValueError("valid_until must be after valid_from")
    if status_index_start < 0:
        raise ValueError("status_index_start must be >= 0")
    credentials: list[dict[str, Any]] = []
    openings: list[dict[str, Any]] = []
    for row, (pseudonym, score) in enumerate(scores):
        if not isinstance(pseudonym, str) or not _PSEUDONYM_RE.match(pseudonym):
            raise ValueError(f"row {row}: the pseudonym must be 1-128 characters of [A-Za-z0-9_-]")
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score < (1 << bits):
            raise ValueError(
                f"row {row}: the score must be an integer in [0, 2^{bits}); rescale it or "
                f"raise bits"
            )
        blinding = random_scalar()
        c_hex = be.g1_to_bytes(commit(be, score, blinding)).hex()
        cred_id = f"urn:uuid:{uuid.uuid4()}"
        index = status_index_start + row
        doc: dict[str, Any] = {
            "@context": CONTEXT,
            "id": cred_id,
            "type": ["VerifiableCredential", SCORE_CREDENTIAL_TYPE],
            "issuer": issuer.issuer,
            "validFrom": format_time(valid_from),
            "validUntil": format_time(valid_until),
            "credentialSubject": {
                "id": subject_id(pseudonym),
                "score": {
                    "scheme": COMMITMENT_SCHEME,
                    "generatorDomain": H_DST.decode(),
                    "commitment": c_hex,
                    "bits": bits,
                },
                "model": {"version": model_version, "hash": model_hash},
                "snapshotRoot": snapshot_root,
            },
            "credentialStatus": {
                "id": f"{status_list_id}#{index}",
                "type": "BitstringStatusListEntry",
                "statusPurpose": "revocation",
                "statusListIndex": str(index),
                "statusListCredential": status_list_id,
            },
        }
        credentials.append(sign_document(doc, issuer, created=valid_from, backend=be))
        openings.append(
            {
                "type": OPENING_TYPE,
                "version": 1,
                "credentialId": cred_id,
                "subject": subject_id(pseudonym),
                "commitment": c_hex,
                "score": score,
                "blinding": scalar_to_bytes(blinding).hex(),
            }
        )
    return IssuedCredentials(credentials, openings)
