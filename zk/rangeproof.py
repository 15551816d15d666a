"""CDS OR-proofs that a commitment holds a bit, and bit-decomposition range proofs built on them.

**Bit proof** (Cramer–Damgård–Schoenmakers): for ``C = b*G + r*H`` it shows ``b in {0, 1}`` by
proving knowledge of ``log_H`` of ``Y0 = C`` *or* of ``Y1 = C - G``. The branch the prover cannot
answer is simulated; the two sub-challenges must add up to the Fiat–Shamir challenge, so at most
one branch is simulated. Sent: ``(e0, z0, z1)``; ``e1 = c - e0`` and the first messages
``A_j = z_j*H - e_j*Y_j`` are recomputed by the verifier.

**Range proof** for ``C = v*G + r*H`` with ``v in [0, 2^k)``: bit commitments ``C_i`` whose blinding
factors satisfy ``sum 2^i r_i = r``, so the verifier checks ``sum 2^i C_i == C`` itself; then k
bit proofs under one challenge drawn after every ``C_i`` and every ``A_j`` is in the transcript.

**Threshold proof** ``v >= t``: a range proof that ``C - t*G`` holds ``v - t in [0, 2^k)``. A score
below ``t`` would need ``v - t + R`` (mod R) to have k bits, which it cannot for ``k`` far below
``log2 R``; so a prover with ``v < t`` has no accepting proof (soundness of CDS + binding).

Wire format (``to_bytes``): ``k (1 byte) || c (32) || k * (C_i (48) || e0 (32) || z0 (32) || z1 (32))``
= 33 + 144k bytes (1,473 for k = 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zk.backends import Backend, InvalidEncoding, R
from zk.pedersen import commit, generator_h, random_scalar
from zk.transcript import Transcript, scalar_from_bytes, scalar_to_bytes

__all__ = [
    "MAX_BITS",
    "BitProof",
    "RangeProof",
    "prove_bit",
    "prove_range",
    "prove_threshold_bits",
    "verify_bit",
    "verify_range",
    "verify_threshold_bits",
]

MAX_BITS = 64
_BIT_BYTES = 48 + 32 * 3


@dataclass(frozen=True)
class BitProof:
    """Responses of one CDS bit proof (its commitment travels separately)."""

    e0: int
    z0: int
    z1: int


@dataclass(frozen=True)
class RangeProof:
    """Bit commitments (encoded G1 points), one challenge, and one :class:`BitProof` per bit."""

    bits: int
    c: int
    commitments: tuple[bytes, ...]
    responses: tuple[BitProof, ...]

    def to_bytes(self) -> bytes:
        out = [bytes([self.bits]), scalar_to_bytes(self.c)]
        for point, resp in zip(self.commitments, self.responses, strict=True):
            out += [point, scalar_to_bytes(resp.e0), scalar_to_bytes(resp.z0)]
            out.append(scalar_to_bytes(resp.z1))
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> RangeProof:
        """Parse the wire format; lengths and scalar ranges are checked (points are decoded later)."""
        if not data:
            raise ValueError("empty range proof")
        k = data[0]
        if not 1 <= k <= MAX_BITS:
            raise ValueError(f"range proof bit count {k} outside [1, {MAX_BITS}]")
        if len(data) != 33 + _BIT_BYTES * k:
            raise ValueError(
                f"a {k}-bit range proof is {33 + _BIT_BYTES * k} bytes, got {len(data)}"
            )
        c = scalar_from_bytes(data[1:33])
        points, resps = [], []
        for i in range(k):
            o = 33 + _BIT_BYTES * i
            points.append(data[o : o + 48])
            e0, z0, z1 = (
                scalar_from_bytes(data[o + 48 + 32 * j : o + 80 + 32 * j]) for j in range(3)
            )
            resps.append(BitProof(e0, z0, z1))
        return cls(k, c, tuple(points), tuple(resps))


def _bit_first_messages(
    backend: Backend[Any], c_point: Any, bit: int
) -> tuple[Any, Any, tuple[int, int, int]]:
    """First messages ``(A0, A1)`` and the prover's state ``(w, e_sim, z_sim)``."""
    h = generator_h(backend)
    w, e_sim, z_sim = random_scalar(), random_scalar(), random_scalar()
    real = backend.mul(h, w)
    # the branch the prover cannot answer: Y_other = C - other*G
    y_other = c_point if bit == 1 else backend.sub(c_point, backend.generator())
    fake = backend.sub(backend.mul(h, z_sim), backend.mul(y_other, e_sim))
    a0, a1 = (real, fake) if bit == 0 else (fake, real)
    return a0, a1, (w, e_sim, z_sim)


