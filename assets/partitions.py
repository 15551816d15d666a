"""Partitions of the ledger: one dynamic partition per landed transactions day file."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ledger.ingest import discover

landing_files = dg.DynamicPartitionsDefinition(name="landing_files")
"""One partition per landed transactions file (its file name, e.g. ``2026-01-03.parquet``)."""


def landed_day_files(landing: Path) -> list[str]:
    """Names of the transactions files under ``landing/transactions``, sorted."""
    return [f.path.name for f in discover(landing, ["transactions"])]


def register_landed_files(instance: dg.DagsterInstance, landing: Path) -> list[str]:
    """Add every landed day file that is not yet a partition; return the names added.

    The one place that turns files into partitions: the CLI run and the landing sensor both call
    it (the sensor through ``new_partition_keys`` and a ``SensorResult``).
    """
    new = new_partition_keys(instance, landing)
    if new:
        instance.add_dynamic_partitions(landing_files.name, new)
    return new


def new_partition_keys(instance: dg.DagsterInstance, landing: Path) -> list[str]:
    known = set(instance.get_dynamic_partitions(landing_files.name))
    return [name for name in landed_day_files(landing) if name not in known]
