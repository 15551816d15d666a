"""The privacy package is a domain library: it never imports dagster (nor the pipeline)."""

from __future__ import annotations

import ast
from pathlib import Path

import privacy

FORBIDDEN = ("dagster", "dagster_dbt", "dagster_duckdb", "pipelines", "assets")


def test_privacy_never_imports_dagster() -> None:
    root = Path(privacy.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert not offenders, offenders
