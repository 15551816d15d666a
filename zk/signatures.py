"""BLS signatures (IETF proof-of-possession ciphersuite) and the issuer's key.

Bytes are those of ``py_ecc.bls.G2ProofOfPossession``: minimal-pubkey-size (48-byte G1 public
keys, 96-byte G2 signatures), ``DST = BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_``, secret keys
from the IETF ``KeyGen`` (HKDF-SHA256).

The issuer's secret is 32 random bytes kept in the project's key vault; the signing scalar is
``KeyGen(secret, key_info=ISSUER_KEY_INFO)``, so the same vault entry always gives the same key.
A *key-check value* ``HMAC-SHA256(secret, KCV_LABEL)`` identifies the secret without revealing it:
the integrator stores it beside the vault entry and refuses to sign with a secret whose KCV has
changed. The public side is published as a small JSON file (see :func:`write_issuer_public_key`)
with the key id, the public key and a proof of possession; verifiers load it with
:func:`load_issuer_public_key`, which checks the key id and the proof of possession.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zk.backends import Backend, BackendName, R, resolve_backend

__all__ = [
    "ISSUER_KEY_FILE",
    "ISSUER_KEY_INFO",
    "ISSUER_KEY_NAME",
    "KCV_LABEL",
    "POP_DST",
    "POP_TAG",
    "IssuerKey",
    "IssuerKeyError",
    "IssuerPublicKey",
    "issuer_key_path",
    "key_check_value",
    "keygen",
    "load_issuer_public_key",
    "sign",
    "verify",
    "write_issuer_public_key",
]

POP_DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
POP_TAG = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
ISSUER_KEY_INFO = b"ledgerlens/zk/issuer/v1"
KCV_LABEL = b"ledgerlens/zk/issuer-kcv/v1"
ISSUER_KEY_FILE = Path("out") / "issuer" / "issuer_key.json"
ISSUER_KEY_NAME = "attest_issuer"
"""The name under which the pipeline's key vault holds the 32-byte issuer secret."""
KEY_FILE_TYPE = "LedgerlensIssuerPublicKey"


class IssuerKeyError(ValueError):
    """An issuer key (secret or published public key) is malformed or inconsistent."""