def _bit_respond(bit: int, blinding: int, state: tuple[int, int, int], c: int) -> BitProof:
    w, e_sim, z_sim = state
    e_real = (c - e_sim) % R
    z_real = (w + e_real * blinding) % R
    if bit == 0:
        return BitProof(e_real, z_real, z_sim)
    return BitProof(e_sim, z_sim, z_real)


def _bit_recompute(backend: Backend[Any], c_point: Any, resp: BitProof, c: int) -> tuple[Any, Any]:
    h = generator_h(backend)
    e1 = (c - resp.e0) % R
    a0 = backend.sub(backend.mul(h, resp.z0), backend.mul(c_point, resp.e0))
    y1 = backend.sub(c_point, backend.generator())
    a1 = backend.sub(backend.mul(h, resp.z1), backend.mul(y1, e1))
    return a0, a1


def _absorb_generators(backend: Backend[Any], transcript: Transcript) -> None:
    transcript.append(b"pedersen/G", backend.g1_to_bytes(backend.generator()))
    transcript.append(b"pedersen/H", backend.g1_to_bytes(generator_h(backend)))


def prove_bit(
    backend: Backend[Any], transcript: Transcript, c_point: Any, bit: int, blinding: int
) -> tuple[int, BitProof]:
    """A standalone CDS proof that ``c_point`` commits to 0 or 1: its challenge and responses.

    Refuses an opening that is not a bit opening of ``c_point``."""
    if bit not in (0, 1) or not backend.eq(commit(backend, bit, blinding), c_point):
        raise ValueError("the opening is not a bit opening of this commitment: nothing to prove")
    a0, a1, state = _bit_first_messages(backend, c_point, bit)
    _absorb_generators(backend, transcript)
    for label, point in ((b"bit/C", c_point), (b"bit/A0", a0), (b"bit/A1", a1)):
        transcript.append(label, backend.g1_to_bytes(point))
    c = transcript.challenge(b"bit/c")
    return c, _bit_respond(bit, blinding, state, c)


def verify_bit(
    backend: Backend[Any], transcript: Transcript, c_point: Any, c: int, proof: BitProof
) -> bool:
    """Check a standalone bit proof whose Fiat–Shamir challenge is ``c``."""
    a0, a1 = _bit_recompute(backend, c_point, proof, c)
    _absorb_generators(backend, transcript)
    for label, point in ((b"bit/C", c_point), (b"bit/A0", a0), (b"bit/A1", a1)):
        transcript.append(label, backend.g1_to_bytes(point))
    return transcript.challenge(b"bit/c") == c


def _absorb_range(
    backend: Backend[Any],
    transcript: Transcript,
    c_point: Any,
    bits: int,
    encoded: list[bytes],
    firsts: list[tuple[Any, Any]],
) -> int:
    _absorb_generators(backend, transcript)
    transcript.append(b"range/C", backend.g1_to_bytes(c_point))
    transcript.append_int(b"range/k", bits)
    for i, point in enumerate(encoded):
        transcript.append(b"range/C_i", i.to_bytes(1, "big") + point)
    for a0, a1 in firsts:
        transcript.append(b"range/A", backend.g1_to_bytes(a0) + backend.g1_to_bytes(a1))
    return transcript.challenge(b"range/c")


