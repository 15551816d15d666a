"""Zero-knowledge attestations: "score >= t" proofs, credential verification, snapshot Merkle roots.

Anchors (measured in the same run, same inputs):

- proofs and verification: the same code on the py-ecc reference backend
  (``py_ecc.optimized_bls12_381``, pure Python), with fewer repetitions because it is ~40x slower;
- Merkle root: a bare ``hashlib.sha256`` loop over the same encoded rows, one hash per row and no
  tree (the floor any RFC 9162 root must pay twice: n leaf hashes plus n - 1 node hashes), in one
  process; beside it the earlier code (``encode_row`` per row, one process) on the same rows, and
  CPU seconds including the worker processes, since the machine is shared.

Times are medians per operation. Proof size is the binary range proof (``proofValue`` decoded) and,
beside it, the base64url text and the whole presentation file.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import Row

K = 10
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=1)
NONCE, AUDIENCE = "bench-nonce-0001", "did:web:lender.example"


def _median(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` and all wall times; the CPU-time median goes in ``_CPU``."""
    times, cpu = [], []
    for _ in range(repeats):
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    _CPU[fn.__name__] = statistics.median(cpu)
    return statistics.median(times), times


# CPU seconds beside the wall figures: the machine is shared, and CPU time shows how much of a
# wall figure is waiting for a core.
_CPU: dict[str, float] = {}


def _world(work: Path, backend: str) -> dict[str, Any]:
    from zk.credentials import issue_score_credentials
    from zk.envelope import write_document
    from zk.signatures import IssuerKey, issuer_key_path, write_issuer_public_key
    from zk.statuslist import StatusList, status_list_credential
    from zk.verify import status_list_path

    home = work / backend
    key = IssuerKey.from_secret(hashlib.sha256(b"bench issuer").digest(), _backend(backend))
    write_issuer_public_key(issuer_key_path(home), key, _backend(backend))
    list_id = "urn:ledgerlens:status:bench"
    status = StatusList()
    status.revoke(3)
    write_document(
        status_list_path(home),
        status_list_credential(
            status,
            issuer=key,
            list_id=list_id,
            valid_from=T0,
            valid_until=T0 + timedelta(days=7),
            backend=_backend(backend),
        ),
    )
    started = time.perf_counter()
    issued = issue_score_credentials(
        [("ps_bench", 712)],
        issuer=key,
        model_version="bench",
        model_hash="sha256:" + "00" * 32,
        snapshot_root="11" * 32,
        valid_from=T0,
        valid_until=T0 + timedelta(days=90),
        status_list_id=list_id,
        status_index_start=0,
        bits=K,
        backend=_backend(backend),
    )
    issue_seconds = time.perf_counter() - started
    cred = write_document(home / "credential.json", issued.credentials[0])
    opening = write_document(home / "opening.json", issued.openings[0])
    return {"home": home, "credential": cred, "opening": opening, "issue_seconds": issue_seconds}


def _backend(name: str) -> Any:
    from zk.backends import get_backend

    return get_backend(name)  # type: ignore[arg-type]


