"""The two distributions hold what they should: the product's wheel has the four product
packages and not the emulator, the demo or the tests; the emulator's wheel has only the
emulator, which alone depends on `cryptography`. Built for real with pip (isolated build)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(source: Path, into: Path) -> zipfile.ZipFile:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 and "No matching distribution found for setuptools" in done.stderr:
        pytest.skip("no package index to fetch the build backend from")
    assert done.returncode == 0, done.stderr
    [wheel] = into.glob("*.whl")
    return zipfile.ZipFile(wheel)


def contents(wheel: zipfile.ZipFile) -> tuple[set[str], list[str]]:
    """The top-level packages in `wheel`, and its Requires-Dist lines."""
    names = wheel.namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    requires = [
        line.removeprefix("Requires-Dist: ")
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist: ") and "extra ==" not in line
    ]
    return tops, requires


def test_the_product_wheel_has_no_emulator_no_demo_and_no_tests(tmp_path: Path) -> None:
    tops, requires = contents(build(ROOT, tmp_path))
    assert tops == {"orders", "projections", "upcasters", "console"}
    assert not [r for r in requires if r.startswith("cryptography")]


def test_the_emulator_wheel_is_the_emulator_alone(tmp_path: Path) -> None:
    tops, requires = contents(build(ROOT / "emulator", tmp_path))
    assert tops == {"esdb_emulator"}
    assert [r for r in requires if r.startswith("cryptography")]
