"""The verifier end to end: honest documents pass; every tampering, replay and stale state fails
at the check that should catch it."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from zk_testworld import AUDIENCE, LIST_ID, NONCE, NOW, T0, World

from zk.attestations import attest_release, file_digest, snapshot_commitment, snapshot_inclusion
from zk.envelope import canonical, mb_decode, mb_encode, write_document
from zk.merkle import MerkleTree, encode_row
from zk.presentation import prove_threshold
from zk.signatures import IssuerKey, issuer_key_path, write_issuer_public_key
from zk.statuslist import StatusList, status_list_credential
from zk.verify import verify_document, verify_file


def check(data: bytes, world: World, **kw: Any) -> Any:
    kw.setdefault("nonce", NONCE)
    kw.setdefault("audience", AUDIENCE)
    kw.setdefault("now", NOW)
    kw.setdefault("home", world.home)
    return verify_document(data, base_dir=kw.pop("base_dir", world.home), **kw)


def test_honest_presentation_passes_every_applicable_check(world: World) -> None:
    report = verify_file(
        world.presentation, nonce=NONCE, audience=AUDIENCE, home=world.home, now=NOW
    )
    assert report.valid, report.summary()
    assert report.kind == "score-presentation"
    status = {c.name: c.status for c in report.checks}
    assert status == {
        "format": "pass",
        "issuer_key": "pass",
        "signature": "pass",
        "validity_window": "pass",
        "revocation": "pass",
        "context": "pass",
        "range_proof": "pass",
        "merkle_inclusion": "skip",
        "binding_hashes": "pass",
    }
    assert world.key.key_id in report.issuer_key
    assert str(issuer_key_path(world.home)) in report.issuer_key


def test_presentation_reveals_no_score_or_blinding(world: World) -> None:
    doc = json.loads(world.presentation.read_text())
    opening = json.loads(world.opening.read_text())
    numbers = [v for v in _values(doc) if isinstance(v, int) and not isinstance(v, bool)]
    assert opening["score"] not in numbers  # only the threshold (600) and bits (10) appear
    assert sorted(numbers) == [10, 10, 600]
    assert opening["blinding"] not in world.presentation.read_text()


def _values(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _values(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _values(v)
    else:
        yield obj


def test_prover_refuses_a_score_below_the_threshold_and_a_wrong_opening(
    world: World, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="below the threshold") as exc:
        prove_threshold(world.credential, world.opening, 713, NONCE, AUDIENCE)
    assert "712" not in str(exc.value)
    bad = json.loads(world.opening.read_text())
    bad["score"] = 800  # claims a higher score than the commitment holds
    write_document(tmp_path / "opening.json", bad)
    with pytest.raises(ValueError, match="does not match the commitment"):
        prove_threshold(world.credential, tmp_path / "opening.json", 750, NONCE, AUDIENCE)


def test_replay_with_another_nonce_or_audience_fails_the_context_check(world: World) -> None:
    data = world.presentation.read_bytes()
    assert check(data, world, nonce="nonce-other").failed == "context"
    assert check(data, world, audience="did:web:other.example").failed == "context"
    assert check(data, world, nonce=None).failed == "context"


def _rewrite(doc: dict[str, Any], new_nonce: str) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    out["proof"]["challenge"] = new_nonce
    return out


def test_relabelling_the_nonce_inside_the_file_breaks_the_range_proof(world: World) -> None:
    doc = json.loads(world.presentation.read_text())
    moved = _rewrite(doc, "nonce-other")
    report = check(canonical(moved), world, nonce="nonce-other")
    assert report.failed == "range_proof"


def leaf_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from leaf_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaf_paths(v, (*prefix, i))
    else:
        yield prefix


def mutate_value(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if isinstance(v, float):
        return v * 2 + 1
    if isinstance(v, str):
        return v[:-1] + ("0" if v[-1:] != "0" else "1")
    return "x"


def test_changing_any_field_of_a_presentation_is_rejected(world: World) -> None:
    doc = json.loads(world.presentation.read_text())
    paths = list(leaf_paths(doc))
    assert len(paths) > 30
    for path in paths:
        changed = copy.deepcopy(doc)
        node = changed
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = mutate_value(node[path[-1]])
        report = check(canonical(changed), world)
        assert not report.valid, path
        assert report.failed is not None


def test_deleting_any_field_of_a_presentation_is_rejected_without_a_crash(world: World) -> None:
    doc = json.loads(world.presentation.read_text())
    for path in leaf_paths(doc):
        for cut in range(1, len(path) + 1):
            changed = copy.deepcopy(doc)
            node = changed
            for key in path[: cut - 1]:
                node = node[key]
            del node[path[cut - 1]]
            report = check(canonical(changed), world)
            assert not report.valid, path[:cut]


def test_swapping_in_another_commitment_or_score_claim_is_caught_by_the_signature(
    world: World,
) -> None:
    doc = json.loads(world.presentation.read_text())
    other = world.credentials[1]["credentialSubject"]["score"]["commitment"]
    doc["verifiableCredential"][0]["credentialSubject"]["score"]["commitment"] = other
    assert check(canonical(doc), world).failed == "signature"
    doc = json.loads(world.presentation.read_text())
    doc["proof"]["statement"]["threshold"] = 700
    assert check(canonical(doc), world).failed == "range_proof"


def test_a_thousand_random_byte_mutations_are_all_rejected(world: World) -> None:
    data = world.presentation.read_bytes()
    rng = random.Random(20260301)
    accepted = []
    for _ in range(1000):
        b = bytearray(data)
        i = rng.randrange(len(b))
        b[i] = (b[i] + rng.randrange(1, 256)) % 256
        if check(bytes(b), world).valid:
            accepted.append(i)
    assert accepted == []


def test_non_canonical_bytes_of_a_valid_document_are_rejected(world: World) -> None:
    doc = json.loads(world.presentation.read_text())
    pretty = json.dumps(doc, indent=1).encode()
    report = check(pretty, world)
    assert report.failed == "format"
    assert "canonical" in report.checks[0].detail


def test_revoked_credential_fails_revocation(world: World, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    prove_threshold(world.revoked_credential, world.revoked_opening, 600, NONCE, AUDIENCE, out=out)
    report = verify_file(out, nonce=NONCE, audience=AUDIENCE, home=world.home, now=NOW)
    assert report.failed == "revocation"
    assert "bit 41" in report.checks[4].detail


def test_expired_or_not_yet_valid_credential_fails_the_validity_window(world: World) -> None:
    data = world.presentation.read_bytes()
    assert check(data, world, now=T0 + timedelta(days=91)).failed == "validity_window"
    assert check(data, world, now=T0 - timedelta(seconds=1)).failed == "validity_window"


def test_stale_or_foreign_status_lists_are_not_trusted(world: World, tmp_path: Path) -> None:
    data = world.presentation.read_bytes()
    # the list expires after 7 days: a verifier must fetch a current one
    report = check(data, world, now=T0 + timedelta(days=8))
    assert report.failed == "revocation" and "not current" in report.checks[4].detail
    other = IssuerKey.from_secret(bytes(32))
    foreign = status_list_credential(
        StatusList(),
        issuer=other,
        list_id=LIST_ID,
        valid_from=T0,
        valid_until=T0 + timedelta(days=7),
    )
    write_document(tmp_path / "list.json", foreign)
    report = check(data, world, status_list=tmp_path / "list.json")
    assert report.failed == "revocation" and "signature" in report.checks[4].detail
    assert check(data, world, status_list=tmp_path / "missing.json").failed == "revocation"


def test_a_document_signed_by_another_key_never_verifies_under_the_trusted_key(
    world: World, tmp_path: Path
) -> None:
    attacker = IssuerKey.from_secret(b"\x07" * 32)
    doc = json.loads(world.credential.read_text())
    doc.pop("proof")
    doc["issuer"] = attacker.issuer
    from zk.envelope import sign_document

    forged = sign_document(doc, attacker, created=T0)
    report = check(canonical(forged), world)
    assert report.failed == "signature"
    assert world.key.key_id in report.checks[2].detail
    # ... but it does under the attacker's key, if the verifier chooses to trust that key
    write_issuer_public_key(tmp_path / "attacker.json", attacker)
    report = check(
        canonical(forged), world, issuer_key=tmp_path / "attacker.json", status_list=None
    )
    assert report.failed == "revocation"  # signature passed; the attacker has no status list here


def test_without_a_key_or_a_home_the_issuer_key_check_fails(world: World, tmp_path: Path) -> None:
    data = world.presentation.read_bytes()
    assert check(data, world, home=None).failed == "issuer_key"
    assert check(data, world, home=tmp_path).failed == "issuer_key"
    assert check(data, world, issuer_key=b"not a key").failed == "issuer_key"
    raw = world.key.public_key
    assert check(data, world, issuer_key=raw).valid


def test_a_tampered_issuer_key_file_is_refused(world: World, tmp_path: Path) -> None:
    doc = json.loads(issuer_key_path(world.home).read_text())
    other = IssuerKey.from_secret(b"\x09" * 32)
    doc["publicKey"] = other.public_key.hex()
    write_document(tmp_path / "k.json", doc)
    report = check(world.presentation.read_bytes(), world, issuer_key=tmp_path / "k.json")
    assert report.failed == "issuer_key" and "keyId" in report.checks[1].detail
    doc["keyId"] = other.key_id  # consistent id, but the proof of possession is the old key's
    write_document(tmp_path / "k.json", doc)
    report = check(world.presentation.read_bytes(), world, issuer_key=tmp_path / "k.json")
    assert report.failed == "issuer_key" and "possession" in report.checks[1].detail


def test_credential_alone_verifies_without_a_nonce(world: World) -> None:
    report = verify_file(world.credential, home=world.home, now=NOW)
    assert report.valid and report.kind == "score-credential"
    assert {c.name for c in report.checks if c.status == "skip"} == {
        "context",
        "range_proof",
        "merkle_inclusion",
        "binding_hashes",
    }


def test_opening_never_appears_in_the_credential(world: World) -> None:
    for cred, opening in zip(world.credentials, world.openings, strict=True):
        text = canonical(cred).decode()
        assert opening["blinding"] not in text
        assert "score" in cred["credentialSubject"] and "blinding" not in text


@pytest.fixture(scope="module")
def release(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("release")
    data = folder / "spend_by_city.csv"
    data.write_bytes(b"city,spend\nEast,1200\n")
    manifest = folder / "manifest.json"
    manifest.write_text(
        json.dumps({"release": "r-2026-03-04", "files": {data.name: file_digest(data)}})
    )
    doc = attest_release(
        issuer=world.key,
        release_id="r-2026-03-04",
        manifest_path=manifest,
        snapshot_root=bytes.fromhex("9e" * 32),
        snapshot_id="snap-2026-03-01",
        rho=0.0125,
        ledger_entry_hash="sha256:" + "c4" * 32,
        code_version="1b34d7d",
        issued=T0,
        audience="buyer-acme",
    )
    return write_document(folder / "attestation.json", doc)


def test_release_attestation_verifies_and_binds_the_manifest(world: World, release: Path) -> None:
    report = verify_file(release, home=world.home, now=NOW)
    assert report.valid, report.summary()
    assert report.kind == "release-attestation"
    assert "its 1 files (spend_by_city.csv) match" in report.summary()
    for name, change in (
        ("manifest.json", lambda b: b.replace(b"r-2026", b"r-2027")),
        ("spend_by_city.csv", lambda b: b.replace(b"1200", b"1201")),
    ):
        target = release.parent / name
        original = target.read_bytes()
        try:
            target.write_bytes(change(original))
            report = verify_file(release, home=world.home, now=NOW)
            assert report.failed == "binding_hashes", name
            assert name in next(c.detail for c in report.checks if c.status == "fail")
            target.unlink()
            assert verify_file(release, home=world.home, now=NOW).failed == "binding_hashes"
        finally:
            target.write_bytes(original)


def test_random_byte_mutations_of_a_release_attestation_are_rejected(
    world: World, release: Path
) -> None:
    data = release.read_bytes()
    rng = random.Random(7)
    for _ in range(300):
        b = bytearray(data)
        i = rng.randrange(len(b))
        b[i] ^= rng.randrange(1, 256)
        report = check(bytes(b), world, base_dir=release.parent)
        assert not report.valid, i


def _snapshot_world(world: World) -> tuple[list[bytes], MerkleTree, dict[str, Any]]:
    leaves = [encode_row("transactions", [f"tx{i}", f"ps_{i % 5}", i * 100]) for i in range(57)]
    tree = MerkleTree(leaves)
    commitment = snapshot_commitment(
        issuer=world.key, snapshot_id="snap-2026-03-01", root=tree.root, size=tree.size, issued=T0
    )
    return leaves, tree, commitment


def test_snapshot_inclusion_proves_a_subjects_rows_and_nothing_else(
    world: World, tmp_path: Path
) -> None:
    leaves, tree, commitment = _snapshot_world(world)
    mine = [(i, leaves[i]) for i in range(57) if i % 5 == 3]
    doc = snapshot_inclusion(commitment, tree, list(reversed(mine)))
    assert doc["version"] == 2 and doc["indices"] == [i for i, _ in mine]
    assert [mb_decode(leaf, "leaf") for leaf in doc["leaves"]] == [leaf for _, leaf in mine]
    path = write_document(tmp_path / "inclusion.json", doc)
    report = verify_file(path, home=world.home, now=NOW)
    assert report.valid, report.summary()
    assert "11 rows" in next(c.detail for c in report.checks if c.name == "merkle_inclusion")
    with pytest.raises(ValueError, match="not the row at that index"):
        snapshot_inclusion(commitment, tree, [(4, leaves[3])])
    with pytest.raises(ValueError, match="given twice"):
        snapshot_inclusion(commitment, tree, [(3, leaves[3]), (3, leaves[3])])


def _tampered(doc: dict[str, Any], leaves: list[bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each way of claiming rows the snapshot does not hold at those indices."""
    nodes = mb_decode(doc["multiproof"], "multiproof")

    def changed(**fields: Any) -> dict[str, Any]:
        return {**copy.deepcopy(doc), **fields}

    other = leaves[doc["indices"][1] + 1]
    yield "row", changed(leaves=[doc["leaves"][0], mb_encode(other), *doc["leaves"][2:]])
    yield "rows swapped", changed(leaves=[doc["leaves"][1], doc["leaves"][0], *doc["leaves"][2:]])
    yield "index", changed(indices=[doc["indices"][0] + 1, *doc["indices"][1:]])
    yield (
        "index order",
        changed(indices=[doc["indices"][1], doc["indices"][0], *doc["indices"][2:]]),
    )
    yield "count", changed(indices=doc["indices"][1:], leaves=doc["leaves"][1:])
    node = bytes([nodes[0] ^ 1]) + nodes[1:]
    yield "proof node", changed(multiproof=mb_encode(node))
    yield "proof node dropped", changed(multiproof=mb_encode(nodes[32:]))
    yield "proof node added", changed(multiproof=mb_encode(nodes + nodes[:32]))