def _proof_figures(work: Path, backend: str, repeats: int) -> dict[str, Any]:
    from zk.envelope import mb_decode, write_document
    from zk.presentation import presentation_transcript, prove_threshold
    from zk.rangeproof import RangeProof, verify_threshold_bits
    from zk.verify import verify_file

    be = _backend(backend)
    w = _world(work, backend)
    pres_path = w["home"] / "presentation.json"

    def prove() -> dict[str, Any]:
        return prove_threshold(
            w["credential"], w["opening"], 600, NONCE, AUDIENCE, now=NOW, backend=be
        )

    prove_s, prove_all = _median(prove, repeats)
    presentation = prove()
    write_document(pres_path, presentation)
    wire = mb_decode(presentation["proof"]["proofValue"], "proofValue")
    commitment = be.g1_from_bytes(
        bytes.fromhex(
            presentation["verifiableCredential"][0]["credentialSubject"]["score"]["commitment"]
        )
    )

    def verify_proof() -> None:
        proof = RangeProof.from_bytes(wire)
        assert verify_threshold_bits(
            be, presentation_transcript(presentation), commitment, proof, 600, K
        )

    def verify_presentation() -> None:
        report = verify_file(
            pres_path, nonce=NONCE, audience=AUDIENCE, home=w["home"], now=NOW, backend=be
        )
        assert report.valid, report.summary()

    def verify_credential() -> None:
        report = verify_file(w["credential"], home=w["home"], now=NOW, backend=be)
        assert report.valid, report.summary()

    verify_s, verify_all = _median(verify_proof, repeats)
    full_s, full_all = _median(verify_presentation, repeats)
    cred_s, cred_all = _median(verify_credential, repeats)
    return {
        "cpu": {
            k: _CPU[k]
            for k in ("prove", "verify_proof", "verify_presentation", "verify_credential")
        },
        "prove": prove_s,
        "prove_all": prove_all,
        "verify_proof": verify_s,
        "verify_proof_all": verify_all,
        "verify_presentation": full_s,
        "verify_presentation_all": full_all,
        "verify_credential": cred_s,
        "verify_credential_all": cred_all,
        "issue_one_credential_seconds": w["issue_seconds"],
        "proof_bytes": len(wire),
        "proof_value_chars": len(presentation["proof"]["proofValue"]),
        "presentation_bytes": pres_path.stat().st_size,
        "credential_bytes": w["credential"].stat().st_size,
    }


def _ledger_table(n: int) -> Any:
    """``n`` synthetic ledger rows shaped like the committed columns (text and floats)."""
    import pyarrow as pa

    from assets.attestations import COMMITTED_COLUMNS

    kinds = ("merchant_payment", "p2p_transfer", "top_up", "withdrawal")
    i = range(n)
    columns: dict[str, Any] = {
        "txn_id": [f"tx{k:09d}" for k in i],
        "occurred_at": [
            f"2026-01-{1 + k % 28:02d}T{k % 24:02d}:{k % 60:02d}:00.000000Z" for k in i
        ],
        "holder": [f"{(k * 0x9E3779B97F4A7C15) % 2**128:032x}" for k in i],
        "tx_type": [kinds[k % 4] for k in i],
        "direction": ["out" if k % 3 else "in" for k in i],
        "asset": ["USDT" if k % 5 else "USDC" for k in i],
        "amount": [((k * 7919) % 10_000_000) / 100 for k in i],
        "fee": [0.0 if k % 4 else 0.25 for k in i],
        "merchant_id": [f"M{k % 997:04d}" if k % 4 == 0 else None for k in i],
        "loan_id": [f"L{k % 50_000:07d}" if k % 50 == 0 else None for k in i],
    }
    assert list(columns) == [name for name, _ in COMMITTED_COLUMNS]
    return pa.table(columns)


