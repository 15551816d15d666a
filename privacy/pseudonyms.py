"""Keyed pseudonyms (HMAC-SHA256 per purpose) and reversible tokens (AES-SIV per purpose).

Pseudonyms: ``HMAC-SHA256(purpose key, canonical(value))`` as 32 lowercase hex characters
(128 bits). One key per purpose, so pseudonyms of the same person cannot be linked across purposes,
while every column pseudonymised under one purpose (user_id, counterparty, wallet ids, ...) joins.
``canonical`` trims the value and lower-cases ``0x`` hex addresses (EIP-55 case is presentation).

The same HMAC is available as a DuckDB SQL expression (:func:`hmac_sql`), computed from the key's
inner/outer pads passed as query parameters (the key never appears in SQL text), so large columns
are pseudonymised inside the engine.

Tokens: deterministic AES-SIV (RFC 5297, ``cryptography``) under a per-purpose 512-bit key with the
purpose as associated data; ``tok_`` + URL-safe base64. Deterministic so tokenised columns still
join; authenticated so a forged or altered token is rejected. Every :meth:`Tokeniser.detokenise` is
written to the hash-chained audit log (:mod:`privacy.audit`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

import duckdb
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from privacy.audit import append_event
from privacy.keyvault import KeyVault

__all__ = [
    "PSEUDONYM_HEX_CHARS",
    "TOKEN_PREFIX",
    "TokenError",
    "Tokeniser",
    "canonical_value",
    "canonical_sql",
    "hmac_pads",
    "hmac_sql",
    "pseudonym",
    "pseudonymise_many",
]

PSEUDONYM_HEX_CHARS = 32
TOKEN_PREFIX = "tok_"


class TokenError(ValueError):
    """A token is malformed, forged, or from another purpose."""


_EDGE_WHITESPACE = " \t\n\r\x0b\x0c"
"""Trimmed from both ends, the same set in Python and SQL (``str.strip()`` and DuckDB's default
``trim`` each strip a different set, so pseudonyms of ``'0\r'`` would differ between them)."""


def canonical_value(value: object) -> str:
    """Edge whitespace trimmed; an ASCII ``0x`` hex address lower-cased (EIP-55 case is
    presentation). :func:`canonical_sql` is its exact twin."""
    s = str(value).strip(_EDGE_WHITESPACE)
    return s.lower() if s[:2] in ("0x", "0X") and s.isascii() else s


def canonical_sql(expr: str) -> str:
    """SQL twin of :func:`canonical_value` for a column expression (VARCHAR result)."""
    chars = " || ".join(f"chr({ord(c)})" for c in _EDGE_WHITESPACE)
    v = f"trim(CAST({expr} AS VARCHAR), {chars})"
    ascii_ = f"(octet_length(encode({v})) = length({v}))"
    return f"(CASE WHEN lower(left({v}, 2)) = '0x' AND {ascii_} THEN lower({v}) ELSE {v} END)"


def pseudonym(key: bytes, value: object) -> str:
    digest = hmac.new(key, canonical_value(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def pseudonymise_many(key: bytes, values: Iterable[object]) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        out.append(None if v is None else pseudonym(key, v))
    return out


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """(inner, outer) HMAC-SHA256 pads of ``key``, for :func:`hmac_sql` parameters."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    k = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def hmac_sql(expr: str, inner_param: str = "$hmac_i", outer_param: str = "$hmac_o") -> str:
    """DuckDB expression equal to :func:`pseudonym` of ``expr`` (NULL stays NULL)."""
    c = canonical_sql(expr)
    return (
        f"substr(sha256({outer_param} || unhex(sha256({inner_param} || encode({c})))), 1, "
        f"{PSEUDONYM_HEX_CHARS})"
    )


class Tokeniser:
    """Reversible, authenticated tokens for one purpose."""

    def __init__(self, keyvault: KeyVault, purpose: str) -> None:
        self.purpose = purpose
        self._siv = AESSIV(keyvault.purpose_key(purpose, "token"))
        self._ad = [f"ledgerlens/token/v1|{purpose}".encode()]

    def tokenise(self, value: object) -> str:
        ct = self._siv.encrypt(str(value).encode("utf-8"), self._ad)
        return TOKEN_PREFIX + base64.urlsafe_b64encode(ct).rstrip(b"=").decode("ascii")

    def tokenise_many(self, values: Iterable[object]) -> list[str | None]:
        return [None if v is None else self.tokenise(v) for v in values]

    def detokenise(
        self,
        con: duckdb.DuckDBPyConnection,
        token: str,
        *,
        actor: str,
        reason: str,
    ) -> str:
        """The original value. Writes an audit event (actor, reason, token digest) first."""
        if not token.startswith(TOKEN_PREFIX):
            raise TokenError("not a ledgerlens token")
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        append_event(
            con,
            actor,
            "detokenise",
            subject=digest,
            details={"purpose": self.purpose, "reason": reason},
        )
        body = token[len(TOKEN_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._siv.decrypt(raw, self._ad).decode("utf-8")
        except (InvalidTag, ValueError):
            raise TokenError(
                f"token {digest} failed authentication for purpose {self.purpose!r}: "
                "forged, altered, or issued for another purpose"
            ) from None
