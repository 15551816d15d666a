"""The one place that reads the environment: every setting of a ledgerlens process.

``Settings.from_env()`` is called by the CLI and by the Dagster code location; everything below
(definitions, resources, assets, domain code) receives the values, never reads variables itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ledger.home import Home


@dataclass(frozen=True)
class Settings:
    """Where the data home is, which minimisation policy applies, how much the run log keeps
    (DEBUG: every Dagster event, so the log of a failed run holds its cause)."""

    home: Home
    policy: Path | None = None
    log_level: str = "DEBUG"

    @classmethod
    def from_env(cls) -> Settings:
        policy = os.environ.get("LEDGERLENS_POLICY") or None
        return cls(
            home=Home(Path(os.environ.get("LEDGERLENS_HOME", "data")).resolve()),
            policy=Path(policy).resolve() if policy else None,
            log_level=os.environ.get("LEDGERLENS_LOG_LEVEL", "DEBUG"),
        )

    @classmethod
    def for_home(cls, root: Path | str, policy: Path | None = None) -> Settings:
        """Settings for an explicit home (tests, benchmarks)."""
        return cls(home=Home(Path(root).resolve()), policy=policy)
