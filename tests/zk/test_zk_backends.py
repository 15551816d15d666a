"""The fast backend and the py-ecc reference agree byte for byte on the same vectors."""

from __future__ import annotations

import hashlib

import pytest
from py_ecc.bls import G2ProofOfPossession as PyEccPop

from zk.backends import InvalidEncoding, R, get_backend
from zk.pedersen import H_DST, H_MESSAGE, commit, generator_h
from zk.rangeproof import RangeProof, prove_threshold_bits, verify_threshold_bits
from zk.signatures import (
    ISSUER_KEY_INFO,
    IssuerKey,
    key_check_value,
    keygen,
    load_issuer_public_key,
    sign,
    verify,
)
from zk.transcript import Transcript

ARK = get_backend("arkworks")
REF = get_backend("py_ecc")

# (value, blinding) pairs: small, large, and edge scalars
VECTORS = [(0, 1), (712, 0x1234567890ABCDEF), (1023, R - 1), (R - 5, 2**200 + 17)]


def test_pedersen_h_is_the_same_hash_to_curve_point_on_both_backends() -> None:
    h_ark = ARK.g1_to_bytes(generator_h(ARK))
    assert h_ark == REF.g1_to_bytes(generator_h(REF))
    assert h_ark == REF.g1_to_bytes(REF.hash_to_g1(H_MESSAGE, H_DST))
    assert h_ark != ARK.g1_to_bytes(ARK.generator())


@pytest.mark.parametrize("msg", [b"", b"abc", b"a" * 200])
def test_hash_to_g1_agrees_across_backends(msg: bytes) -> None:
    dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
    assert ARK.g1_to_bytes(ARK.hash_to_g1(msg, dst)) == REF.g1_to_bytes(REF.hash_to_g1(msg, dst))


def test_hash_to_g1_matches_the_rfc_9380_test_vector() -> None:
    # RFC 9380, J.9.1 BLS12381G1_XMD:SHA-256_SSWU_RO_, msg = "": P.x
    dst = b"QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
    x = int(
        "052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4"
        "e8cf62d9c09db0fac349612b759e79a1",
        16,
    )
    compressed = ARK.g1_to_bytes(ARK.hash_to_g1(b"", dst))
    assert int.from_bytes(compressed, "big") & ((1 << 381) - 1) == x


@pytest.mark.parametrize(("value", "blinding"), VECTORS)
def test_commitments_agree_across_backends(value: int, blinding: int) -> None:
    assert ARK.g1_to_bytes(commit(ARK, value, blinding)) == REF.g1_to_bytes(
        commit(REF, value, blinding)
    )


def test_keygen_and_signatures_are_byte_identical_to_py_ecc_g2_proof_of_possession() -> None:
    ikm = bytes(range(32))
    sk = keygen(ikm, ISSUER_KEY_INFO)
    assert sk == PyEccPop.KeyGen(ikm, ISSUER_KEY_INFO)
    assert keygen(ikm) == PyEccPop.KeyGen(ikm)
    msg = b"ledgerlens cross-backend vector"
    sig = sign(ARK, sk, msg)
    # identical bytes: py_ecc's Verify accepts exactly what it would have signed itself
    assert sig == PyEccPop.Sign(sk, msg)
    assert ARK.sk_to_pk(sk) == REF.sk_to_pk(sk) == PyEccPop.SkToPk(sk)
    key = IssuerKey.from_secret(ikm)
    assert key.proof_of_possession() == PyEccPop.PopProve(key.sk)
    assert verify(ARK, PyEccPop.SkToPk(sk), msg, sig)
    assert not verify(ARK, ARK.sk_to_pk(sk), msg + b"!", sig)


def test_the_reference_backend_signs_and_verifies_like_the_fast_one() -> None:
    sk = keygen(b"\x05" * 32)
    msg = b"m"
    sig = sign(REF, sk, msg)
    assert sig == sign(ARK, sk, msg)
    assert verify(REF, ARK.sk_to_pk(sk), msg, sig)


def test_reference_backend_rejects_what_the_fast_one_rejects() -> None:
    pk = ARK.sk_to_pk(12345)
    sig = sign(ARK, 12345, b"m")
    flipped = bytes([sig[0]]) + bytes([sig[1] ^ 1]) + sig[2:]
    assert not verify(ARK, pk, b"m", flipped)
    assert not verify(REF, pk, b"m", flipped)
    assert not verify(ARK, ARK.g1_to_bytes(ARK.identity()), b"m", sig)


def test_key_check_value_identifies_the_secret_without_being_it() -> None:
    a, b = bytes(32), bytes(31) + b"\x01"
    assert key_check_value(a) != key_check_value(b)
    assert key_check_value(a) == key_check_value(bytes(32))
    assert a.hex() not in key_check_value(a)
    with pytest.raises(ValueError, match="32 bytes"):
        key_check_value(b"short")


def test_a_changed_issuer_secret_is_refused_by_its_recorded_kcv() -> None:
    original = IssuerKey.from_secret(b"\x01" * 32)
    again = IssuerKey.from_secret(b"\x01" * 32, expected_kcv=original.kcv)
    assert again.public_key == original.public_key
    with pytest.raises(ValueError, match="does not match the recorded") as exc:
        IssuerKey.from_secret(b"\x02" * 32, expected_kcv=original.kcv)
    assert (b"\x02" * 32).hex() not in str(exc.value)
    assert "sk=" not in repr(original) and str(original.sk) not in repr(original)


def test_a_raw_identity_public_key_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid"):
        load_issuer_public_key(ARK.g1_to_bytes(ARK.identity()))


def test_points_decode_only_from_their_canonical_encoding() -> None:
    good = ARK.g1_to_bytes(commit(ARK, 5, 9))
    assert ARK.g1_to_bytes(ARK.g1_from_bytes(good)) == good
    infinity_with_sign_bit = b"\xe0" + bytes(47)
    for backend in (ARK, REF):
        with pytest.raises(InvalidEncoding):
            backend.g1_from_bytes(infinity_with_sign_bit)
        with pytest.raises(InvalidEncoding):
            backend.g1_from_bytes(good[:47])
        with pytest.raises(InvalidEncoding):
            backend.g1_from_bytes(bytes([good[0] ^ 0x80]) + good[1:])


def test_a_range_proof_made_on_arkworks_verifies_on_py_ecc() -> None:
    blinding = int.from_bytes(hashlib.sha256(b"blinding").digest(), "big") % R
    c_ark = commit(ARK, 13, blinding)
    proof = prove_threshold_bits(ARK, Transcript(b"x"), c_ark, 13, blinding, 5, 4)
    c_ref = REF.g1_from_bytes(ARK.g1_to_bytes(c_ark))
    wire = RangeProof.from_bytes(proof.to_bytes())
    assert verify_threshold_bits(REF, Transcript(b"x"), c_ref, wire, 5, 4)
    assert not verify_threshold_bits(REF, Transcript(b"x"), c_ref, wire, 6, 4)
