"""Test session setup: no telemetry, a throwaway Dagster home, a prepared dbt manifest."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# pytest-xdist runs two workers on two cores: one OpenMP thread each, or LightGBM's spinning
# threads oversubscribe the machine and a one-second fit takes minutes.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Dagster must never write into a developer's real instance from a test.
os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="ledgerlens-dagster-home-")


def pytest_configure(config: object) -> None:
    # @dbt_assets needs the manifest at import time (make test runs `dbt parse` first; this covers
    # a bare `pytest`).
    from pipelines.cli import prepare_dbt_manifest

    prepare_dbt_manifest()
