"""The model registry: trained models are candidates; one approved champion scores.

Layout under ``root``::

    candidates/<version>/   the CreditModel files, metrics.json, model_card.html, candidate.json
    index.jsonl             one line per registered candidate, in registration order
    champion.json           the current champion: version, promoted_at, actor, reason, previous
    promotions.jsonl        every promotion, in order

Invariants:

* registering never changes the champion: training cannot move scores;
* a candidate's files never change after registration (same version = same points and
  calibrator, so re-registering it is a no-op), except its model card, which may be re-rendered;
* until a first promotion, the first registered candidate is the champion, provisionally, and
  ``approval`` says so; ``promote`` needs a registered version, a reason and an actor, and returns
  the audit record the caller writes to the audit log;
* writes go to a temporary file renamed into place, so a crash leaves the old state readable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from credit.pricing import grade, load_config
from credit.training import CreditModel

_VERSION = re.compile(r"^[0-9a-f]{16}$")
APPROVED = "champion: approved"
PROVISIONAL = "champion (provisional): first trained model, not yet approved by a promotion"
CANDIDATE = "candidate: not approved"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _append_line(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _json(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


class ModelRegistry:
    """Candidates and the champion of one credit model, under a root directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # ---- paths
    def _dir(self, version: str) -> Path:
        if not _VERSION.match(version):
            raise ValueError(
                f"model version {version!r} is not a registry version (16 hex digits); list "
                "them with ModelRegistry.candidates()"
            )
        return self.root / "candidates" / version

    @property
    def _index(self) -> Path:
        return self.root / "index.jsonl"

    # ---- candidates
    def candidates(self) -> list[dict[str, Any]]:
        """Registered candidates in registration order (each: version, registered_at, summary)."""
        if not self._index.exists():
            return []
        return [json.loads(line) for line in self._index.read_text().splitlines() if line]

    def has(self, version: str) -> bool:
        return any(c["version"] == version for c in self.candidates())

    def register_candidate(
        self,
        model: CreditModel,
        metrics: dict[str, Any],
        card_html: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Store a trained model as a candidate (idempotent by version); never touches the
        champion. Returns the candidate record (``new`` False when it was already registered)."""
        version = model.version
        d = self._dir(version)
        if self.has(version):
            rec = next(c for c in self.candidates() if c["version"] == version)
            if card_html is not None:
                self.write_card(version, card_html)
            return dict(rec, new=False)
        model.save(d)
        _write_atomic(d / "metrics.json", json.dumps(metrics, indent=1, default=_json))
        if card_html is not None:
            _write_atomic(d / "model_card.html", card_html)
        add = metrics.get("additive") or {}
        rec = {
            "version": version,
            "registered_at": _now(),
            "data_hash": model.metadata.get("data_hash"),
            "n_train": model.metadata.get("n_train"),
            "holdout_auc": add.get("auc"),
            "features": len(model.features),
            "note": note,
        }
        _write_atomic(d / "candidate.json", json.dumps(rec, indent=1, default=_json))
        _append_line(self._index, rec)
        return dict(rec, new=True)

    def load(self, version: str) -> CreditModel:
        d = self._dir(version)
        if not (d / "metadata.json").exists():
            raise ValueError(f"model version {version} is not registered under {self.root}")
        return CreditModel.load(d)

    def metrics(self, version: str) -> dict[str, Any]:
        p = self._dir(version) / "metrics.json"
        return dict(json.loads(p.read_text())) if p.exists() else {}

    def write_card(self, version: str, card_html: str) -> Path:
        """(Re-)write a candidate's model card, e.g. after a promotion changed its status."""
        if not self.has(version):
            raise ValueError(f"model version {version} is not registered under {self.root}")
        p = self._dir(version) / "model_card.html"
        _write_atomic(p, card_html)
        return p

    def card_path(self, version: str) -> Path:
        return self._dir(version) / "model_card.html"

    # ---- champion
    def _promoted(self) -> dict[str, Any] | None:
        p = self.root / "champion.json"
        return dict(json.loads(p.read_text())) if p.exists() else None

    def champion_version(self) -> str | None:
        """The promoted champion, else the first registered candidate, else None."""
        promoted = self._promoted()
        if promoted:
            return str(promoted["version"])
        cands = self.candidates()
        return str(cands[0]["version"]) if cands else None

    def champion(self) -> CreditModel:
        """The model that scores. Raises when nothing has been registered yet."""
        v = self.champion_version()
        if v is None:
            raise ValueError(
                f"no credit model registered under {self.root}: train one first "
                "(the pipeline's credit model asset, or `ledgerlens credit fit`)"
            )
        return self.load(v)

    def approval(self, version: str) -> dict[str, Any]:
        """Approval status of a version, for the model card."""
        promoted = self._promoted()
        if promoted and promoted["version"] == version:
            return {
                "status": APPROVED,
                "promoted_at": promoted["promoted_at"],
                "approved_by": promoted["actor"],
                "reason": promoted["reason"],
            }
        if promoted is None and self.champion_version() == version:
            return {"status": PROVISIONAL}
        status = {"status": CANDIDATE}
        if promoted:
            status["champion"] = promoted["version"]
        return status

    def promote(self, version: str, reason: str, actor: str) -> dict[str, Any]:
        """Make ``version`` the champion. Returns the audit record (write it to the audit log)."""
        if not reason or not reason.strip():
            raise ValueError("a promotion needs a reason (why this candidate should score)")
        if not actor or not actor.strip():
            raise ValueError("a promotion needs an actor (who approves it)")
        if not self.has(version):
            known = ", ".join(c["version"] for c in self.candidates()) or "none"
            raise ValueError(f"model version {version} is not a registered candidate ({known})")
        previous = self.champion_version()
        promoted = self._promoted()
        record = {
            "event": "credit_model_promoted",
            "version": version,
            "previous_champion": previous,
            "previous_was_approved": promoted is not None,
            "reason": reason.strip(),
            "actor": actor.strip(),
            "promoted_at": _now(),
            "holdout_auc": self.metrics(version).get("additive", {}).get("auc"),
        }
        _write_atomic(self.root / "champion.json", json.dumps(record, indent=1, default=_json))
        _append_line(self.root / "promotions.jsonl", record)
        return record

    def promotions(self) -> list[dict[str, Any]]:
        p = self.root / "promotions.jsonl"
        return [json.loads(x) for x in p.read_text().splitlines() if x] if p.exists() else []

    # ---- comparison
    def compare(self, candidate: str, features: pd.DataFrame | None = None) -> dict[str, Any]:
        """Champion against a candidate, for the candidate's card: holdout metrics side by side,
        features added / removed and, given applications, the score, grade and decision shift."""
        champ = self.champion_version()
        if champ is None:
            raise ValueError("no champion to compare with")
        mc, md = self.metrics(champ), self.metrics(candidate)
        rows = []
        for key in ("auc", "gini", "ks", "brier"):
            a = (mc.get("additive") or {}).get(key)
            b = (md.get("additive") or {}).get(key)
            if a is not None or b is not None:
                rows.append({"metric": f"holdout {key}", "champion": a, "candidate": b})
        m_champ, m_cand = self.load(champ), self.load(candidate)
        out: dict[str, Any] = {
            "champion": champ,
            "candidate": candidate,
            "same": champ == candidate,
            "metrics": rows,
            "features": {
                "added": sorted(set(m_cand.features) - set(m_champ.features)),
                "removed": sorted(set(m_champ.features) - set(m_cand.features)),
            },
        }
        if features is not None and len(features):
            a = m_champ.score(features)
            b = m_cand.score(features)
            ga, gb = grade(a["pd"].to_numpy()), grade(b["pd"].to_numpy())
            decline = set(load_config()["apr"].get("decline_grades", []))
            mig = pd.crosstab(pd.Series(ga, name="champion"), pd.Series(gb, name="candidate"))
            out["score_shift"] = {
                "n": int(len(features)),
                "mean_abs_score_change": float(np.mean(np.abs(b["score"] - a["score"]))),
                "grade_changed_share": float(np.mean(ga != gb)),
                "decision_changed_share": float(
                    np.mean(np.isin(ga, list(decline)) != np.isin(gb, list(decline)))
                ),
                "grade_migration": mig.reset_index().to_dict(orient="records"),
            }
        return out
