"""Encryption parameters of the two schemes, their hash, and the score bounds each can hold.

Invariants:
- both parameter sets are at 128-bit classical security by the HomomorphicEncryption.org standard
  table (N=4096 allows 109 bits of coefficient modulus, N=8192 allows 218; BFV uses 109, CKKS 160);
  SEAL refuses a context above the table, so a change here that breaks this fails at key creation;
- BFV: N=4096 is the smallest degree that works. Ciphertexts live at the first data level, so
  what an applicant costs is the data prime's 64-bit word over the applicants a coefficient
  carries. N=2048 allows 54 bits in all, and TenSEAL needs two primes (one is SEAL's special
  prime, unused here), leaving ~27 data bits: too few for a useful plain modulus. N=4096 allows
  109: a 60-bit data prime q (SEAL's largest) and a 49-bit special prime;
- BFV plaintexts are coefficient-encoded, not batched: the scorer only multiplies by integer
  constants and adds a constant, which act on each coefficient alone, so the 4096 coefficients
  are the "slots" and no encoder NTT is needed on either side. t is then free of the batching
  condition (t = 1 mod 2N): t = 2^41, so 40 bits per coefficient hold packed scores exactly
  (4 applicants of a 10-bit raw span, ``privacy.he.packing``) and a decrypted residue at or above
  2^40 (half of all residues a wrong key or tampering produces) is refused. Noise, worst case: a
  fresh symmetric ciphertext decrypts to q/t * m + e with |e| <= 21 (SEAL's centred binomial)
  + 1 (rounding of q/t * m); the scorer's sum of |w_k| * ct_k plus a constant leaves
  |E| <= 22 * sum|w| + 1, and decryption is exact while |E| < q / (2t) = 262,143.99, so sum
  |w| <= 2^13 is exact with margin 1.45x (``BFV_NOISE_CEILING``, asserted below);
- a context built here is symmetric (the holder encrypts under its secret key): no public key,
  no Galois keys, no relinearisation keys ever exist, so none can be sent;
- ``params_hash`` covers the protocol version and every parameter, so a message produced under
  other parameters is refused before any ciphertext is parsed.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import rfc8785
import tenseal as ts

PROTOCOL = "ledgerlens-he/3"
SchemeName = Literal["bfv", "ckks"]
SCHEME_NAMES: tuple[SchemeName, ...] = ("bfv", "ckks")
# BFV by measurement (benchmarks/bench_he.py): several times the end-to-end throughput of CKKS at a
# fraction of the upload (integer slots pack several applicants each), exact by construction, and
# no approximate-decryption key-recovery surface.
DEFAULT_SCHEME: SchemeName = "bfv"


@dataclass(frozen=True)
class Scheme:
    """One parameter set: ``slots`` slots per ciphertext (a slot row; BFV: the coefficients).

    ``plain_bits`` (BFV) is how many bits of a slot hold packed scores exactly: values in
    [0, 2^plain_bits) are below t, so they decrypt as themselves; residues in [2^plain_bits, t),
    at least half of them, are never a score. ``max_abs_score`` (CKKS) is the
    largest |raw score| it represents exactly: s * 2^scale_bits must stay below half the first
    (60-bit) prime, so |s| < 2^(60-40-1). ``max_weight_l1`` bounds sum |w_k| (each plaintext
    multiplication scales the noise by |w_k|): for BFV by the worst-case bound above (about 14
    bits of fresh budget), for CKKS inside its ~20 bits of precision; both measured by the tests.
    """

    name: SchemeName
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    plain_modulus: int | None
    scale_bits: int | None
    max_weight_l1: int

    @property
    def slots(self) -> int:
        n = self.poly_modulus_degree
        return n if self.name == "bfv" else n // 2

    @property
    def plain_bits(self) -> int:
        assert self.plain_modulus is not None
        return (self.plain_modulus - 1).bit_length() - 1  # the largest k with 2^k < t

    @property
    def max_abs_score(self) -> int:
        assert self.scale_bits is not None
        return int(2 ** (self.coeff_mod_bit_sizes[0] - self.scale_bits - 1)) - 1

    def describe(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL,
            "scheme": self.name,
            "poly_modulus_degree": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "plain_modulus": self.plain_modulus,
            "scale_bits": self.scale_bits,
            "encryption": "symmetric",
        }

    @property
    def params_hash(self) -> str:
        return hashlib.sha256(rfc8785.dumps(self.describe())).hexdigest()[:32]


BFV = Scheme("bfv", 4096, (60, 49), 2**41, None, max_weight_l1=2**13)
BFV_DATA_PRIME = 1_152_921_504_606_830_593  # SEAL's first 60-bit prime = 1 mod 8192 (TenSEAL's)
# a scored BFV ciphertext decrypts exactly while its noise stays below q / (2t) (tests hold
# 22 * max_weight_l1 + 1 below it, and the prime to the context's)
BFV_NOISE_CEILING = BFV_DATA_PRIME // (2 * 2**41)
CKKS = Scheme("ckks", 8192, (60, 40, 60), None, 40, max_weight_l1=2**16)
SCHEMES: dict[str, Scheme] = {"bfv": BFV, "ckks": CKKS}


def scheme_named(name: str) -> Scheme:
    try:
        return SCHEMES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown HE scheme {name!r}: use one of {list(SCHEMES)}") from None


def new_secret_context(scheme: Scheme) -> ts.Context:
    """A fresh symmetric context holding a new secret key (the holder's; never sent)."""
    if scheme.name == "bfv":
        ctx = ts.context(
            ts.SCHEME_TYPE.BFV,
            scheme.poly_modulus_degree,
            plain_modulus=scheme.plain_modulus,
            coeff_mod_bit_sizes=list(scheme.coeff_mod_bit_sizes),
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
            n_threads=1,
        )
    else:
        ctx = ts.context(
            ts.SCHEME_TYPE.CKKS,
            scheme.poly_modulus_degree,
            coeff_mod_bit_sizes=list(scheme.coeff_mod_bit_sizes),
            encryption_type=ts.ENCRYPTION_TYPE.SYMMETRIC,
            n_threads=1,
        )
        assert scheme.scale_bits is not None
        ctx.global_scale = float(2**scheme.scale_bits)
    return ctx


def public_context_bytes(ctx: ts.Context) -> bytes:
    """The context to send: parameters only (no secret, public, Galois or relinearisation key)."""
    return bytes(
        ctx.serialize(
            save_public_key=False,
            save_secret_key=False,
            save_galois_keys=False,
            save_relin_keys=False,
        )
    )


@functools.cache
def canonical_public_context(scheme: Scheme) -> bytes:
    """The public context bytes of ``scheme`` (TenSEAL serialises parameters deterministically)."""
    return public_context_bytes(new_secret_context(scheme))


def context_matches(ctx: ts.Context, scheme: Scheme) -> bool:
    """True when a loaded context carries exactly ``scheme``'s parameters (same primes too)."""
    return public_context_bytes(ctx) == canonical_public_context(scheme)
