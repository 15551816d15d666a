"""Shared constants and the World the zk fixtures build (see conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from zk.signatures import IssuerKey

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=3)
LIST_ID = "urn:ledgerlens:status:scores-2026-03"
NONCE = "nonce-7f3a9c"
AUDIENCE = "did:web:lender.example"
SECRET = bytes.fromhex("5f" * 16 + "a3" * 16)


@dataclass(frozen=True)
class World:
    home: Path
    key: IssuerKey
    credential: Path  # score 712, status index 40
    opening: Path
    revoked_credential: Path  # score 650, status index 41 (revoked)
    revoked_opening: Path
    presentation: Path  # 712 >= 600 for NONCE / AUDIENCE
    credentials: list[dict[str, Any]]
    openings: list[dict[str, Any]]