def _merkle_row(n: int, repeats: int) -> tuple[Row, list[Any], list[bytes]]:
    """The Merkle row, and the encoded rows it hashed (packed, and as one bytes each)."""
    import zk.merkle
    from assets.attestations import MERKLE_WORKERS, _packed, encode_ahead, encode_rows
    from zk.merkle import HASHER, encode_row, merkle_root, merkle_root_packed, number_text

    table = _ledger_table(n)
    batches = table.to_batches(max_chunksize=65_536)
    cpu: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any]) -> tuple[float, list[float], Any]:
        times, cpus, out = [], [], None
        for _ in range(repeats):
            c, t = time.process_time(), time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        cpu[name] = statistics.median(cpus)
        return statistics.median(times), times, out

    def now() -> bytes:  # what the snapshot asset does: encoding and hashing on threads
        segments = (_packed(e) for e, _ in encode_ahead("transactions", batches, MERKLE_WORKERS))
        return merkle_root_packed(segments, workers=MERKLE_WORKERS)

    def tree_only() -> bytes:
        return merkle_root_packed(encoded, workers=MERKLE_WORKERS)

    def hashlib_tree() -> bytes:  # the same tree through the hashlib fallback
        native, zk.merkle.NATIVE = zk.merkle.NATIVE, False
        try:
            return merkle_root_packed(encoded, workers=1)
        finally:
            zk.merkle.NATIVE = native

    encoded = [_packed(encode_rows("transactions", b, 0)) for b in batches]
    now_s, now_all, root = timed("now", now)
    tree_s, _, tree_root = timed("tree", tree_only)
    hashlib_s, _, hashlib_root = timed("hashlib tree", hashlib_tree)
    # Before: the earlier asset code on the same Arrow batches: Python values, number_text and
    # encode_row per row, merkle_root in one process.
    floats = [i for i, c in enumerate(table.columns) if c.type == "double"]

    def before() -> bytes:
        def leaves() -> Any:
            for b in batches:
                cols = [c.to_pylist() for c in b.columns]
                for i in floats:
                    cols[i] = [None if v is None else number_text(v) for v in cols[i]]
                for r in zip(*cols, strict=True):
                    yield encode_row("transactions", r)

        return merkle_root(leaves())

    before_s, _, before_root = timed("before", before)
    assert root == tree_root == hashlib_root == before_root, "the roots differ"
    sha = hashlib.sha256
    plain = [bytes(d[o[i] : o[i + 1]]) for d, o in encoded for i in range(len(o) - 1)]
    bare_s, bare_all, _ = timed("bare", lambda: [sha(r).digest() for r in plain])
    assert merkle_root(plain) == root, "the packed, multi-process root differs from the plain one"
    row = Row(
        benchmark="zk",
        case=f"snapshot Merkle root (RFC 9162 SHA-256) over {n:,} ledger rows: Arrow encoding "
        f"+ tree on {MERKLE_WORKERS} threads ({HASHER})",
        seconds=now_s,
        rows=n,
        anchor="bare hashlib.sha256 loop over the same encoded rows, one hash per row, no tree",
        anchor_seconds=bare_s,
        target=">= 1,000,000 rows/s on 2 cores",
        extra={
            "hasher": HASHER,
            "cpu_seconds": cpu["now"],
            "rows_per_cpu_second": round(n / cpu["now"]),
            "rows_per_second_at_full_use_of_2_cores": round(n / (cpu["now"] / 2)),
            "tree_only_seconds": tree_s,
            "tree_only_rows_per_second": round(n / tree_s),
            "tree_only_cpu_seconds": cpu["tree"],
            "hashlib_tree_seconds": hashlib_s,
            "hashlib_tree_cpu_seconds": cpu["hashlib tree"],
            "tree_speedup_vs_hashlib": round(hashlib_s / tree_s, 2),
            "before_seconds": before_s,
            "before_rows_per_second": round(n / before_s),
            "before_cpu_seconds": cpu["before"],
            "before": "encode_row per row + hashlib merkle_root in one process (the first asset "
            "code)",
            "speedup_vs_before": round(before_s / now_s, 2),
            "anchor_cpu_seconds": cpu["bare"],
            "mean_row_bytes": sum(map(len, plain)) / n,
            "all_seconds": now_all,
            "anchor_all_seconds": bare_all,
            "timing": f"median of {repeats}; CPU of the process (all its threads)",
        },
    )
    return row, encoded, plain


