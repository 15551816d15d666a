"""The data home: the fixed layout of everything ledgerlens reads and writes under one folder.

Nothing here reads the environment; ``pipelines.settings`` decides which folder is the home.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PARTIES: tuple[str, ...] = ("risk", "buyers", "dpo", "subjects", "issuer")
"""Each party's outputs go to their own folder under ``out/`` (``issuer``: the public key and
status list every verifier reads)."""


@dataclass(frozen=True)
class Home:
    """The data home and the fixed layout inside it."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def archive(self) -> Path:
        """Landed files once ingested, encrypted (``landing.retention: archive``)."""
        return self.root / "archive"

    @property
    def truth(self) -> Path:
        """Generator ground truth, beside landing. The pipeline never reads it."""
        return self.root / "truth"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def staging(self) -> Path:
        """Run-scoped staging folders of the publish gate (``staging/<run id>/<party>/…``)."""
        return self.root / "staging"

    @property
    def models(self) -> Path:
        """The model registry (candidates and champion)."""
        return self.root / "models"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def dbt(self) -> Path:
        """dbt's per-home profiles folder (the warehouse path comes from here, never the env)."""
        return self.root / "dbt"

    def out_for(self, party: str) -> Path:
        return self.out / party

    def ensure(self) -> Home:
        """Create the layout; everything that may hold personal data or keys is owner-only."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (
            self.landing,
            self.archive,
            self.out,
            self.staging,
            self.models,
            self.logs,
            self.keys,
        ):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        for party in PARTIES:
            self.out_for(party).mkdir(mode=0o700, parents=True, exist_ok=True)
        return self