def keygen(ikm: bytes, key_info: bytes = b"") -> int:
    """IETF BLS ``KeyGen`` (draft-irtf-cfrg-bls-signature-05, section 2.3), as in py_ecc."""
    if len(ikm) < 32:
        raise IssuerKeyError(f"key material must be at least 32 bytes, got {len(ikm)}")
    salt = b"BLS-SIG-KEYGEN-SALT-"
    sk = 0
    length = 48  # ceil(3 * ceil(log2(R)) / 16)
    while sk == 0:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.new(salt, ikm + b"\x00", hashlib.sha256).digest()
        okm, block = b"", b""
        info = key_info + length.to_bytes(2, "big")
        for i in range((length + 31) // 32):
            block = hmac.new(prk, block + info + bytes([i + 1]), hashlib.sha256).digest()
            okm += block
        sk = int.from_bytes(okm[:length], "big") % R
    return sk


def key_check_value(secret: bytes) -> str:
    """Hex HMAC-SHA256 of a fixed label under the 32-byte issuer secret."""
    if len(secret) != 32:
        raise IssuerKeyError(f"the issuer secret must be 32 bytes, got {len(secret)}")
    return hmac.new(secret, KCV_LABEL, hashlib.sha256).hexdigest()


def key_id(public_key: bytes) -> str:
    """A short, stable name for a public key: the first 16 bytes of its SHA-256, hex."""
    return hashlib.sha256(public_key).hexdigest()[:32]


def sign(backend: Backend[Any], sk: int, message: bytes) -> bytes:
    """``G2ProofOfPossession.Sign``."""
    return backend.sign(sk, message, POP_DST)


def verify(backend: Backend[Any], public_key: bytes, message: bytes, signature: bytes) -> bool:
    """``G2ProofOfPossession.Verify`` (with ``KeyValidate``)."""
    return backend.verify(public_key, message, signature, POP_DST)


@dataclass(frozen=True)
class IssuerPublicKey:
    """What a verifier trusts: a validated public key and where it came from."""

    public_key: bytes
    key_id: str
    kcv: str
    source: str

    @property
    def issuer(self) -> str:
        return f"urn:ledgerlens:issuer:{self.key_id}"

    @property
    def verification_method(self) -> str:
        return f"{self.issuer}#key-1"


@dataclass(frozen=True)
class IssuerKey:
    """The issuer's signing key. ``repr`` never shows the secret."""

    sk: int = field(repr=False)
    public_key: bytes
    kcv: str

    @classmethod
    def from_secret(
        cls,
        secret: bytes,
        backend: Backend[Any] | BackendName | None = None,
        *,
        expected_kcv: str | None = None,
    ) -> IssuerKey:
        """Derive the key from the 32-byte vault secret (``KeyGen`` with ``ISSUER_KEY_INFO``).

        With ``expected_kcv`` (the KCV recorded when the key was first used), a different secret
        is refused with :class:`IssuerKeyError` instead of silently signing under a new key.
        """
        kcv = key_check_value(secret)
        if expected_kcv is not None and not hmac.compare_digest(kcv, expected_kcv):
            raise IssuerKeyError(
                f"the issuer secret's key-check value {kcv[:16]} does not match the recorded "
                f"{expected_kcv[:16]}: restore the original issuer secret in the key vault"
            )
        sk = keygen(secret, ISSUER_KEY_INFO)
        return cls(sk, resolve_backend(backend).sk_to_pk(sk), kcv)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @property
    def issuer(self) -> str:
        return f"urn:ledgerlens:issuer:{self.key_id}"

    @property
    def verification_method(self) -> str:
        return f"{self.issuer}#key-1"

    def sign(self, message: bytes, backend: Backend[Any] | BackendName | None = None) -> bytes:
        return sign(resolve_backend(backend), self.sk, message)

    def proof_of_possession(self, backend: Backend[Any] | BackendName | None = None) -> bytes:
        """``G2ProofOfPossession.PopProve``."""
        return resolve_backend(backend).sign(self.sk, self.public_key, POP_TAG)

    def public(self) -> IssuerPublicKey:
        return IssuerPublicKey(self.public_key, self.key_id, self.kcv, "issuer key in memory")


def issuer_key_path(home: Path | str) -> Path:
    """Where the issuer public key is published: ``<home>/out/issuer/issuer_key.json``."""
    return Path(home) / ISSUER_KEY_FILE


def write_issuer_public_key(
    path: Path | str, key: IssuerKey, backend: Backend[Any] | BackendName | None = None
) -> dict[str, Any]:
    """Write the public key file (canonical JSON) and return its content.

    Fields: ``type``, ``version``, ``ciphersuite``, ``issuer``, ``keyId``, ``publicKey`` (hex, 48
    bytes), ``proofOfPossession`` (hex, 96 bytes), ``kcv`` (hex). No secret material.
    """
    from zk.envelope import write_document  # zk.envelope imports this module

    doc: dict[str, Any] = {
        "type": KEY_FILE_TYPE,
        "version": 1,
        "ciphersuite": POP_DST.decode(),
        "issuer": key.issuer,
        "keyId": key.key_id,
        "publicKey": key.public_key.hex(),
        "proofOfPossession": key.proof_of_possession(backend).hex(),
        "kcv": key.kcv,
    }
    write_document(Path(path), doc)
    return doc


def load_issuer_public_key(
    source: Path | str | bytes, backend: Backend[Any] | BackendName | None = None
) -> IssuerPublicKey:
    """Load a trusted issuer key from a key file path, key file bytes, or a raw 48-byte key.

    A key file must name the PoP ciphersuite, carry a key id that matches the key, and a valid
    proof of possession; a raw key must pass ``KeyValidate``. Raises :class:`IssuerKeyError`.
    """
    be = resolve_backend(backend)
    if isinstance(source, bytes) and len(source) == 48:
        if not _key_valid(be, source):
            raise IssuerKeyError("the raw issuer key is not a valid BLS12-381 G1 public key")
        return IssuerPublicKey(source, key_id(source), "", "raw 48-byte key")
    if isinstance(source, bytes):
        data, where = source, "issuer key bytes"
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise IssuerKeyError(
                f"cannot read the issuer key file {path}: {exc.strerror}"
            ) from None
        where = str(path)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise IssuerKeyError(f"{where} is not a JSON issuer key file") from None
    if not isinstance(doc, dict) or doc.get("type") != KEY_FILE_TYPE:
        raise IssuerKeyError(f"{where}: 'type' must be {KEY_FILE_TYPE!r}")
    if doc.get("ciphersuite") != POP_DST.decode():
        raise IssuerKeyError(f"{where}: 'ciphersuite' must be {POP_DST.decode()!r}")
    try:
        public_key = bytes.fromhex(str(doc["publicKey"]))
        pop = bytes.fromhex(str(doc["proofOfPossession"]))
        kcv = str(doc["kcv"])
        stated_id = str(doc["keyId"])
    except (KeyError, ValueError):
        raise IssuerKeyError(
            f"{where}: needs hex 'publicKey', 'proofOfPossession', 'kcv' and 'keyId'"
        ) from None
    if stated_id != key_id(public_key):
        raise IssuerKeyError(f"{where}: 'keyId' does not match 'publicKey'")
    if len(public_key) != 48 or not be.verify(public_key, public_key, pop, POP_TAG):
        raise IssuerKeyError(f"{where}: the proof of possession does not verify for 'publicKey'")
    return IssuerPublicKey(public_key, stated_id, kcv, where)


def _key_valid(backend: Backend[Any], public_key: bytes) -> bool:
    try:
        point = backend.g1_from_bytes(public_key)
    except ValueError:
        return False
    return not backend.eq(point, backend.identity())
