"""The scorer (the risk team): sum_k w_k * ct_k + c, with plaintext integers only.

Invariants: a ``Scorer`` is built from serialised context bytes and refuses any context that
``is_private()`` (holds a secret key) or whose parameters differ from the declared scheme; it has
no decryptor and no key of its own. Each plaintext weight is a constant polynomial (one non-zero
coefficient), so SEAL's multiply_plain costs one pass over the ciphertext and multiplies every
coefficient (BFV, coefficient-encoded) or slot (CKKS) by it; CKKS weights are encoded at scale 1,
so the product keeps the ciphertext's scale and needs no rescale. The constant c is the offset
laid out by the packing (``Packing.constant``), added to every BFV coefficient: the scorer
derives the packing from its own model's raw range, never from the holder's message.

BFV weights are applied as |w|, and the negative ones subtracted: SEAL multiplies a ciphertext by
a plaintext's residue in [0, t) as is, so -5 would act as t - 5 and scale the noise by t (the
whole budget) instead of by 5.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import tenseal as ts
import tenseal.sealapi as sa

from privacy.he.encoding import SecretWeights
from privacy.he.errors import HEError
from privacy.he.packing import Packing
from privacy.he.params import Scheme, context_matches
from privacy.he.wire import plain_from_coefficients, seal_bytes, seal_load


class Scorer:
    def __init__(
        self,
        context: bytes,
        scheme: Scheme,
        weights: SecretWeights,
        packing: Packing,
        where: str = "context",
    ) -> None:
        try:
            ctx = ts.context_from(context, n_threads=1)
        except Exception as e:  # TenSEAL raises bare errors on unparseable bytes
            raise HEError(where, "is not a TenSEAL context", "ask the holder to resend it") from e
        if ctx.is_private():
            raise HEError(
                where,
                "holds a secret key: the scorer must never receive one",
                "delete this file now and ask the holder to re-run `he encrypt` (which writes a "
                "public context)",
            )
        if not context_matches(ctx, scheme):
            raise HEError(
                where, f"does not carry the {scheme.name} parameters", "ask the holder to resend it"
            )
        if weights.weight_l1 > scheme.max_weight_l1:
            raise HEError(
                f"model {weights.model_hash}",
                f"sum of |points| over indicator columns exceeds {scheme.max_weight_l1} (noise "
                f"budget of {scheme.name})",
                "rescale the scorecard's points",
            )
        self.scheme = scheme
        self.weights = weights
        self.packing = packing
        self._ctx = ctx.seal_context().data
        self._eval = sa.Evaluator(self._ctx)
        self._bfv = scheme.name == "bfv"
        signed = not self._bfv  # CKKS encodes a negative weight as itself
        self._wplain = [self._constant(w if signed else abs(w), unit=True) for w in weights.weights]
        self._negative = [w < 0 and not signed for w in weights.weights]
        self._offset = self._constant(packing.constant(weights.offset), unit=False)

    def _constant(self, value: int, unit: bool) -> sa.Plaintext:
        plain = sa.Plaintext()
        if self._bfv:
            assert self.scheme.plain_modulus is not None
            residue = int(value) % self.scheme.plain_modulus
            every = np.full(1 if unit else self.scheme.slots, residue, dtype=np.uint64)
            plain_from_coefficients(plain, self._ctx, every)
        else:
            scale = 1.0 if unit else float(2 ** (self.scheme.scale_bits or 0))
            sa.CKKSEncoder(self._ctx).encode(float(value), scale, plain)
        return plain

    def score_batch(self, blobs: Sequence[bytes], where: str) -> tuple[bytes, float]:
        """The serialised result ciphertext and the seconds spent computing on ciphertexts."""
        if len(blobs) != len(self._wplain):
            raise HEError(
                where,
                f"holds {len(blobs)} ciphertexts, the model has {len(self._wplain)} columns",
                "encrypt and score with the same model",
            )
        cts = []
        for k, blob in enumerate(blobs):
            ct = sa.Ciphertext()
            try:
                seal_load(ct, self._ctx, blob)
            except Exception as e:  # SEAL validates size and parameters on load
                raise HEError(
                    where,
                    f"ciphertext {k} is invalid for these parameters ({type(e).__name__})",
                    "ask the holder to re-encrypt this batch",
                ) from e
            cts.append(ct)
        started = time.perf_counter()
        sums: dict[bool, sa.Ciphertext] = {}
        for ct, w, negative in zip(cts, self._wplain, self._negative, strict=True):
            self._eval.multiply_plain_inplace(ct, w)
            if negative in sums:
                self._eval.add_inplace(sums[negative], ct)
            else:
                sums[negative] = ct
        if False in sums:
            acc = sums[False]
            if True in sums:
                self._eval.sub_inplace(acc, sums[True])
        else:
            acc = sums[True]
            self._eval.negate_inplace(acc)
        self._eval.add_plain_inplace(acc, self._offset)
        seconds = time.perf_counter() - started
        return seal_bytes(acc), seconds
