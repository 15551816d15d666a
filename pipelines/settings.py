"""The one place that reads the environment: every setting of a ledgerlens process.

``Settings.from_env()`` is called by the CLI and by the Dagster code location; everything below
(definitions, resources, assets, domain code) receives the values, never reads variables itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ledger.home import Home

OWNER_ONLY_UMASK = 0o077


def owner_only_files() -> None:
    """Every file and folder this process creates is owner-only from its first byte (the
    warehouse, its WAL, keys, staged and published products), not chmod-ed after the fact.
    Called by the process entry points: the CLI and the Dagster code location."""
    os.umask(OWNER_ONLY_UMASK)


@dataclass(frozen=True)
class Settings:
    """Where the data home is, which minimisation policy applies, how much the run log keeps
    (DEBUG: every Dagster event, so the log of a failed run holds its cause), and who the
    controller and its DPO are (the records of processing say "not configured" when unset)."""

    home: Home
    policy: Path | None = None
    log_level: str = "DEBUG"
    controller_name: str | None = None
    controller_contact: str | None = None
    dpo_contact: str | None = None
    jurisdiction: str = "CN"

    @property
    def published_contacts(self) -> tuple[str, ...]:
        """The controller's and the DPO's contacts as configured: published in the DPO's products,
        so the publish gate lets them pass there (never a subject's value)."""
        return tuple(c for c in (self.controller_contact, self.dpo_contact) if c)

    @classmethod
    def from_env(cls) -> Settings:
        policy = os.environ.get("LEDGERLENS_POLICY") or None
        return cls(
            home=Home(Path(os.environ.get("LEDGERLENS_HOME", "data")).resolve()),
            policy=Path(policy).resolve() if policy else None,
            log_level=os.environ.get("LEDGERLENS_LOG_LEVEL", "DEBUG"),
            controller_name=os.environ.get("LEDGERLENS_CONTROLLER_NAME") or None,
            controller_contact=os.environ.get("LEDGERLENS_CONTROLLER_CONTACT") or None,
            dpo_contact=os.environ.get("LEDGERLENS_DPO_CONTACT") or None,
            jurisdiction=os.environ.get("LEDGERLENS_JURISDICTION") or "CN",
        )

    @classmethod
    def for_home(cls, root: Path | str, policy: Path | None = None) -> Settings:
        """Settings for an explicit home (tests, benchmarks)."""
        return cls(home=Home(Path(root).resolve()), policy=policy)
