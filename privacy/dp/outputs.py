"""A release's files, written into the caller's staging folder for the publish gate.

Layout (mirrors ``out/buyers/``): ``<buyers staging folder>/<buyer>/<report>/<release_id>/``
with ``data.parquet``, ``data.csv``, ``report.html``, ``manifest.json`` and ``attestation.json``;
the buyers staging folder is the run's ``staging/<run id>/buyers``, which the publish gate moves
into ``out/buyers/``. Only noisy, post-processed cells and public metadata are written; nothing
about a person.

Invariant: ``manifest.json`` lists the SHA-256 of every other file of the release under
``files``, and ``attestation.json`` signs the SHA-256 of ``manifest.json``
(:mod:`privacy.dp.attestation`), so the issuer's signature covers every byte a buyer receives.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from privacy.dp.attestation import ReleaseAttester
from privacy.dp.html_report import render_html
from privacy.dp.release import Release
from zk.attestations import file_digest

__all__ = ["DATA_FILES", "release_dir", "write_release"]

DATA_FILES = ("data.parquet", "data.csv", "report.html")


def release_dir(buyers: Path, release: Release) -> Path:
    return buyers / release.buyer / release.report_id / release.release_id


def write_release(release: Release, buyers: Path, attester: ReleaseAttester) -> Path:
    """Write the release's files under the buyers staging folder, the manifest listing their
    hashes last but one and the signed attestation last; returns their folder."""
    out = release_dir(buyers, release)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(release.cells, out / "data.parquet")
    pcsv.write_csv(release.cells, out / "data.csv")
    (out / "report.html").write_text(render_html(release), encoding="utf-8")
    manifest = {**release.manifest, "files": {name: file_digest(out / name) for name in DATA_FILES}}
    (out / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    attester.attest(release, out)
    return out
