"""`emulator/benchmarks/emulator.py --quick` keeps working: it runs end to end and prints every row.

Not a timing assertion: the figures are whatever this machine gives; only the shape of
the report is checked (each row present, with figures and a verdict where it has a target).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "emulator" / "benchmarks" / "emulator.py"

# Row label and unit pattern -> whether the row has a target (and so PASS/FAIL).
ROWS = {
    r"single-event append\s+appends/s\s": True,
    r"single-event append p50\s+ms\s": False,
    r"single-event append p99\s+ms\s": False,
    r"batched append \(100/batch\), 1 client\s+events/s\s": False,
    r"batched append, \d+ clients\s+events/s\s": True,
    r"1 client \(process\)\s+appends/s\s": False,
    r"\d+ concurrent clients\s+appends/s\s": False,
    r"\d+ clients / 1 client\s+x\s": True,
    r"read stream \(\d+ events\)\s+events/s\s": True,
    r"read \$all \(\d+ events\)\s+events/s\s": True,
}
FIGURE = r"[\d,]+(?:\.\d+)?"


def test_quick_benchmark_prints_every_row() -> None:
    if os.environ.get("ESDB_URI"):
        pytest.skip("the benchmark starts its own emulator; nothing to check against ESDB_URI")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    lines = done.stdout.splitlines()
    for label, has_target in ROWS.items():
        matching = [line for line in lines if re.match(label, line)]
        assert len(matching) == 1, f"row {label!r} missing or repeated in:\n{done.stdout}"
        # emulator, stand-in and ratio figures, then the verdict column last.
        assert re.search(rf"\s{FIGURE}\s+{FIGURE}\s+{FIGURE}\s", matching[0]), matching[0]
        verdict = matching[0].split()[-1]
        assert verdict in ({"PASS", "FAIL"} if has_target else {"-"}), matching[0]
    assert lines[-1] in {"all targets PASS", "some targets FAIL"}
