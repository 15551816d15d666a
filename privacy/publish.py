"""The publish gate's file side: staged products move into ``out/`` only after the leak guard passed.

Invariants:

- Nothing is written into ``out/`` except by :func:`publish`; every product is first written to a
  run-scoped staging folder ``staging/<run id>/<party>/…``.
- :func:`publish` moves each staged file with ``os.replace`` (atomic per file on one file system),
  oldest run first, so a later run's file replaces an earlier one of the same path; then it rewrites
  ``out/MANIFEST.json`` (and the human-readable ``MANIFEST.txt``) atomically. A reader of ``out/``
  never sees a half-written file.
- :func:`discard` removes blocked staging folders without touching ``out/``: a blocked release
  leaves ``out/`` exactly as it was.
- The manifest lists every file in ``out/`` with its SHA-256, size, the run that published it and
  the ledger snapshot it was built from.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST_JSON = "MANIFEST.json"
MANIFEST_TXT = "MANIFEST.txt"
_MANIFESTS = frozenset({MANIFEST_JSON, MANIFEST_TXT})


@dataclass
class PublishReceipt:
    """What one gate decision released: files (relative to ``out/``) and the runs they came from."""

    files: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    bytes: int = 0


def pending_runs(staging: Path) -> list[Path]:
    """Staging folders of runs whose products wait for the gate, oldest first."""
    if not staging.is_dir():
        return []
    folders = [p for p in staging.iterdir() if p.is_dir()]
    return sorted(folders, key=lambda p: (p.stat().st_mtime_ns, p.name))


def staged_files(staging: Path) -> list[Path]:
    return sorted(p for run in pending_runs(staging) for p in run.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` (0600), then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def read_manifest(out: Path) -> dict[str, dict[str, Any]]:
    path = out / MANIFEST_JSON
    if not path.exists():
        return {}
    return {entry["path"]: entry for entry in json.loads(path.read_text())["files"]}


def publish(staging: Path, out: Path, *, snapshot_id: str | None) -> PublishReceipt:
    """Move every pending staged file into ``out/`` and record it in the manifest."""
    receipt = PublishReceipt()
    entries = read_manifest(out)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for run in pending_runs(staging):
        for src in sorted(p for p in run.rglob("*") if p.is_file()):
            rel = src.relative_to(run)
            if rel.name in _MANIFESTS and len(rel.parts) == 1:
                continue  # the manifest is the gate's own: a product may not overwrite it
            dest = out / rel
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            size = src.stat().st_size
            entries[rel.as_posix()] = {
                "path": rel.as_posix(),
                "sha256": _sha256(src),
                "bytes": size,
                "run_id": run.name,
                "snapshot_id": snapshot_id,
                "published_at": now,
            }
            os.replace(src, dest)
            receipt.files.append(rel.as_posix())
            receipt.bytes += size
        receipt.runs.append(run.name)
        shutil.rmtree(run)
    for listed in list(entries):
        if not (out / listed).is_file():
            del entries[listed]  # removed by hand or by erasure: the manifest says what is there
    ordered = [entries[k] for k in sorted(entries)]
    atomic_write(out / MANIFEST_JSON, json.dumps({"files": ordered}, indent=1) + "\n")
    atomic_write(
        out / MANIFEST_TXT,
        "".join(f"{e['sha256']}  {e['bytes']:>12}  {e['run_id']}  {e['path']}\n" for e in ordered),
    )
    return receipt


def discard(staging: Path) -> list[str]:
    """Remove every pending staging folder (a blocked release); returns the run ids removed."""
    removed = []
    for run in pending_runs(staging):
        shutil.rmtree(run)
        removed.append(run.name)
    return removed
