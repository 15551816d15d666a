"""Sigma protocols: honest proofs verify; wrong statements, contexts and hand-made forgeries do not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zk.backends import R, get_backend
from zk.pedersen import (
    OpeningProof,
    commit,
    generator_h,
    prove_opening,
    random_scalar,
    verify_opening,
)
from zk.rangeproof import (
    BitProof,
    RangeProof,
    prove_bit,
    prove_range,
    prove_threshold_bits,
    verify_bit,
    verify_range,
    verify_threshold_bits,
)
from zk.transcript import Transcript, scalar_to_bytes

BE = get_backend("arkworks")
K = 10


def ctx(nonce: str = "n1", audience: str = "lender") -> Transcript:
    t = Transcript(b"test/threshold")
    t.append_text(b"nonce", nonce)
    t.append_text(b"audience", audience)
    return t


def test_opening_proof_verifies_and_binds_commitment_and_context() -> None:
    r = random_scalar()
    c = commit(BE, 712, r)
    proof = prove_opening(BE, ctx(), c, 712, r)
    assert verify_opening(BE, ctx(), c, OpeningProof.from_bytes(proof.to_bytes()))
    assert not verify_opening(BE, ctx("n2"), c, proof)
    assert not verify_opening(BE, ctx(), commit(BE, 713, r), proof)
    with pytest.raises(ValueError, match="does not match"):
        prove_opening(BE, ctx(), c, 711, r)


@pytest.mark.parametrize("bit", [0, 1])
def test_cds_bit_proof_accepts_either_bit_and_nothing_else(bit: int) -> None:
    r = random_scalar()
    c = commit(BE, bit, r)
    challenge, proof = prove_bit(BE, ctx(), c, bit, r)
    assert verify_bit(BE, ctx(), c, challenge, proof)
    assert not verify_bit(BE, ctx(), commit(BE, 1 - bit, r), challenge, proof)
    assert not verify_bit(BE, ctx("other"), c, challenge, proof)
    with pytest.raises(ValueError, match="not a bit opening"):
        prove_bit(BE, ctx(), commit(BE, 2, r), 2, r)


def test_cds_bit_proof_for_a_two_cannot_be_simulated_on_both_branches() -> None:
    r = random_scalar()
    c = commit(BE, 2, r)  # neither C nor C - G is a multiple of H alone
    e0, z0, z1 = random_scalar(), random_scalar(), random_scalar()
    challenge = (e0 + random_scalar()) % R
    assert not verify_bit(BE, ctx(), c, challenge, BitProof(e0, z0, z1))


@settings(max_examples=15, deadline=None)
@given(score=st.integers(0, 2**K - 1), threshold=st.integers(0, 2**K - 1))
def test_threshold_proof_exists_exactly_when_score_reaches_threshold(
    score: int, threshold: int
) -> None:
    r = random_scalar()
    c = commit(BE, score, r)
    if score >= threshold:
        proof = prove_threshold_bits(BE, ctx(), c, score, r, threshold, K)
        assert verify_threshold_bits(BE, ctx(), c, proof, threshold, K)
        assert len(proof.to_bytes()) == 33 + 144 * K
    else:
        with pytest.raises(ValueError, match="below the threshold"):
            prove_threshold_bits(BE, ctx(), c, score, r, threshold, K)


def test_threshold_proof_is_bound_to_threshold_nonce_audience_and_commitment() -> None:
    r = random_scalar()
    c = commit(BE, 700, r)
    proof = prove_threshold_bits(BE, ctx(), c, 700, r, 600, K)
    assert verify_threshold_bits(BE, ctx(), c, proof, 600, K)
    assert not verify_threshold_bits(BE, ctx(), c, proof, 599, K)
    assert not verify_threshold_bits(BE, ctx(), c, proof, 601, K)
    assert not verify_threshold_bits(BE, ctx(nonce="n2"), c, proof, 600, K)
    assert not verify_threshold_bits(BE, ctx(audience="other"), c, proof, 600, K)
    assert not verify_threshold_bits(BE, ctx(), commit(BE, 700, r + 1), proof, 600, K)
    assert not verify_threshold_bits(BE, ctx(), c, proof, 600, K + 1)


def _forge_with_wrapped_difference(score: int, r: int, threshold: int) -> RangeProof:
    """An honest-looking proof for the k low bits of (score - t) mod 2^k: recombination breaks."""
    wrapped = (score - threshold) % (1 << K)
    t = ctx()
    t.append_int(b"threshold/t", threshold)
    return prove_range(BE, t, commit(BE, wrapped, r), wrapped, r, K)


def _forge_by_balancing_the_top_bit(score: int, r: int, threshold: int) -> RangeProof:
    """Bits chosen so that sum 2^i C_i == C - tG; the top "bit" then hides a non-bit, whose
    OR-proof must be simulated on both branches: the challenges cannot both add up."""
    c = commit(BE, score, r)
    shifted = BE.sub(c, BE.mul(BE.generator(), threshold))
    points = [commit(BE, 0, random_scalar()) for _ in range(K - 1)]
    acc = BE.identity()
    for i, p in enumerate(points):
        acc = BE.add(acc, BE.mul(p, 1 << i))
    inv = pow(1 << (K - 1), -1, R)
    points.append(BE.mul(BE.sub(shifted, acc), inv))
    responses = tuple(BitProof(random_scalar(), random_scalar(), random_scalar()) for _ in points)
    return RangeProof(K, random_scalar(), tuple(BE.g1_to_bytes(p) for p in points), responses)


def test_a_score_below_threshold_has_no_accepted_hand_made_proof() -> None:
    r = random_scalar()
    score, threshold = 540, 600
    c = commit(BE, score, r)
    for forge in (_forge_with_wrapped_difference, _forge_by_balancing_the_top_bit):
        forged = forge(score, r, threshold)
        assert not verify_threshold_bits(BE, ctx(), c, forged, threshold, K)
    # the honest proof for the true (lower) statement does not pass for the higher threshold
    honest = prove_threshold_bits(BE, ctx(), c, score, r, 500, K)
    assert not verify_threshold_bits(BE, ctx(), c, honest, threshold, K)


def test_range_proof_rejects_noncanonical_scalars_and_wrong_lengths() -> None:
    r = random_scalar()
    c = commit(BE, 3, r)
    wire = bytearray(prove_range(BE, ctx(), c, 3, r, 2).to_bytes())
    with pytest.raises(ValueError, match="non-canonical"):
        RangeProof.from_bytes(bytes(wire[:1]) + (R + 1).to_bytes(32, "big") + bytes(wire[33:]))
    with pytest.raises(ValueError, match="bytes"):
        RangeProof.from_bytes(bytes(wire[:-1]))
    assert verify_range(BE, ctx(), c, RangeProof.from_bytes(bytes(wire)), 2)
    wire[40] ^= 1  # inside the first bit commitment
    proof = RangeProof.from_bytes(bytes(wire))
    assert not verify_range(BE, ctx(), c, proof, 2)


def test_scalar_encoding_is_fixed_width_and_bounded() -> None:
    assert scalar_to_bytes(R - 1) == (R - 1).to_bytes(32, "big")
    with pytest.raises(ValueError):
        scalar_to_bytes(R)
    assert generator_h(BE) is generator_h(BE)
