"""The README stays true to the tree: its landing contract tables are the contract's, and its
layout section names every top-level package and CLI command that exists."""

from __future__ import annotations

import re
from pathlib import Path

from ledger.contract import ENTITIES, Entity

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def contract_table(entity: Entity) -> str:
    """The Markdown table of an entity's columns, as the README shows it."""
    lines = ["| column | type | required | meaning |", "|---|---|---|---|"]
    for c in entity.columns:
        meaning = c.description.replace("|", "\\|")
        lines.append(f"| `{c.name}` | {c.dtype} | {'yes' if c.required else ''} | {meaning} |")
    return "\n".join(lines)


def test_the_landing_contract_tables_are_the_contract() -> None:
    for entity in ENTITIES.values():
        assert contract_table(entity) in README, f"README table of {entity.name} is stale"


def test_the_layout_names_every_package_and_the_cli_every_command() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    for package in packages - {"tests", "benchmarks"}:
        assert f"`{package}/`" in README, package
    from typer.main import get_command

    from pipelines.cli import app

    cli = get_command(app)
    for name in cli.commands:  # type: ignore[attr-defined]
        assert re.search(rf"ledgerlens {re.escape(name)}\b", README), name
