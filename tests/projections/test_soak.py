"""The soak run (`benchmarks/soak.py`) for one minute: mixed load with kill -9 of workers
and of the server and TCP cuts, then every read model against the oracle and every
acknowledged command against the streams. The 5-minute run is `--minutes 5` (one run's
figures are in docs/read-side.md)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.emulator_only, pytest.mark.slow]


@pytest.mark.timeout(420)
def test_one_minute_soak_loses_duplicates_and_mismatches_nothing(tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(10**6)
    command = [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--minutes", "1"]
    command += ["--seed", str(seed), "--dir", str(tmp_path)]
    run = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=400, cwd=ROOT
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"seed={seed}:\n{output[-4000:]}"

    def figure(name: str) -> int:
        match = re.search(rf"{re.escape(name)}\s*│\s*(\d+)", output)
        assert match, f"no {name!r} in the report:\n{output[-3000:]}"
        return int(match.group(1))

    assert figure("commands acknowledged") > 100
    assert figure("rows compared") > 1000
    assert figure("server kills (-9) + restarts") >= 2
    assert figure("worker kills (-9)") >= 5
    assert figure("TCP cuts") >= 20
    assert (figure("lost"), figure("duplicated"), figure("mismatched")) == (0, 0, 0)