def test_a_changed_row_index_count_or_proof_node_fails_the_merkle_inclusion_check(
    world: World,
) -> None:
    leaves, tree, commitment = _snapshot_world(world)
    doc = snapshot_inclusion(commitment, tree, [(i, leaves[i]) for i in (1, 2, 8, 30, 56)])
    assert check(canonical(doc), world).valid
    for name, changed in _tampered(doc, leaves):
        report = check(canonical(changed), world)
        assert report.failed == "merkle_inclusion", (name, report.summary())
        assert "is not in snapshot snap-2026-03-01" in report.summary(), name
    torn = {**doc, "multiproof": mb_encode(mb_decode(doc["multiproof"], "m")[:-1])}
    assert check(canonical(torn), world).failed == "format"  # not whole 32-byte nodes
    uneven = {**doc, "indices": doc["indices"][1:]}  # one index short of the leaves
    assert check(canonical(uneven), world).failed == "format"


def test_a_version_1_document_with_one_audit_path_per_row_still_verifies(world: World) -> None:
    # Documents published before the multiproof: each row with its own RFC 9162 audit path.
    leaves, tree, commitment = _snapshot_world(world)
    rows = [(i, leaves[i]) for i in (3, 8, 13)]
    doc: dict[str, Any] = {
        "type": "LedgerlensSnapshotInclusion",
        "version": 1,
        "snapshot": commitment,
        "leaves": [
            {
                "index": i,
                "leaf": mb_encode(leaf),
                "path": [p.hex() for p in tree.inclusion_proof(i)],
            }
            for i, leaf in rows
        ],
    }
    report = check(canonical(doc), world)
    assert report.valid, report.summary()
    doc["leaves"][2]["index"] += 5  # another subject's slot
    report = check(canonical(doc), world)
    assert report.failed == "merkle_inclusion"
    assert "leaves[2] (index 18) is not in snapshot" in report.summary()


