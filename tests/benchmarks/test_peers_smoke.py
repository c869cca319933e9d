"""`benchmarks/peers.py` end to end at a tiny size: every row runs for every peer on a real
embedded server, the peers' projections are checked by the script itself (N rows, all
SHIPPED and paid), and the report names each row. Needs the `bench` extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("eventsourcing_eventstoredb") is None,
    reason="the bench extra is not installed (pip install -e '.[bench]')",
)


def test_peers_benchmark_runs_end_to_end() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "peers.py"),
            "--orders",
            "4",
            "--rounds",
            "1",
            "--warmup",
            "1",
            "--writers",
            "2",
            "--writer-commands",
            "2",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for heading in ("1. command path", "2. reading", "3. projection catch-up", "4. concurrency"):
        assert heading in out
    for peer in ("(a) esdb-orders", "(b) eventsourcing", "(c) bare esdbclient"):
        assert out.count(peer) >= 3, out
    assert "(a)/(b)" in out
    assert "targets:" in out
