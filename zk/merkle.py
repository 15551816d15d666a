"""RFC 9162 (Certificate Transparency v2) Merkle trees over canonically encoded rows.

- leaf hash ``SHA-256(0x00 || leaf)``, node hash ``SHA-256(0x01 || left || right)`` (domain
  separation: no leaf can be passed off as a node);
- the tree of ``n`` leaves splits at the largest power of two below ``n`` (RFC 9162, 2.1.1); the
  empty tree's root is ``SHA-256("")``. Built bottom-up, an unpaired last node is carried to the
  next level unchanged, which gives exactly the same root;
- a row is encoded as the RFC 8785 JSON array ``[table, value, ...]`` (:func:`encode_row`), so the
  table name separates rows of different tables and one row has one encoding; a float travels as
  its RFC 8785 number text (:func:`number_text`).

Leaves arrive in tree order, one by one (:func:`merkle_root`, :class:`MerkleTree`) or packed: a
buffer of concatenated rows and ``n + 1`` offsets, leaf ``i`` being ``data[off[i]:off[i+1]]``
(:func:`merkle_root_packed`, :meth:`MerkleTree.from_packed`; an Arrow binary column is exactly
that). They are cut into aligned subtrees of :data:`CHUNK_LEAVES` leaves, a power of two: the
bottom-up levels of aligned subtrees are slices of the whole tree's levels, so each subtree is
hashed on its own, in worker processes when ``workers > 1`` (:mod:`zk.merkle_workers`), and the
subtree roots are combined as the tree's level ``log2(CHUNK_LEAVES)``. The root does not depend
on ``workers``; tests hold it equal to the RFC's recursive definition.

:func:`merkle_root` streams (memory: one subtree plus one hash per subtree); :class:`MerkleTree`
keeps every level, 32 bytes per node in one contiguous buffer per level, to hand out inclusion
proofs (RFC 9162, 2.1.3), checked by :func:`verify_inclusion`, and multiproofs: one proof for
several leaves that gives every node they need once (:meth:`MerkleTree.multiproof`, checked by
:func:`verify_multiproof`).
"""

from __future__ import annotations

import hashlib
import json
import math
from array import array
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import accumulate, islice, repeat
from operator import sub

import rfc8785

try:  # OpenSSL's SHA-256 in batches (zk/_sha256tree.c), built by `pip install` of this project
    from zk._sha256tree import hash_leaves as _native_leaves
    from zk._sha256tree import tree_levels as _native_levels

    NATIVE = True
except ImportError:  # e.g. the verifier alone, installed without a C compiler: hashlib, per hash
    NATIVE = False
HASHER = (
    "OpenSSL SHA-256 in batches (zk._sha256tree)"
    if NATIVE
    else "hashlib, one call per hash (zk._sha256tree is not built)"
)
"""What builds trees here; the verifier's few hashes always go through hashlib."""

__all__ = [
    "CHUNK_LEAVES",
    "MerkleTree",
    "Segment",
    "encode_row",
    "leaf_hash",
    "merkle_root",
    "merkle_root_packed",
    "node_hash",
    "number_text",
    "verify_inclusion",
    "verify_multiproof",
]

Value = str | int | bool | None
Buffer = bytes | bytearray | memoryview
Segment = tuple[Buffer, Sequence[int]]
"""Packed leaves: ``(data, offsets)``, leaf ``i`` is ``data[offsets[i]:offsets[i + 1]]``."""

CHUNK_LEAVES = 1 << 16
"""Leaves per subtree (a power of two): the unit of work of a worker process."""

_MAX_SAFE = 2**53
_sha256 = hashlib.sha256
_EMPTY_ROOT = _sha256(b"").digest()


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


def number_text(value: float) -> str:
    """A finite float as its RFC 8785 number text (ECMAScript shortest round trip): ``12.5``,
    ``100``, ``1e-7``, ``1e+21``; ``-0.0`` is ``0``. ``repr`` has the same digits and differs only
    in exponent form and a trailing ``.0``, so it is the fast path; the rest is ``rfc8785``'s.

    Raises ``ValueError`` (without the value) for NaN and infinities."""
    if value == 0:
        return "0"  # JCS has no negative zero
    text = repr(value)
    if "e" in text or not math.isfinite(value):
        try:
            return bytes(rfc8785.dumps(value)).decode()
        except rfc8785.FloatDomainError:
            raise ValueError("not a finite number") from None
    return text[:-2] if text.endswith(".0") else text