def test_an_inclusion_proof_of_a_few_hundred_rows_in_a_large_tree_is_compact(
    world: World,
) -> None:
    # 300 rows spread over 2^16 leaves: the multiproof shares the paths' upper nodes and packs
    # the nodes as bytes; the version 1 document spelled 300 paths of 16 nodes in hex.
    leaves = [f"row {i}".encode() for i in range(1 << 16)]
    tree = MerkleTree(leaves)
    commitment = snapshot_commitment(
        issuer=world.key, snapshot_id="s-big", root=tree.root, size=tree.size, issued=T0
    )
    picked = sorted(random.Random(13).sample(range(tree.size), 300))
    doc = snapshot_inclusion(commitment, tree, [(i, leaves[i]) for i in picked])
    nodes = len(mb_decode(doc["multiproof"], "multiproof")) // 32
    assert nodes < 0.6 * 300 * 16
    v1_paths = 300 * 16 * len(json.dumps("00" * 32) + ",")
    assert len(canonical(doc)) < 0.35 * v1_paths
    assert check(canonical(doc), world).valid


def test_status_list_round_trips_with_w3c_bit_order() -> None:
    status = StatusList()
    status.revoke(0)
    status.revoke(13)
    back = StatusList.decode(status.encode())
    assert back.bits[0] == 0x80 and back.bits[1] == 0x04
    assert [i for i in range(16) if back.is_set(i)] == [0, 13]
    assert status.encode() == StatusList.decode(status.encode()).encode()


