"""RFC 9162 (Certificate Transparency v2) Merkle trees over canonically encoded rows.

- leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)`` (domain
  separation: no leaf can be passed off as a node);
- the tree of ``n`` leaves splits at the largest power of two below ``n`` (RFC 9162, 2.1.1); the
  empty tree's root is ``SHA-256("")``. Built bottom-up, an unpaired last node is carried to the
  next level unchanged, which gives exactly the same root;
- a row is encoded as the RFC 8785 JSON array ``[table, value, ...]`` (:func:`encode_row`), so the
  table name separates rows of different tables and one row has one encoding.

:func:`merkle_root` only keeps one level in memory; :class:`MerkleTree` keeps all levels to hand
out inclusion proofs (RFC 9162, 2.1.3), checked by :func:`verify_inclusion`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

__all__ = [
    "MerkleTree",
    "encode_row",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_inclusion",
]

Value = str | int | bool | None
_MAX_SAFE = 2**53
_sha256 = hashlib.sha256


def _refuse(value: object) -> object:
    raise TypeError(type(value).__name__)


# For text, integers, booleans and null, compact JSON without ASCII escaping *is* RFC 8785: both
# escape exactly '"', '\\' and U+0000..U+001F, the same way (tests hold that equality). CPython's
# C encoder is built once and reused, which skips JSONEncoder.encode's per-call set-up (1.5x).
_make_encoder = getattr(json.encoder, "c_make_encoder", None)  # undeclared in typeshed
if _make_encoder is None:
    raise ImportError("zk.merkle needs CPython's C JSON encoder (the _json module)")
_iterencode = _make_encoder(
    None, _refuse, json.encoder.encode_basestring, None, ":", ",", False, False, False
)


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def encode_row(table: str, values: Sequence[Value]) -> bytes:
    """Canonical leaf bytes for one row: the JCS array ``[table, *values]`` in UTF-8.

    Values are text, integers within +-2^53, booleans or None; pass decimals, timestamps and
    floats as their canonical text, so that every producer encodes a row identically.
    """
    for i, v in enumerate(values):
        kind = type(v)
        if kind is str or kind is bool or v is None:
            continue
        if kind is not int:
            raise TypeError(
                f"row value {i} of table {table!r} is a {kind.__name__}: encode it as text"
            )
        if not -_MAX_SAFE <= v <= _MAX_SAFE:  # type: ignore[operator]
            raise ValueError(f"row value {i} of table {table!r} exceeds 2^53: encode it as text")
    if type(table) is not str:
        raise TypeError("the table name must be text")
    return "".join(_iterencode([table, *values], 0)).encode("utf-8")


def _leaf_level(leaves: Iterable[bytes]) -> list[bytes]:
    # Plain comprehensions: measured faster here than map() chains or one joined buffer.
    return [_sha256(b"\x00" + leaf).digest() for leaf in leaves]


def _next_level(level: list[bytes]) -> list[bytes]:
    nxt = [
        _sha256(b"\x01" + left + right).digest()
        for left, right in zip(level[0::2], level[1::2], strict=False)
    ]
    if len(level) % 2:
        nxt.append(level[-1])  # the unpaired last node moves up unchanged (RFC 9162 split)
    return nxt


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """The RFC 9162 root of ``leaves`` (already encoded rows, in tree order)."""
    level = _leaf_level(leaves)
    if not level:
        return _sha256(b"").digest()
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


class MerkleTree:
    """All levels of a tree, for inclusion proofs. ``levels[0]`` are the leaf hashes."""

    def __init__(self, leaves: Iterable[bytes]) -> None:
        level = _leaf_level(leaves)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = _next_level(level)
            self.levels.append(level)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else _sha256(b"").digest()

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``, leaf side first (RFC 9162 ``PATH(index, D[n])``)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} outside a tree of {self.size} leaves")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def verify_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2: does ``leaf`` sit at ``index`` of the ``size``-leaf tree ``root``?"""
    if not 0 <= index < size or any(len(p) != 32 for p in path):
        return False
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
