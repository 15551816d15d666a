"""The holder (the wallet): encodes, encrypts under its own secret key, decrypts and releases.

Invariants:
- column packing: for a batch of up to ``batch_size`` applicants, ciphertext k holds indicator k
  of every applicant of the batch; BFV coefficient i carries applicants digits*i ..
  digits*i+digits-1 as base-2^bits digits (``privacy.he.packing``), CKKS slot i applicant i;
  unused slots hold 0;
- encryption is symmetric (seeded ciphertexts: half the bytes of a public-key encryption);
- ``release`` returns clipped integer scores only, and only after every decrypted slot of the batch
  passed the checks: BFV, every digit of every slot inside the model's declared raw range and no
  bit set above the digits (``Packing.unpack``, in ``decrypt_batch``); CKKS, within
  ``INTEGRALITY`` of an integer and (rounded) inside that range. A failing batch raises; nothing
  is released.
"""

from __future__ import annotations

import numpy as np
import tenseal.sealapi as sa

from privacy.he.encoding import PublicEncoding
from privacy.he.errors import HEError
from privacy.he.keys import HolderKey
from privacy.he.packing import packing_for
from privacy.he.wire import plain_from_coefficients, seal_bytes, seal_load

INTEGRALITY = 1e-3  # CKKS: farther than this from an integer means crafted weights or noise abuse


class Holder:
    def __init__(self, key: HolderKey, encoding: PublicEncoding) -> None:
        s = key.scheme
        self.packing = packing_for(
            s, encoding.raw_min, encoding.raw_max, f"model {encoding.model_hash}"
        )
        self.batch_size = s.slots * self.packing.digits
        self.key = key
        self.encoding = encoding
        self._ctx = key.context.seal_context().data
        secret = key.context.secret_key().data
        self._encryptor = sa.Encryptor(self._ctx, secret)
        self._decryptor = sa.Decryptor(self._ctx, secret)
        self._bfv = s.name == "bfv"
        self._encoder = None if self._bfv else sa.CKKSEncoder(self._ctx)
        self._scale = float(2 ** (s.scale_bits or 0))

    def encrypt_batch(self, cols: np.ndarray, part: slice = slice(None)) -> list[bytes]:
        """One serialised ciphertext per indicator column for ``cols`` (applicants x features);
        ``part`` selects a range of the columns (a batch split across workers)."""
        if cols.shape[0] > self.batch_size:
            raise ValueError(f"a batch holds at most {self.batch_size} applicants")
        slots = self.packing.pack(cols, self.encoding.columns)[part]
        out = []
        for row in slots:
            plain = sa.Plaintext()
            if self._encoder is None:
                plain_from_coefficients(plain, self._ctx, row)
            else:
                self._encoder.encode(row.astype(np.float64).tolist(), self._scale, plain)
            out.append(seal_bytes(self._encryptor.encrypt_symmetric(plain)))
        return out

    def decrypt_batch(self, blob: bytes, applicants: int, where: str) -> np.ndarray:
        """Raw scores of the batch's ``applicants`` (BFV: int64, unpacked and range-checked, so
        a wrong key or a tampered result raises here; CKKS: float64, checked by ``release``)."""
        ct = sa.Ciphertext()
        try:
            seal_load(ct, self._ctx, blob)
        except Exception as e:  # SEAL raises on ciphertexts for other parameters
            raise HEError(
                where,
                f"not a ciphertext for these parameters ({type(e).__name__})",
                "re-run the scorer on this round's batches",
            ) from e
        plain = sa.Plaintext()
        self._decryptor.decrypt(ct, plain)
        if self._encoder is None:
            # SEAL trims high zero coefficients off a decrypted plaintext: they decode as 0
            slots = np.zeros(self.key.scheme.slots, dtype=np.uint64)
            slots[: plain.coeff_count()] = [plain[i] for i in range(plain.coeff_count())]
            return self.packing.unpack(slots, applicants, where)
        return np.asarray(self._encoder.decode_double(plain)[:applicants], dtype=np.float64)

    def release(self, values: np.ndarray, where: str) -> np.ndarray:
        """Clipped integer scores, or ``HEError`` if any slot fails the release checks."""
        enc = self.encoding
        if self._bfv:
            raw = values.astype(np.int64)
        else:
            raw_f = np.rint(values)
            off = np.abs(values - raw_f) > INTEGRALITY
            if off.any():
                raise HEError(
                    where,
                    f"{int(off.sum())} of {len(values)} decrypted scores are not integers "
                    f"(first at row {int(np.argmax(off))} of the batch): wrong key, tampered "
                    "ciphertext or non-integer weights; nothing released",
                    "re-run the round; if it recurs, audit the scorer",
                )
            raw = raw_f.astype(np.int64)
        bad = (raw < enc.raw_min) | (raw > enc.raw_max)
        if bad.any():
            raise HEError(
                where,
                f"{int(bad.sum())} of {len(raw)} decrypted scores fall outside the model's "
                f"declared range [{enc.raw_min}, {enc.raw_max}] (first at row "
                f"{int(np.argmax(bad))} of the batch): wrong key, tampered ciphertext or other "
                "points; nothing released",
                "decrypt with the key the round was encrypted under and score with its model",
            )
        return enc.clip(raw)
