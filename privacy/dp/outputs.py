"""A release's files, written into the caller's staging folder for the publish gate.

Layout (mirrors ``out/buyers/``): ``<buyers staging folder>/<buyer>/<report>/<release_id>/``
with ``data.parquet``, ``data.csv``, ``manifest.json`` and ``report.html``; the buyers staging
folder is the run's ``staging/<run id>/buyers``, which the publish gate moves into
``out/buyers/``. Only noisy, post-processed
cells and public metadata are written; nothing about a person.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from privacy.dp.html_report import render_html
from privacy.dp.release import Release

__all__ = ["release_dir", "write_release"]


def release_dir(buyers: Path, release: Release) -> Path:
    return buyers / release.buyer / release.report_id / release.release_id


def write_release(release: Release, buyers: Path) -> Path:
    """Write the release's four files under the buyers staging folder; returns their folder."""
    out = release_dir(buyers, release)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(release.cells, out / "data.parquet")
    pcsv.write_csv(release.cells, out / "data.csv")
    (out / "manifest.json").write_text(
        json.dumps(release.manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out / "report.html").write_text(render_html(release), encoding="utf-8")
    return out
