"""Pedersen commitments on BLS12-381 G1 and a Schnorr proof of knowing an opening.

``C = v*G + r*H`` with ``G`` the standard G1 generator and ``H = hash_to_G1(H_MESSAGE, H_DST)``:
``H`` comes out of a hash, so nobody knows ``log_G H`` and nobody can open ``C`` two ways
(binding under discrete log); a uniformly random ``r`` makes ``C`` independent of ``v``
(perfectly hiding). ``H`` is derived from the fixed constants below on every backend, never read
from a document.

The opening proof is the two-generator Schnorr (Okamoto) protocol made non-interactive over a
:class:`~zk.transcript.Transcript`: it proves knowledge of ``(v, r)`` with ``C = vG + rH``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from zk.backends import Backend, R
from zk.transcript import Transcript, scalar_from_bytes, scalar_to_bytes

__all__ = [
    "H_DST",
    "H_MESSAGE",
    "OpeningProof",
    "commit",
    "generator_h",
    "prove_opening",
    "random_scalar",
    "verify_opening",
]

H_DST = b"LEDGERLENS-V01-CS01-with-BLS12381G1_XMD:SHA-256_SSWU_RO_"
H_MESSAGE = b"ledgerlens/zk/pedersen/H/v1"

_H_CACHE: dict[str, Any] = {}


def generator_h(backend: Backend[Any]) -> Any:
    """The second Pedersen generator ``H`` (hash-to-curve of a fixed message under ``H_DST``)."""
    point = _H_CACHE.get(backend.name)
    if point is None:
        point = backend.hash_to_g1(H_MESSAGE, H_DST)
        _H_CACHE[backend.name] = point
    return point


def random_scalar() -> int:
    """A uniform scalar in [1, R) from the OS CSPRNG."""
    return 1 + secrets.randbelow(R - 1)


def commit(backend: Backend[Any], value: int, blinding: int) -> Any:
    """``value*G + blinding*H``."""
    return backend.add(
        backend.mul(backend.generator(), value), backend.mul(generator_h(backend), blinding)
    )


@dataclass(frozen=True)
class OpeningProof:
    """Schnorr proof of knowledge of an opening: challenge ``c`` and responses ``s_v``, ``s_r``."""

    c: int
    s_v: int
    s_r: int

    def to_bytes(self) -> bytes:
        return b"".join(scalar_to_bytes(x) for x in (self.c, self.s_v, self.s_r))

    @classmethod
    def from_bytes(cls, data: bytes) -> OpeningProof:
        if len(data) != 96:
            raise ValueError(f"an opening proof is 96 bytes, got {len(data)}")
        return cls(*(scalar_from_bytes(data[i : i + 32]) for i in (0, 32, 64)))


def _absorb(backend: Backend[Any], transcript: Transcript, c_point: Any, t_point: Any) -> int:
    transcript.append(b"pedersen/G", backend.g1_to_bytes(backend.generator()))
    transcript.append(b"pedersen/H", backend.g1_to_bytes(generator_h(backend)))
    transcript.append(b"opening/C", backend.g1_to_bytes(c_point))
    transcript.append(b"opening/T", backend.g1_to_bytes(t_point))
    return transcript.challenge(b"opening/c")


def prove_opening(
    backend: Backend[Any], transcript: Transcript, c_point: Any, value: int, blinding: int
) -> OpeningProof:
    """Prove knowledge of ``(value, blinding)`` opening ``c_point``; refuses a wrong opening."""
    if not backend.eq(commit(backend, value, blinding), c_point):
        raise ValueError("the opening does not match the commitment: nothing to prove")
    a, b = random_scalar(), random_scalar()
    t_point = commit(backend, a, b)
    c = _absorb(backend, transcript, c_point, t_point)
    return OpeningProof(c, (a + c * value) % R, (b + c * blinding) % R)


def verify_opening(
    backend: Backend[Any], transcript: Transcript, c_point: Any, proof: OpeningProof
) -> bool:
    """Recompute ``T = s_v G + s_r H - c C`` and check the challenge is the transcript's."""
    t_point = backend.sub(commit(backend, proof.s_v, proof.s_r), backend.mul(c_point, proof.c))
    return _absorb(backend, transcript, c_point, t_point) == proof.c
