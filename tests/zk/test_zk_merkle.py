"""Merkle trees: equal to RFC 9162's recursive definitions; proofs verify and tampering fails."""

from __future__ import annotations

import hashlib
import threading
from array import array
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import zk.merkle
from zk.merkle import (
    MerkleTree,
    encode_row,
    leaf_hash,
    merkle_root,
    merkle_root_packed,
    node_hash,
    verify_inclusion,
    verify_multiproof,
)

needs_native = pytest.mark.skipif(not zk.merkle.NATIVE, reason="zk._sha256tree is not built")


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, written as the RFC states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return rfc_path(m, leaves[:k]) + [mth(leaves[k:])]
    return rfc_path(m - k, leaves[k:]) + [mth(leaves[:k])]


def rows(n: int) -> list[bytes]:
    return [encode_row("transactions", [f"t{i}", i * 7, i % 2 == 0, None]) for i in range(n)]


def test_known_roots_of_the_empty_and_one_empty_leaf_trees() -> None:
    assert merkle_root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle_root([b""]).hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize("n", [*range(1, 18), 31, 32, 33, 100])
def test_root_and_paths_equal_the_rfc_definitions(n: int) -> None:
    leaves = rows(n)
    tree = MerkleTree(leaves)
    assert tree.root == merkle_root(leaves) == mth(leaves)
    for m in range(n):
        path = tree.inclusion_proof(m)
        assert path == rfc_path(m, leaves)
        assert verify_inclusion(leaves[m], m, n, path, tree.root)


def test_inclusion_fails_for_another_row_index_size_or_path() -> None:
    leaves = rows(13)
    tree = MerkleTree(leaves)
    path = tree.inclusion_proof(6)
    assert verify_inclusion(leaves[6], 6, 13, path, tree.root)
    assert not verify_inclusion(leaves[7], 6, 13, path, tree.root)
    assert not verify_inclusion(leaves[6], 7, 13, path, tree.root)
    # a wrong size with another path shape fails; sizes of the same shape are told apart by
    # the signed treeSize, not by the path (RFC 9162 proofs do not encode the size)
    assert not verify_inclusion(leaves[6], 6, 7, path, tree.root)
    assert not verify_inclusion(leaves[6], 6, 17, path, tree.root)
    assert not verify_inclusion(leaves[6], 6, 6, path, tree.root)
    assert not verify_inclusion(leaves[6], 6, 13, path[:-1], tree.root)
    assert not verify_inclusion(leaves[6], 6, 13, [*path, path[0]], tree.root)
    assert not verify_inclusion(leaves[6], 6, 13, path, bytes(32))


def test_a_node_cannot_pose_as_a_leaf() -> None:
    leaves = rows(4)
    tree = MerkleTree(leaves)
    inner = tree.node(1, 0) + tree.node(1, 1)
    # the two children concatenated, hashed as a leaf, is not the root of anything here
    assert leaf_hash(inner) != node_hash(tree.node(1, 0), tree.node(1, 1))
    assert not verify_inclusion(inner, 0, 1, [], tree.root)


values = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.text(max_size=12))


@settings(max_examples=100, deadline=None)
@given(table=st.text(min_size=1, max_size=8), row=st.lists(values, max_size=6))
def test_row_encoding_is_rfc_8785(table: str, row: list[str | int | bool | None]) -> None:
    try:
        expected = rfc8785.dumps([table, *row])
    except rfc8785.CanonicalizationError:
        return  # lone surrogates: JCS refuses them, and so does UTF-8 encoding below
    assert encode_row(table, row) == expected


def test_row_encoding_refuses_floats_and_unsafe_integers_without_echoing_them() -> None:
    with pytest.raises(TypeError, match="value 1 of table 'loans' is a float") as exc:
        encode_row("loans", ["L1", 1234.5])
    assert "1234.5" not in str(exc.value)
    with pytest.raises(ValueError, match="exceeds 2"):
        encode_row("loans", [2**60])