def _subtrees(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _subtrees(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _subtrees(v, (*prefix, i))


def _inclusion_doc(world: World) -> dict[str, Any]:
    leaves = [encode_row("transactions", [f"tx{i}", i]) for i in range(6)]
    tree = MerkleTree(leaves)
    commitment = snapshot_commitment(
        issuer=world.key, snapshot_id="s1", root=tree.root, size=tree.size, issued=T0
    )
    return snapshot_inclusion(commitment, tree, [(5, leaves[5])])


def test_hostile_values_anywhere_are_rejected_without_a_crash(world: World, release: Path) -> None:
    # True == 1 and 2**60 (outside JSON's safe integers) are the classic type-confusion probes
    hostile: list[Any] = [True, None, {}, 2**60]
    docs = [
        (json.loads(world.presentation.read_text()), world.home),
        (json.loads(release.read_text()), release.parent),
        (_inclusion_doc(world), world.home),
    ]
    tried = 0
    for doc, base in docs:
        for path in _subtrees(doc):
            for value in hostile:
                changed = copy.deepcopy(doc)
                node = changed
                for key in path[:-1]:
                    node = node[key]
                node[path[-1]] = value
                data = json.dumps(changed, sort_keys=True, separators=(",", ":")).encode()
                report = check(data, world, base_dir=base)
                assert not report.valid, (path, value)
                tried += 1
    assert tried > 400