def _inclusion_row(
    work: Path, encoded: list[Any], plain: list[bytes], subject_rows: int, repeats: int
) -> Row:
    """One subject's inclusion document (``subject_rows`` rows spread over the snapshot of the
    Merkle row): size and verification time of the multiproof document (version 2) beside the
    version 1 document (one hex audit path per row), both checked by the same verifier."""
    import random

    from assets.attestations import MERKLE_WORKERS
    from zk.attestations import INCLUSION_TYPE, snapshot_commitment, snapshot_inclusion
    from zk.envelope import canonical, mb_encode
    from zk.merkle import MerkleTree
    from zk.signatures import IssuerKey, write_issuer_public_key
    from zk.verify import verify_document

    n = len(plain)
    key = IssuerKey.from_secret(hashlib.sha256(b"bench issuer").digest(), _backend("arkworks"))
    key_path = work / "inclusion" / "issuer_key.json"
    write_issuer_public_key(key_path, key)
    tree = MerkleTree.from_packed(encoded, workers=MERKLE_WORKERS)
    commitment = snapshot_commitment(
        issuer=key, snapshot_id="bench", root=tree.root, size=tree.size, issued=T0
    )
    picked = sorted(random.Random(7).sample(range(n), subject_rows))
    rows = [(i, plain[i]) for i in picked]
    docs = {
        "now": canonical(snapshot_inclusion(commitment, tree, rows)),
        "before": canonical(
            {
                "type": INCLUSION_TYPE,
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
        ),
    }
    seconds: dict[str, tuple[float, list[float]]] = {}
    for name, data in docs.items():

        def verify(data: bytes = data) -> None:
            report = verify_document(data, issuer_key=key_path, now=NOW)
            assert report.valid, report.summary()

        seconds[name] = _median(verify, repeats)
    return Row(
        benchmark="zk",
        case=f"one subject's inclusion document: {subject_rows} rows spread over a {n:,}-row "
        "snapshot, one multiproof (version 2), verified",
        seconds=seconds["now"][0],
        rows=subject_rows,
        anchor="version 1 document of the same rows (one hex audit path per row), same verifier",
        anchor_seconds=seconds["before"][0],
        target="compact: the demo's version 1 documents were ~330 KB per subject",
        extra={
            "bytes": len(docs["now"]),
            "anchor_bytes": len(docs["before"]),
            "size_ratio": round(len(docs["now"]) / len(docs["before"]), 3),
            "multiproof_nodes": len(tree.multiproof(picked)),
            "audit_path_nodes": sum(len(tree.inclusion_proof(i)) for i in picked),
            "all_seconds": seconds["now"][1],
            "anchor_all_seconds": seconds["before"][1],
            "timing": f"median of {repeats}",
        },
    )


_CASES = (
    # (case, figure, target, extra figures beside it)
    (
        f'prove "score >= t" (k = {K}), presentation built and proven',
        "prove",
        "<= 30 ms, proof <= 3 KB",
        ("proof_bytes", "proof_value_chars", "presentation_bytes"),
    ),
    (f'verify the "score >= t" range proof (k = {K})', "verify_proof", "<= 30 ms", ()),
    (
        "verify_file on a presentation: key + PoP, BLS signature, window, signed status list, "
        "range proof",
        "verify_presentation",
        "<= 60 ms",
        (),
    ),
    (
        "verify_file on a score credential alone: key + PoP, BLS signature, window, status list",
        "verify_credential",
        "<= 60 ms",
        ("credential_bytes", "issue_one_credential_seconds"),
    ),
)


def bench_zk(work: Path, quick: bool = False) -> list[Row]:
    work.mkdir(parents=True, exist_ok=True)
    fast_reps, ref_reps = (10, 1) if quick else (30, 3)
    fast = _proof_figures(work, "arkworks", fast_reps)
    ref = _proof_figures(work, "py_ecc", ref_reps)
    anchor = "same operation on the py-ecc reference backend (optimized_bls12_381)"
    timing = f"median of {fast_reps} (py-ecc: {ref_reps})"
    rows = [
        Row(
            benchmark="zk",
            case=case,
            seconds=fast[figure],
            rows=1,
            anchor=anchor,
            anchor_seconds=ref[figure],
            target=target,
            extra={
                "cpu_seconds": fast["cpu"][figure],
                "anchor_cpu_seconds": ref["cpu"][figure],
                **{name: fast[name] for name in extras},
                "all_seconds": fast[f"{figure}_all"],
                "anchor_all_seconds": ref[f"{figure}_all"],
                "timing": timing,
            },
        )
        for case, figure, target, extras in _CASES
    ]
    merkle, encoded, plain = _merkle_row(1_000_000, 3 if quick else 5)
    rows.append(merkle)
    rows.append(_inclusion_row(work, encoded, plain, 300, 5 if quick else 15))
    return rows


if __name__ == "__main__":
    import json
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = bench_zk(Path(args[0] if args else "data/bench/zk"), quick="--quick" in sys.argv)
    print(json.dumps([r.as_dict() for r in out], indent=1))