def _packed(leaves: list[bytes], cuts: list[int]) -> list[tuple[bytes, list[int]]]:
    """The leaves as segments of one buffer, cut before each index in ``cuts``."""
    offsets = [0]
    for leaf in leaves:
        offsets.append(offsets[-1] + len(leaf))
    data = b"".join(leaves)
    bounds = [0, *cuts, len(leaves)]
    return [(data, offsets[a : b + 1]) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


@pytest.fixture(params=["native", "hashlib"])
def hasher(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each tree test runs on both hashers: OpenSSL in batches and the hashlib fallback."""
    if request.param == "hashlib":
        monkeypatch.setattr(zk.merkle, "NATIVE", False)
    return str(request.param)


def test_this_install_built_the_native_hasher() -> None:
    # `pip install -e .` (make test / make run) compiles zk/_sha256tree.c; the build is optional
    # so that a verifier-only install without a compiler still works, which would hide a failed
    # build here: 6x slower snapshot roots, reported only in the asset's metadata.
    assert zk.merkle.NATIVE, (
        "zk._sha256tree is not built: install a C compiler and OpenSSL's headers (Debian: gcc "
        "libssl-dev), then `pip install --no-deps -e .`"
    )


@pytest.mark.parametrize(
    ("n", "workers"),
    [(n, 1) for n in (0, 1, 3, 4, 5, 8, 9, 15, 16, 17, 31, 33, 64, 100)] + [(9, 2), (33, 2)],
)
def test_subtrees_hashed_on_threads_give_the_rfc_root_and_paths(
    monkeypatch: pytest.MonkeyPatch, hasher: str, n: int, workers: int
) -> None:
    # Subtrees of 4 leaves: every tree above is cut, most with a short last subtree, and the
    # segments are cut elsewhere than the subtrees, so both kinds of boundary are crossed.
    monkeypatch.setattr(zk.merkle, "CHUNK_LEAVES", 4)
    leaves = rows(n)
    segments = _packed(leaves, [c for c in (3, 10, 11) if c < n])
    expected = mth(leaves)
    assert merkle_root(leaves, workers=workers) == expected
    assert merkle_root_packed(segments, workers=workers) == expected
    tree = MerkleTree.from_packed(segments, workers=workers)
    assert tree.levels == MerkleTree(leaves).levels and tree.size == n
    for m in range(n):
        assert tree.inclusion_proof(m) == rfc_path(m, leaves)


def _merkle_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("merkle")]


def test_a_failing_row_producer_stops_the_hashing_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zk.merkle, "CHUNK_LEAVES", 2)

    def segments() -> Iterator[tuple[bytes, list[int]]]:
        yield from _packed(rows(8), [4])
        assert _merkle_threads(), "the subtrees before the failure were not handed to threads"
        raise ValueError("row 9: not a finite number")

    with pytest.raises(ValueError, match="row 9"):
        merkle_root_packed(segments(), workers=2)
    assert not _merkle_threads()


def test_trees_built_at_once_on_several_threads_do_not_mix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zk.merkle, "CHUNK_LEAVES", 8)
    inputs = [rows(n) for n in (50, 64, 77, 101)]
    with ThreadPoolExecutor(4) as pool:
        roots = list(pool.map(lambda leaves: merkle_root(leaves, workers=2), inputs * 3))
    assert roots == [mth(leaves) for leaves in inputs] * 3


leaf_lists = st.lists(st.binary(max_size=300), max_size=40)


@needs_native
@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, lead=st.binary(max_size=5), wide=st.booleans())
def test_native_leaf_hashes_equal_hashlib(leaves: list[bytes], lead: bytes, wide: bool) -> None:
    # Offsets absolute into the data, which may start with bytes that belong to no leaf.
    offsets = array("q" if wide else "i", accumulate(map(len, leaves), initial=len(lead)))
    from zk._sha256tree import hash_leaves

    got = hash_leaves(lead + b"".join(leaves), offsets)
    assert got == b"".join(leaf_hash(leaf) for leaf in leaves)


@needs_native
@settings(max_examples=150, deadline=None)
@given(hashes=st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70))
def test_native_levels_equal_the_python_levels(hashes: list[bytes]) -> None:
    from zk._sha256tree import tree_levels

    for keep in (True, False):
        assert tree_levels(b"".join(hashes), keep) == zk.merkle.subtree_levels(hashes, keep)


@needs_native
@pytest.mark.parametrize(
    ("data", "offsets", "error"),
    [
        (b"abcdef", array("i", [0, 4, 2]), "must not decrease"),
        (b"abcdef", array("i", [0, 7]), "outside the data"),
        (b"abcdef", array("i", [-1, 2]), "outside the data"),
        (b"abcdef", array("i"), "at least one"),
        (b"abcdef", array("d", [0.0, 2.0]), "int32 or int64"),
        (b"abcdef", array("h", [0, 2]), "int32 or int64"),
        (b"abcdef", b"\x00\x00\x00\x00", "int32 or int64"),
    ],
)
def test_the_native_hasher_refuses_bad_offsets_with_a_reason(
    data: bytes, offsets: object, error: str
) -> None:
    from zk._sha256tree import hash_leaves

    with pytest.raises((ValueError, TypeError), match=error):
        hash_leaves(data, offsets)  # type: ignore[arg-type]


@needs_native
@pytest.mark.parametrize("hashes", [b"", bytes(31), bytes(33)])
def test_the_native_levels_refuse_what_is_not_a_row_of_hashes(hashes: bytes) -> None:
    from zk._sha256tree import tree_levels

    with pytest.raises(ValueError, match="multiple of 32"):
        tree_levels(hashes, True)


def test_packed_offsets_outside_the_data_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the data"):
        merkle_root_packed([(b"abc", [0, 2, 5])])


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_multiproof_gives_each_needed_node_of_the_rfc_paths_once(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 70), label="n")
    picked = data.draw(st.sets(st.integers(0, n - 1), min_size=1), label="indices")
    indices = sorted(picked)
    leaves = rows(n)
    tree = MerkleTree(leaves)
    proof = tree.multiproof(indices)
    assert verify_multiproof([leaves[i] for i in indices], indices, n, proof, mth(leaves))
    # Every node it gives is on one of the RFC audit paths, none twice, and never more of them
    # than the paths hold together.
    on_paths = {node for i in indices for node in rfc_path(i, leaves)}
    assert set(proof) <= on_paths and len(set(proof)) == len(proof)
    assert len(proof) <= sum(len(rfc_path(i, leaves)) for i in indices)
    if len(indices) == 1:
        assert proof == rfc_path(indices[0], leaves)


def test_a_multiproof_fails_for_a_changed_row_index_count_node_size_or_root() -> None:
    leaves = rows(37)
    tree = MerkleTree(leaves)
    indices = [2, 3, 9, 20, 36]
    mine = [leaves[i] for i in indices]
    proof = tree.multiproof(indices)
    assert verify_multiproof(mine, indices, 37, proof, tree.root)
    assert len(proof) < sum(len(tree.inclusion_proof(i)) for i in indices)
    flipped = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    cases = {
        "another row": ([*mine[:2], leaves[10], *mine[3:]], indices, 37, proof, tree.root),
        "rows swapped": ([mine[1], mine[0], *mine[2:]], indices, 37, proof, tree.root),
        "another index": (mine, [2, 3, 9, 21, 36], 37, proof, tree.root),
        "a row dropped": (mine[1:], indices[1:], 37, proof, tree.root),
        "a row without index": (mine, indices[1:], 37, proof, tree.root),
        "indices not ascending": (mine, [3, 2, 9, 20, 36], 37, proof, tree.root),
        "an index repeated": (mine, [2, 2, 9, 20, 36], 37, proof, tree.root),
        "an index outside": (mine, [2, 3, 9, 20, 37], 37, proof, tree.root),
        "a node changed": (mine, indices, 37, [proof[0], flipped, *proof[2:]], tree.root),
        "a node dropped": (mine, indices, 37, proof[:-1], tree.root),
        "a node added": (mine, indices, 37, [*proof, proof[0]], tree.root),
        "a short node": (mine, indices, 37, [proof[0][:31], *proof[1:]], tree.root),
        "another size": (mine, indices, 38, proof, tree.root),
        "another root": (mine, indices, 37, proof, bytes(32)),
        "no rows": ([], [], 37, proof, tree.root),
    }
    for name, args in cases.items():
        assert not verify_multiproof(*args), name
    with pytest.raises(ValueError, match="strictly ascending"):
        tree.multiproof([3, 2])
    with pytest.raises(ValueError, match="inside a tree of 37"):
        tree.multiproof([37])


def test_a_multiproof_of_a_tree_built_in_subtrees_and_workers_is_the_same(
    monkeypatch: pytest.MonkeyPatch, hasher: str
) -> None:
    monkeypatch.setattr(zk.merkle, "CHUNK_LEAVES", 4)
    leaves = rows(23)
    indices = [0, 5, 6, 7, 15, 22]
    built = MerkleTree.from_packed(_packed(leaves, [7, 13]), workers=2)
    assert built.multiproof(indices) == MerkleTree(leaves).multiproof(indices)
