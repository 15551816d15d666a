"""W3C Bitstring Status List v1.0: revocation of score credentials.

The issuer keeps one bitstring per list; bit ``i`` (counted from the most significant bit of the
first byte, as the W3C spec says) is 1 when the credential with ``statusListIndex = i`` is
revoked. It is published as a ``BitstringStatusListCredential`` signed by the issuer whose
``encodedList`` is the multibase base64url (no padding) of the GZIP-compressed bitstring. GZIP is
written with ``mtime = 0`` so the same bits always give the same bytes. The list is at least
16 KB (131,072 entries), the spec's minimum for herd privacy.
"""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from typing import Any

from zk.backends import Backend
from zk.envelope import CONTEXT, FormatError, format_time, mb_decode, mb_encode, sign_document
from zk.signatures import IssuerKey

__all__ = [
    "MIN_ENTRIES",
    "StatusList",
    "status_list_credential",
]

MIN_ENTRIES = 131_072
_MAX_BYTES = 16 * 1024 * 1024


class StatusList:
    """A mutable bitstring of revocation flags."""

    def __init__(self, size: int = MIN_ENTRIES) -> None:
        if size < MIN_ENTRIES or size % 8:
            raise ValueError(f"a status list holds a multiple of 8 and >= {MIN_ENTRIES} entries")
        self.bits = bytearray(size // 8)

    @property
    def size(self) -> int:
        return len(self.bits) * 8

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"status index {index} outside a list of {self.size} entries")
        return index // 8, 0x80 >> (index % 8)

    def revoke(self, index: int) -> None:
        byte, mask = self._locate(index)
        self.bits[byte] |= mask

    def is_set(self, index: int) -> bool:
        byte, mask = self._locate(index)
        return bool(self.bits[byte] & mask)

    def encode(self) -> str:
        return mb_encode(gzip.compress(bytes(self.bits), compresslevel=9, mtime=0))

    @classmethod
    def decode(cls, encoded: Any) -> StatusList:
        raw = mb_decode(encoded, "credentialSubject.encodedList")
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
                bits = fh.read(_MAX_BYTES + 1)
        except (OSError, EOFError):
            raise FormatError("credentialSubject.encodedList is not GZIP data") from None
        if len(bits) > _MAX_BYTES or len(bits) * 8 < MIN_ENTRIES:
            raise FormatError(
                f"the status list must hold between {MIN_ENTRIES} and {_MAX_BYTES * 8} entries"
            )
        out = cls.__new__(cls)
        out.bits = bytearray(bits)
        return out


def status_list_credential(
    status: StatusList,
    *,
    issuer: IssuerKey,
    list_id: str,
    valid_from: datetime,
    valid_until: datetime,
    backend: Backend[Any] | None = None,
) -> dict[str, Any]:
    """The signed ``BitstringStatusListCredential`` for ``status`` (purpose ``revocation``).

    ``valid_until`` bounds how stale a verifier may let the list be: republish before it passes.
    """
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": list_id,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.issuer,
        "validFrom": format_time(valid_from),
        "validUntil": format_time(valid_until),
        "credentialSubject": {
            "id": f"{list_id}#list",
            "type": "BitstringStatusList",
            "statusPurpose": "revocation",
            "encodedList": status.encode(),
        },
    }
    return sign_document(doc, issuer, created=valid_from, backend=backend)
