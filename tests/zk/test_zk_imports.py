"""The verifier stays light: no dagster, tenseal, lightgbm, duckdb or pandas, at source or at run time."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from zk_testworld import AUDIENCE, NONCE, NOW, World

import zk
from zk.credentials import issue_score_credentials
from zk.envelope import write_document
from zk.signatures import IssuerKey, issuer_key_path, write_issuer_public_key
from zk.statuslist import StatusList, status_list_credential
from zk.verify import status_list_path

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


def _current_world(home: Path) -> tuple[Path, Path]:
    """A credential and status list valid today (the CLI has no clock override)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    key = IssuerKey.from_secret(b"\x11" * 32)
    write_issuer_public_key(issuer_key_path(home), key)
    issued = issue_score_credentials(
        [("ps_cli", 712)],
        issuer=key,
        model_version="m",
        model_hash="sha256:" + "00" * 32,
        snapshot_root="00" * 32,
        valid_from=start,
        valid_until=start + timedelta(days=30),
        status_list_id="urn:ledgerlens:status:cli",
        status_index_start=0,
    )
    status = status_list_credential(
        StatusList(),
        issuer=key,
        list_id="urn:ledgerlens:status:cli",
        valid_from=start,
        valid_until=start + timedelta(days=7),
    )
    write_document(status_list_path(home), status)
    return (
        write_document(home / "credential.json", issued.credentials[0]),
        write_document(home / "opening.json", issued.openings[0]),
    )


def test_the_standalone_cli_proves_and_verifies_with_exit_codes(tmp_path: Path) -> None:
    root = Path(zk.__file__).parent.parent
    credential, opening = _current_world(tmp_path)
    out = tmp_path / "p.json"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zk", *args], cwd=root, capture_output=True, text=True
        )

    proof = ["--credential", str(credential), "--opening", str(opening), "--nonce", "n-cli"]
    done = run("prove", *proof, "--audience", "lender", "--threshold", "700", "--out", str(out))
    assert done.returncode == 0, done.stderr
    verify = ["verify", str(out), "--home", str(tmp_path), "--audience", "lender"]
    good = run(*verify, "--nonce", "n-cli")
    assert good.returncode == 0, good.stdout
    assert good.stdout.startswith("VALID") and "issuer key" in good.stdout
    bad = run(*verify, "--nonce", "n-other")
    assert bad.returncode == 1 and "INVALID: context check failed" in bad.stdout
    refused = run("prove", *proof, "--audience", "lender", "--threshold", "713", "--out", str(out))
    assert refused.returncode == 1 and "below the threshold" in refused.stderr
    assert "712" not in refused.stderr