def prove_range(
    backend: Backend[Any],
    transcript: Transcript,
    c_point: Any,
    value: int,
    blinding: int,
    bits: int,
) -> RangeProof:
    """Prove ``c_point = value*G + blinding*H`` with ``0 <= value < 2^bits``; refuses otherwise."""
    if not 1 <= bits <= MAX_BITS:
        raise ValueError(f"bits must be in [1, {MAX_BITS}], got {bits}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"the committed value is outside [0, 2^{bits}): no valid proof exists")
    if not backend.eq(commit(backend, value, blinding), c_point):
        raise ValueError("the opening does not match the commitment: nothing to prove")
    bit_values = [(value >> i) & 1 for i in range(bits)]
    blindings = [random_scalar() for _ in range(bits - 1)]
    # r_0 absorbs the rest so that sum 2^i r_i == blinding and sum 2^i C_i == C exactly.
    rest = sum(r << (i + 1) for i, r in enumerate(blindings))
    blindings.insert(0, (blinding - rest) % R)
    points = [commit(backend, b, r) for b, r in zip(bit_values, blindings, strict=True)]
    encoded = [backend.g1_to_bytes(p) for p in points]
    firsts, states = [], []
    for point, b in zip(points, bit_values, strict=True):
        a0, a1, state = _bit_first_messages(backend, point, b)
        firsts.append((a0, a1))
        states.append(state)
    c = _absorb_range(backend, transcript, c_point, bits, encoded, firsts)
    responses = tuple(
        _bit_respond(b, r, s, c) for b, r, s in zip(bit_values, blindings, states, strict=True)
    )
    return RangeProof(bits, c, tuple(encoded), responses)


def verify_range(
    backend: Backend[Any], transcript: Transcript, c_point: Any, proof: RangeProof, bits: int
) -> bool:
    """Accept iff the proof is for exactly ``bits`` bits, recombines to ``c_point``, and every bit
    proof answers the one transcript challenge."""
    if proof.bits != bits or len(proof.commitments) != bits or len(proof.responses) != bits:
        return False
    try:
        points = [backend.g1_from_bytes(p) for p in proof.commitments]
    except InvalidEncoding:
        return False
    acc = points[-1]
    for point in reversed(points[:-1]):
        acc = backend.add(backend.add(acc, acc), point)
    if not backend.eq(acc, c_point):
        return False
    firsts = [
        _bit_recompute(backend, p, resp, proof.c)
        for p, resp in zip(points, proof.responses, strict=True)
    ]
    return (
        _absorb_range(backend, transcript, c_point, bits, list(proof.commitments), firsts)
        == proof.c
    )


def prove_threshold_bits(
    backend: Backend[Any],
    transcript: Transcript,
    c_point: Any,
    value: int,
    blinding: int,
    threshold: int,
    bits: int,
) -> RangeProof:
    """Prove ``value >= threshold`` via ``value - threshold in [0, 2^bits)``; refuses if below."""
    if value < threshold:
        raise ValueError("the committed score is below the threshold: no valid proof exists")
    shifted = backend.sub(c_point, backend.mul(backend.generator(), threshold))
    transcript.append_int(b"threshold/t", threshold)
    return prove_range(backend, transcript, shifted, value - threshold, blinding, bits)


def verify_threshold_bits(
    backend: Backend[Any],
    transcript: Transcript,
    c_point: Any,
    proof: RangeProof,
    threshold: int,
    bits: int,
) -> bool:
    """Accept iff ``proof`` shows the value in ``c_point`` minus ``threshold`` has ``bits`` bits."""
    if threshold < 0:
        return False
    shifted = backend.sub(c_point, backend.mul(backend.generator(), threshold))
    transcript.append_int(b"threshold/t", threshold)
    return verify_range(backend, transcript, shifted, proof, bits)
