"""BLS12-381 arithmetic behind one small interface, with two implementations.

- :class:`ArkworksBackend` (``py-arkworks-bls12381``, Rust): the fast one, used by default.
- :class:`PyEccBackend` (``py_ecc.optimized_bls12_381``, pure Python): the reference; tests run the
  same vectors through both and require identical bytes.

Invariants every backend keeps:

- points cross the interface as opaque values; they enter only through :meth:`Backend.generator`,
  :meth:`Backend.hash_to_g1` or :meth:`Backend.g1_from_bytes`;
- :meth:`Backend.g1_from_bytes` accepts only the canonical 48-byte compressed (ZCash/IETF)
  encoding of a point of the prime-order subgroup and raises :class:`InvalidEncoding` otherwise,
  so that one point has exactly one accepted encoding;
- scalars are Python ints, reduced modulo the group order ``R`` before use;
- BLS signatures follow the IETF BLS draft (G1 public keys, G2 signatures, ``hash_to_curve``
  ``BLS12381G2_XMD:SHA-256_SSWU_RO_``) and are byte-identical across backends and with
  ``py_ecc.bls.G2ProofOfPossession``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from functools import cache
from typing import Any, Generic, Literal, TypeVar

__all__ = [
    "R",
    "ArkworksBackend",
    "Backend",
    "BackendName",
    "InvalidEncoding",
    "PyEccBackend",
    "get_backend",
    "resolve_backend",
]

# Order of the BLS12-381 prime-order subgroups (the scalar field).
R = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

BackendName = Literal["arkworks", "py_ecc"]
P = TypeVar("P")


class InvalidEncoding(ValueError):
    """Bytes that are not the canonical encoding of a subgroup point (or of a signature)."""


class Backend(ABC, Generic[P]):
    """Group operations on G1 plus BLS signatures (G2), as the proofs and signatures need them."""

    name: str

    @abstractmethod
    def generator(self) -> P: ...

    @abstractmethod
    def identity(self) -> P: ...

    @abstractmethod
    def hash_to_g1(self, msg: bytes, dst: bytes) -> P:
        """RFC 9380 ``BLS12381G1_XMD:SHA-256_SSWU_RO_`` under domain separation tag ``dst``."""

    @abstractmethod
    def add(self, a: P, b: P) -> P: ...

    @abstractmethod
    def neg(self, a: P) -> P: ...

    @abstractmethod
    def mul(self, p: P, k: int) -> P: ...

    @abstractmethod
    def eq(self, a: P, b: P) -> bool: ...

    @abstractmethod
    def g1_to_bytes(self, p: P) -> bytes: ...

    @abstractmethod
    def g1_from_bytes(self, data: bytes) -> P: ...

    @abstractmethod
    def sk_to_pk(self, sk: int) -> bytes:
        """Compressed G1 public key of secret scalar ``sk`` (1 <= sk < R)."""

    @abstractmethod
    def sign(self, sk: int, msg: bytes, dst: bytes) -> bytes:
        """``CoreSign``: ``sk * hash_to_G2(msg, dst)``, compressed (96 bytes)."""

    @abstractmethod
    def verify(self, pk: bytes, msg: bytes, sig: bytes, dst: bytes) -> bool:
        """``CoreVerify`` with ``KeyValidate`` (no identity key, subgroup checks on both points)."""

    def sub(self, a: P, b: P) -> P:
        return self.add(a, self.neg(b))


class ArkworksBackend(Backend[Any]):
    """py-arkworks-bls12381: constant-size Rust arithmetic, ~0.2 ms per G1 scalar multiplication."""

    name = "arkworks"

    def __init__(self) -> None:
        from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

        self._g1, self._g2, self._scalar, self._gt = G1Point, G2Point, Scalar, GT
        self._gen = G1Point()
        self._neg_gen = -G1Point()

    def generator(self) -> Any:
        return self._gen

    def identity(self) -> Any:
        return self._g1.identity()

    def hash_to_g1(self, msg: bytes, dst: bytes) -> Any:
        return self._g1.hash_to_curve(msg, dst)

    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def neg(self, a: Any) -> Any:
        return -a

    def sub(self, a: Any, b: Any) -> Any:
        return a - b

    def mul(self, p: Any, k: int) -> Any:
        return p * self._scalar(k % R)

    def eq(self, a: Any, b: Any) -> bool:
        return bool(a == b)

    def g1_to_bytes(self, p: Any) -> bytes:
        return bytes(p.to_compressed_bytes())

    def g1_from_bytes(self, data: bytes) -> Any:
        if len(data) != 48:
            raise InvalidEncoding(f"a G1 point is 48 bytes, got {len(data)}")
        try:
            point = self._g1.from_compressed_bytes(data)
        except ValueError:
            raise InvalidEncoding("not a compressed BLS12-381 G1 point") from None
        # The decoder tolerates a few flag patterns (e.g. the sign bit on infinity); only the
        # canonical form is accepted so that a proof has exactly one valid byte string.
        if bytes(point.to_compressed_bytes()) != data:
            raise InvalidEncoding("non-canonical G1 point encoding")
        return point

    def sk_to_pk(self, sk: int) -> bytes:
        return bytes((self._gen * self._scalar(sk)).to_compressed_bytes())

    def sign(self, sk: int, msg: bytes, dst: bytes) -> bytes:
        return bytes((self._g2.hash_to_curve(msg, dst) * self._scalar(sk)).to_compressed_bytes())

    def verify(self, pk: bytes, msg: bytes, sig: bytes, dst: bytes) -> bool:
        if len(pk) != 48 or len(sig) != 96:
            return False
        try:
            pk_point = self.g1_from_bytes(pk)
            sig_point = self._g2.from_compressed_bytes(sig)
        except ValueError:
            return False
        if pk_point == self._g1.identity() or bytes(sig_point.to_compressed_bytes()) != sig:
            return False
        msg_point = self._g2.hash_to_curve(msg, dst)
        # e(-G, sig) * e(pk, H(m)) == 1  <=>  e(G, sig) == e(pk, H(m))
        return bool(self._gt.pairing_check([self._neg_gen, pk_point], [sig_point, msg_point]))


class PyEccBackend(Backend[Any]):
    """py_ecc.optimized_bls12_381: the pure-Python reference (~100x slower)."""

    name = "py_ecc"

    def __init__(self) -> None:
        from py_ecc import optimized_bls12_381 as curve
        from py_ecc.bls import g2_primitives, hash_to_curve
        from py_ecc.bls.ciphersuites import G2ProofOfPossession

        # py_ecc's re-exports and NewType'd bytes are invisible to mypy: hold the modules as Any.
        self._c: Any = curve
        self._prims: Any = g2_primitives
        self._h2c: Any = hash_to_curve
        self._pop: Any = G2ProofOfPossession

    def generator(self) -> Any:
        return self._c.G1

    def identity(self) -> Any:
        return self._c.Z1

    def hash_to_g1(self, msg: bytes, dst: bytes) -> Any:
        return self._h2c.hash_to_G1(msg, dst, hashlib.sha256)

    def add(self, a: Any, b: Any) -> Any:
        return self._c.add(a, b)

    def neg(self, a: Any) -> Any:
        return self._c.neg(a)

    def mul(self, p: Any, k: int) -> Any:
        return self._c.multiply(p, k % R)

    def eq(self, a: Any, b: Any) -> bool:
        return bool(self._c.eq(a, b))

    def g1_to_bytes(self, p: Any) -> bytes:
        return bytes(self._prims.G1_to_pubkey(p))

    def g1_from_bytes(self, data: bytes) -> Any:
        if len(data) != 48:
            raise InvalidEncoding(f"a G1 point is 48 bytes, got {len(data)}")
        try:
            point = self._prims.pubkey_to_G1(data)
        except (ValueError, AssertionError):
            raise InvalidEncoding("not a compressed BLS12-381 G1 point") from None
        if not self._prims.subgroup_check(point):
            raise InvalidEncoding("G1 point outside the prime-order subgroup")
        if self.g1_to_bytes(point) != data:
            raise InvalidEncoding("non-canonical G1 point encoding")
        return point

    def sk_to_pk(self, sk: int) -> bytes:
        return bytes(self._pop.SkToPk(sk))

    def sign(self, sk: int, msg: bytes, dst: bytes) -> bytes:
        return bytes(self._pop._CoreSign(sk, msg, dst))

    def verify(self, pk: bytes, msg: bytes, sig: bytes, dst: bytes) -> bool:
        if len(sig) == 96:
            try:
                point = self._prims.signature_to_G2(sig)
            except (ValueError, AssertionError):
                return False
            if bytes(self._prims.G2_to_signature(point)) != sig:
                return False
        return bool(self._pop._CoreVerify(pk, msg, sig, dst))


@cache
def get_backend(name: BackendName = "arkworks") -> Backend[Any]:
    """The shared backend instance for ``name`` ("arkworks" by default, "py_ecc" the reference)."""
    if name == "arkworks":
        return ArkworksBackend()
    if name == "py_ecc":
        return PyEccBackend()
    raise ValueError(f"unknown backend {name!r}: use 'arkworks' or 'py_ecc'")


def resolve_backend(backend: Backend[Any] | BackendName | None) -> Backend[Any]:
    """A backend object from an instance, a name, or None (the fast default)."""
    if backend is None:
        return get_backend("arkworks")
    if isinstance(backend, Backend):
        return backend
    return get_backend(backend)
