"""Files the CLI creates are owner-only from their first byte, whatever the caller's umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_cli_creates_owner_only_files_under_a_permissive_umask(tmp_path: Path) -> None:
    out = tmp_path / "landing"
    env = {**os.environ, "LEDGERLENS_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "generate",
            "--users",
            "20",
            "--days",
            "1",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=lambda: os.umask(0o022),  # noqa: PLW1509 - the test's point is the umask
    )
    assert result.returncode == 0, result.stdout + result.stderr
    created = [p for p in out.rglob("*")]
    assert any(p.is_file() for p in created)
    loose = [
        f"{p.relative_to(tmp_path)} {oct(stat.S_IMODE(p.stat().st_mode))}"
        for p in created
        if stat.S_IMODE(p.stat().st_mode) & 0o077
    ]
    assert not loose, loose
