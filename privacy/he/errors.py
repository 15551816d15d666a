"""One error type for every refusal of the encrypted-scoring protocol.

Messages name the file (or object) at fault, what was wrong and what to do; they never carry an
applicant's value, a score or a point value.
"""

from __future__ import annotations


class HEError(ValueError):
    """A refused input or message; nothing was released."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where = where
        super().__init__(f"{where}: {problem}; {fix}")
