"""Zero-knowledge attestations: "score >= t" proofs, credential verification, snapshot Merkle roots.

Anchors (measured in the same run, same inputs):

- proofs and verification: the same code on the py-ecc reference backend
  (``py_ecc.optimized_bls12_381``, pure Python), with fewer repetitions because it is ~40x slower;
- Merkle root: a bare ``hashlib.sha256`` loop over the same encoded rows, one hash per row and no
  tree (the floor any RFC 9162 root must pay twice: n leaf hashes plus n - 1 node hashes).

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
        "verify": verify_s,
        "verify_all": verify_all,
        "full": full_s,
        "full_all": full_all,
        "credential": cred_s,
        "credential_all": cred_all,
        "issue_one": w["issue_seconds"],
        "proof_bytes": len(wire),
        "proof_value_chars": len(presentation["proof"]["proofValue"]),
        "presentation_bytes": pres_path.stat().st_size,
        "credential_bytes": w["credential"].stat().st_size,
    }


def _ledger_values(n: int) -> list[list[str | int | bool]]:
    kinds = ("payment", "transfer", "topup", "withdrawal")
    return [
        [
            f"tx{i:09d}",
            f"0x{(i * 0x9E3779B97F4A7C15) % 2**160:040x}",
            f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            kinds[i % 4],
            (i * 7919) % 10_000_000,
            "USDT",
            i % 5 == 0,
        ]
        for i in range(n)
    ]


def _merkle_row(n: int, repeats: int) -> Row:
    from zk.merkle import MerkleTree, encode_row, merkle_root

    values = _ledger_values(n)
    started, cpu = time.perf_counter(), time.process_time()
    leaves = [encode_row("transactions", v) for v in values]
    encode_s, encode_cpu = time.perf_counter() - started, time.process_time() - cpu
    del values
    root_s, root_all = _median(lambda: merkle_root(leaves), repeats)
    cpu = time.process_time()
    merkle_root(leaves)
    root_cpu = time.process_time() - cpu
    sha = hashlib.sha256
    bare_s, bare_all = _median(lambda: [sha(r).digest() for r in leaves], repeats)
    tree_s, _ = _median(lambda: MerkleTree(leaves), 1)
    return Row(
        benchmark="zk",
        case=f"snapshot Merkle root (RFC 9162 SHA-256) over {n:,} encoded ledger rows",
        seconds=root_s,
        rows=n,
        anchor="bare hashlib.sha256 loop over the same rows, one hash per row, no tree",
        anchor_seconds=bare_s,
        target=">= 1,000,000 rows/s",
        extra={
            "rows_per_second_cpu": round(n / root_cpu),
            "encode_rows_seconds": encode_s,
            "encode_rows_per_second": round(n / encode_s),
            "encode_rows_per_second_cpu": round(n / encode_cpu),
            "mean_row_bytes": sum(map(len, leaves)) / n,
            "tree_with_levels_seconds": tree_s,
            "all_seconds": root_all,
            "anchor_all_seconds": bare_all,
            "timing": f"median of {repeats}",
        },
    )


def bench_zk(work: Path, quick: bool = False) -> list[Row]:
    work.mkdir(parents=True, exist_ok=True)
    fast_reps, ref_reps = (10, 1) if quick else (30, 3)
    fast = _proof_figures(work, "arkworks", fast_reps)
    ref = _proof_figures(work, "py_ecc", ref_reps)
    anchor = "same operation on the py-ecc reference backend (optimized_bls12_381)"
    timing = {"timing": f"median of {fast_reps} (py-ecc: {ref_reps})"}
    rows = [
        Row(
            benchmark="zk",
            case=f'prove "score >= t" (k = {K}), presentation built and proven',
            seconds=fast["prove"],
            rows=1,
            anchor=anchor,
            anchor_seconds=ref["prove"],
            target="<= 30 ms, proof <= 3 KB",
            extra={
                "cpu_seconds": fast["cpu"]["prove"],
                "anchor_cpu_seconds": ref["cpu"]["prove"],
                "proof_bytes": fast["proof_bytes"],
                "proof_value_chars": fast["proof_value_chars"],
                "presentation_bytes": fast["presentation_bytes"],
                "all_seconds": fast["prove_all"],
                "anchor_all_seconds": ref["prove_all"],
                **timing,
            },
        ),
        Row(
            benchmark="zk",
            case=f'verify the "score >= t" range proof (k = {K})',
            seconds=fast["verify"],
            rows=1,
            anchor=anchor,
            anchor_seconds=ref["verify"],
            target="<= 30 ms",
            extra={
                "cpu_seconds": fast["cpu"]["verify_proof"],
                "anchor_cpu_seconds": ref["cpu"]["verify_proof"],
                "all_seconds": fast["verify_all"],
                "anchor_all_seconds": ref["verify_all"],
                **timing,
            },
        ),
        Row(
            benchmark="zk",
            case="verify_file on a presentation: key + PoP, BLS signature, window, signed status list, range proof",
            seconds=fast["full"],
            rows=1,
            anchor=anchor,
            anchor_seconds=ref["full"],
            target="<= 60 ms",
            extra={
                "cpu_seconds": fast["cpu"]["verify_presentation"],
                "anchor_cpu_seconds": ref["cpu"]["verify_presentation"],
                "all_seconds": fast["full_all"],
                "anchor_all_seconds": ref["full_all"],
                **timing,
            },
        ),
        Row(
            benchmark="zk",
            case="verify_file on a score credential alone: key + PoP, BLS signature, window, status list",
            seconds=fast["credential"],
            rows=1,
            anchor=anchor,
            anchor_seconds=ref["credential"],
            target="<= 60 ms",
            extra={
                "cpu_seconds": fast["cpu"]["verify_credential"],
                "anchor_cpu_seconds": ref["cpu"]["verify_credential"],
                "credential_bytes": fast["credential_bytes"],
                "issue_one_credential_seconds": fast["issue_one"],
                "anchor_issue_one_credential_seconds": ref["issue_one"],
                **timing,
            },
        ),
        _merkle_row(1_000_000, 3 if quick else 5),
    ]
    return rows


if __name__ == "__main__":
    import json
    import sys

    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = bench_zk(Path(args[0] if args else "data/bench/zk"), quick="--quick" in sys.argv)
    print(json.dumps([r.as_dict() for r in out], indent=1))