def encode_row(table: str, values: Sequence[Value]) -> bytes:
    """Canonical leaf bytes for one row: the JCS array ``[table, *values]`` in UTF-8.

    Values are text, integers within +-2^53, booleans or None; pass decimals, timestamps and
    floats as their canonical text (:func:`number_text`), so that every producer encodes a row
    identically.
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


# -- hashing ---------------------------------------------------------------------------------


def hash_leaves(leaves: Iterable[bytes]) -> list[bytes]:
    # A plain comprehension: measured as fast as map() chains and faster than slicing a buffer.
    return [_sha256(b"\x00" + leaf).digest() for leaf in leaves]


def hash_packed(data: bytes, offsets: Sequence[int], base: int = 0) -> list[bytes]:
    """Leaf hashes of packed leaves whose offsets count from ``base`` bytes before ``data``.

    The slices are cut by C-level ``map`` calls into ``bytes`` and hashed like any leaves:
    measured a third cheaper than slicing a ``memoryview`` leaf by leaf in Python."""
    ends = offsets[1:]
    if base:
        starts: Iterable[int] = map(sub, offsets, repeat(base))
        ends = map(sub, ends, repeat(base))  # type: ignore[assignment]
    else:
        starts = offsets
    return hash_leaves(map(data.__getitem__, map(slice, starts, ends)))


def next_level(level: list[bytes]) -> list[bytes]:
    nxt = [
        _sha256(b"\x01" + left + right).digest()
        for left, right in zip(level[0::2], level[1::2], strict=False)
    ]
    if len(level) % 2:
        nxt.append(level[-1])  # the unpaired last node moves up unchanged (RFC 9162 split)
    return nxt


def subtree_levels(leaf_hashes: list[bytes], keep: bool) -> list[bytes]:
    """Bottom-up levels of one subtree as contiguous buffers, leaves first; only the root
    (one 32-byte buffer) unless ``keep``."""
    level = leaf_hashes
    levels = [b"".join(level)] if keep else []
    while len(level) > 1:
        level = next_level(level)
        if keep:
            levels.append(b"".join(level))
    return levels if keep else [level[0]]


def level_sizes(n: int) -> list[int]:
    """Nodes per level of an ``n``-leaf tree (``n >= 1``), leaves first, root last."""
    sizes = [n]
    while sizes[-1] > 1:
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


# -- building --------------------------------------------------------------------------------


def _as_offsets(offsets: Sequence[int]) -> memoryview:
    if isinstance(offsets, memoryview) and offsets.format in ("i", "l", "q"):
        return offsets
    if isinstance(offsets, array) and offsets.typecode in ("i", "l", "q"):
        return memoryview(offsets)
    return memoryview(array("q", offsets))


Part = tuple[Buffer, memoryview]
"""Packed leaves of one subtree: ``(data, offsets)``, offsets absolute into ``data``."""


def _hash_part(data: Buffer, offsets: memoryview) -> list[bytes]:
    first = offsets[0]
    return hash_packed(bytes(memoryview(data)[first : offsets[-1]]), offsets, first)


def _subtree(parts: list[Part], keep: bool) -> list[bytes]:
    """The levels (``keep``) or ``[root]`` of one subtree given as packed parts, in order."""
    if NATIVE:
        return _native_levels(b"".join([_native_leaves(d, offs) for d, offs in parts]), keep)
    leaf_hashes: list[bytes] = []
    for data, offs in parts:
        leaf_hashes += _hash_part(data, offs)
    return subtree_levels(leaf_hashes, keep)


def _levels_above(hashes: list[bytes], keep: bool) -> list[bytes]:
    """:func:`subtree_levels` of ``hashes`` (nodes of one level, left to right)."""
    if NATIVE:
        return _native_levels(b"".join(hashes), keep)
    return subtree_levels(hashes, keep)


class _Builder:
    """Cuts leaves (in tree order) into aligned subtrees and combines the subtrees' levels.

    With the native hasher, full subtrees are hashed on ``workers`` threads (it releases the
    GIL) while the caller produces the next leaves; at most ``2 * workers`` subtrees wait, so a
    producer faster than the hashing holds a bounded number of leaves."""

    def __init__(self, keep: bool, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.keep = keep
        self.pending: list[Part] = []  # of the current subtree
        self.pending_leaves = 0
        self.subtrees: list[list[bytes]] = []
        self.futures: deque[Future[list[bytes]]] = deque()
        self.pool: ThreadPoolExecutor | None = None
        if workers > 1 and NATIVE:
            self.pool = ThreadPoolExecutor(workers, thread_name_prefix="merkle")
        self.max_waiting = 2 * workers

    def add(self, leaves: Iterable[bytes]) -> None:
        it = iter(leaves)
        while batch := list(islice(it, CHUNK_LEAVES - self.pending_leaves)):
            offsets = array("q", accumulate(map(len, batch), initial=0))
            self.add_packed(b"".join(batch), offsets)

    def add_packed(self, data: Buffer, offsets: Sequence[int]) -> None:
        offs = _as_offsets(offsets)
        n, i = len(offs) - 1, 0
        if n > 0 and not 0 <= offs[0] <= offs[n] <= len(data):
            raise ValueError("packed leaves: the offsets lie outside the data")
        while i < n:
            take = min(CHUNK_LEAVES - self.pending_leaves, n - i)
            self.pending.append((data, offs[i : i + take + 1]))
            self.pending_leaves += take
            i += take
            if self.pending_leaves == CHUNK_LEAVES:
                self._flush()

    def _flush(self) -> None:
        if not self.pending_leaves:
            return
        parts, self.pending, self.pending_leaves = self.pending, [], 0
        if self.pool is None:
            self.subtrees.append(_subtree(parts, self.keep))
            return
        while len(self.futures) >= self.max_waiting:
            self.subtrees.append(self.futures.popleft().result())
        self.futures.append(self.pool.submit(_subtree, parts, self.keep))

    def close(self) -> None:
        if self.pool is not None:
            for future in self.futures:
                future.cancel()
            self.pool.shutdown(wait=True)

    def finish(self) -> list[bytes]:
        """The tree's levels (contiguous buffers, leaves first) when ``keep``, else ``[root]``."""
        try:
            self._flush()
            while self.futures:
                self.subtrees.append(self.futures.popleft().result())
        finally:
            self.close()
        if not self.subtrees:
            return [] if self.keep else [_EMPTY_ROOT]
        if len(self.subtrees) == 1:
            return self.subtrees[0]
        roots = [levels[-1] for levels in self.subtrees]
        upper = _levels_above(roots, self.keep)
        if not self.keep:
            return upper
        # Level j below the subtrees' height is their level j side by side; a short last
        # subtree's root is carried up to that height unchanged.
        height = CHUNK_LEAVES.bit_length() - 1
        stitched = [
            b"".join(levels[min(j, len(levels) - 1)] for levels in self.subtrees)
            for j in range(height)
        ]
        return stitched + upper


