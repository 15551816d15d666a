"""How applicants share a slot: BFV packs several raw scores into one integer slot.

BFV slots are integers mod t (37 bits) while an indicator is 0 or 1 and a raw score spans only a
few bits, so ``digits`` applicants share a slot as base-2^bits digits:

    slot value   v = sum_j 2^(bits*j) * x_j            (x_j: indicator of applicant j of the slot)
    after scoring  sum_k w_k * v_k + c = sum_j 2^(bits*j) * (raw_j - raw_min),
    c = (offset - raw_min) * sum_j 2^(bits*j)          (the scorer's constant per slot)

Every term raw_j - raw_min lies in [0, span] with span = raw_max - raw_min < 2^bits, so the sum is
below 2^(bits*digits) <= 2^plain_bits < t: the result mod t is the packed integer itself and its
digits are the applicants' raw scores, exactly. Applicant a of a batch sits in slot a // digits,
digit a % digits; slots and digits past the batch's applicants hold all-baseline applicants
(raw = offset), which the holder checks like any other.

Invariants: both sides derive the packing from the model's declared raw range and the scheme
alone (never from the points), so it is public and every message states it; a model whose span
does not fit one digit of a slot is refused before anything is encrypted. CKKS packs nothing
(one applicant per slot, the raw value itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from privacy.he.errors import HEError
from privacy.he.params import Scheme


@dataclass(frozen=True)
class Packing:
    digits: int  # applicants per slot
    bits: int  # bits per digit (0: no packing, CKKS)
    raw_min: int  # subtracted from every raw score before packing (BFV)
    raw_max: int

    @property
    def packed(self) -> bool:
        return self.bits > 0

    @property
    def radix(self) -> np.ndarray:
        """2^(bits*j) for each digit j, as uint64 (the holder's packing weights)."""
        return np.array([1 << (self.bits * j) for j in range(self.digits)], dtype=np.uint64)

    def constant(self, offset: int) -> int:
        """What the scorer adds to every slot so that each digit holds raw - raw_min."""
        if not self.packed:
            return offset
        return (offset - self.raw_min) * sum(1 << (self.bits * j) for j in range(self.digits))

    def pack(self, cols: np.ndarray, columns: int) -> np.ndarray:
        """Slot values (columns, ceil(n / digits)) uint64 of ``cols`` (n applicants x features:
        each applicant's indicator column per feature, -1 = baseline), with no 0/1 matrix between.

        One weighted count over (slot, column) cells, slot-major so that an applicant's features
        land close together (the column-major scatter cost 4x more in cache misses); baseline
        entries count into a spare column that is dropped. The float64 counts are exact: a cell
        sums at most ``digits`` distinct powers of two below 2^plain_bits <= 2^53.
        """
        n, features = cols.shape
        used = -(-n // self.digits)
        padded = np.full((used * self.digits, features), columns, dtype=np.int64)
        padded[:n] = np.where(cols >= 0, cols, columns)
        cell = (np.arange(used) * (columns + 1))[:, None, None] + padded.reshape(
            used, self.digits, features
        )
        radix = self.radix.astype(np.float64) if self.packed else np.ones(1)
        weight = np.broadcast_to(radix[None, :, None], cell.shape)
        counts = np.bincount(cell.ravel(), weights=weight.ravel(), minlength=used * (columns + 1))
        grid = counts.reshape(used, columns + 1)[:, :columns]
        return np.ascontiguousarray(grid.T).astype(np.uint64)

    def unpack(self, slots: np.ndarray, applicants: int, where: str) -> np.ndarray:
        """Raw scores of the first ``applicants`` from decrypted BFV slot values (uint64).

        Every slot is checked, used or not: bits above the digits must be zero and every digit
        must be a raw score of the model's declared range. A ciphertext under another key or a
        tampered one decrypts to uniform residues mod t and fails here; then nothing is returned.
        """
        values = slots.astype(np.uint64)
        top = (values >> np.uint64(self.bits * self.digits)) != 0
        shifts = np.arange(self.digits, dtype=np.uint64) * np.uint64(self.bits)
        mask = np.uint64((1 << self.bits) - 1)
        digits = ((values[:, None] >> shifts) & mask).astype(np.int64)
        raw = digits + self.raw_min
        bad = (raw > self.raw_max) | top[:, None]
        if bad.any():
            first = int(np.argmax(bad.reshape(-1)))
            raise HEError(
                where,
                f"{int(bad.sum())} of {bad.size} decrypted scores fall outside the model's "
                f"declared range [{self.raw_min}, {self.raw_max}] (first at row {first} of the "
                "batch): wrong key, tampered ciphertext or other points; nothing released",
                "decrypt with the key the round was encrypted under and score with its model",
            )
        out: np.ndarray = raw.reshape(-1)[:applicants]
        return out

    def describe(self) -> dict[str, Any]:
        return {"digits": self.digits, "bits": self.bits, "raw_min": self.raw_min}


def packing_for(scheme: Scheme, raw_min: int, raw_max: int, where: str) -> Packing:
    """The packing of a model with raw scores in [raw_min, raw_max] under ``scheme``, or a refusal
    naming ``where`` when the scores do not fit the parameters."""
    if scheme.name == "ckks":
        if max(abs(raw_min), abs(raw_max)) > scheme.max_abs_score:
            raise HEError(
                where,
                f"raw scores span [{raw_min}, {raw_max}], beyond the ckks bound "
                f"|score| <= {scheme.max_abs_score}",
                "rescale the scorecard's points",
            )
        return Packing(1, 0, raw_min, raw_max)
    span = raw_max - raw_min
    bits = max(1, span.bit_length())
    digits = scheme.plain_bits // bits
    if digits < 1:
        raise HEError(
            where,
            f"raw scores span [{raw_min}, {raw_max}] ({span + 1:,} values), beyond the bfv bound "
            f"of 2^{scheme.plain_bits} distinct raw scores",
            "rescale the scorecard's points",
        )
    return Packing(digits, bits, raw_min, raw_max)
