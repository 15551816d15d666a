"""Fiat–Shamir transcripts: every challenge is a hash of everything the prover has committed to.

A :class:`Transcript` absorbs labelled messages into SHA-512. Each message is framed as
``len(label) || label || len(data) || data`` (4- and 8-byte big-endian lengths), so no two
different sequences of messages produce the same byte stream. It is opened with a domain tag; the
protocols then append every public input (generators, commitments, the statement) and the context
(attestation id, audience, nonce) *before* any challenge is drawn. A challenge is the 64-byte
digest reduced modulo ``R`` (bias below 2^-256).
"""

from __future__ import annotations

import hashlib

from zk.backends import R

__all__ = ["Transcript", "scalar_from_bytes", "scalar_to_bytes"]


class Transcript:
    """An append-only, labelled hash transcript; :meth:`challenge` does not consume it."""

    def __init__(self, domain: bytes) -> None:
        self._h = hashlib.sha512()
        self.append(b"domain", domain)

    def append(self, label: bytes, data: bytes) -> None:
        self._h.update(len(label).to_bytes(4, "big") + label + len(data).to_bytes(8, "big"))
        self._h.update(data)

    def append_int(self, label: bytes, value: int) -> None:
        if value < 0:
            raise ValueError(f"transcript integers are non-negative, got {value} for {label!r}")
        self.append(label, value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))

    def append_text(self, label: bytes, text: str) -> None:
        self.append(label, text.encode("utf-8"))

    def challenge(self, label: bytes) -> int:
        h = self._h.copy()
        h.update(len(label).to_bytes(4, "big") + label + b"challenge")
        return int.from_bytes(h.digest(), "big") % R


def scalar_to_bytes(x: int) -> bytes:
    """A scalar in [0, R) as 32 big-endian bytes."""
    if not 0 <= x < R:
        raise ValueError("scalar out of range [0, R)")
    return x.to_bytes(32, "big")


def scalar_from_bytes(data: bytes) -> int:
    """Parse 32 big-endian bytes; values >= R are rejected (one scalar, one encoding)."""
    if len(data) != 32:
        raise ValueError(f"a scalar is 32 bytes, got {len(data)}")
    x = int.from_bytes(data, "big")
    if x >= R:
        raise ValueError("non-canonical scalar (>= group order)")
    return x