def _build(
    keep: bool,
    workers: int,
    leaves: Iterable[bytes] | None = None,
    segments: Iterable[Segment] | None = None,
) -> list[bytes]:
    builder = _Builder(keep, workers)
    try:
        if leaves is not None:
            builder.add(leaves)
        for data, offsets in segments or ():
            builder.add_packed(data, offsets)
    except BaseException:
        builder.close()  # a failing producer must not leave threads hashing behind
        raise
    return builder.finish()


def merkle_root(leaves: Iterable[bytes], *, workers: int = 1) -> bytes:
    """The RFC 9162 root of ``leaves`` (already encoded rows, in tree order)."""
    return _build(False, workers, leaves=leaves)[0]


def merkle_root_packed(segments: Iterable[Segment], *, workers: int = 1) -> bytes:
    """The RFC 9162 root of packed leaves (:data:`Segment`), segments in tree order."""
    return _build(False, workers, segments=segments)[0]


class MerkleTree:
    """All levels of a tree, for inclusion proofs: ``levels[j]`` holds level ``j``'s nodes
    (level 0: the leaf hashes), 32 bytes each, in one buffer."""

    def __init__(self, leaves: Iterable[bytes] = (), *, workers: int = 1) -> None:
        self.levels: list[bytes] = _build(True, workers, leaves=leaves)

    @classmethod
    def from_packed(cls, segments: Iterable[Segment], *, workers: int = 1) -> MerkleTree:
        tree = cls.__new__(cls)
        tree.levels = _build(True, workers, segments=segments)
        return tree

    @property
    def size(self) -> int:
        return len(self.levels[0]) // 32 if self.levels else 0

    @property
    def root(self) -> bytes:
        return self.levels[-1] if self.levels else _EMPTY_ROOT

    def node(self, level: int, index: int) -> bytes:
        """Node ``index`` of ``level`` (level 0: the leaf hashes)."""
        buf = self.levels[level]
        if not 0 <= index < len(buf) // 32:
            raise IndexError(f"node {index} outside level {level} of {len(buf) // 32} nodes")
        return buf[32 * index : 32 * index + 32]

    def multiproof(self, indices: Sequence[int]) -> list[bytes]:
        """The nodes that, with the leaves at ``indices`` (strictly ascending), give the root:
        level by level from the leaves up, ascending within a level, each sibling that neither
        those leaves nor nodes computed from them provide (:func:`verify_multiproof`'s order).

        ``k`` leaves among ``n`` need about ``k * log2(n / k)`` nodes, where ``k`` audit paths
        hold ``k * log2(n)``: the paths' shared upper parts are given once."""
        wanted = _ascending(indices, self.size)
        if wanted is None:
            raise ValueError(
                f"leaf indices must be strictly ascending and inside a tree of {self.size} leaves"
            )
        proof: list[bytes] = []
        for level in self.levels[:-1]:
            width = len(level) // 32
            for k, pair in _pairs(wanted):
                sibling = k ^ 1
                if not pair and sibling < width:
                    proof.append(level[32 * sibling : 32 * sibling + 32])
            wanted = sorted({k // 2 for k in wanted})
        return proof

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``, leaf side first (RFC 9162 ``PATH(index, D[n])``)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} outside a tree of {self.size} leaves")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if 32 * sibling < len(level):
                path.append(level[32 * sibling : 32 * sibling + 32])
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


def _ascending(indices: Sequence[int], size: int) -> list[int] | None:
    """``indices`` as a list when non-empty, integers, strictly ascending and below ``size``."""
    out = list(indices)
    if not out or any(type(i) is not int for i in out):
        return None
    if out[0] < 0 or out[-1] >= size or any(a >= b for a, b in zip(out, out[1:], strict=False)):
        return None
    return out


def _pairs(indices: list[int]) -> Iterable[tuple[int, bool]]:
    """``(index, sibling known)`` for each node of one level whose parent is computed once:
    a left node whose right sibling is also known stands for both."""
    i = 0
    while i < len(indices):
        k = indices[i]
        pair = k % 2 == 0 and i + 1 < len(indices) and indices[i + 1] == k + 1
        yield k, pair
        i += 2 if pair else 1


def verify_multiproof(
    leaves: Sequence[bytes],
    indices: Sequence[int],
    size: int,
    proof: Sequence[bytes],
    root: bytes,
) -> bool:
    """Do ``leaves`` sit at ``indices`` (strictly ascending) of the ``size``-leaf tree ``root``,
    given :meth:`MerkleTree.multiproof`'s nodes? Every proof node must be used, exactly once.

    The tree is walked bottom-up as it is built: on each level a known node is hashed with its
    known sibling, or with the next proof node, or, as the unpaired last node, carried up
    unchanged (RFC 9162's split). The nodes known on a level are a function of the indices and
    the size alone, so the proof's shape is fixed before any hash is read."""
    wanted = _ascending(indices, size)
    if wanted is None or len(leaves) != len(wanted) or any(len(p) != 32 for p in proof):
        return False
    known = dict(zip(wanted, map(leaf_hash, leaves), strict=True))
    width, used = size, 0
    while width > 1:
        parents: dict[int, bytes] = {}
        for k, pair in _pairs(sorted(known)):
            node = known[k]
            if pair:
                parents[k // 2] = node_hash(node, known[k + 1])
            elif (k ^ 1) >= width:
                parents[k // 2] = node  # the unpaired last node moves up unchanged
            elif used == len(proof):
                return False
            else:
                sibling = proof[used]
                used += 1
                parents[k // 2] = node_hash(sibling, node) if k % 2 else node_hash(node, sibling)
        known, width = parents, (width + 1) // 2
    return used == len(proof) and known == {0: root}
