"""`benchmarks/upcasting.py --quick` keeps working: it runs end to end and prints every row.

Not a timing assertion (the figures are whatever this machine gives under its load); only
the report's shape is checked, each row with figures and, where targeted, a verdict.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIGURE = r"[\d,]+"
ROWS = {
    r"aggregate load \(orders/s\)": True,
    r"projection rebuild, 4 models \(events/s\)": True,
    r"decode, CPU only \(events/s\)": False,
    r"apply in memory, 4 models \(events/s\)": False,
}


def test_the_quick_upcasting_benchmark_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "upcasting.py"), "--quick"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "30 orders per corpus" in done.stdout
    for row, targeted in ROWS.items():
        verdict = r"(PASS|BELOW) \(>= 0\.90\)" if targeted else "-"
        ratio = r"\d+\.\d\d"
        pattern = rf"{row}\s+{FIGURE}\s+{FIGURE}\s+{ratio}\s+{ratio}-{ratio}\s+{verdict}"
        assert re.search(pattern, done.stdout), (row, done.stdout)
