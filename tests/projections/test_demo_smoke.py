"""The README's main command, small: `python -m projections.demo` ends with every read model
caught up, the tables printed and every worker stopped cleanly (exit code 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.emulator_only
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    if os.environ.get("ESDB_URI"):
        pytest.skip("the demo starts its own embedded server")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "projections.demo",
            "--orders",
            "25",
            "--legacy",
            "5",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120"},
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for title in (
        "projections",
        "orders by status",
        "average order value before",
        "address changes before shipping",
        "schema check:",
    ):
        assert title in done.stdout
    assert "workers exited with [0]" in done.stdout
    assert "every event decodes" in done.stdout
