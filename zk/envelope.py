"""The JSON envelope: RFC 8785 canonical bytes on disk, strict codecs, issuer signatures.

Invariants:

- a document on disk is exactly ``rfc8785.dumps(doc)``: :func:`parse_document` rejects any other
  byte string (extra whitespace, reordered keys, escapes), so a file has one accepted form and
  every byte of it is covered by a signature or a proof;
- binary values are lowercase hex or multibase base64url (``u`` prefix, no padding) and decode
  only from their canonical text (:func:`hex_decode`, :func:`mb_decode`);
- timestamps are ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds);
- a signed document carries a W3C Data Integrity style ``proof``; the BLS signature covers
  ``SHA-256(JCS(proof without proofValue)) || SHA-256(JCS(document without proof))``, the same
  split as the ``eddsa-jcs-2022`` cryptosuite, so no field of the document or of the proof
  options can change without breaking it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import rfc8785

from zk.backends import Backend
from zk.signatures import IssuerKey, IssuerPublicKey, verify

__all__ = [
    "CONTEXT",
    "CRYPTOSUITE",
    "FormatError",
    "canonical",
    "check_signature",
    "digest",
    "format_time",
    "hex_decode",
    "mb_decode",
    "mb_encode",
    "parse_document",
    "parse_time",
    "read_document",
    "sign_document",
    "signing_input",
    "write_document",
]

CONTEXT = ["https://www.w3.org/ns/credentials/v2", "https://ledgerlens.example/ns/zk/v1"]
CRYPTOSUITE = "ledgerlens-bls12381-pop-jcs-2026"
_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_HEX_RE = re.compile(r"^(?:[0-9a-f]{2})*$")


class FormatError(ValueError):
    """A document is not well-formed: says which field and what was expected."""


def canonical(doc: Any) -> bytes:
    """RFC 8785 (JCS) bytes of ``doc``."""
    return bytes(rfc8785.dumps(doc))


def digest(doc: Any) -> str:
    """``sha256:<hex>`` of the canonical bytes of ``doc``."""
    return "sha256:" + hashlib.sha256(canonical(doc)).hexdigest()


def write_document(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` as canonical bytes, atomically (temp file + rename), owner-only (0600): an
    opening is the subject's secret, and the operator decides who receives any document."""
    data = canonical(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def parse_document(data: bytes, where: str = "document") -> dict[str, Any]:
    """Parse canonical JSON bytes into a dict; anything else raises :class:`FormatError`."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise FormatError(f"{where} is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where} is not JSON ({exc.msg} at byte {exc.pos})") from None
    if not isinstance(doc, dict):
        raise FormatError(f"{where} must be a JSON object")
    try:
        again = canonical(doc)
    except rfc8785.CanonicalizationError:
        raise FormatError(f"{where} holds a value RFC 8785 cannot canonicalise") from None
    if again != data:
        raise FormatError(
            f"{where} is not in RFC 8785 canonical form (re-serialised, it differs from byte "
            f"{_first_difference(data, again)}): write it with zk.envelope.write_document"
        )
    return doc


def read_document(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror}") from None
    return parse_document(data, str(path))


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def format_time(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any, field: str) -> datetime:
    if not isinstance(text, str) or not _TIME_RE.match(text):
        raise FormatError(f"{field} must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise FormatError(f"{field} is not a valid date and time") from None


def hex_decode(text: Any, field: str, size: int | None = None) -> bytes:
    """Lowercase hex of exactly ``size`` bytes (when given)."""
    if not isinstance(text, str) or not _HEX_RE.match(text):
        raise FormatError(f"{field} must be lowercase hex")
    raw = bytes.fromhex(text)
    if size is not None and len(raw) != size:
        raise FormatError(f"{field} must be {size} bytes, got {len(raw)}")
    return raw


def mb_encode(data: bytes) -> str:
    """Multibase base64url without padding (prefix ``u``)."""
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mb_decode(text: Any, field: str) -> bytes:
    """Inverse of :func:`mb_encode`; rejects any other spelling of the same bytes."""
    if not isinstance(text, str) or not text.startswith("u"):
        raise FormatError(f"{field} must be multibase base64url (starting with 'u')")
    body = text[1:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise FormatError(f"{field} is not base64url") from None
    if mb_encode(raw) != text:
        raise FormatError(f"{field} is not in canonical base64url form")
    return raw


def signing_input(doc: dict[str, Any]) -> bytes:
    """The 64 bytes the issuer signs for ``doc`` (its ``proof.proofValue`` ignored)."""
    proof = doc.get("proof")
    if not isinstance(proof, dict):
        raise FormatError("'proof' must be an object")
    options = {k: v for k, v in proof.items() if k != "proofValue"}
    body = {k: v for k, v in doc.items() if k != "proof"}
    return hashlib.sha256(canonical(options)).digest() + hashlib.sha256(canonical(body)).digest()


def sign_document(
    doc: dict[str, Any],
    key: IssuerKey,
    *,
    created: datetime,
    backend: Backend[Any] | None = None,
) -> dict[str, Any]:
    """A copy of ``doc`` with an issuer ``proof`` (``assertionMethod``) appended."""
    if "proof" in doc:
        raise ValueError("document is already signed")
    out = copy.deepcopy(doc)
    out["proof"] = {
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": format_time(created),
        "verificationMethod": key.verification_method,
        "proofPurpose": "assertionMethod",
    }
    out["proof"]["proofValue"] = mb_encode(key.sign(signing_input(out), backend))
    return out


def check_signature(
    doc: dict[str, Any], trusted: IssuerPublicKey, backend: Backend[Any]
) -> tuple[bool, str]:
    """Verify the issuer proof of ``doc`` under ``trusted`` (never under a key from ``doc``)."""
    proof = doc.get("proof")
    if not isinstance(proof, dict):
        return False, "no 'proof' object"
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        return False, f"proof must be a DataIntegrityProof with cryptosuite {CRYPTOSUITE}"
    if proof.get("proofPurpose") != "assertionMethod":
        return False, "proofPurpose must be assertionMethod"
    if proof.get("verificationMethod") != trusted.verification_method:
        return False, (
            f"signed by {proof.get('verificationMethod')!r}, not by the trusted issuer key "
            f"{trusted.key_id} ({trusted.source})"
        )
    if doc.get("issuer") != trusted.issuer:
        return False, f"issuer is not the trusted issuer {trusted.issuer}"
    try:
        signature = mb_decode(proof.get("proofValue"), "proof.proofValue")
    except FormatError as exc:
        return False, str(exc)
    if not verify(backend, trusted.public_key, signing_input(doc), signature):
        return False, "the BLS signature does not verify: the document was changed or forged"
    return True, f"BLS signature by issuer key {trusted.key_id}"
