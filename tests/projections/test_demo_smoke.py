"""The README's main command, small: `python -m demo` ends with every read model
caught up, the tables printed and every worker stopped cleanly (exit code 0)."""

from __future__ import annotations

import os
import re
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
            "demo",
            "--orders",
            "25",
            "--legacy",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120", "TMPDIR": str(tmp_path)},
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
    assert "all 8 workers stopped cleanly" in done.stdout
    # The temporary data folder is named, then removed (no --dir, no --keep).
    removed = re.search(r"removed the demo's data folder (\S+)", " ".join(done.stdout.split()))
    assert removed, done.stdout[-2000:]
    assert removed.group(1).startswith(str(tmp_path / "esdb-orders-demo-"))
    assert not Path(removed.group(1)).exists()
    assert not list(tmp_path.glob("esdb-orders-demo-*"))
    assert "every event decodes" in done.stdout
