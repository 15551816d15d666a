"""Holder side: prove "score >= t" from a score credential and its opening, for one verifier.

A presentation embeds the signed credential and a threshold range proof whose Fiat–Shamir
transcript binds, in order: the domain tag ``PRESENTATION_DOMAIN``; the canonical presentation
without ``proof.proofValue`` (so the credential, statement, nonce, audience, id and creation time
are all inside); the credential digest, commitment, statement and context (presentation id,
audience, nonce) again as separate labelled entries; then the Pedersen generators, the shifted
commitment, ``k`` and every bit commitment (see :mod:`zk.rangeproof`). Replaying a presentation to
another verifier, with another nonce, or after editing any field changes the challenge.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zk.backends import Backend, BackendName, InvalidEncoding, resolve_backend
from zk.credentials import COMMITMENT_SCHEME, OPENING_TYPE, SCORE_CREDENTIAL_TYPE
from zk.envelope import (
    CONTEXT,
    FormatError,
    canonical,
    digest,
    format_time,
    hex_decode,
    mb_decode,
    mb_encode,
    read_document,
    write_document,
)
from zk.pedersen import H_DST
from zk.rangeproof import RangeProof, prove_threshold_bits, verify_threshold_bits
from zk.transcript import Transcript, scalar_from_bytes

__all__ = [
    "PRESENTATION_DOMAIN",
    "PRESENTATION_TYPE",
    "THRESHOLD_PROOF_TYPE",
    "presentation_transcript",
    "prove_threshold",
    "verify_threshold_proof",
]

PRESENTATION_TYPE = "LedgerlensScoreThresholdPresentation"
THRESHOLD_PROOF_TYPE = "LedgerlensThresholdProof"
THRESHOLD_CRYPTOSUITE = "ledgerlens-pedersen-cds-range-2026"
PRESENTATION_DOMAIN = b"ledgerlens/zk/score-threshold/v1"


def presentation_transcript(presentation: dict[str, Any]) -> Transcript:
    """The transcript both sides rebuild from the presentation (``proofValue`` excluded)."""
    proof = presentation["proof"]
    cred = presentation["verifiableCredential"][0]
    subject = cred["credentialSubject"]
    t = Transcript(PRESENTATION_DOMAIN)
    envelope = {k: v for k, v in presentation.items() if k != "proof"}
    envelope["proof"] = {k: v for k, v in proof.items() if k != "proofValue"}
    t.append(b"presentation", canonical(envelope))
    t.append_text(b"credential/digest", digest(cred))
    t.append_text(b"credential/commitment", str(subject["score"]["commitment"]))
    t.append(b"statement", canonical(proof["statement"]))
    t.append_text(b"context/id", str(presentation["id"]))
    t.append_text(b"context/audience", str(proof["domain"]))
    t.append_text(b"context/nonce", str(proof["challenge"]))
    return t


def prove_threshold(
    credential_path: Path | str,
    opening_path: Path | str,
    threshold: int,
    nonce: str,
    audience: str,
    *,
    out: Path | str | None = None,
    now: datetime | None = None,
    backend: Backend[Any] | BackendName | None = None,
) -> dict[str, Any]:
    """Build a presentation proving the credential's score is ``>= threshold``.

    The nonce and audience are the verifier's. Refuses (``ValueError``, naming no score) when
    the opening does not open the credential's commitment, or the score is below the threshold,
    or the threshold is outside ``[0, 2^bits)``. Writes the presentation to ``out`` when given.
    """
    be = resolve_backend(backend)
    cred = read_document(Path(credential_path))
    opening = read_document(Path(opening_path))
    if SCORE_CREDENTIAL_TYPE not in cred.get("type", []):
        raise FormatError(f"{credential_path} is not a {SCORE_CREDENTIAL_TYPE}")
    if opening.get("type") != OPENING_TYPE or opening.get("credentialId") != cred.get("id"):
        raise FormatError(f"{opening_path} is not the opening of credential {cred.get('id')}")
    if not nonce or not audience:
        raise ValueError("the verifier's nonce and audience must both be non-empty")
    score_claim = cred["credentialSubject"]["score"]
    bits = int(score_claim["bits"])
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise ValueError("the threshold must be an integer")
    if not 0 <= threshold < (1 << bits):
        raise ValueError(f"the threshold must be in [0, 2^{bits}) for this credential")
    c_point = be.g1_from_bytes(hex_decode(score_claim["commitment"], "commitment", 48))
    value = opening.get("score")
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"{opening_path}: 'score' must be an integer")
    blinding = scalar_from_bytes(hex_decode(opening.get("blinding"), "blinding", 32))
    presentation: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiablePresentation", PRESENTATION_TYPE],
        "holder": cred["credentialSubject"]["id"],
        "verifiableCredential": [cred],
        "proof": {
            "type": THRESHOLD_PROOF_TYPE,
            "cryptosuite": THRESHOLD_CRYPTOSUITE,
            "created": format_time(now or datetime.now(UTC)),
            "proofPurpose": "authentication",
            "challenge": nonce,
            "domain": audience,
            "statement": {
                "claim": "credentialSubject.score",
                "predicate": ">=",
                "threshold": threshold,
                "bits": bits,
            },
        },
    }
    proof = prove_threshold_bits(
        be, presentation_transcript(presentation), c_point, value, blinding, threshold, bits
    )
    presentation["proof"]["proofValue"] = mb_encode(proof.to_bytes())
    if out is not None:
        write_document(Path(out), presentation)
    return presentation


def verify_threshold_proof(presentation: dict[str, Any], backend: Backend[Any]) -> tuple[bool, str]:
    """Check the range proof of a (well-formed) presentation; the statement comes from it."""
    proof = presentation["proof"]
    if (
        proof.get("type") != THRESHOLD_PROOF_TYPE
        or proof.get("cryptosuite") != THRESHOLD_CRYPTOSUITE
    ):
        return False, f"proof must be a {THRESHOLD_PROOF_TYPE} ({THRESHOLD_CRYPTOSUITE})"
    statement = proof.get("statement")
    score_claim = presentation["verifiableCredential"][0]["credentialSubject"]["score"]
    if (
        score_claim.get("scheme") != COMMITMENT_SCHEME
        or score_claim.get("generatorDomain") != H_DST.decode()
    ):
        return False, f"the score commitment must use {COMMITMENT_SCHEME} with the fixed H"
    bits = score_claim.get("bits")
    if not isinstance(statement, dict) or set(statement) != {
        "claim",
        "predicate",
        "threshold",
        "bits",
    }:
        return False, "statement must hold exactly claim, predicate, threshold, bits"
    threshold = statement["threshold"]
    if (
        statement["claim"] != "credentialSubject.score"
        or statement["predicate"] != ">="
        or type(statement["bits"]) is not int
        or statement["bits"] != bits
        or isinstance(threshold, bool)
        or not isinstance(threshold, int)
        or not isinstance(bits, int)
        or not 0 <= threshold < (1 << bits)
    ):
        return False, "statement must be credentialSubject.score >= t with the credential's bits"
    try:
        c_point = _commitment_point(backend, score_claim.get("commitment"))
        range_proof = RangeProof.from_bytes(mb_decode(proof.get("proofValue"), "proof.proofValue"))
    except (FormatError, InvalidEncoding, ValueError) as exc:
        return False, f"malformed proof: {exc}"
    transcript = presentation_transcript(presentation)
    if not verify_threshold_bits(backend, transcript, c_point, range_proof, threshold, bits):
        return False, f"the range proof for score >= {threshold} does not verify"
    return True, f"score >= {threshold} proven ({bits}-bit range proof)"


def _commitment_point(backend: Backend[Any], text: Any) -> Any:
    return backend.g1_from_bytes(hex_decode(text, "credentialSubject.score.commitment", 48))
