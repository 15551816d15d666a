"""Where ledgerlens reads and writes: everything lives under ``$LEDGERLENS_HOME`` (default ``./data``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@dataclass(frozen=True)
class Home:
    """The data home and the fixed layout inside it."""

    root: Path

    @classmethod
    def from_env(cls) -> Home:
        return cls(Path(os.environ.get("LEDGERLENS_HOME", "data")).resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

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

    def out_for(self, party: str) -> Path:
        return self.out / party

    def ensure(self) -> Home:
        for path in (
            self.landing,
            self.out_for("risk"),
            self.out_for("buyers"),
            self.out_for("dpo"),
        ):
            path.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self
