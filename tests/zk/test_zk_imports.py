"""The verifier stays light: no dagster, tenseal, lightgbm, duckdb or pandas, at source or at run time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from zk_testworld import AUDIENCE, NONCE, NOW, World

import zk

HEAVY = ("dagster", "tenseal", "lightgbm", "duckdb", "pandas", "polars", "pyarrow", "numpy")
FORBIDDEN_SOURCE = (
    *HEAVY,
    "dagster_dbt",
    "dagster_duckdb",
    "pipelines",
    "assets",
    "privacy",
    "credit",
)


def test_zk_source_never_imports_heavy_or_pipeline_packages() -> None:
    offenders = []
    for path in Path(zk.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN_SOURCE]
    assert offenders == []


def test_importing_and_running_the_verifier_loads_no_heavy_module(world: World) -> None:
    code = (
        "import json, sys\n"
        "from datetime import datetime, timezone\n"
        "from zk.verify import verify_file\n"
        "from zk.presentation import prove_threshold\n"
        f"r = verify_file({str(world.presentation)!r}, nonce={NONCE!r}, audience={AUDIENCE!r},\n"
        f"    home={str(world.home)!r}, now=datetime.fromisoformat({NOW.isoformat()!r}))\n"
        "assert r.valid, r.summary()\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(HEAVY)!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(zk.__file__).parent.parent,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
